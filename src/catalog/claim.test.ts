/**
 * Taking queued runs under their tenant's limit (max_runs) and their repository's
 * (max_concurrent), on SQLite and on a real PostgreSQL: the oldest run that may start is taken,
 * a tenant at its limit hides no other tenant's run however many of its own wait before it, the
 * waiting say why, a changed limit holds at the next claim, and servers claiming at once (two
 * catalogs on one database) never start more than the limit.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Catalog, type RunRow } from './index.ts';
import { startPostgres, type TestPostgres } from './postgres.testing.ts';

let pg: TestPostgres | undefined;

for (const kind of ['sqlite', 'postgres'] as const) {
  describe(`claiming runs under tenants' and repositories' limits (${kind})`, () => {
    let dir: string;
    let url: string;
    let catalog: Catalog;
    let tick = 0;

    before(async () => {
      dir = mkdtempSync(path.join(tmpdir(), 'cairn-claim-'));
      url = path.join(dir, 'catalog.db');
      if (kind === 'postgres') {
        pg ??= await startPostgres();
        assert.ok(pg, 'PostgreSQL is not installed (scripts/setup.sh installs it)');
        url = pg.database(`cairn_claim_${process.pid}`);
      }
      // A clock that moves a millisecond a call, so every run is queued at a time of its own.
      const start = Date.parse('2030-01-01T00:00:00Z');
      catalog = await Catalog.open(url, { now: () => new Date(start + tick++) });
    });
    after(async () => {
      await catalog.close();
      rmSync(dir, { recursive: true, force: true });
      if (kind === 'postgres') pg?.stop();
    });

    const tenant = async (name: string, maxRuns: number | null) =>
      (await catalog.createTenant({ name, maxRuns })).id;
    const repository = async (tenantId: string, name: string, maxConcurrent: number) =>
      (
        await catalog.createRepository({
          tenantId,
          name,
          location: path.join(dir, name),
          passwordFile: '',
          maxConcurrent,
          origin: 'api',
        })
      ).id;
    const queue = (tenantId: string, repositoryId: string, jobName: string) =>
      catalog.enqueueRun({
        tenantId,
        jobId: null,
        jobName,
        repositoryId,
        kind: 'backup',
        params: {},
        trigger: 'api',
      });
    const name = (r: RunRow | undefined) => r?.job_name ?? null;

    it('takes the oldest run that may start; a tenant at its limit hides no other tenant', async () => {
      const acme = await tenant('acme', 1);
      const beta = await tenant('beta', null);
      const a1 = await repository(acme, 'a-one', 5);
      const a2 = await repository(acme, 'a-two', 5);
      const b = await repository(beta, 'b-main', 1);
      // Far more of acme's runs wait before beta's than any window of candidates would hold.
      for (let i = 0; i < 40; i++) await queue(acme, i % 2 ? a2 : a1, `acme-${i}`);
      await queue(beta, b, 'beta-0');
      await queue(beta, b, 'beta-1');

      assert.equal(name(await catalog.claimRun('w1')), 'acme-0');
      assert.equal(name(await catalog.claimRun('w1')), 'beta-0', "acme is at 1 of 1: beta's run is next");
      assert.equal(await catalog.claimRun('w1'), undefined, 'beta-1 waits for its repository');

      const waiting = await catalog.noteWaiting();
      const reasons = new Map(waiting.map((w) => [w.run.job_name, w.reason]));
      assert.equal(reasons.size, 40);
      assert.equal(reasons.get('acme-1'), 'waiting: tenant acme runs 1 of 1');
      assert.equal(reasons.get('acme-39'), 'waiting: tenant acme runs 1 of 1');
      assert.equal(reasons.get('beta-1'), 'waiting: repository b-main runs 1 of 1');
      assert.deepEqual(await catalog.noteWaiting(), [], 'a reason is told once');
      const listed = await catalog.listRuns(acme, { state: 'queued', limit: 500 });
      assert.ok(listed.data.every((r) => r.message === 'waiting: tenant acme runs 1 of 1'));

      // One of acme's ends: the next of acme's in the order they were queued starts, its reason gone.
      const first = (await catalog.listRuns(acme, { state: 'running' })).data[0]!;
      await catalog.finishRun(first.id, 'success', 'finished');
      const next = await catalog.claimRun('w1');
      assert.deepEqual([name(next), next?.message], ['acme-1', null]);
      assert.equal((await catalog.runById(next!.id))?.message, null);
      assert.equal(await catalog.claimRun('w1'), undefined);

      // A raised limit holds at the next claim, without a run ending.
      await catalog.updateTenant(acme, { maxRuns: 3 });
      assert.equal(name(await catalog.claimRun('w2')), 'acme-2');
      assert.equal(name(await catalog.claimRun('w2')), 'acme-3');
      assert.equal(await catalog.claimRun('w2'), undefined);
      const now = new Map((await catalog.noteWaiting()).map((w) => [w.run.job_name, w.reason]));
      assert.equal(now.get('acme-4'), 'waiting: tenant acme runs 3 of 3');
      assert.equal(now.has('beta-1'), false, "beta's reason did not change");
      // No limit of its own: only the repositories' limits hold.
      await catalog.updateTenant(acme, { maxRuns: null });
      const more: string[] = [];
      for (let r = await catalog.claimRun('w3'); r; r = await catalog.claimRun('w3')) more.push(name(r)!);
      // a-one and a-two run 5 each at most: 10 of acme's in all.
      assert.equal(more.length, 10 - 3);
      assert.deepEqual(more, ['acme-4', 'acme-5', 'acme-6', 'acme-7', 'acme-8', 'acme-9', 'acme-10']);
      const after = new Map((await catalog.noteWaiting()).map((w) => [w.run.job_name, w.reason]));
      assert.equal(after.get('acme-11'), 'waiting: repository a-two runs 5 of 5');
      assert.equal(after.get('acme-12'), 'waiting: repository a-one runs 5 of 5');
    });

    it('never starts more than the limit when servers claim at once', async () => {
      const cora = await tenant('cora', 2);
      const repos = [await repository(cora, 'c-one', 8), await repository(cora, 'c-two', 8)];
      for (let i = 0; i < 12; i++) await queue(cora, repos[i % 2]!, `cora-${i}`);
      const other = await Catalog.open(url);
      try {
        const claims = await Promise.all(
          Array.from({ length: 12 }, (_, i) => (i % 2 ? other : catalog).claimRun(`server-${i % 2}`)),
        );
        const taken = claims.filter((r) => r !== undefined).map(name);
        assert.deepEqual(taken.sort(), ['cora-0', 'cora-1']);
        const running = await catalog.listRuns(cora, { state: 'running' });
        assert.equal(running.pagination.total, 2);
      } finally {
        await other.close();
      }
    });
  });
}
