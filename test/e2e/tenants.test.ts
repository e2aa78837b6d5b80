/**
 * Tenants tried as a hostile tenant administrator would, over real HTTP (issue 19): programs on the
 * server, the server's secrets as a source, another tenant's repository by path, restores into the
 * server's folders, symlinks swapped in after a job was saved. Every attempt is refused with a
 * problem+json, and the marker a refused program would have written does not exist. Then the
 * tenant's legitimate work: a repository by name, a job under its source root, a granted script,
 * a restore into its restore root.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, rmSync, statfsSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  http,
  link,
  logon,
  testServer,
  waitTask,
  assertProblem,
  type TestServer,
} from './server-api.testing.ts';

interface Made {
  readonly id: string;
  readonly admin: { logon: string; password: string };
  readonly repository: { id: string; name: string; location: string | null };
}

describe('tenants: a hostile tenant administrator', () => {
  let s: TestServer;
  let root: string;
  let data: string;
  let marker: string;
  let alpha: Made;
  let beta: Made;
  let bt: string;
  let alphaSource: string;
  let betaSource: string;
  let betaRestore: string;

  before(async () => {
    s = await testServer();
    root = s.dir;
    data = s.server.dataDir;
    marker = path.join(root, 'marker');
    const sys = await logon(s.url);
    alphaSource = path.join(root, 'alpha-src');
    betaSource = path.join(root, 'beta-src');
    betaRestore = path.join(root, 'beta-restore');
    for (const d of [alphaSource, path.join(betaSource, 'sub'), betaRestore])
      mkdirSync(d, { recursive: true });
    writeFileSync(path.join(alphaSource, 'secret.txt'), 'alpha only\n');
    writeFileSync(path.join(betaSource, 'sub', 'b.txt'), 'beta data\n');
    const make = async (name: string, body: Record<string, unknown>): Promise<Made> => {
      const a = await http(s.url, 'POST', '/api/v1/tenants', { token: sys, body: { name, ...body } });
      assert.equal(a.status, 201, JSON.stringify(a.body));
      return a.body as Made;
    };
    alpha = await make('alpha', { sourceRoots: [alphaSource], quotaBytes: 1 << 30 });
    beta = await make('beta', { sourceRoots: [betaSource], restoreRoots: [betaRestore] });
    const script = await http(s.url, 'POST', '/api/v1/scripts', {
      token: sys,
      body: {
        name: 'touch-marker-ok',
        command: ['sh', '-c', `echo granted > ${path.join(root, 'granted')}`],
        description: 'writes a file the test looks for',
        tenants: ['beta'],
      },
    });
    assert.equal(script.status, 201, JSON.stringify(script.body));
    const alphaOnly = await http(s.url, 'POST', '/api/v1/scripts', {
      token: sys,
      body: { name: 'alpha-only', command: `sh -c 'echo no > ${marker}'`, tenants: ['alpha'] },
    });
    assert.equal(alphaOnly.status, 201, JSON.stringify(alphaOnly.body));
    bt = await logon(s.url, beta.admin.logon, beta.admin.password);
  });
  after(() => s.close());

  const job = (name: string, extra: Record<string, unknown>) =>
    http(s.url, 'POST', '/api/v1/jobs', {
      token: bt,
      body: { name, repository: beta.repository.name, sources: [betaSource], ...extra },
    });

  it('provisions each tenant with a repository in its own storage, whose place it is not told', async () => {
    assert.equal(alpha.repository.name, 'main');
    const mine = await http(s.url, 'GET', '/api/v1/repositories', { token: bt });
    const repos = (mine.body as { data: { name: string; location: string | null; storage: string }[] }).data;
    assert.deepEqual(
      repos.map((r) => [r.name, r.location, r.storage]),
      [['main', null, 'tenant']],
    );
    // Its key is in no file: the catalog keeps it wrapped under the server key.
    const row = await s.server.catalog.repository(
      (await s.server.catalog.tenantByName('beta'))!.id,
      beta.repository.id,
    );
    assert.equal(row?.password_file, '');
    assert.ok(row?.wrapped_key && row.wrapped_key.length > 40);
    assert.ok(existsSync(path.join(data, 'tenants', 'beta', 'main', 'config')));
  });

  it('attack 1: refuses programs — runBefore, runAfter, hook commands, plugin directives, option plugins', async () => {
    const steal = ['sh', '-c', `id > ${marker}; cat ${data}/secrets/*/*.password >> ${marker}`];
    assertProblem(
      await job('rb', { runBefore: [{ command: steal }] }),
      403,
      'FORBIDDEN',
      /runBefore\[0\]\.command/,
    );
    assertProblem(await job('ra', { runAfter: [{ command: 'touch x' }] }), 403, 'FORBIDDEN', /runAfter\[0\]/);
    assertProblem(
      await job('hk', { hooks: [{ on: ['start'], command: steal }] }),
      403,
      'FORBIDDEN',
      /hooks\[0\]\.command/,
    );
    assertProblem(
      await job('bp', { sources: [`bpipe:file=/x.sql:reader=sh -c "id > ${marker}"`] }),
      403,
      'FORBIDDEN',
      /plugin directive/,
    );
    assertProblem(await job('op', { optionPlugins: ['maxsize:size=1G'] }), 403, 'FORBIDDEN', /optionPlugins/);
    // A script granted to another tenant is as good as none; an unknown one too.
    assertProblem(await job('sa', { runBefore: [{ script: 'alpha-only' }] }), 403, 'FORBIDDEN', /alpha-only/);
    assertProblem(await job('su', { runBefore: [{ script: 'nope' }] }), 403, 'FORBIDDEN', /nope/);
    // Webhooks only to addresses the system administrator allows.
    assertProblem(
      await job('wh', { hooks: [{ on: ['end'], webhook: 'http://127.0.0.1:9/steal' }] }),
      403,
      'FORBIDDEN',
      /webhook/,
    );
    // Scripts a tenant sees: its own, without their commands.
    const scripts = await http(s.url, 'GET', '/api/v1/scripts', { token: bt });
    assert.deepEqual(
      (scripts.body as { data: Record<string, unknown>[] }).data.map((x) => [x.name, 'command' in x]),
      [['touch-marker-ok', false]],
    );
    assertProblem(
      await http(s.url, 'POST', '/api/v1/scripts', {
        token: bt,
        body: { name: 'mine', command: 'id', tenants: ['*'] },
      }),
      403,
      'FORBIDDEN',
    );
    assert.equal(existsSync(marker), false, 'no refused program ran');
  });

  it("attack 2: refuses the server's secrets and anything outside its source roots as a source", async () => {
    assertProblem(
      await job('sec', { sources: [path.join(data, 'secrets')] }),
      403,
      'FORBIDDEN',
      /server's own data/,
    );
    assertProblem(
      await job('etc', { sources: ['/etc'] }),
      403,
      'FORBIDDEN',
      /outside tenant beta's source roots/,
    );
    assertProblem(await job('alpha', { sources: [alphaSource] }), 403, 'FORBIDDEN', /source roots/);
    // Even a tenant the system administrator lets read all of "/" cannot read the server's data.
    const sys = await logon(s.url);
    const patched = await http(s.url, 'PATCH', `/api/v1/tenants/${beta.id}`, {
      token: sys,
      body: { sourceRoots: ['/', betaSource] },
    });
    assert.equal(patched.status, 200, JSON.stringify(patched.body));
    assertProblem(await job('all', { sources: ['/'] }), 403, 'FORBIDDEN', /server's own data/);
    assertProblem(await job('key', { sources: [path.join(data, 'server.key')] }), 403, 'FORBIDDEN');
    assertProblem(
      await job('other', { sources: [path.join(data, 'tenants', 'alpha')] }),
      403,
      'FORBIDDEN',
      /server's own data/,
    );
    await http(s.url, 'PATCH', `/api/v1/tenants/${beta.id}`, {
      token: sys,
      body: { sourceRoots: [betaSource] },
    });
  });

  it("attack 3: refuses another tenant's repository by location or password file, and any location", async () => {
    const alphaRepo = path.join(data, 'tenants', 'alpha', 'main');
    assertProblem(
      await http(s.url, 'POST', '/api/v1/repositories', {
        token: bt,
        body: { name: 'stolen', location: alphaRepo, passwordFile: path.join(data, 'server.key') },
      }),
      403,
      'FORBIDDEN',
      /location, passwordFile/,
    );
    assertProblem(
      await http(s.url, 'POST', '/api/v1/repositories', {
        token: bt,
        body: { name: 'mine', location: path.join(root, 'elsewhere'), create: true },
      }),
      403,
      'FORBIDDEN',
    );
    assertProblem(
      await http(s.url, 'POST', '/api/v1/repositories', {
        token: bt,
        body: { name: 'pw', password: 'a password' },
      }),
      403,
      'FORBIDDEN',
    );
    // Alpha's objects stay invisible (404, not 403).
    assertProblem(
      await http(s.url, 'GET', `/api/v1/repositories/${alpha.repository.id}`, { token: bt }),
      404,
      'NOT_FOUND',
    );
    assertProblem(
      await http(s.url, 'GET', `/api/v1/repositories/${alpha.repository.id}/snapshots`, { token: bt }),
      404,
      'NOT_FOUND',
    );
    // A repository by name is made in its own storage.
    const made = await http(s.url, 'POST', '/api/v1/repositories', { token: bt, body: { name: 'second' } });
    assert.equal(made.status, 201, JSON.stringify(made.body));
    assert.ok(existsSync(path.join(data, 'tenants', 'beta', 'second', 'config')));
    // Tenants are the system administrator's: a tenant administrator cannot list or make them.
    assertProblem(await http(s.url, 'GET', '/api/v1/tenants', { token: bt }), 403, 'FORBIDDEN');
    assertProblem(
      await http(s.url, 'POST', '/api/v1/tenants', { token: bt, body: { name: 'evil', sourceRoots: ['/'] } }),
      403,
      'FORBIDDEN',
    );
    assertProblem(
      await http(s.url, 'PATCH', `/api/v1/tenants/${beta.id}`, { token: bt, body: { sourceRoots: ['/'] } }),
      403,
      'FORBIDDEN',
    );
  });

  it('backs up under its source root with a granted script, and restores only into its restore root', async () => {
    const j = await job('ok', { runBefore: [{ script: 'touch-marker-ok' }] });
    assert.equal(j.status, 201, JSON.stringify(j.body));
    const id = (j.body as { id: string }).id;
    const start = await http(s.url, 'POST', `/api/v1/jobs/${id}/start`, { token: bt });
    assert.equal(start.status, 202, JSON.stringify(start.body));
    const task = await waitTask(s.url, bt, (start.body as { id: string }).id);
    assert.equal(task.result, 'success', JSON.stringify(task));
    assert.equal(readFileSync(path.join(root, 'granted'), 'utf8'), 'granted\n');

    for (const target of ['/etc', path.join(data, 'secrets'), path.join(root, 'elsewhere'), alphaSource])
      assertProblem(
        await http(s.url, 'POST', '/api/v1/restores', {
          token: bt,
          body: { repository: 'main', snapshot: 'latest', target },
        }),
        403,
        'FORBIDDEN',
        /target/,
      );
    assertProblem(
      await http(s.url, 'POST', '/api/v1/restores', {
        token: bt,
        body: {
          repository: 'main',
          snapshot: 'latest',
          target: path.join(betaRestore, 'r0'),
          pluginOptions: [`bpipe:writer=sh -c "id > ${marker}"`],
        },
      }),
      403,
      'FORBIDDEN',
      /pluginOptions/,
    );
    const target = path.join(betaRestore, 'r1');
    const r = await http(s.url, 'POST', '/api/v1/restores', {
      token: bt,
      body: { repository: 'main', snapshot: 'latest', target },
    });
    assert.equal(r.status, 202, JSON.stringify(r.body));
    const rt = await waitTask(s.url, bt, (r.body as { id: string }).id);
    assert.equal(rt.result, 'success', JSON.stringify(rt));
    assert.equal(readFileSync(path.join(target, betaSource, 'sub', 'b.txt'), 'utf8'), 'beta data\n');
    assert.equal(existsSync(marker), false);
  });

  it('checks a saved job again when it runs: a folder swapped for a symlink to the secrets fails the run', async () => {
    const sub = path.join(betaSource, 'sub');
    const j = await job('swap', { sources: [sub] });
    assert.equal(j.status, 201, JSON.stringify(j.body));
    rmSync(sub, { recursive: true });
    symlinkSync(path.join(data, 'secrets'), sub);
    try {
      const start = await http(s.url, 'POST', `/api/v1/jobs/${(j.body as { id: string }).id}/start`, {
        token: bt,
      });
      assert.equal(start.status, 202);
      const task = await waitTask(s.url, bt, (start.body as { id: string }).id);
      assert.equal(task.result, 'failed', JSON.stringify(task));
      assert.match(String(task.message), /server's own data.*\[FORBIDDEN\]/);
      const run = (await http(s.url, 'GET', link(task, 'run').href, { token: bt })).body as {
        snapshotId: string | null;
        state: string;
      };
      assert.deepEqual([run.state, run.snapshotId], ['failed', null]);
    } finally {
      rmSync(sub);
      mkdirSync(sub);
      writeFileSync(path.join(sub, 'b.txt'), 'beta data\n');
    }
  });

  it("shows a tenant its quota as its repositories' capacity, never the server's disk", async () => {
    interface RepoUsage {
      bytes: number;
      capacityBytes: number | null;
      freeBytes: number | null;
      capacityOf: string | null;
    }
    const sys = await logon(s.url);
    const usageOf = async (token: string, id: string) => {
      const a = await http(s.url, 'GET', `/api/v1/repositories/${id}/usage`, { token });
      assert.equal(a.status, 200, JSON.stringify(a.body));
      return a.body as RepoUsage;
    };
    // Beta has no quota: no capacity figures at all (its backup above stored something).
    const none = await usageOf(bt, beta.repository.id);
    assert.ok(none.bytes > 0, JSON.stringify(none));
    assert.deepEqual([none.capacityBytes, none.freeBytes, none.capacityOf], [null, null, null]);
    const quota = 3 * 1024 ** 3;
    const set = await http(s.url, 'PATCH', `/api/v1/tenants/${beta.id}`, {
      token: sys,
      body: { quotaBytes: quota },
    });
    assert.equal(set.status, 200, JSON.stringify(set.body));
    try {
      // With a quota: the quota, and what is left of it after the tenant's usage (all its repositories).
      const u = (await http(s.url, 'GET', '/api/v1/usage', { token: bt })).body as { usageBytes: number };
      assert.ok(u.usageBytes > 0, JSON.stringify(u));
      const q = await usageOf(bt, beta.repository.id);
      assert.deepEqual([q.capacityBytes, q.freeBytes, q.capacityOf], [quota, quota - u.usageBytes, 'quota']);
    } finally {
      await http(s.url, 'PATCH', `/api/v1/tenants/${beta.id}`, { token: sys, body: { quotaBytes: null } });
    }
    // The system administrator sees the file system the repository lies on.
    const mine = await http(s.url, 'POST', '/api/v1/repositories', {
      token: sys,
      body: {
        name: 'sysrepo',
        location: path.join(root, 'sysrepo'),
        password: 'the password of sysrepo',
        create: true,
      },
    });
    assert.equal(mine.status, 201, JSON.stringify(mine.body));
    const made = mine.body as { id: string; location: string };
    const fs = statfsSync(made.location);
    const f = await usageOf(sys, made.id);
    assert.deepEqual([f.capacityBytes, f.capacityOf], [fs.blocks * fs.bsize, 'file-system']);
    assert.ok(f.freeBytes !== null && f.freeBytes > 0);
  });
});
