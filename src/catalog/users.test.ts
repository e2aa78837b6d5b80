/**
 * Users of tenants in the catalog, on SQLite and on a real PostgreSQL: names unique per tenant
 * (stored as NAME@TENANT), the lookups a logon makes, and the catalog file's mode.
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Catalog, splitUserName } from './index.ts';
import { startPostgres, type TestPostgres } from './postgres.testing.ts';

let pg: TestPostgres | undefined;

for (const kind of ['sqlite', 'postgres'] as const) {
  describe(`catalog users (${kind})`, () => {
    let dir: string;
    let catalog: Catalog;
    let home: string;
    let acme: string;

    before(async () => {
      dir = mkdtempSync(path.join(tmpdir(), 'cairn-users-'));
      let url = path.join(dir, 'catalog.db');
      if (kind === 'postgres') {
        pg ??= await startPostgres();
        assert.ok(pg, 'PostgreSQL is not installed (scripts/setup.sh installs it)');
        url = pg.database(`cairn_users_${process.pid}`);
      }
      catalog = await Catalog.open(url);
      home = (await catalog.ensureTenant('default')).id;
      acme = (await catalog.ensureTenant('acme')).id;
    });
    after(async () => {
      await catalog.close();
      rmSync(dir, { recursive: true, force: true });
      if (kind === 'postgres') pg?.stop();
    });

    it('stores a tenant user as NAME@TENANT, so each tenant may have its own bob', async () => {
      const a = await catalog.createTenantUser({
        tenantId: home,
        name: 'bob',
        passwordHash: 'h1',
        role: 'viewer',
      });
      const b = await catalog.createTenantUser({
        tenantId: acme,
        name: 'bob',
        passwordHash: 'h2',
        role: 'operator',
      });
      assert.equal(a.name, 'bob@default');
      assert.equal(b.name, 'bob@acme');
      assert.deepEqual(splitUserName(b.name), { name: 'bob', tenant: 'acme' });
      assert.deepEqual(splitUserName('admin'), { name: 'admin', tenant: null });
      assert.equal(await catalog.roleOf(b.id, acme), 'operator');
      await assert.rejects(
        catalog.createTenantUser({ tenantId: acme, name: 'bob', passwordHash: 'h3', role: 'viewer' }),
        (err: Error & { code?: string }) =>
          err.code === 'CONFLICT' && /taken in tenant acme/.test(err.message),
      );
    });

    it("counts a plain name with a role in the tenant as taken there, and nobody else's", async () => {
      const otto = await catalog.createUser({ name: 'otto', passwordHash: 'h', systemAdmin: false });
      await catalog.setRole(otto.id, acme, 'viewer');
      await assert.rejects(
        catalog.createTenantUser({ tenantId: acme, name: 'otto', passwordHash: 'h', role: 'viewer' }),
        /taken in tenant acme/,
      );
      const o = await catalog.createTenantUser({
        tenantId: home,
        name: 'otto',
        passwordHash: 'h',
        role: 'viewer',
      });
      assert.equal(o.name, 'otto@default');
    });

    it('finds the user a logon names', async () => {
      const admin = await catalog.createUser({ name: 'root', passwordHash: 'h', systemAdmin: true });
      const named = async (name: string, tenant: string | undefined) =>
        (await catalog.userForLogon(name, tenant, 'default'))?.name;
      assert.equal(await named('bob', 'acme'), 'bob@acme');
      assert.equal(
        await named('bob', undefined),
        'bob@default',
        'a plain name falls back to the home tenant',
      );
      assert.equal(await named('otto', undefined), 'otto', 'the plain name first');
      assert.equal(await named('otto', 'acme'), 'otto', 'a plain name with a role in the tenant');
      assert.equal(await named('otto', 'default'), 'otto@default');
      assert.equal(await named('root', 'acme'), 'root', 'a system administrator, role or not');
      assert.equal(await named('bob', 'nowhere'), undefined);
      assert.equal(await named('nobody', 'acme'), undefined);
      assert.ok(admin.id);
    });

    it('lists the users of a name and deletes the users of a tenant that goes', async () => {
      assert.deepEqual(
        (await catalog.usersNamed('bob')).map((u) => u.name),
        ['bob@acme', 'bob@default'],
      );
      assert.deepEqual(
        (await catalog.usersNamed('otto')).map((u) => u.name),
        ['otto', 'otto@default'],
      );
      assert.equal(await catalog.deleteTenantUsers('acme'), 1);
      assert.equal(await catalog.userByName('bob@acme'), undefined);
      assert.ok(await catalog.userByName('bob@default'));
      assert.ok(await catalog.userByName('otto'), 'a plain user with a role there stays');
    });

    it('ends the sessions of a user, all or all but one', async () => {
      const bob = (await catalog.userByName('bob@default'))!;
      const s = [];
      for (let i = 0; i < 3; i++)
        s.push(
          await catalog.createSession({
            tokenHash: `t${i}`,
            userId: bob.id,
            tenantId: home,
            idleSeconds: 60,
          }),
        );
      assert.equal(await catalog.deleteSessionsOf(bob.id, s[0]!.id), 2);
      assert.ok(await catalog.useSession('t0'));
      assert.equal(await catalog.useSession('t1'), undefined);
      assert.equal(await catalog.deleteSessionsOf(bob.id), 1);
    });
  });
}

describe('catalog file', () => {
  it('is mode 0600 with its -wal and -shm files, also when they were made with a looser mode', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'cairn-mode-'));
    try {
      const file = path.join(dir, 'catalog.db');
      const first = await Catalog.open(file);
      await first.ensureTenant('default');
      await first.close();
      for (const f of [file, `${file}-wal`, `${file}-shm`]) {
        writeFileSync(f, '', { flag: 'a' });
        chmodSync(f, 0o644);
      }
      const c = await Catalog.open(file);
      try {
        await c.ensureTenant('other');
        for (const f of [file, `${file}-wal`, `${file}-shm`])
          assert.equal((statSync(f).mode & 0o777).toString(8), '600', f);
      } finally {
        await c.close();
      }
      rmSync(file);
      const fresh = await Catalog.open(file);
      try {
        await fresh.ensureTenant('default');
        for (const f of [file, `${file}-wal`, `${file}-shm`])
          assert.equal((statSync(f).mode & 0o777).toString(8), '600', `new ${f}`);
      } finally {
        await fresh.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
