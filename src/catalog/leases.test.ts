/**
 * Leases and exactly one active run per job in the catalog itself (issue 20), on SQLite and on a
 * real PostgreSQL: a job has one queued or running run at most however many catalogs queue it at
 * once; a run whose server's lease expired is taken over once, whoever looks, with the reason in
 * its message and log and the job's retry queued; a renewed lease keeps its runs; a server whose
 * run was taken over records nothing of it; a cancel of a run no server runs ends it at once; the
 * migration cancels duplicates an earlier version left before it adds its index.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'kysely';
import { isCairnError } from '../errors.ts';
import { Catalog } from './index.ts';
import { startPostgres, type TestPostgres } from './postgres.testing.ts';

let pg: TestPostgres | undefined;

for (const kind of ['sqlite', 'postgres'] as const) {
  describe(`run leases and one active run per job (${kind})`, () => {
    let dir: string;
    let url: string;
    let catalog: Catalog;
    let other: Catalog;
    let tenantId: string;
    let repositoryId: string;

    before(async () => {
      dir = mkdtempSync(path.join(tmpdir(), 'cairn-leases-'));
      url = path.join(dir, 'catalog.db');
      if (kind === 'postgres') {
        pg ??= await startPostgres();
        assert.ok(pg, 'PostgreSQL is not installed (scripts/setup.sh installs it)');
        url = pg.database(`cairn_leases_${process.pid}`);
      }
      catalog = await Catalog.open(url);
      // A second connection to the same database: another server.
      other = await Catalog.open(url);
      tenantId = (await catalog.createTenant({ name: 'acme' })).id;
      repositoryId = (
        await catalog.createRepository({
          tenantId,
          name: 'main',
          location: path.join(dir, 'main'),
          passwordFile: '',
          maxConcurrent: 8,
          origin: 'api',
        })
      ).id;
    });
    after(async () => {
      await other?.close();
      await catalog?.close();
      rmSync(dir, { recursive: true, force: true });
      if (kind === 'postgres') pg?.stop();
    });

    const job = async (name: string, spec: unknown = {}) =>
      catalog.createJob({
        tenantId,
        name,
        repositoryId,
        spec,
        enabled: true,
        origin: 'api',
        nextRunAt: null,
      });
    const queue = (c: Catalog, j: { id: string; name: string } | null) =>
      c.enqueueRun({
        tenantId,
        jobId: j?.id ?? null,
        jobName: j?.name ?? 'restore',
        repositoryId,
        kind: j ? 'backup' : 'restore',
        params: {},
        trigger: 'api',
      });
    const active = async (jobId: string) =>
      (
        await catalog.db
          .selectFrom('runs')
          .select('id')
          .where('job_id', '=', jobId)
          .where('state', 'in', ['queued', 'running'])
          .execute()
      ).length;
    /** A server whose last heartbeat is `agoMs` old (by the database's clock) with a lease of leaseMs. */
    const staleServer = async (id: string, leaseMs: number, agoMs: number) => {
      await catalog.registerServer({ id, host: 'gone', pid: 1, leaseMs });
      await catalog.db
        .updateTable('servers')
        .set({ seen_at: sql<number>`seen_at - ${agoMs}` })
        .where('id', '=', id)
        .execute();
    };
    const claim = async (worker: string, jobId: string) => {
      const r = await catalog.claimRun(worker);
      assert.ok(r);
      assert.equal(r.job_id, jobId);
      return r;
    };

    it('keeps one queued or running run per job, however many queue it at once', async () => {
      const j = await job('nightly');
      const first = await queue(catalog, j);
      await assert.rejects(queue(other, j), (err) => isCairnError(err, 'CONFLICT'));
      // Claimed, it is still the job's one active run.
      await claim('w', j.id);
      await assert.rejects(queue(catalog, j), /it has a run queued or running already/);
      await catalog.finishRun(first.id, 'success', 'finished');
      // 24 at once from two connections: one is queued.
      const tries = await Promise.allSettled(
        Array.from({ length: 24 }, (_, i) => queue(i % 2 ? other : catalog, j)),
      );
      assert.equal(tries.filter((t) => t.status === 'fulfilled').length, 1);
      for (const t of tries)
        if (t.status === 'rejected') assert.ok(isCairnError(t.reason, 'CONFLICT'), String(t.reason));
      assert.equal(await active(j.id), 1);
      // Restores belong to no job: as many as asked for.
      await queue(catalog, null);
      await queue(other, null);
      const one = (await catalog.activeRunOf(j.id))!;
      await catalog.requestCancel(tenantId, one.id);
      assert.equal(await active(j.id), 0);
      await catalog.db.deleteFrom('runs').where('job_id', 'is', null).execute();
    });

    it('takes a run over once its lease expired, once whoever looks, and queues its retry', async () => {
      const j = await job('expiring', { limits: { retries: 1, retryDelaySeconds: 5 } });
      const run = await queue(catalog, j);
      await catalog.registerServer({ id: 'dying', host: 'h', pid: 2, leaseMs: 400 });
      await claim('dying', j.id);
      await catalog.registerServer({ id: 'alive-1', host: 'h', pid: 3, leaseMs: 60_000 });
      await catalog.registerServer({ id: 'alive-2', host: 'h', pid: 4, leaseMs: 60_000 });
      // Within the lease: nothing is taken; the next expiry is known.
      const early = await catalog.takeOverExpiredRuns('alive-1');
      assert.deepEqual(early.taken, []);
      assert.ok(early.nextExpiryMs !== undefined && early.nextExpiryMs <= 400, String(early.nextExpiryMs));
      assert.deepEqual(await catalog.runControl(run.id, 'dying'), { cancelRequested: false, held: true });
      await sleep(early.nextExpiryMs + 50);
      // Two servers look at once: one takes it. (Two SQLite connections of one thread cannot wait
      // for each other's transactions: there they look one after the other.)
      const retryAt = new Date(Date.now() + 5000).toISOString();
      const lookA = () => catalog.takeOverExpiredRuns('alive-1', () => retryAt);
      const lookB = () => other.takeOverExpiredRuns('alive-2', () => retryAt);
      const [a, b] =
        kind === 'postgres' ? await Promise.all([lookA(), lookB()]) : [await lookA(), await lookB()];
      const taken = [...a.taken, ...b.taken];
      assert.equal(taken.length, 1);
      const t = taken[0]!;
      const by = a.taken.length === 1 ? 'alive-1' : 'alive-2';
      assert.equal(t.server, 'dying');
      assert.equal(t.state, 'failed');
      const ended = (await catalog.runById(run.id))!;
      assert.equal(ended.state, 'failed');
      assert.match(
        ended.message ?? '',
        new RegExp(
          `^server dying stopped answering at \\d{4}-\\d\\d-\\d\\dT[0-9:.]+Z; server ${by} took the run over \\[INTERRUPTED\\]$`,
        ),
      );
      assert.equal((JSON.parse(ended.stats ?? '{}') as { errorCode?: string }).errorCode, 'INTERRUPTED');
      const log = (await catalog.runLog(run.id)).map((l) => l.message);
      assert.equal(log[0], ended.message);
      assert.match(log[1] ?? '', /^attempt 2 queued as run \S+, not before /);
      // The retry is the job's one active run.
      assert.equal(t.retry?.attempt, 2);
      const next = (await catalog.activeRunOf(j.id))!;
      assert.deepEqual(
        [next.id, next.state, next.trigger, next.not_before],
        [t.retry?.id, 'queued', 'retry', retryAt],
      );
      // The dead server's record is gone with its last run; the late server records nothing.
      assert.deepEqual(
        (await catalog.listServers()).map((s) => s.id),
        ['alive-1', 'alive-2'],
      );
      assert.deepEqual(await catalog.runControl(run.id, 'dying'), { cancelRequested: false, held: false });
      assert.equal(await catalog.finishRun(run.id, 'success', 'finished', { worker: 'dying' }), false);
      assert.equal((await catalog.runById(run.id))?.state, 'failed');
      assert.equal(await catalog.renewServer('dying'), false, 'it must register again');
      await catalog.requestCancel(tenantId, next.id);
    });

    it('a renewed lease keeps its runs; a run no server record knows is taken at once', async () => {
      const j = await job('renewed');
      const k = await job('unknown-server');
      await queue(catalog, j);
      await catalog.registerServer({ id: 'steady', host: 'h', pid: 5, leaseMs: 300 });
      const run = await claim('steady', j.id);
      for (let i = 0; i < 4; i++) {
        await sleep(150);
        assert.equal(await catalog.renewServer('steady'), true);
        assert.deepEqual((await other.takeOverExpiredRuns('alive-2')).taken, []);
      }
      assert.deepEqual(
        (await catalog.heldRuns('steady')).map((r) => r.id),
        [run.id],
      );
      assert.equal(
        await catalog.finishRun(run.id, 'success', 'finished', { worker: 'steady', stats: { n: 1 } }),
        true,
      );
      assert.equal((await catalog.runById(run.id))?.stats, '{"n":1}');
      // Claimed by a server of an earlier version (host:pid, no record): taken at the first look.
      const old = await queue(catalog, k);
      await claim('oldhost:1234', k.id);
      const { taken } = await other.takeOverExpiredRuns('alive-2');
      assert.deepEqual(
        taken.map((x) => x.run.id),
        [old.id],
      );
      assert.match(
        taken[0]!.message,
        /^server oldhost:1234 stopped answering \(no heartbeat of it is known; the run started at \S+\); server alive-2 took the run over \[INTERRUPTED\]$/,
      );
    });

    it('a cancel ends a run whose server is gone at once, and asks a live one', async () => {
      const gone = await job('cancel-gone');
      const live = await job('cancel-live');
      const late = await job('cancel-late');
      await staleServer('vanished', 1000, 5000);
      await catalog.registerServer({ id: 'present', host: 'h', pid: 6, leaseMs: 60_000 });
      const g = await queue(catalog, gone);
      await claim('vanished', gone.id);
      const l = await queue(catalog, live);
      await claim('present', live.id);
      assert.equal(await catalog.requestCancel(tenantId, g.id), 'canceled');
      const gr = (await catalog.runById(g.id))!;
      assert.equal(gr.state, 'canceled');
      assert.match(
        gr.message ?? '',
        /^canceled by request; server vanished stopped answering at \S+Z, so no server runs it/,
      );
      assert.equal(await catalog.requestCancel(tenantId, l.id), 'requested');
      assert.equal((await catalog.runById(l.id))?.state, 'running');
      assert.deepEqual(await catalog.runControl(l.id, 'present'), { cancelRequested: true, held: true });
      assert.equal(await catalog.requestCancel(tenantId, g.id), 'ended');
      // Asked while its lease still held, then the server died: taken over as canceled.
      await catalog.registerServer({ id: 'fading', host: 'h', pid: 7, leaseMs: 300 });
      const f = await queue(catalog, late);
      await claim('fading', late.id);
      assert.equal(await catalog.requestCancel(tenantId, f.id), 'requested');
      await sleep(400);
      const { taken } = await catalog.takeOverExpiredRuns('present');
      assert.deepEqual(
        taken.map((x) => [x.run.id, x.state]),
        [[f.id, 'canceled']],
      );
      assert.match(taken[0]!.message, /^canceled by request; server fading stopped answering at /);
      await catalog.finishRun(l.id, 'canceled', 'canceled by request', { worker: 'present' });
    });
  });
}

describe('migration 0006_run_leases', () => {
  it('cancels the duplicate active runs an earlier version left, keeping the running or oldest one', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'cairn-leases-migrate-'));
    try {
      const file = path.join(dir, 'catalog.db');
      const c = await Catalog.open(file);
      const tenantId = (await c.createTenant({ name: 'old' })).id;
      const repositoryId = (
        await c.createRepository({
          tenantId,
          name: 'r',
          location: dir,
          passwordFile: '',
          maxConcurrent: 2,
          origin: 'api',
        })
      ).id;
      const jobs = [];
      for (const name of ['a', 'b'])
        jobs.push(
          await c.createJob({
            tenantId,
            name,
            repositoryId,
            spec: {},
            enabled: true,
            origin: 'api',
            nextRunAt: null,
          }),
        );
      await c.close();
      // The catalog as 0005 left it: no index, no servers, and what two servers starting at once made.
      const db = new DatabaseSync(file);
      db.exec(`DROP INDEX runs_one_active; DROP TABLE servers;
        DELETE FROM kysely_migration WHERE name = '0006_run_leases'`);
      const insert =
        db.prepare(`INSERT INTO runs (id, tenant_id, job_id, job_name, repository_id, kind, params,
        state, trigger, attempt, not_before, queued_at, cancel_requested, log_count)
        VALUES (?, ?, ?, ?, ?, 'backup', '{}', ?, 'manual', 1, ?, ?, 0, 0)`);
      const t = (s: number) => `2026-01-01T00:00:0${s}.000Z`;
      const [a, b] = jobs;
      insert.run('a-queued-1', tenantId, a!.id, 'a', repositoryId, 'queued', t(1), t(1));
      insert.run('a-queued-2', tenantId, a!.id, 'a', repositoryId, 'queued', t(2), t(2));
      insert.run('a-running', tenantId, a!.id, 'a', repositoryId, 'running', t(3), t(3));
      insert.run('b-queued-2', tenantId, b!.id, 'b', repositoryId, 'queued', t(2), t(2));
      insert.run('b-queued-1', tenantId, b!.id, 'b', repositoryId, 'queued', t(1), t(1));
      db.close();
      const again = await Catalog.open(file);
      try {
        const rows = await again.db.selectFrom('runs').select(['id', 'state']).orderBy('id').execute();
        assert.deepEqual(
          rows.map((r) => `${r.id}:${r.state}`),
          [
            'a-queued-1:canceled',
            'a-queued-2:canceled',
            'a-running:running',
            'b-queued-1:queued',
            'b-queued-2:canceled',
          ],
        );
        await assert.rejects(
          again.enqueueRun({
            tenantId,
            jobId: b!.id,
            jobName: 'b',
            repositoryId,
            kind: 'backup',
            params: {},
            trigger: 'manual',
          }),
          (err) => isCairnError(err, 'CONFLICT'),
        );
        assert.deepEqual(await again.listServers(), []);
      } finally {
        await again.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
