/**
 * Migration 0003_tenant_volumes on SQLite and a real PostgreSQL: a catalog made before it (at
 * 0002_tenants, with a tenant in it) opens with the tenant kept and no volume; a volume recorded
 * at creation or later reads back exactly, sizes beyond 2^32 included, and can be cleared.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DatabaseSync, type SQLInputValue } from 'node:sqlite';
import { after, before, describe, it } from 'node:test';
import { Kysely, PostgresDialect, sql, SqliteDialect, type SqliteDatabase } from 'kysely';
import { Migrator } from 'kysely/migration';
import pg from 'pg';
import { Catalog } from './index.ts';
import { migrationProvider } from './migrations.ts';
import { startPostgres, type TestPostgres } from './postgres.testing.ts';

/** node:sqlite as Kysely's SQLite driver wants it (as connect.ts does), without the catalog's set-up. */
function sqlite(file: string): SqliteDatabase {
  const db = new DatabaseSync(file);
  return {
    close: () => db.close(),
    prepare(sql: string) {
      const stmt = db.prepare(sql);
      const args = (p: readonly unknown[]) => p as SQLInputValue[];
      return {
        reader: stmt.columns().length > 0,
        all: (p: readonly unknown[]) => stmt.all(...args(p)),
        run: (p: readonly unknown[]) => {
          const r = stmt.run(...args(p));
          return { changes: r.changes, lastInsertRowid: r.lastInsertRowid };
        },
        iterate: (p: readonly unknown[]) => stmt.iterate(...args(p)),
      };
    },
  };
}

let pgServer: TestPostgres | undefined;

for (const kind of ['sqlite', 'postgres'] as const) {
  describe(`catalog: tenant volumes (${kind})`, () => {
    let dir: string;
    let url: string;
    let catalog: Catalog;

    before(async () => {
      dir = mkdtempSync(path.join(tmpdir(), 'cairn-volumes-'));
      url = path.join(dir, 'catalog.db');
      let old: Kysely<unknown>;
      if (kind === 'postgres') {
        pgServer ??= await startPostgres();
        assert.ok(pgServer, 'PostgreSQL is not installed (scripts/setup.sh installs it)');
        url = pgServer.database(`cairn_volumes_${process.pid}`);
        old = new Kysely({ dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: url }) }) });
      } else old = new Kysely({ dialect: new SqliteDialect({ database: sqlite(url) }) });
      // A catalog as a server before this migration left it, with a tenant.
      const m = await new Migrator({ db: old, provider: migrationProvider }).migrateTo('0002_tenants');
      assert.equal(m.error, undefined);
      await sql`insert into tenants (id, name, created_at) values ('old-1', 'old', '2025-01-01T00:00:00.000Z')`.execute(
        old,
      );
      await old.destroy();
      catalog = await Catalog.open(url);
    });
    after(async () => {
      await catalog.close();
      rmSync(dir, { recursive: true, force: true });
      if (kind === 'postgres') pgServer?.stop();
    });

    it('keeps the tenants of an older catalog, without a volume', async () => {
      const t = await catalog.tenantByName('old');
      assert.ok(t);
      assert.deepEqual([t.volume_image, t.volume_bytes], [null, null]);
    });

    it('records a volume at creation and later, and clears it', async () => {
      const big = 5 * 2 ** 40 + 2 ** 20;
      const made = await catalog.createTenant({
        name: 'acme',
        storageRoot: '/srv/acme',
        volume: { image: '/var/lib/cairn/volumes/acme.xfs', bytes: big },
      });
      const read = await catalog.tenant(made.id);
      assert.deepEqual([read?.volume_image, read?.volume_bytes], ['/var/lib/cairn/volumes/acme.xfs', big]);
      const plain = await catalog.createTenant({ name: 'plain' });
      assert.deepEqual([plain.volume_image, plain.volume_bytes], [null, null]);
      await catalog.setTenantVolume(plain.id, { image: '/v/plain.xfs', bytes: 300 * 2 ** 20 });
      const set = await catalog.tenant(plain.id);
      assert.deepEqual([set?.volume_image, set?.volume_bytes], ['/v/plain.xfs', 300 * 2 ** 20]);
      assert.ok(set?.updated_at);
      // Other settings change without touching it.
      await catalog.updateTenant(plain.id, { quotaBytes: 1000 });
      assert.equal((await catalog.tenant(plain.id))?.volume_bytes, 300 * 2 ** 20);
      await catalog.setTenantVolume(plain.id, null);
      const cleared = await catalog.tenant(plain.id);
      assert.deepEqual(
        [cleared?.volume_image, cleared?.volume_bytes, cleared?.quota_bytes],
        [null, null, 1000],
      );
    });
  });
}
