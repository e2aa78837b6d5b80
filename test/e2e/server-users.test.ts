/**
 * Users over real HTTP: names unique per tenant without telling one tenant another's names, logon
 * as NAME@TENANT or with ?tenant=, passwords changed by their users and reset by administrators
 * (sessions end), the first administrator's password file retired by the API and by
 * `cairn user passwd`, and the logon brake per name, per address and against sprays.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { hashPassword, startServer, type RunningServer } from '../../src/api/index.ts';
import { cairn, show } from './cli.testing.ts';
import { ADMIN, http, logon, testServer, type Answer, type TestServer } from './server-api.testing.ts';

function basic(user: string, password: string): Record<string, string> {
  return { authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` };
}

function logonAs(base: string, user: string, password: string, query = ''): Promise<Answer> {
  return http(base, 'POST', `/api/v1/sessions${query}`, { headers: basic(user, password) });
}

function problem(a: Answer, status: number, code: string, detail?: RegExp): void {
  assert.equal(a.status, status, JSON.stringify(a.body));
  const p = a.body as { code: string; detail: string };
  assert.equal(p.code, code);
  if (detail) assert.match(p.detail, detail);
}

interface SessionBody {
  user: { name: string; logonName: string };
  tenant: { name: string };
  role: string;
}

interface UserBody {
  id: string;
  name: string;
  tenant: string | null;
  logonName: string;
  role: string;
  links: { rel: string }[];
}

async function createUser(base: string, token: string, name: string, password: string, role: string) {
  const a = await http(base, 'POST', '/api/v1/users', { token, body: { name, password, role } });
  assert.equal(a.status, 201, JSON.stringify(a.body));
  return a.body as UserBody;
}

describe('user names per tenant', () => {
  let s: TestServer;
  let token: string;
  let boss: string;

  before(async () => {
    s = await testServer();
    token = await logon(s.url);
    const beta = await s.server.catalog.ensureTenant('beta');
    await s.server.catalog.createTenantUser({
      tenantId: beta.id,
      name: 'boss',
      passwordHash: await hashPassword('boss password'),
      role: 'administrator',
    });
    boss = await logon(s.url, 'boss@beta', 'boss password');
  });
  after(() => s.close());

  it('creates a name another tenant uses without saying so, and refuses one taken in the same tenant', async () => {
    const home = await createUser(s.url, token, 'bob', 'home bob password', 'viewer');
    assert.deepEqual([home.name, home.tenant, home.logonName], ['bob', 'default', 'bob@default']);
    // Before, this answered 409 "taken": it told tenant beta that some tenant has a bob.
    const there = await createUser(s.url, boss, 'bob', 'beta bob password', 'operator');
    assert.deepEqual([there.name, there.tenant, there.logonName], ['bob', 'beta', 'bob@beta']);
    problem(
      await http(s.url, 'POST', '/api/v1/users', {
        token: boss,
        body: { name: 'bob', password: 'another password', role: 'viewer' },
      }),
      409,
      'CONFLICT',
      /taken in tenant beta/,
    );
    // The system administrator's name is no secret of beta's either.
    await createUser(s.url, boss, 'admin', 'beta admin password', 'viewer');
    const list = await http(s.url, 'GET', '/api/v1/users', { token: boss });
    assert.deepEqual(
      (list.body as { data: UserBody[] }).data.map((u) => `${u.name}@${u.tenant}`),
      ['admin@beta', 'bob@beta', 'boss@beta'],
    );
    const mine = await http(s.url, 'GET', '/api/v1/users', { token });
    const names = (mine.body as { data: UserBody[] }).data.map((u) => u.name);
    assert.deepEqual(names, ['admin', 'bob'], 'no user of beta in the home tenant');
  });

  it('logs on as NAME@TENANT, as NAME with ?tenant=, and a plain NAME in the home tenant', async () => {
    const cases: [string, string, string, string][] = [
      ['bob', 'home bob password', '', 'default'],
      ['bob@default', 'home bob password', '', 'default'],
      ['bob@beta', 'beta bob password', '', 'beta'],
      ['bob', 'beta bob password', '?tenant=beta', 'beta'],
      [ADMIN.user, ADMIN.password, '', 'default'],
      ['admin@beta', 'beta admin password', '', 'beta'],
    ];
    for (const [user, password, query, tenant] of cases) {
      const a = await logonAs(s.url, user, password, query);
      assert.equal(a.status, 201, `${user}${query}: ${JSON.stringify(a.body)}`);
      const b = a.body as SessionBody;
      assert.equal(b.tenant.name, tenant, `${user}${query}`);
      assert.equal(b.user.name, user.split('@')[0]);
      const me = await http(s.url, 'GET', '/api/v1/sessions/current', {
        token: a.headers.get('x-cairn-session')!,
      });
      assert.equal((me.body as SessionBody).user.name, user.split('@')[0]);
      assert.equal((me.body as SessionBody).user.logonName.endsWith(`@${tenant}`), user !== ADMIN.user);
    }
    assert.equal(
      ((await logonAs(s.url, 'bob@beta', 'beta bob password')).body as SessionBody).role,
      'operator',
    );
    problem(await logonAs(s.url, 'bob@beta', 'home bob password'), 401, 'AUTH_FAILED');
    problem(await logonAs(s.url, 'bob@nowhere', 'home bob password'), 401, 'AUTH_FAILED');
    problem(
      await logonAs(s.url, 'bob@beta', 'beta bob password', '?tenant=default'),
      400,
      'USAGE',
      /give one/,
    );
  });

  it('lets a plain name with a role in a tenant log on there (users made before names had tenants)', async () => {
    const beta = (await s.server.catalog.tenantByName('beta'))!;
    const otto = await s.server.catalog.createUser({
      name: 'otto',
      passwordHash: await hashPassword('otto password'),
      systemAdmin: false,
    });
    await s.server.catalog.setRole(otto.id, beta.id, 'viewer');
    for (const [user, query] of [
      ['otto', ''],
      ['otto', '?tenant=beta'],
      ['otto@beta', ''],
    ] as const) {
      const a = await logonAs(s.url, user, 'otto password', query);
      assert.equal(a.status, 201, `${user}${query}`);
      assert.equal((a.body as SessionBody).tenant.name, 'beta');
    }
    problem(await logonAs(s.url, 'otto', 'otto password', '?tenant=default'), 401, 'AUTH_FAILED');
  });

  it('takes as long to refuse an unknown name as a known one', async () => {
    const time = async (user: string) => {
      const t = process.hrtime.bigint();
      const a = await logonAs(s.url, user, 'not the password');
      assert.equal(a.status, 401);
      return Number(process.hrtime.bigint() - t) / 1e6;
    };
    await createUser(s.url, boss, 'tim', 'tim password', 'viewer');
    const known: number[] = [];
    const unknown: number[] = [];
    for (let i = 0; i < 4; i++) {
      known.push(await time('tim@beta'));
      unknown.push(await time(`ghost${i}`));
    }
    const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    // Without the dummy hash an unknown name is answered some 50 times faster.
    assert.ok(
      median(unknown) > median(known) * 0.5,
      `unknown ${unknown.join(', ')} ms; known ${known.join(', ')} ms`,
    );
  });
});

describe('passwords', () => {
  let s: TestServer;
  let token: string;

  before(async () => {
    s = await testServer();
    token = await logon(s.url);
  });
  after(() => s.close());

  it('lets a user change its password with the old one; its other sessions end', async () => {
    await createUser(s.url, token, 'vera', 'vera password', 'viewer');
    const t1 = await logon(s.url, 'vera', 'vera password');
    const t2 = await logon(s.url, 'vera', 'vera password');
    const change = (t: string, oldPassword: string, newPassword: string) =>
      http(s.url, 'PUT', '/api/v1/users/current/password', { token: t, body: { oldPassword, newPassword } });
    const wrong = await change(t1, 'not my password', 'vera new password');
    // 403, not 401: a client must not take it for the end of its session.
    problem(wrong, 403, 'FORBIDDEN', /old password is wrong/);
    assert.equal((await http(s.url, 'GET', '/api/v1/sessions/current', { token: t1 })).status, 200);
    problem(await change(t1, 'vera password', 'short'), 400, 'USAGE', /newPassword/);
    assert.equal((await change(t1, 'vera password', 'vera new password')).status, 204);
    assert.equal((await http(s.url, 'GET', '/api/v1/sessions/current', { token: t1 })).status, 200);
    problem(await http(s.url, 'GET', '/api/v1/jobs', { token: t2 }), 401, 'AUTH_REQUIRED');
    problem(await logonAs(s.url, 'vera', 'vera password'), 401, 'AUTH_FAILED');
    await logon(s.url, 'vera', 'vera new password');
    // Guessing the old password is braked as guessing at logon is.
    let answer: Answer | undefined;
    for (let i = 0; i < 6; i++) {
      answer = await change(t1, `guess ${i}`, 'vera third password');
      if (answer.status === 429) break;
      problem(answer, 403, 'FORBIDDEN');
    }
    problem(answer!, 429, 'RATE_LIMITED');
    assert.ok(Number(answer!.headers.get('retry-after')) > 0);
    const audit = await http(s.url, 'GET', '/api/v1/audit?limit=500', { token });
    const actions = (audit.body as { data: { action: string; detail: unknown }[] }).data;
    assert.ok(actions.some((a) => a.action === 'user.password'));
    assert.doesNotMatch(JSON.stringify(actions), /vera new password|vera password/);
  });

  it("lets an administrator reset a user's password, change its role and disable it", async () => {
    const wendy = await createUser(s.url, token, 'wendy', 'wendy password', 'viewer');
    const tw = await logon(s.url, 'wendy', 'wendy password');
    const patch = (body: unknown, t = token, id = wendy.id) =>
      http(s.url, 'PATCH', `/api/v1/users/${id}`, { token: t, body });
    const reset = await patch({ password: 'wendy reset password' });
    assert.equal(reset.status, 200, JSON.stringify(reset.body));
    problem(await http(s.url, 'GET', '/api/v1/jobs', { token: tw }), 401, 'AUTH_REQUIRED');
    problem(await logonAs(s.url, 'wendy', 'wendy password'), 401, 'AUTH_FAILED');
    const tw2 = await logon(s.url, 'wendy', 'wendy reset password');
    assert.equal(((await patch({ role: 'operator' })).body as UserBody).role, 'operator');
    const me = await http(s.url, 'GET', '/api/v1/sessions/current', { token: tw2 });
    assert.equal((me.body as SessionBody).role, 'operator');
    assert.equal(((await patch({ disabled: true })).body as { disabled: boolean }).disabled, true);
    problem(await http(s.url, 'GET', '/api/v1/jobs', { token: tw2 }), 401, 'AUTH_REQUIRED');
    problem(await logonAs(s.url, 'wendy', 'wendy reset password'), 401, 'AUTH_FAILED');
    await patch({ disabled: false });
    await logon(s.url, 'wendy', 'wendy reset password');
    problem(await patch({}), 400, 'USAGE');
    problem(await patch({ password: 'short' }), 400, 'USAGE', /password/);
    // Not oneself: one's own password needs the old one, and an administrator keeps its role.
    const me2 = (await http(s.url, 'GET', '/api/v1/sessions/current', { token })).body as {
      user: { id: string };
    };
    problem(
      await patch({ password: 'admin reset password' }, token, me2.user.id),
      409,
      'CONFLICT',
      /current\/password/,
    );
    problem(await patch({ role: 'viewer' }, token, me2.user.id), 409, 'CONFLICT');
  });

  it("keeps a tenant's administrator off the system administrator and off other tenants' users", async () => {
    await createUser(s.url, token, 'tina', 'tina password', 'administrator');
    const tt = await logon(s.url, 'tina', 'tina password');
    const list = await http(s.url, 'GET', '/api/v1/users', { token: tt });
    const admin = (list.body as { data: UserBody[] }).data.find((u) => u.name === ADMIN.user)!;
    assert.ok(!admin.links.some((l) => l.rel === 'edit' || l.rel === 'delete'), JSON.stringify(admin.links));
    problem(
      await http(s.url, 'PATCH', `/api/v1/users/${admin.id}`, {
        token: tt,
        body: { password: 'taken over!' },
      }),
      403,
      'FORBIDDEN',
      /system administrator/,
    );
    await logon(s.url); // the password is unchanged
    const other = await s.server.catalog.ensureTenant('other');
    const stranger = await s.server.catalog.createTenantUser({
      tenantId: other.id,
      name: 'stranger',
      passwordHash: await hashPassword('stranger password'),
      role: 'viewer',
    });
    problem(
      await http(s.url, 'PATCH', `/api/v1/users/${stranger.id}`, { token: tt, body: { disabled: true } }),
      404,
      'NOT_FOUND',
    );
  });
});

describe("the first administrator's password file", () => {
  let dir: string;
  let dataDir: string;
  const lines: string[] = [];
  const start = (): Promise<RunningServer> =>
    startServer({
      dataDir,
      listen: '127.0.0.1:0',
      env: {},
      say: (l) => lines.push(l),
      pollMs: 100,
    });

  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'cairn-first-'));
    dataDir = path.join(dir, 'data');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('is removed when the first administrator changes the password, and the start says no more', async () => {
    const file = path.join(dataDir, 'initial-admin-password');
    let server = await start();
    await server.close();
    assert.match(lines.join('\n'), /password is in .*initial-admin-password/);
    const first = readFileSync(file, 'utf8').trim();
    lines.length = 0;
    server = await start();
    try {
      assert.match(lines.join('\n'), /still in .*initial-admin-password: log on and change it/);
      const t = await logon(server.url, 'admin', first);
      const a = await http(server.url, 'PUT', '/api/v1/users/current/password', {
        token: t,
        body: { oldPassword: first, newPassword: 'the admin chose this' },
      });
      assert.equal(a.status, 204, JSON.stringify(a.body));
      assert.ok(!existsSync(file), 'the file is gone');
    } finally {
      await server.close();
    }
    lines.length = 0;
    server = await start();
    await server.close();
    assert.doesNotMatch(lines.join('\n'), /initial-admin-password/);
  });

  it('is removed by a reset from another system administrator, and by cairn user passwd', async () => {
    rmSync(dataDir, { recursive: true });
    const file = path.join(dataDir, 'initial-admin-password');
    const server = await start();
    try {
      const first = readFileSync(file, 'utf8').trim();
      const c = server.catalog;
      const home = (await c.tenantByName('default'))!;
      const root = await c.createUser({
        name: 'root',
        passwordHash: await hashPassword('root password'),
        systemAdmin: true,
      });
      await c.setRole(root.id, home.id, 'administrator');
      const rt = await logon(server.url, 'root', 'root password');
      const other = await createUser(server.url, rt, 'clerk', 'clerk password', 'viewer');
      assert.equal(
        (
          await http(server.url, 'PATCH', `/api/v1/users/${other.id}`, {
            token: rt,
            body: { password: 'clerk reset pw' },
          })
        ).status,
        200,
      );
      assert.ok(existsSync(file), "another user's reset leaves the file");
      const admin = (await c.userByName('admin'))!;
      const a = await http(server.url, 'PATCH', `/api/v1/users/${admin.id}`, {
        token: rt,
        body: { password: 'admin reset password' },
      });
      assert.equal(a.status, 200, JSON.stringify(a.body));
      assert.ok(!existsSync(file), "the first administrator's reset removes it");
      problem(await logonAs(server.url, 'admin', first), 401, 'AUTH_FAILED');
    } finally {
      await server.close();
    }

    // Again, by the machine's owner while the server runs.
    rmSync(dataDir, { recursive: true });
    const running = await start();
    try {
      const first = readFileSync(file, 'utf8').trim();
      const t = await logon(running.url, 'admin', first);
      const r = await cairn(['user', 'passwd', 'admin', '--data-dir', dataDir], {
        input: 'set from the cli\n',
      });
      assert.equal(r.code, 0, show(r));
      assert.match(r.stdout, /password of admin set .*; 1 session ended/);
      assert.match(r.stdout, /removed .*initial-admin-password/);
      assert.doesNotMatch(r.stdout + r.stderr, /set from the cli/);
      assert.ok(!existsSync(file));
      problem(await http(running.url, 'GET', '/api/v1/jobs', { token: t }), 401, 'AUTH_REQUIRED');
      await logon(running.url, 'admin', 'set from the cli');

      // A name in two tenants needs --tenant; the tool names the tenants (it is the owner's).
      const c = running.catalog;
      for (const tenant of ['default', 'beta'])
        await c.createTenantUser({
          tenantId: (await c.ensureTenant(tenant)).id,
          name: 'bob',
          passwordHash: await hashPassword('bob password'),
          role: 'viewer',
        });
      const twice = await cairn(['user', 'passwd', 'bob', '--data-dir', dataDir], {
        input: 'bob cli password\n',
      });
      assert.equal(twice.code, 2, show(twice));
      assert.match(twice.stderr, /exists in tenants beta, default: give --tenant/);
      const one = await cairn(['user', 'passwd', 'bob', '--tenant', 'beta', '--data-dir', dataDir], {
        input: 'bob cli password\n',
      });
      assert.equal(one.code, 0, show(one));
      await logon(running.url, 'bob@beta', 'bob cli password');
      await logon(running.url, 'bob', 'bob password');
      const short = await cairn(['user', 'passwd', 'bob@beta', '--data-dir', dataDir], { input: 'short\n' });
      assert.equal(short.code, 2, show(short));
      assert.match(short.stderr, /shorter than 8 characters/);
      const nobody = await cairn(['user', 'passwd', 'nobody', '--data-dir', dataDir], {
        input: 'whatever123\n',
      });
      assert.equal(nobody.code, 75, show(nobody));
      const empty = path.join(dir, 'empty');
      mkdirSync(empty);
      const none = await cairn(['user', 'passwd', 'admin', '--data-dir', empty], { input: 'whatever123\n' });
      assert.equal(none.code, 71, show(none));
      assert.match(none.stderr, /there is none \(give the server's --data-dir or --catalog\)/);
      assert.ok(!existsSync(path.join(empty, 'catalog.db')), 'no empty catalog is made');
    } finally {
      await running.close();
    }
  });
});

describe('logon brake', () => {
  let s: TestServer;
  let token: string;

  before(async () => {
    s = await testServer();
    token = await logon(s.url);
    await createUser(s.url, token, 'quinn', 'quinn password', 'viewer');
    await createUser(s.url, token, 'rita', 'rita password', 'viewer');
  });
  after(() => s.close());

  it('brakes guessing one user’s password from one address with 429 and Retry-After', async () => {
    for (let i = 0; i < 5; i++) problem(await logonAs(s.url, 'quinn', `guess ${i}`), 401, 'AUTH_FAILED');
    const limited = await logonAs(s.url, 'quinn', 'quinn password');
    problem(limited, 429, 'RATE_LIMITED');
    assert.ok(Number(limited.headers.get('retry-after')) > 0);
    problem(await logonAs(s.url, 'quinn@default', 'quinn password'), 429, 'RATE_LIMITED', /quinn/);
  });

  it('brakes a spray of many names from one address', async () => {
    // With quinn, ten names have failed from this address: each of them now waits.
    for (let i = 0; i < 9; i++) problem(await logonAs(s.url, `spray${i}`, 'Winter2025!'), 401, 'AUTH_FAILED');
    const again = await logonAs(s.url, 'spray0', 'Summer2025!');
    problem(again, 429, 'RATE_LIMITED');
    assert.ok(Number(again.headers.get('retry-after')) > 60, 'for the spray window, not a minute');
    // A new name gets its one try, and then waits too.
    problem(await logonAs(s.url, 'spray9', 'Winter2025!'), 401, 'AUTH_FAILED');
    problem(await logonAs(s.url, 'spray9', 'Summer2025!'), 429, 'RATE_LIMITED');
  });

  it('lets a user who has not failed log on from that address after 25 failures of other names', async () => {
    for (let i = 10; i < 25; i++)
      problem(await logonAs(s.url, `spray${i}`, 'Winter2025!'), 401, 'AUTH_FAILED');
    // quinn 5, spray0…9 10 and spray10…24 15: 30 failures of 26 names from this address.
    const ok = await logonAs(s.url, 'rita', 'rita password');
    assert.equal(ok.status, 201, JSON.stringify(ok.body));
    await logon(s.url); // and the administrator
  });
});
