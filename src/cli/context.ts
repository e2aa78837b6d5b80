/** Opening the repository a command names, with its secret, its index and a lock. */
import path from 'node:path';
import { CairnError } from '../errors.ts';
import {
  CachedBackend,
  LocalBackend,
  RetryBackend,
  S3Backend,
  cacheRoot,
  parseS3Location,
  type Backend,
  type ObjectLockSetting,
} from '../backend/index.ts';
import { Lock, Repository } from '../repo/index.ts';
import { resolveSecret } from './secrets.ts';
import { makeOutput, type Output } from './output.ts';

export interface GlobalOptions {
  readonly repo?: string;
  readonly passwordFile?: string;
  readonly kekFile?: string;
  readonly json?: boolean;
  readonly quiet?: boolean;
}

export function repoLocation(g: GlobalOptions, env = process.env): string {
  const loc = g.repo ?? env.CAIRN_REPOSITORY;
  if (!loc)
    throw new CairnError('USAGE', 'Cannot find the repository: give -r/--repo DIR or set CAIRN_REPOSITORY');
  return loc;
}

export interface BackendOptions {
  /** For init: make the S3 bucket with object lock and this default retention. */
  readonly objectLock?: ObjectLockSetting;
}

/**
 * The storage for a location: a local directory, or an S3 bucket (`s3:http(s)://HOST[:PORT]/BUCKET[/PREFIX]`),
 * whose index and snapshot files are cached locally once `attachCache` knows the repository.
 */
export function openBackend(location: string, options: BackendOptions = {}): Backend {
  const s3 = parseS3Location(location);
  if (s3 !== undefined) {
    return new CachedBackend(
      new RetryBackend(
        new S3Backend({
          ...s3,
          ...(options.objectLock !== undefined ? { objectLock: options.objectLock } : {}),
        }),
      ),
    );
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(location) || /^(sftp|rest):/i.test(location)) {
    throw new CairnError(
      'USAGE',
      `Cannot use repository ${location}: local directories and s3:http(s)://HOST[:PORT]/BUCKET[/PREFIX] are supported`,
    );
  }
  if (options.objectLock !== undefined) {
    throw new CairnError(
      'USAGE',
      `Cannot use object lock on ${location}: it is a feature of S3 repositories`,
    );
  }
  return new RetryBackend(new LocalBackend(path.resolve(location)));
}

/** The S3 backend under a backend's wrappers, if it is one. */
export function s3Backend(backend: Backend): S3Backend | undefined {
  let b: Backend = backend;
  while (b instanceof CachedBackend || b instanceof RetryBackend) b = b.inner;
  return b instanceof S3Backend ? b : undefined;
}

/** Caches a remote repository's index and snapshot files under the XDG cache folder, by its id. */
export function attachCache(repo: Repository): void {
  if (repo.backend instanceof CachedBackend) repo.backend.attach(path.join(cacheRoot(), repo.config.id));
}

export interface Session {
  readonly repo: Repository;
  readonly out: Output;
  readonly lock: Lock | undefined;
  close(): Promise<void>;
}

export async function openSession(
  g: GlobalOptions,
  options: { lock: 'shared' | 'exclusive' | 'none'; command: string; index?: boolean },
): Promise<Session> {
  const out = makeOutput(g);
  const backend = openBackend(repoLocation(g));
  const repo = await Repository.open(backend, await resolveSecret(g));
  attachCache(repo);
  const lock =
    options.lock === 'none'
      ? undefined
      : await Lock.acquire(repo, { exclusive: options.lock === 'exclusive', command: options.command });
  try {
    if (options.index !== false) await repo.loadIndex();
  } catch (err) {
    await lock?.release();
    throw err;
  }
  return {
    repo,
    out,
    lock,
    async close() {
      await repo.close();
      await lock?.release();
      await backend.close();
    },
  };
}
