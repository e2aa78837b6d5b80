/**
 * Who may call what: every role of a tenant, another tenant's administrator, the system
 * administrator and a caller without a session, against the routes of tenants, scripts,
 * repositories, jobs, restores, users, recycle bins and metrics. Each cell is the status the API must answer;
 * another tenant's objects are not found (404), never forbidden (403), so their existence leaks not.
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { http, logon, testServer, type TestServer } from './server-api.testing.ts';

type Who = 'none' | 'viewer' | 'restorer' | 'operator' | 'admin' | 'stranger' | 'system';
const WHO: readonly Who[] = ['none', 'viewer', 'restorer', 'operator', 'admin', 'stranger', 'system'];

describe('the role × tenant matrix', () => {
  let s: TestServer;
  const tokens = new Map<Who, string>();
  let tenantId = '';
  let jobId = '';
  let repoId = '';
  let restoreRoot = '';
  let n = 0;

  before(async () => {
    s = await testServer();
    const sys = await logon(s.url);
    tokens.set('system', sys);
    const src = path.join(s.dir, 'src');
    restoreRoot = path.join(s.dir, 'restore');
    mkdirSync(src);
    mkdirSync(restoreRoot);
    writeFileSync(path.join(src, 'f'), 'x');
    const t = await http(s.url, 'POST', '/api/v1/tenants', {
      token: sys,
      body: { name: 'beta', sourceRoots: [src], restoreRoots: [restoreRoot] },
    });
    assert.equal(t.status, 201, JSON.stringify(t.body));
    const made = t.body as {
      id: string;
      admin: { logon: string; password: string };
      repository: { id: string };
    };
    tenantId = made.id;
    repoId = made.repository.id;
    const admin = await logon(s.url, made.admin.logon, made.admin.password);
    tokens.set('admin', admin);
    for (const [who, role] of [
      ['viewer', 'viewer'],
      ['restorer', 'restore-operator'],
      ['operator', 'operator'],
    ] as const) {
      const u = await http(s.url, 'POST', '/api/v1/users', {
        token: admin,
        body: { name: who, password: `${who} password`, role },
      });
      assert.equal(u.status, 201, JSON.stringify(u.body));
      // User names are unique within a tenant: its users log on as NAME@TENANT.
      tokens.set(who, await logon(s.url, `${who}@beta`, `${who} password`));
    }
    const other = await http(s.url, 'POST', '/api/v1/tenants', { token: sys, body: { name: 'gamma' } });
    const o = other.body as { admin: { logon: string; password: string } };
    tokens.set('stranger', await logon(s.url, o.admin.logon, o.admin.password));
    const job = await http(s.url, 'POST', '/api/v1/jobs', {
      token: admin,
      body: { name: 'j', repository: 'main', sources: [src] },
    });
    assert.equal(job.status, 201, JSON.stringify(job.body));
    jobId = (job.body as { id: string }).id;
  });
  after(() => s.close());

  // The routes, what each sends, and the status for none, viewer, restorer, operator, admin,
  // stranger (another tenant's administrator) and system (logged on to the home tenant).
  const cases: [string, string, () => string, () => unknown, Record<Who, number | number[]>][] = [
    [
      'list tenants',
      'GET',
      () => '/api/v1/tenants',
      () => undefined,
      { none: 401, viewer: 403, restorer: 403, operator: 403, admin: 403, stranger: 403, system: 200 },
    ],
    [
      'create a tenant',
      'POST',
      () => '/api/v1/tenants',
      () => ({ name: `t${++n}`, admin: null, repository: null }),
      { none: 401, viewer: 403, restorer: 403, operator: 403, admin: 403, stranger: 403, system: 201 },
    ],
    [
      'change a tenant',
      'PATCH',
      () => `/api/v1/tenants/${tenantId}`,
      () => ({ protectionDays: 7 }),
      { none: 401, viewer: 403, restorer: 403, operator: 403, admin: 403, stranger: 403, system: 200 },
    ],
    [
      'define a script',
      'POST',
      () => '/api/v1/scripts',
      () => ({ name: `s${++n}`, command: 'true', tenants: ['beta'] }),
      { none: 401, viewer: 403, restorer: 403, operator: 403, admin: 403, stranger: 403, system: 201 },
    ],
    [
      'list scripts',
      'GET',
      () => '/api/v1/scripts',
      () => undefined,
      { none: 401, viewer: 200, restorer: 200, operator: 200, admin: 200, stranger: 200, system: 200 },
    ],
    [
      'create a repository by name',
      'POST',
      () => '/api/v1/repositories',
      () => ({ name: `r${++n}` }),
      // The system administrator's home tenant has no storage root: 409 says so.
      { none: 401, viewer: 403, restorer: 403, operator: 403, admin: 201, stranger: 201, system: 409 },
    ],
    [
      'read a repository',
      'GET',
      () => `/api/v1/repositories/${repoId}`,
      () => undefined,
      { none: 401, viewer: 200, restorer: 200, operator: 200, admin: 200, stranger: 404, system: 404 },
    ],
    [
      'start a job',
      'POST',
      () => `/api/v1/jobs/${jobId}/start`,
      () => undefined,
      {
        none: 401,
        viewer: 403,
        restorer: 403,
        operator: [202, 409],
        admin: [202, 409],
        stranger: 404,
        system: 404,
      },
    ],
    [
      'change a job',
      'PUT',
      () => `/api/v1/jobs/${jobId}`,
      () => ({ name: 'j', repository: 'main', sources: ['/etc'] }),
      { none: 401, viewer: 403, restorer: 403, operator: 403, admin: 403, stranger: 404, system: 404 },
    ],
    [
      'restore into the restore root',
      'POST',
      () => '/api/v1/restores',
      () => ({ repository: 'main', snapshot: 'latest', target: path.join(restoreRoot, `x${++n}`) }),
      { none: 401, viewer: 403, restorer: 202, operator: 202, admin: 202, stranger: 403, system: 422 },
    ],
    [
      'restore into /etc',
      'POST',
      () => '/api/v1/restores',
      () => ({ repository: 'main', snapshot: 'latest', target: '/etc' }),
      { none: 401, viewer: 403, restorer: 403, operator: 403, admin: 403, stranger: 403, system: 422 },
    ],
    [
      'list users',
      'GET',
      () => '/api/v1/users',
      () => undefined,
      { none: 401, viewer: 403, restorer: 403, operator: 403, admin: 200, stranger: 200, system: 200 },
    ],
    [
      'list the recycle bins',
      'GET',
      () => '/api/v1/recycle-bin',
      () => undefined,
      { none: 401, viewer: 403, restorer: 403, operator: 403, admin: 403, stranger: 403, system: 200 },
    ],
    [
      'purge from a recycle bin',
      'DELETE',
      () => `/api/v1/recycle-bin/${repoId}/${'0'.repeat(64)}`,
      () => undefined,
      // Nothing of that id is in the bin: the system administrator is told so.
      { none: 401, viewer: 403, restorer: 403, operator: 403, admin: 403, stranger: 403, system: 404 },
    ],
    [
      'metrics',
      'GET',
      () => '/metrics',
      () => undefined,
      { none: 401, viewer: 403, restorer: 403, operator: 403, admin: 403, stranger: 403, system: 200 },
    ],
  ];

  for (const [what, method, url, body, want] of cases) {
    it(`${what}: ${WHO.map((w) => `${w} ${String(want[w])}`).join(', ')}`, async () => {
      const got: string[] = [];
      for (const who of WHO) {
        const a = await http(s.url, method, url(), {
          ...(tokens.get(who) ? { token: tokens.get(who)! } : {}),
          ...(body() !== undefined ? { body: body() } : {}),
        });
        const ok = ([] as number[]).concat(want[who]).includes(a.status);
        if (!ok) got.push(`${who}: ${a.status} ${JSON.stringify(a.body).slice(0, 200)}`);
        if (a.status >= 400 && a.status !== 401) assert.match(a.type, /problem\+json/, `${who} ${what}`);
      }
      assert.deepEqual(got, [], `${what}: unexpected answers`);
    });
  }
});
