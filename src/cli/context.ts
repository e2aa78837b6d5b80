/** Opening the repository a command names, with its secret, its index and a lock. */
import { CairnError, errnoCode } from '../errors.ts';
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
  readonly passwordCommand?: string;
  readonly kekFile?: string;
  readonly json?: boolean;
  readonly quiet?: boolean;
  /** False with `--no-lock`: read-only commands take no lock (commander's negated option). */
  readonly lock?: boolean;
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

/**
 * Takes a lock for `command`, or says plainly that the storage is read-only (and that a
 * read-only command can do without a lock) when writing the lock file is refused.
 */
export async function acquireLock(
  repo: Repository,
  options: { exclusive: boolean; gc?: boolean; command: string; readOnly?: boolean; option?: string },
): Promise<Lock> {
  try {
    return await Lock.acquire(repo, {
      exclusive: options.exclusive,
      gc: options.gc === true,
      command: options.command,
    });
  } catch (err) {
    const errno = err instanceof CairnError ? errnoCode(err.cause) : undefined;
    if (!(err instanceof CairnError) || (errno !== 'EROFS' && errno !== 'EACCES' && errno !== 'EPERM'))
      throw err;
    const why = errno === 'EROFS' ? 'its storage is read-only' : 'writing to it is not permitted';
    throw new CairnError(
      err.code,
      `Cannot lock the repository at ${repo.backend.location}: ${why} (${errno}); ` +
        (options.readOnly === true
          ? `"${options.command}" only reads, so ${options.option ?? '--no-lock'} lets it run without a lock (nothing then keeps a prune from removing what it reads)`
          : `"${options.command}" writes to the repository, so it needs storage it can write to`),
      { cause: err },
    );
  }
}

/**
 * Opens the repository for `command`. With `--no-lock` (`g.lock === false`) a `readOnly`
 * command takes no lock; any other command refuses it (USAGE), as it would write anyway.
 * Nothing else a session does writes to the repository (remote caches live under the user's
 * cache folder).
 */
export async function openSession(
  g: GlobalOptions,
  options: {
    /** `gc`: a collector's lock (prune, forget), shared with backups, exclusive among collectors. */
    lock: 'shared' | 'gc' | 'exclusive' | 'none';
    command: string;
    index?: boolean;
    /** The command writes nothing to the repository, so `--no-lock` may leave its lock out. */
    readOnly?: boolean;
  },
): Promise<Session> {
  if (g.lock === false && options.readOnly !== true) {
    throw new CairnError(
      'USAGE',
      `Cannot use --no-lock with "${options.command}": it writes to the repository; --no-lock is for commands that only read`,
    );
  }
  const out = makeOutput(g);
  const backend = openBackend(repoLocation(g));
  const repo = await Repository.open(backend, await resolveSecret(g));
  attachCache(repo);
  const lock =
    options.lock === 'none' || g.lock === false
      ? undefined
      : await acquireLock(repo, {
          exclusive: options.lock === 'exclusive',
          gc: options.lock === 'gc',
          command: options.command,
          readOnly: options.readOnly === true,
        });
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
