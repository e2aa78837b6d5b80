/**
 * A server that dies mid-run (issue 20), with real `cairn server` processes started from dist/.
 * Runs are made slow by their tenant's bandwidth (a few KiB a second), so they are surely writing
 * when a server is killed; the limit is lifted once the point is made.
 *
 * - SQLite: a server is killed (SIGKILL) while a backup of a repository that runs one at a time
 *   writes and another job of it waits. A new server on the same data directory marks the run
 *   failed within one lease ("server X stopped answering at T"), removes its lock, runs the job
 *   that waited, and the killed job starts again at once; `cairn check` passes.
 * - A clean stop (SIGTERM) hands its runs back: canceled, the one whose job has retries queued
 *   again, the server's record gone; the next start runs it.
 * - PostgreSQL: two servers share the catalog; one is killed with two runs: the other takes them
 *   over within one lease — the one whose cancel was asked for while its server was gone ends
 *   canceled, the other failed with its retry queued and run.
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Catalog } from '../../src/catalog/index.ts';
import { binDir, startPostgres } from '../../src/catalog/postgres.testing.ts';
import { seededBytes } from '../../src/repo/fixtures.testing.ts';
import { assertBuilt, cairn, cliEnv } from '../integration/run-cli.testing.ts';
import { makeTemp, removeTemp } from './cli.testing.ts';
import { makeRepo } from './repo.testing.ts';
import { http, link, logon } from './server-api.testing.ts';
import { serverProcess, type ServerProcess } from './server-process.testing.ts';

/** The lease the servers of this test hold their runs by (30 s by default). */
const LEASE_S = 3;
const ADMIN = { user: 'admin', password: 'correct horse battery' };
const PASSWORD = 'leases-e2e-password';
const KiB = 1024;

interface RunView {
  id: string;
  state: string;
  message: string | null;
  errorCode: string | null;
  trigger: string;
  attempt: number;
  endedAt: string | null;
  job: { id: string; name: string };
  progress: { phase: string } | null;
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, ms = 60_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > end) assert.fail(`still not so after ${ms} ms: ${what}`);
    await sleep(25);
  }
}

/** A test's folder, its repository (cheap key) and its password file, and what it starts. */
async function setting(t: TestContext) {
  await assertBuilt();
  const dir = await makeTemp('cairn-leases-');
  const servers: ServerProcess[] = [];
  t.after(async () => {
    for (const s of servers) s.kill('SIGKILL');
    await Promise.all(servers.map((s) => s.done));
    await removeTemp(dir);
  });
  const repo = path.join(dir, 'repo');
  await makeRepo(repo, PASSWORD);
  const passwordFile = path.join(dir, 'password');
  writeFileSync(passwordFile, PASSWORD + '\n', { mode: 0o600 });
  const env = {
    ...cliEnv(repo, PASSWORD),
    CAIRN_ADMIN_USER: ADMIN.user,
    CAIRN_ADMIN_PASSWORD: ADMIN.password,
  };
  /** `cairn server` with these arguments, once it listens. */
  const server = async (args: readonly string[]): Promise<ServerProcess> => {
    const s = await serverProcess(['--lease-seconds', String(LEASE_S), ...args], env);
    servers.push(s);
    return s;
  };
  /** A folder to back up: `bytes` that do not compress. */
  const source = (name: string, bytes: number) => {
    const p = path.join(dir, 'sources', name);
    mkdirSync(p, { recursive: true });
    writeFileSync(path.join(p, 'data.bin'), seededBytes(name, bytes));
    return p;
  };
  return { dir, repo, passwordFile, env, server, source };
}

/** Through one server's API as the system administrator. */
function api(url: string, token: string) {
  const call = (method: string, p: string, body?: unknown) =>
    http(url, method, p, { token, ...(body !== undefined ? { body } : {}) });
  return {
    call,
    async bandwidth(bytesPerSecond: number | null) {
      const t = await call('PATCH', '/api/v1/tenants/default', { bandwidthBytesPerSecond: bytesPerSecond });
      assert.equal(t.status, 200, JSON.stringify(t.body));
    },
    async repository(location: string, passwordFile: string, maxConcurrent: number) {
      const r = await call('POST', '/api/v1/repositories', {
        name: 'main',
        location,
        passwordFile,
        maxConcurrent,
      });
      assert.equal(r.status, 201, JSON.stringify(r.body));
    },
    async job(name: string, source: string, limits?: Record<string, number>) {
      const j = await call('POST', '/api/v1/jobs', {
        name,
        repository: 'main',
        sources: [source],
        ...(limits ? { limits } : {}),
      });
      assert.equal(j.status, 201, JSON.stringify(j.body));
      return (j.body as { id: string }).id;
    },
    /** Starts a job: its run's id (202), or the answer when refused. */
    async start(jobId: string): Promise<string> {
      const a = await call('POST', `/api/v1/jobs/${jobId}/start`);
      assert.equal(a.status, 202, JSON.stringify(a.body));
      const task = await call('GET', `/api/v1/tasks/${(a.body as { id: string }).id}`);
      return link(task.body, 'run').href.split('/').pop()!;
    },
    async run(id: string): Promise<RunView> {
      const r = await call('GET', `/api/v1/runs/${id}`);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      return r.body as RunView;
    },
    async runs(jobId: string): Promise<RunView[]> {
      const r = await call('GET', `/api/v1/runs?job=${jobId}&limit=100`);
      return (r.body as { data: RunView[] }).data;
    },
    async log(id: string): Promise<string[]> {
      const r = await call('GET', `/api/v1/runs/${id}/log`);
      return (r.body as { data: { message: string }[] }).data.map((l) => l.message);
    },
  };
}
type Api = ReturnType<typeof api>;

const writing = (a: Api, id: string) =>
  until(`run ${id} writes`, async () => {
    const r = await a.run(id);
    return r.state === 'running' && r.progress?.phase === 'backup' ? r : undefined;
  });
const ended = (a: Api, id: string, ms = 60_000) =>
  until(
    `run ${id} ends`,
    async () => {
      const r = await a.run(id);
      return r.state === 'queued' || r.state === 'running' ? undefined : r;
    },
    ms,
  );
const LOST =
  /^server (\S+) stopped answering at (\d{4}-\d\d-\d\dT[0-9:.]+Z); server (\S+) took the run over \[INTERRUPTED\]$/;

describe('a server killed mid-run (SQLite catalog)', () => {
  it('its run fails within one lease, its lock goes, the repository runs the waiting job, the job starts again, check passes', async (t) => {
    const s = await setting(t);
    const data = path.join(s.dir, 'data');
    const first = await s.server(['--data-dir', data]);
    const a1 = api(first.url, await logon(first.url, ADMIN.user, ADMIN.password));
    await a1.bandwidth(8 * KiB);
    await a1.repository(s.repo, s.passwordFile, 1);
    const slow = await a1.job('slow', s.source('slow', 2 * 1024 * KiB));
    const quick = await a1.job('quick', s.source('quick', 1000));
    const slowRun = await a1.start(slow);
    await writing(a1, slowRun);
    const quickRun = await a1.start(quick);
    await until('quick waits for the repository', async () =>
      (await a1.run(quickRun)).message === 'waiting: repository main runs 1 of 1' ? true : undefined,
    );

    first.kill('SIGKILL');
    const killedAt = Date.now();
    assert.equal((await first.done).signal, 'SIGKILL');
    const second = await s.server(['--data-dir', data]);
    const startedIn = Date.now() - killedAt;
    const a2 = api(second.url, await logon(second.url, ADMIN.user, ADMIN.password));
    const failed = await ended(a2, slowRun, 4 * LEASE_S * 1000);
    const takeoverMs = Date.parse(failed.endedAt!) - killedAt;
    t.diagnostic(
      `lease ${LEASE_S} s: killed → failed in ${takeoverMs} ms (the new server listened after ${startedIn} ms)`,
    );
    assert.equal(failed.state, 'failed', JSON.stringify(failed));
    assert.equal(failed.errorCode, 'INTERRUPTED');
    const [, lostServer, lastSeen] = LOST.exec(failed.message ?? '') ?? assert.fail(failed.message ?? '');
    assert.match(lostServer!, /:\d+:[0-9a-f]{6}$/);
    assert.ok(Date.parse(lastSeen!) <= killedAt, `${lastSeen} is before the kill`);
    // Bounds that follow from the protocol, not the machine's speed: never before the lease ran
    // out, and within one more lease once a live server could see that (the new one had started).
    const expiry = Date.parse(lastSeen!) + LEASE_S * 1000;
    const endedAt = Date.parse(failed.endedAt!);
    assert.ok(endedAt >= expiry - 100, `taken over ${expiry - endedAt} ms before the lease ran out`);
    assert.ok(
      endedAt <= Math.max(expiry, killedAt + startedIn) + LEASE_S * 1000,
      `taken over ${takeoverMs} ms after the kill (the new server listened after ${startedIn} ms)`,
    );
    assert.match(second.stderr(), new RegExp(`took over run ${slowRun} \\(slow\\)`));
    // The lock the killed run held is removed (leftover packs stay for prune).
    await until('the lock is removed', async () =>
      (await a2.log(slowRun)).some((l) => l === 'removed 1 lock(s) the run left in repository main')
        ? true
        : undefined,
    );

    // The job starts again at once, and the one that waited for the repository runs.
    const again = await a2.start(slow);
    await a2.bandwidth(null);
    assert.equal((await ended(a2, quickRun)).state, 'success');
    assert.equal((await ended(a2, again)).state, 'success');
    const runs = await a2.runs(slow);
    assert.deepEqual(
      runs.map((r) => r.state),
      ['success', 'failed'],
    );

    second.kill('SIGTERM');
    assert.equal((await second.done).code, 0, second.stderr());
    const check = await cairn(['check'], s.env);
    assert.equal(check.code, 0, check.stdout + check.stderr);
    assert.match(check.stdout, /no errors/);
  });

  it('a clean stop cancels its runs, queues again the one whose job has retries, and leaves no record', async (t) => {
    const s = await setting(t);
    const data = path.join(s.dir, 'data');
    const first = await s.server(['--data-dir', data]);
    const a1 = api(first.url, await logon(first.url, ADMIN.user, ADMIN.password));
    await a1.bandwidth(4 * KiB);
    await a1.repository(s.repo, s.passwordFile, 2);
    const again = await a1.job('again', s.source('again', 1024 * KiB), { retries: 1, retryDelaySeconds: 60 });
    const once = await a1.job('once', s.source('once', 1024 * KiB));
    const runs = [await a1.start(again), await a1.start(once)];
    for (const r of runs) await writing(a1, r);
    // Someone watches a run's events (the web UI does): that does not hold the stop up.
    const token = await logon(first.url, ADMIN.user, ADMIN.password);
    const events = await fetch(`${first.url}/api/v1/runs/${runs[0]}/events`, {
      headers: { 'x-cairn-session': token },
    });
    assert.equal(events.status, 200);
    const stream = events.body!.getReader();
    await stream.read();

    first.kill('SIGTERM');
    const stopping = Date.now();
    const exit = await first.done;
    assert.equal(exit.code, 0, exit.stderr);
    t.diagnostic(`SIGTERM → exit in ${Date.now() - stopping} ms`);
    await stream.cancel().catch(() => undefined);
    const catalog = await Catalog.open(path.join(data, 'catalog.db'));
    try {
      const all = await catalog.db
        .selectFrom('runs')
        .select(['id', 'job_name', 'state', 'message', 'trigger', 'attempt', 'not_before', 'queued_at'])
        .orderBy('queued_at')
        .execute();
      assert.deepEqual(
        all.map((r) => [r.job_name, r.state, r.trigger, r.attempt]),
        [
          ['again', 'canceled', 'manual', 1],
          ['once', 'canceled', 'manual', 1],
          ['again', 'queued', 'retry', 2],
        ],
      );
      for (const r of all.slice(0, 2)) assert.equal(r.message, 'the server is stopping [INTERRUPTED]');
      // Queued to run at once: its delay is for failures, not for a server that stops.
      assert.ok(all[2]!.not_before <= all[2]!.queued_at, JSON.stringify(all[2]));
      assert.deepEqual(await catalog.listServers(), []);
      // No limit for the next start, which takes the queued run at once (a write already waiting
      // for a lowered rate would wait on).
      const tenant = (await catalog.tenantByName('default'))!;
      await catalog.updateTenant(tenant.id, { bandwidthBytesPerSecond: null });
    } finally {
      await catalog.close();
    }

    const second = await s.server(['--data-dir', data]);
    const a2 = api(second.url, await logon(second.url, ADMIN.user, ADMIN.password));
    const retry = (await a2.runs(again)).find((r) => r.trigger === 'retry')!;
    assert.equal((await ended(a2, retry.id)).state, 'success');
    second.kill('SIGTERM');
    assert.equal((await second.done).code, 0);
  });
});

describe(
  'two servers sharing a PostgreSQL catalog',
  { skip: binDir() ? false : 'PostgreSQL is not installed' },
  () => {
    it('one is killed with two runs: the other takes them over within one lease', async (t) => {
      const s = await setting(t);
      const pg = await startPostgres();
      assert.ok(pg);
      t.after(() => pg.stop());
      const url = pg.database('cairn_leases_e2e');
      const serverA = await s.server(['--data-dir', path.join(s.dir, 'a'), '--catalog', url]);
      const a = api(serverA.url, await logon(serverA.url, ADMIN.user, ADMIN.password));
      await a.bandwidth(8 * KiB);
      await a.repository(s.repo, s.passwordFile, 2);
      const retried = await a.job('retried', s.source('retried', 2 * 1024 * KiB), {
        retries: 1,
        retryDelaySeconds: 1,
      });
      const canceled = await a.job('canceled', s.source('canceled', 2 * 1024 * KiB));
      const runs = [await a.start(retried), await a.start(canceled)];
      for (const r of runs) await writing(a, r);
      // B starts after A took both runs.
      const serverB = await s.server(['--data-dir', path.join(s.dir, 'b'), '--catalog', url]);
      const b = api(serverB.url, await logon(serverB.url, ADMIN.user, ADMIN.password));

      serverA.kill('SIGKILL');
      const killedAt = Date.now();
      // Its server is gone but its lease still holds: the cancel is asked for, and honoured by the
      // takeover.
      const cancel = await b.call('POST', `/api/v1/runs/${runs[1]}/cancel`);
      assert.equal(cancel.status, 202, JSON.stringify(cancel.body));
      const failed = await ended(b, runs[0]!, 4 * LEASE_S * 1000);
      const takeoverMs = Date.parse(failed.endedAt!) - killedAt;
      t.diagnostic(`lease ${LEASE_S} s: killed → failed on the other server in ${takeoverMs} ms`);
      assert.equal(failed.state, 'failed');
      const [, lost, seen, by] = LOST.exec(failed.message ?? '') ?? assert.fail(failed.message ?? '');
      // Never before the lease ran out; within one more lease after (server B was up all along).
      const expiry = Date.parse(seen!) + LEASE_S * 1000;
      const endedAt = Date.parse(failed.endedAt!);
      assert.ok(endedAt >= expiry - 100, `taken over ${expiry - endedAt} ms before the lease ran out`);
      assert.ok(endedAt <= expiry + LEASE_S * 1000, `taken over ${takeoverMs} ms after the kill`);
      assert.notEqual(lost, by);
      assert.match(serverB.stderr(), new RegExp(`took over run ${runs[0]} \\(retried\\)`));
      const gone = await ended(b, runs[1]!, 2000);
      assert.equal(gone.state, 'canceled');
      assert.match(
        gone.message ?? '',
        new RegExp(`^canceled by request; server ${lost} stopped answering at `),
      );

      // The retry policy queued the next attempt; B runs it.
      await b.bandwidth(null);
      const next = (await b.runs(retried)).find((r) => r.trigger === 'retry')!;
      assert.equal(next.attempt, 2);
      assert.equal((await ended(b, next.id)).state, 'success');
      // The job that was canceled starts again at once.
      assert.equal((await ended(b, await b.start(canceled))).state, 'success');
      serverB.kill('SIGTERM');
      assert.equal((await serverB.done).code, 0);
      const check = await cairn(['check'], s.env);
      assert.equal(check.code, 0, check.stdout + check.stderr);
    });
  },
);
