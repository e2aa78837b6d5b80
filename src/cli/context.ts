/** Opening the repository a command names, with its secret, its index and a lock. */
import { CairnError } from '../errors.ts';
import {
  attachCache as attachBackendCache,
  openLocation,
  s3Backend,
  type Backend,
  type BackendOptions,
} from '../backend/index.ts';
import { Lock, Repository } from '../repo/index.ts';
import { resolveSecret } from './secrets.ts';
import { makeOutput, type Output } from './output.ts';
import { guardLock } from './signals.ts';

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

export { s3Backend, type BackendOptions };

/** The storage for a location (see backend/open.ts). */
export function openBackend(location: string, options: BackendOptions = {}): Backend {
  return openLocation(location, options);
}

/** Caches a remote repository's index and snapshot files under the XDG cache folder, by its id. */
export function attachCache(repo: Repository): void {
  attachBackendCache(repo.backend, repo.config.id);
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
  // Removed even if the command is ended before close() runs (an interrupt it cannot obey).
  const unguard = lock ? guardLock(lock, options.command) : undefined;
  try {
    if (options.index !== false) await repo.loadIndex();
  } catch (err) {
    await lock?.release();
    unguard?.();
    throw err;
  }
  return {
    repo,
    out,
    lock,
    async close() {
      await repo.close();
      await lock?.release();
      unguard?.();
      await backend.close();
    },
  };
}
