import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, promises as fs } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { LocalBackend, type Backend } from '../backend/index.ts';
import { FaultBackend } from '../backend/fault.ts';
import { generateMasterKey } from '../crypto/index.ts';
import { isCairnError } from '../errors.ts';
import { tempDir } from './fixtures.testing.ts';
import {
  Lock,
  STALE_AFTER_MS,
  defaultLockEnv,
  isStale,
  readLocks,
  unlock,
  type LockEnv,
  type LockInfo,
} from './lock.ts';

type Repo = { backend: LocalBackend; key: ReturnType<typeof generateMasterKey> };

/** A local backend with just the folder locks live in (create() would make 262), and a key. */
async function repoIn(t: TestContext): Promise<Repo> {
  const dir = await tempDir(t, 'cairn-lock-');
  await fs.mkdir(path.join(dir, 'locks'));
  return { backend: new LocalBackend(dir), key: generateMasterKey() };
}

const T0 = new Date();

/** Another process on another host, at a time we choose. */
function env(overrides: Partial<LockEnv> = {}): LockEnv {
  return { now: () => T0, host: 'elsewhere', pid: 4242, alive: () => true, ...overrides };
}

function at(minutes: number): () => Date {
  return () => new Date(T0.getTime() + minutes * 60_000);
}

/** The pid of a process that ran on this host and has exited. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  await once(child, 'exit');
  assert.ok(child.pid !== undefined);
  return child.pid;
}

function locked(holder: RegExp): (err: unknown) => boolean {
  return (err) => {
    assert.ok(isCairnError(err, 'REPO_LOCKED'), `expected REPO_LOCKED, got ${String(err)}`);
    assert.match(err.message, holder);
    assert.match(err.message, /cairn unlock/);
    return true;
  };
}

describe('locks', () => {
  it('let two shared locks coexist and release their files', async (t) => {
    const repo = await repoIn(t);
    const a = await Lock.acquire(repo, { exclusive: false, command: 'backup', refresh: false });
    const b = await Lock.acquire(repo, { exclusive: false, command: 'check', env: env(), refresh: false });
    assert.deepEqual((await readLocks(repo)).map((l) => l.name).sort(), [a.name, b.name].sort());
    await a.release();
    await b.release();
    assert.deepEqual(await readLocks(repo), []);
    // Releasing twice is harmless.
    await a.release();
  });

  it('refuse an exclusive lock while a shared one is held, naming the holder', async (t) => {
    const repo = await repoIn(t);
    await Lock.acquire(repo, { exclusive: false, command: 'backup /home', env: env(), refresh: false });
    await assert.rejects(
      Lock.acquire(repo, { exclusive: true, command: 'prune', refresh: false }),
      locked(/a shared lock held by "backup \/home" \(pid 4242 on elsewhere, user [^)]*\) since \d{4}-/),
    );
    // The refused lock took its own file back.
    assert.equal((await readLocks(repo)).length, 1);
  });

  it('refuse a shared lock while an exclusive one is held', async (t) => {
    const repo = await repoIn(t);
    await Lock.acquire(repo, { exclusive: true, command: 'prune', env: env(), refresh: false });
    await assert.rejects(
      Lock.acquire(repo, { exclusive: false, command: 'backup', refresh: false }),
      locked(/an exclusive lock held by "prune" \(pid 4242 on elsewhere/),
    );
    await assert.rejects(
      Lock.acquire(repo, { exclusive: true, command: 'key remove', refresh: false }),
      locked(/"prune"/),
    );
    assert.equal((await readLocks(repo)).length, 1);
  });

  it('ignore a lock not refreshed for longer than the stale age', async (t) => {
    const repo = await repoIn(t);
    const old = await Lock.acquire(repo, { exclusive: true, command: 'prune', env: env(), refresh: false });
    const minutes = STALE_AFTER_MS / 60_000;
    await assert.rejects(
      Lock.acquire(repo, {
        exclusive: false,
        command: 'b',
        env: env({ now: at(minutes - 1) }),
        refresh: false,
      }),
      locked(/prune/),
    );
    const fresh = await Lock.acquire(repo, {
      exclusive: true,
      command: 'b',
      env: env({ now: at(minutes + 1), pid: 7 }),
      refresh: false,
    });
    await fresh.release();
    // Refreshing makes it live again.
    await old.refresh();
    const info = (await readLocks(repo)).find((l) => l.name === old.name)?.lock;
    assert.ok(info && !isStale(info, env({ now: at(1) })));
  });

  it('ignore a lock of this host whose process has exited, but not a live one', async (t) => {
    const repo = await repoIn(t);
    const me = { ...defaultLockEnv };
    const dead = await deadPid();
    await Lock.acquire(repo, {
      exclusive: true,
      command: 'killed backup',
      env: { ...me, pid: dead },
      refresh: false,
    });
    const mine = await Lock.acquire(repo, { exclusive: true, command: 'prune', refresh: false });
    await mine.release();
    // The killed process's lock stays until unlock removes it.
    assert.equal((await unlock(repo)).length, 1);
    // The same pid on another host may well be running: that lock stands.
    await Lock.acquire(repo, {
      exclusive: false,
      command: 'remote backup',
      env: { ...me, host: 'other-host', pid: dead },
      refresh: false,
    });
    await assert.rejects(
      Lock.acquire(repo, { exclusive: true, command: 'prune', refresh: false }),
      locked(/remote backup/),
    );
    // And a live process of this host (our parent) holds its lock.
    const repo2 = await repoIn(t);
    await Lock.acquire(repo2, {
      exclusive: false,
      command: 'parent',
      env: { ...me, pid: process.ppid },
      refresh: false,
    });
    await assert.rejects(
      Lock.acquire(repo2, { exclusive: true, command: 'prune', refresh: false }),
      locked(new RegExp(`pid ${process.ppid} on ${hostname()}`)),
    );
  });

  it('judge staleness by age, host, pid and liveness', () => {
    const lock: LockInfo = {
      time: T0.toISOString(),
      exclusive: false,
      host: 'h',
      pid: 10,
      user: 'u',
      command: 'c',
    };
    const base = { now: at(0), host: 'h', pid: 11, alive: () => true };
    assert.equal(isStale(lock, base), false);
    assert.equal(isStale(lock, { ...base, alive: () => false }), true);
    assert.equal(isStale(lock, { ...base, pid: 10, alive: () => false }), false, 'our own pid');
    assert.equal(isStale(lock, { ...base, host: 'g', alive: () => false }), false, 'another host');
    assert.equal(isStale(lock, { ...base, now: at(STALE_AFTER_MS / 60_000) }), true);
    assert.equal(isStale({ ...lock, time: 'not a time' }, base), true);
  });

  it('unlock removes only stale and unreadable locks unless told to remove all', async (t) => {
    const repo = await repoIn(t);
    const live = await Lock.acquire(repo, { exclusive: false, command: 'live', env: env(), refresh: false });
    const old = await Lock.acquire(repo, {
      exclusive: false,
      command: 'old',
      env: env({ now: at(-STALE_AFTER_MS / 60_000 - 5), pid: 1 }),
      refresh: false,
    });
    await repo.backend.write({ type: 'locks', name: 'f'.repeat(64) }, [Buffer.from('not a sealed lock')]);
    const unreadable = (await readLocks(repo)).find((l) => l.lock === undefined);
    assert.equal(unreadable?.name, 'f'.repeat(64));
    const removed = await unlock(repo, { env: env({ now: at(1) }) });
    assert.deepEqual(removed.sort(), [old.name, 'f'.repeat(64)].sort());
    assert.deepEqual(
      (await readLocks(repo)).map((l) => l.name),
      [live.name],
    );
    assert.deepEqual(await unlock(repo, { env: env({ now: at(1) }) }), []);
    assert.deepEqual(await unlock(repo, { all: true }), [live.name]);
    assert.deepEqual(await readLocks(repo), []);
  });
  it('releaseNow removes a local lock file before it first waits, so blocked file-system threads cannot delay it', async (t) => {
    const repo = await repoIn(t);
    const lock = await Lock.acquire(repo, { exclusive: false, command: 'backup', refresh: false });
    const file = repo.backend.localPath({ type: 'locks', name: lock.name });
    assert.ok(existsSync(file));
    const removed = lock.releaseNow(1000);
    assert.ok(!existsSync(file));
    assert.equal(await removed, true);
    // A lock already gone counts as removed.
    assert.equal(await lock.releaseNow(1000), true);
  });

  it('releaseNow gives a lock that is not a local file at most its timeout', async (t) => {
    /** Storage elsewhere (no local path) whose removals never answer. */
    class Unanswering extends FaultBackend {
      override localPath(): undefined {
        return undefined;
      }
      override remove(): Promise<void> {
        return new Promise(() => undefined);
      }
    }
    const local = await repoIn(t);
    const backend: Backend = new Unanswering(local.backend);
    const lock = await Lock.acquire(
      { backend, key: local.key },
      { exclusive: false, command: 'copy', refresh: false },
    );
    const started = performance.now();
    assert.equal(await lock.releaseNow(100), false);
    const ms = performance.now() - started;
    assert.ok(ms >= 90 && ms < 1000, `took ${ms} ms`);
    // Where removing works, it is done.
    const reachable = new FaultBackend(local.backend);
    const other = await Lock.acquire(
      { backend: reachable, key: local.key },
      { exclusive: false, command: 'copy', refresh: false },
    );
    assert.equal(await other.releaseNow(100), true);
    assert.deepEqual(
      (await readLocks(local)).map((l) => l.name),
      [lock.name],
    );
  });
});
