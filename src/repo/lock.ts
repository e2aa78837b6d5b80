/**
 * Locks: files under locks/ that say who is using the repository. Shared locks (backup, restore,
 * check) coexist; a collector's lock (prune, forget) is shared too, so backups go on beside it,
 * but excludes other collectors; an exclusive lock (repair, key removal) excludes every other
 * lock. Prune also reads the locks to know which operations began before it changed the index
 * (docs/repository-format.md §10, "Prune beside backups"). A lock is
 * stale, and ignored, when it was not refreshed for STALE_AFTER or when it was taken on this host
 * by a process that no longer runs: a killed backup never blocks the next command.
 */
import { randomBytes } from 'node:crypto';
import { unlinkSync } from 'node:fs';
import { hostname, userInfo } from 'node:os';
import { CairnError, reason } from '../errors.ts';
import { openFile, sealFile } from './format.ts';
import type { Repository } from './repository.ts';

export const STALE_AFTER_MS = 30 * 60 * 1000;
export const REFRESH_EVERY_MS = 5 * 60 * 1000;

export interface LockInfo {
  readonly time: string;
  readonly exclusive: boolean;
  readonly host: string;
  readonly pid: number;
  readonly user: string;
  readonly command: string;
  /**
   * A collector's lock (prune, forget): shared with backups, exclusive among collectors. Absent
   * in locks written before 0.2: older programs see such a lock as shared, and their own
   * collectors take exclusive locks, so both still exclude each other.
   */
  readonly gc?: boolean;
}

export interface LockEnv {
  readonly now: () => Date;
  readonly host: string;
  readonly pid: number;
  /** Whether a process of this host runs. */
  readonly alive: (pid: number) => boolean;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export const defaultLockEnv: LockEnv = {
  now: () => new Date(),
  host: hostname(),
  pid: process.pid,
  alive: processAlive,
};

type Repo = Pick<Repository, 'backend' | 'key'>;

export function isStale(lock: LockInfo, env: LockEnv): boolean {
  const age = env.now().getTime() - Date.parse(lock.time);
  if (!(age < STALE_AFTER_MS)) return true;
  return lock.host === env.host && lock.pid !== env.pid && !env.alive(lock.pid);
}

export async function readLocks(repo: Repo): Promise<{ name: string; lock: LockInfo | undefined }[]> {
  const out: { name: string; lock: LockInfo | undefined }[] = [];
  for await (const f of repo.backend.list('locks')) {
    try {
      const bytes = await repo.backend.read({ type: 'locks', name: f.name });
      out.push({
        name: f.name,
        lock: JSON.parse(openFile(repo.key, 'lock', bytes).toString('utf8')) as LockInfo,
      });
    } catch (err) {
      // Deleted between list and read (released), or unreadable: an unreadable lock is reported
      // as such and removable with unlock.
      if (err instanceof CairnError && err.code === 'BACKEND_NOT_FOUND') continue;
      out.push({ name: f.name, lock: undefined });
    }
  }
  return out;
}

function describe(l: LockInfo): string {
  return `${l.exclusive ? 'an exclusive' : l.gc === true ? "a collector's" : 'a shared'} lock held by "${l.command}" (pid ${l.pid} on ${l.host}, user ${l.user}) since ${l.time}`;
}

export class Lock {
  readonly name: string;
  private info: LockInfo;
  private readonly repo: Repo;
  private readonly env: LockEnv;
  private timer: NodeJS.Timeout | undefined;
  private refreshError: unknown;

  private constructor(repo: Repo, name: string, info: LockInfo, env: LockEnv) {
    this.repo = repo;
    this.name = name;
    this.info = info;
    this.env = env;
  }

  /**
   * Takes a lock or throws REPO_LOCKED naming the holder. Writes its own lock first, then looks
   * for conflicts, so two processes racing both see each other and both back off.
   */
  static async acquire(
    repo: Repo,
    options: {
      exclusive: boolean;
      /** A collector's lock: shared with backups, exclusive among collectors (prune, forget). */
      gc?: boolean;
      command: string;
      env?: LockEnv;
      refresh?: boolean;
    },
  ): Promise<Lock> {
    const env = options.env ?? defaultLockEnv;
    let user = '';
    try {
      user = userInfo().username;
    } catch {
      user = String(process.getuid?.() ?? '');
    }
    const info: LockInfo = {
      time: env.now().toISOString(),
      exclusive: options.exclusive,
      host: env.host,
      pid: env.pid,
      user,
      command: options.command,
      ...(options.gc === true && !options.exclusive ? { gc: true } : {}),
    };
    const lock = new Lock(repo, randomBytes(32).toString('hex'), info, env);
    await lock.write();
    try {
      for (const other of await readLocks(repo)) {
        if (other.name === lock.name) continue;
        if (other.lock === undefined) continue;
        if (isStale(other.lock, env)) continue;
        const collectors = info.gc === true && other.lock.gc === true;
        if (options.exclusive || other.lock.exclusive || collectors) {
          throw new CairnError(
            'REPO_LOCKED',
            `Cannot lock the repository at ${repo.backend.location}: it has ${describe(other.lock)}; if that process is gone, run "cairn unlock"`,
          );
        }
      }
    } catch (err) {
      await lock.release();
      throw err;
    }
    if (options.refresh !== false) {
      lock.timer = setInterval(() => {
        lock.refresh().catch((e: unknown) => {
          lock.refreshError = e;
        });
      }, REFRESH_EVERY_MS);
      lock.timer.unref();
    }
    return lock;
  }

  private async write(): Promise<void> {
    const bytes = sealFile(this.repo.key, 'lock', Buffer.from(JSON.stringify(this.info)));
    await this.repo.backend.write({ type: 'locks', name: this.name }, [bytes]);
  }

  async refresh(): Promise<void> {
    this.info = { ...this.info, time: this.env.now().toISOString() };
    await this.write();
  }

  /** Throws if refreshing failed, so a long operation stops before its lock can go stale. */
  check(): void {
    if (this.refreshError !== undefined) {
      throw new CairnError('BACKEND_IO', `Cannot keep the repository lock: ${reason(this.refreshError)}`, {
        cause: this.refreshError,
      });
    }
  }

  async release(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    try {
      await this.repo.backend.remove({ type: 'locks', name: this.name });
    } catch (err) {
      if (!(err instanceof CairnError && err.code === 'BACKEND_NOT_FOUND')) throw err;
    }
  }

  /**
   * Removes the lock when the process must end before release() could: synchronously where the
   * lock is a file on this machine (reads stuck in the kernel can hold every thread of libuv's
   * pool, which asynchronous file calls wait for), otherwise by release() given at most
   * `timeoutMs`. Resolves to whether the lock is gone; never rejects.
   */
  async releaseNow(timeoutMs: number): Promise<boolean> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    const file = this.repo.backend.localPath({ type: 'locks', name: this.name });
    if (file !== undefined) {
      try {
        unlinkSync(file);
        return true;
      } catch (err) {
        return (err as NodeJS.ErrnoException).code === 'ENOENT';
      }
    }
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs)));
    try {
      return await Promise.race([
        this.release().then(
          () => true,
          () => false,
        ),
        late,
      ]);
    } finally {
      clearTimeout(timer);
    }
  }
}

/** Removes the lock files that `doomed` picks; returns the names removed. */
async function removeLocks(repo: Repo, doomed: (lock: LockInfo | undefined) => boolean): Promise<string[]> {
  const removed: string[] = [];
  for (const l of await readLocks(repo)) {
    if (!doomed(l.lock)) continue;
    try {
      await repo.backend.remove({ type: 'locks', name: l.name });
      removed.push(l.name);
    } catch (err) {
      if (!(err instanceof CairnError && err.code === 'BACKEND_NOT_FOUND')) throw err;
    }
  }
  return removed;
}

/** Removes stale locks (or all with `all`); returns the names removed. */
export async function unlock(repo: Repo, options: { all?: boolean; env?: LockEnv } = {}): Promise<string[]> {
  const env = options.env ?? defaultLockEnv;
  return removeLocks(repo, (lock) => options.all === true || lock === undefined || isStale(lock, env));
}

/**
 * Removes the lock files that processes of this host left when they died (their pid no longer
 * runs): crash leftovers that every reader already ignores. Locks of other hosts are left alone,
 * since whether their process runs cannot be known from here. Returns the names removed.
 */
export function removeDeadLocks(repo: Repo, env: LockEnv = defaultLockEnv): Promise<string[]> {
  return removeLocks(
    repo,
    (lock) => lock !== undefined && lock.host === env.host && lock.pid !== env.pid && !env.alive(lock.pid),
  );
}

/**
 * The names of the locks that are in force now, other than `except`: every lock that is not
 * stale, and every lock file that cannot be read (it may be in force; `cairn unlock` removes it).
 */
export async function locksInForce(
  repo: Repo,
  options: { except?: string; env?: LockEnv } = {},
): Promise<{ name: string; lock: LockInfo | undefined }[]> {
  const env = options.env ?? defaultLockEnv;
  return (await readLocks(repo)).filter(
    (l) => l.name !== options.except && (l.lock === undefined || !isStale(l.lock, env)),
  );
}
