/**
 * Missed backups: the overdue rule (the second scheduled time after the last success, plus the
 * grace), and the watch on a real catalog (SQLite and a real PostgreSQL) with a clock the test
 * moves: each episode told once (audit entry, `overdue` webhook received by a real HTTP listener),
 * a successful run ending it, a tenant's webhook called only while its allow-list admits it. Also
 * the catalog's figures the metrics read: runs by state and the queue's depth.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Catalog, type JobRow } from '../catalog/index.ts';
import { startPostgres, type TestPostgres } from '../catalog/postgres.testing.ts';
import { catalogFigures } from './figures.ts';
import { judgeJobs, OVERDUE_AUDIT, OverdueWatch, overdueTimes } from './overdue.ts';
import { ServerKey } from './tenancy.ts';

const HOUR = 3600_000;

describe('the overdue rule', () => {
  it('is the second scheduled time after the last success, plus the grace', () => {
    const t = overdueTimes({ cron: '0 * * * *' }, new Date('2026-05-04T10:05:00Z'), HOUR);
    assert.equal(t?.dueAt.toISOString(), '2026-05-04T12:00:00.000Z');
    assert.equal(t?.overdueAt.toISOString(), '2026-05-04T13:00:00.000Z');
    // Daily at 02:00 UTC, last success ended on Monday at 02:10: overdue from Wednesday 03:00.
    const d = overdueTimes({ cron: '0 2 * * *', timezone: 'UTC' }, new Date('2026-05-04T02:10:00Z'), HOUR);
    assert.equal(d?.overdueAt.toISOString(), '2026-05-06T03:00:00.000Z');
    // In the job's time zone: 02:00 in Berlin is 00:00 UTC in summer.
    const b = overdueTimes(
      { cron: '0 2 * * *', timezone: 'Europe/Berlin' },
      new Date('2026-07-01T12:00:00Z'),
      0,
    );
    assert.equal(b?.dueAt.toISOString(), '2026-07-03T00:00:00.000Z');
    // Weekdays only: Friday's success, Monday missed, Tuesday's time is the second.
    const w = overdueTimes({ cron: '0 1 * * 1-5', timezone: 'UTC' }, new Date('2026-05-08T01:30:00Z'), 0);
    assert.equal(w?.dueAt.toISOString(), '2026-05-12T01:00:00.000Z');
    assert.equal(overdueTimes(null, new Date(), HOUR), null, 'no schedule: never overdue');
    assert.equal(overdueTimes({ cron: 'not a cron' }, new Date(), HOUR), null);
  });

  it('judges scheduled, enabled jobs only, from their creation until a first success', () => {
    const job = (name: string, spec: unknown, enabled = 1): JobRow => ({
      id: name,
      tenant_id: 't',
      name,
      repository_id: 'r',
      spec: JSON.stringify(spec),
      enabled,
      origin: 'api',
      next_run_at: enabled ? '2026-05-04T15:00:00.000Z' : null,
      created_at: '2026-05-04T10:00:30.000Z',
      updated_at: '2026-05-04T10:00:30.000Z',
      confined: 0,
    });
    const hourly = { sources: ['/etc'], schedule: { cron: '0 * * * *' } };
    const jobs = [
      job('never', hourly),
      job('recent', hourly),
      job('off', hourly, 0),
      job('by-hand', { sources: ['/etc'] }),
    ];
    const successes = new Map([['recent', '2026-05-04T12:30:00.000Z']]);
    const at = (iso: string) =>
      judgeJobs(jobs, successes, new Date(iso), HOUR).map((w) => [w.job.name, w.overdue, w.lastSuccess]);
    assert.deepEqual(at('2026-05-04T13:00:00.000Z'), [
      ['never', false, null],
      ['recent', false, '2026-05-04T12:30:00.000Z'],
    ]);
    // Created 10:00:30: due 11:00 and 12:00, overdue after 13:00 (not at it).
    assert.deepEqual(at('2026-05-04T13:00:00.001Z'), [
      ['never', true, null],
      ['recent', false, '2026-05-04T12:30:00.000Z'],
    ]);
    assert.deepEqual(at('2026-05-04T15:00:00.001Z')[1], ['recent', true, '2026-05-04T12:30:00.000Z']);
  });
});

let pg: TestPostgres | undefined;

for (const kind of ['sqlite', 'postgres'] as const) {
  describe(`the overdue watch on a catalog (${kind})`, () => {
    let dir: string;
    let catalog: Catalog;
    let now = new Date('2026-05-04T10:00:30Z');
    let listener: Server;
    let base: string;
    const received: { path: string; body: Record<string, unknown> }[] = [];
    const said: string[] = [];
    let watch: OverdueWatch;
    let sysJob: JobRow;
    let acmeJob: JobRow;
    let acmeId: string;

    before(async () => {
      dir = mkdtempSync(path.join(tmpdir(), 'cairn-overdue-'));
      let url = path.join(dir, 'catalog.db');
      if (kind === 'postgres') {
        pg ??= await startPostgres();
        assert.ok(pg, 'PostgreSQL is not installed (scripts/setup.sh installs it)');
        url = pg.database(`cairn_overdue_${process.pid}`);
      }
      catalog = await Catalog.open(url, { now: () => now });
      listener = createServer((req, res) => {
        let text = '';
        req.on('data', (c: Buffer) => (text += c.toString()));
        req.on('end', () => {
          received.push({ path: req.url ?? '', body: JSON.parse(text) as Record<string, unknown> });
          res.end('ok');
        });
      });
      await new Promise<void>((r) => listener.listen(0, '127.0.0.1', r));
      const address = listener.address();
      base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
      const sys = await catalog.ensureTenant('default');
      const acme = await catalog.createTenant({ name: 'acme', webhookAllow: [`${base}/acme`] });
      acmeId = acme.id;
      const repo = async (tenantId: string) =>
        catalog.createRepository({
          tenantId,
          name: 'vault',
          location: path.join(dir, `repo-${tenantId}`),
          passwordFile: path.join(dir, 'pw'),
          maxConcurrent: 1,
          origin: 'api',
        });
      const hourly = (hook: string) => ({
        sources: ['/etc'],
        schedule: { cron: '0 * * * *' },
        // A failure hook outside the tenant's allow-list does not hold back its overdue hook.
        hooks: [
          { on: ['failure'], webhook: `${base}/not-for-overdue` },
          { on: ['overdue'], webhook: hook },
        ],
      });
      sysJob = await catalog.createJob({
        tenantId: sys.id,
        name: 'nightly',
        repositoryId: (await repo(sys.id)).id,
        spec: hourly(`${base}/admin`),
        enabled: true,
        origin: 'api',
        nextRunAt: '2026-05-04T11:00:00.000Z',
      });
      acmeJob = await catalog.createJob({
        tenantId: acme.id,
        name: 'laptop',
        repositoryId: (await repo(acme.id)).id,
        spec: hourly(`${base}/acme/hook`),
        enabled: true,
        origin: 'api',
        nextRunAt: '2026-05-04T11:00:00.000Z',
        confined: true,
      });
      watch = new OverdueWatch(catalog, {
        tenancy: { dataDir: path.join(dir, 'data'), serverKey: ServerKey.load(path.join(dir, 'data')) },
        say: (l) => said.push(l),
      });
    });
    after(async () => {
      await watch?.stop();
      await catalog?.close();
      listener?.close();
      rmSync(dir, { recursive: true, force: true });
      if (kind === 'postgres') pg?.stop();
    });

    /** A backup of the job that ends now in `state`. */
    async function finishedRun(job: JobRow, state: 'success' | 'failed' | 'warning') {
      const run = await catalog.enqueueRun({
        tenantId: job.tenant_id,
        jobId: job.id,
        jobName: job.name,
        repositoryId: job.repository_id,
        kind: 'backup',
        params: {},
        trigger: 'schedule',
      });
      const claimed = await catalog.claimRun('test');
      assert.equal(claimed?.id, run.id);
      await catalog.finishRun(run.id, state, state === 'failed' ? 'the repository is unreachable' : null);
    }

    const names = async () => (await watch.check()).map((w) => w.job.name).sort();

    it('tells nothing before the second missed time and its grace have passed', async () => {
      now = new Date('2026-05-04T11:00:05Z');
      await finishedRun(sysJob, 'failed');
      now = new Date('2026-05-04T12:59:59Z');
      assert.deepEqual(await names(), []);
      assert.deepEqual(received, []);
    });

    it('tells an overdue job once: audit entry and its overdue webhook', async () => {
      now = new Date('2026-05-04T13:00:01Z');
      assert.deepEqual(await names(), ['laptop', 'nightly']);
      const admin = received.filter((r) => r.path === '/admin');
      assert.equal(admin.length, 1, JSON.stringify(received));
      assert.equal(admin[0]?.body.event, 'overdue');
      assert.equal(admin[0]?.body.job, 'nightly');
      assert.equal(admin[0]?.body.tenant, 'default');
      assert.equal(admin[0]?.body.repository, 'vault');
      assert.equal(admin[0]?.body.lastSuccess, null);
      assert.equal(admin[0]?.body.dueAt, '2026-05-04T12:00:00.000Z');
      assert.match(
        String(admin[0]?.body.message),
        /no successful run since it was created at 2026-05-04T10:00:30\.000Z.*its last run ended failed: the repository is unreachable/,
      );
      // The tenant's webhook is on its allow-list: it is called too; no failure hook for this.
      assert.equal(received.filter((r) => r.path === '/acme/hook').length, 1, said.join('\n'));
      assert.equal(received.filter((r) => r.path === '/not-for-overdue').length, 0);
      const audit = await catalog.lastAudit(sysJob.tenant_id, OVERDUE_AUDIT, sysJob.id);
      assert.equal(audit?.user_name, 'cairn');
      assert.equal((JSON.parse(audit?.detail ?? '{}') as { job: string }).job, 'nightly');
      assert.ok(
        said.some((l) => /^job nightly of tenant default is overdue: /.test(l)),
        said.join('\n'),
      );

      now = new Date('2026-05-04T14:30:00Z');
      assert.deepEqual(await names(), [], 'the same episode is not told again');
      // A second watch (another server on the catalog, or a restart) does not tell it either.
      assert.deepEqual((await new OverdueWatch(catalog, { say: () => undefined }).check()).length, 0);
      assert.equal(received.length, 2);
    });

    it('ends the episode with a successful run; the next one is told again', async () => {
      now = new Date('2026-05-04T14:40:00Z');
      await finishedRun(sysJob, 'warning');
      const successes = await catalog.lastSuccesses();
      assert.equal(successes.get(sysJob.id), '2026-05-04T14:40:00.000Z');
      assert.equal(successes.has(acmeJob.id), false);
      now = new Date('2026-05-04T16:59:59Z');
      assert.deepEqual(await names(), []);
      now = new Date('2026-05-04T17:00:01Z');
      assert.deepEqual(await names(), ['nightly']);
      assert.equal(received.filter((r) => r.path === '/admin').length, 2);
      assert.equal(received.at(-1)?.body.lastSuccess, '2026-05-04T14:40:00.000Z');
    });

    it("keeps a tenant's overdue webhook to its allow-list as it is now", async () => {
      now = new Date('2026-05-04T17:10:00Z');
      await finishedRun(acmeJob, 'success');
      await catalog.updateTenant(acmeId, { webhookAllow: [] });
      now = new Date('2026-05-04T20:00:01Z');
      const before = received.length;
      assert.deepEqual(await names(), ['laptop'], 'nightly: the same episode since 17:00');
      assert.equal(received.filter((r) => r.path === '/acme/hook').length, 1, 'not called again');
      assert.equal(received.length, before, 'no webhook called');
      assert.ok(
        said.some((l) =>
          /^the overdue hooks of job laptop of tenant acme did not run: hooks\[1\]\.webhook: .*not among the webhook addresses/.test(
            l,
          ),
        ),
        said.join('\n'),
      );
      // Told all the same: the audit entry of the episode.
      const audit = await catalog.lastAudit(acmeId, OVERDUE_AUDIT, acmeJob.id);
      assert.equal(audit?.at, '2026-05-04T20:00:01.000Z');
    });

    it("gives the metrics the catalog's figures: runs by state, the queue, last successes, overdue", async () => {
      await catalog.enqueueRun({
        tenantId: acmeId,
        jobId: acmeJob.id,
        jobName: acmeJob.name,
        repositoryId: acmeJob.repository_id,
        kind: 'backup',
        params: {},
        trigger: 'api',
      });
      // One active run per job: the waiting retry is another job's (one run by hand, unscheduled).
      const desk = await catalog.createJob({
        tenantId: acmeId,
        name: 'desk',
        repositoryId: acmeJob.repository_id,
        spec: { sources: ['/etc'] },
        enabled: true,
        origin: 'api',
        nextRunAt: null,
        confined: true,
      });
      await catalog.enqueueRun({
        tenantId: acmeId,
        jobId: desk.id,
        jobName: desk.name,
        repositoryId: desk.repository_id,
        kind: 'backup',
        params: {},
        trigger: 'retry',
        notBefore: '2026-05-05T00:00:00.000Z',
      });
      const f = await catalogFigures(catalog, { graceMs: HOUR });
      const acme = f.tenants.find((t) => t.tenant === 'acme');
      assert.deepEqual(acme?.runs, { success: 1, queued: 2 });
      assert.equal(acme?.queueDepth, 1, 'the retry waits for its time: not in the queue yet');
      const sys = f.tenants.find((t) => t.tenant === 'default');
      assert.deepEqual(sys?.runs, { failed: 1, warning: 1 });
      assert.equal(sys?.queueDepth, 0);
      assert.equal(sys?.recycledBytes, 0);
      assert.deepEqual(f.jobs?.map((j) => [j.tenant, j.job, j.lastSuccessSeconds, j.overdue]).sort(), [
        ['acme', 'desk', null, null],
        ['acme', 'laptop', Date.parse('2026-05-04T17:10:00Z') / 1000, true],
        ['default', 'nightly', Date.parse('2026-05-04T14:40:00Z') / 1000, true],
      ]);
      assert.deepEqual(f.repositories?.map((r) => [r.tenant, r.repository, r.storedBytes]).sort(), [
        ['acme', 'vault', null],
        ['default', 'vault', null],
      ]);
    });
  });
}
