import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Catalog, type RepositoryRow, type TenantRow } from '../catalog/index.ts';
import { measureRepository, QuotaBook, quotaBudget, storedBytes, tenantUsage } from './quota.ts';

/** A repository's layout with files of the given sizes (the quota counts sizes, not content). */
function layout(dir: string, files: Record<string, number>): void {
  rmSync(dir, { recursive: true, force: true });
  for (const d of ['keys', 'data', 'index', 'snapshots', 'locks'])
    mkdirSync(path.join(dir, d), { recursive: true });
  for (const [name, size] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    writeFileSync(path.join(dir, name), Buffer.alloc(size));
  }
}

describe('tenant usage and quota', () => {
  let dir: string;
  let catalog: Catalog;
  let tenant: TenantRow;
  let repo: RepositoryRow;
  let other: RepositoryRow;

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'cairn-quota-'));
    catalog = await Catalog.open(path.join(dir, 'catalog.db'));
    tenant = await catalog.createTenant({ name: 'acme', quotaBytes: 1000 });
    const row = (name: string) =>
      catalog.createRepository({
        tenantId: tenant.id,
        name,
        location: path.join(dir, name),
        passwordFile: path.join(dir, 'none'),
        maxConcurrent: 1,
        origin: 'api',
      });
    repo = await row('one');
    other = await row('two');
  });
  after(async () => {
    await catalog.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("counts a repository's files as the storage lists them, lock files left out", async () => {
    layout(repo.location, {
      config: 10,
      'keys/k': 20,
      'data/ab/abcd': 300,
      'index/i': 40,
      'snapshots/s': 50,
      'locks/l': 999,
    });
    assert.equal(await storedBytes(repo.location), 420);
  });

  it('warns once per crossing of 90 %: up, not again while above, again after going below', async () => {
    layout(other.location, { config: 100 });
    await measureRepository(catalog, other);
    const warnings = async () =>
      (await catalog.listAudit(tenant.id, {})).data.filter((a) => a.action === 'quota.warning').length;
    const steps: [number, boolean, number][] = [
      [500, false, 0], // 600 of 1000
      [850, true, 1], // 950: crossed
      [890, false, 1], // 990: still above
      [100, false, 1], // 200: below again
      [800, true, 2], // 900: crossed again (at 90 % exactly)
    ];
    for (const [bytes, crossed, events] of steps) {
      layout(repo.location, { 'data/ab/abcd': bytes });
      const m = await measureRepository(catalog, repo);
      assert.equal(m.storedBytes, bytes);
      assert.equal(m.usageBytes, bytes + 100);
      assert.equal(m.crossedWarning, crossed, `at ${bytes + 100}`);
      assert.equal(await warnings(), events, `at ${bytes + 100}`);
    }
    const u = await tenantUsage(catalog, tenant.id);
    assert.equal(u.quotaBytes, 1000);
    assert.equal(u.usageBytes, 900);
    assert.equal(u.usedPercent, 90);
    assert.deepEqual(
      u.repositories.map((r) => [r.name, r.storedBytes]),
      [
        ['one', 800],
        ['two', 100],
      ],
    );
    assert.equal((await catalog.tenant(tenant.id))?.usage_bytes, 900);
  });

  it('shares one budget between the backups of a tenant that run at once, and opens a new one after', async () => {
    layout(repo.location, { 'data/ab/abcd': 300 });
    layout(other.location, { config: 100 });
    await measureRepository(catalog, other);
    const book = new QuotaBook(catalog);
    const fresh = (await catalog.tenant(tenant.id))!;
    const a = (await book.join(fresh, repo)).task!;
    const b = (await book.join(fresh, other)).task!;
    assert.deepEqual([a.limitBytes, a.usageBytes, a.repositoryBytes], [600, 400, 300]);
    assert.equal(b.repositoryBytes, 100);
    assert.equal(a.taken, b.taken, 'one counter');
    const ba = quotaBudget(a, 'one');
    const bb = quotaBudget(b, 'two');
    assert.equal(ba.reserve(400), true);
    assert.equal(bb.reserve(250), false, '400 + 250 > 600');
    assert.equal(bb.reserve(200), true);
    ba.charge(10); // an index file: taken, never refused
    assert.equal(ba.reserve(1), false);
    assert.match(
      bb.refusal(50),
      /tenant acme has a quota of 1000 B \(1000 bytes\) and stored 400 B when this backup began \(100 B in this repository, 300 B in its others\), which left 600 B to write; this backup wrote 200 B \(other backups of the tenant 410 B\) and needed 50 B more for its next pack, 1.04 KiB in all/,
    );
    book.leave(tenant.id);
    book.leave(tenant.id);
    // All ended: the next backup opens a new budget from a new measurement.
    layout(repo.location, { 'data/ab/abcd': 700 });
    const c = (await book.join(fresh, repo)).task!;
    assert.notEqual(c.taken, a.taken);
    assert.equal(c.limitBytes, 200);
    book.leave(tenant.id);
    // Without a quota there is no budget.
    await catalog.updateTenant(tenant.id, { quotaBytes: null });
    assert.equal((await book.join((await catalog.tenant(tenant.id))!, repo)).task, undefined);
  });
});
