/** Opening the repository a command names, with its secret, its index and a lock. */
import path from 'node:path';
import { CairnError } from '../errors.ts';
import { LocalBackend, RetryBackend, type Backend } from '../backend/index.ts';
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

/** The storage for a location. Only local directories today; object stores arrive with their issue. */
export function openBackend(location: string): Backend {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(location) || /^(s3|sftp|rest):/i.test(location)) {
    throw new CairnError(
      'USAGE',
      `Cannot use repository ${location}: only local directories are supported by this version`,
    );
  }
  return new RetryBackend(new LocalBackend(path.resolve(location)));
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
