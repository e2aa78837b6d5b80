/**
 * Bad input to the API: each case answers a precise problem+json (400/401/403/404/413/422/429)
 * naming the field, never a 500; then a property-based fuzzer throws arbitrary bodies, paths and
 * headers at every route and checks that nothing answers 500 or something that is not a problem.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { hashPassword, startServer } from '../../src/api/index.ts';
import { isCairnError } from '../../src/errors.ts';
import {
  http,
  link,
  logon,
  testServer,
  waitTask,
  assertProblem,
  type TestServer,
} from './server-api.testing.ts';

describe('server API input checking', () => {
  let s: TestServer;
  let token: string;
  let jobId: string;
  let repoId: string;

  before(async () => {
    s = await testServer();
    token = await logon(s.url);
    const source = path.join(s.dir, 'src');
    mkdirSync(source);
    writeFileSync(path.join(source, 'f'), 'x');
    const repo = await http(s.url, 'POST', '/api/v1/repositories', {
      token,
      body: { name: 'r', location: path.join(s.dir, 'repo'), create: true },
    });
    repoId = (repo.body as { id: string }).id;
    const job = await http(s.url, 'POST', '/api/v1/jobs', {
      token,
      body: { name: 'j', repository: 'r', sources: [source] },
    });
    assert.equal(job.status, 201, JSON.stringify(job.body));
    jobId = (job.body as { id: string }).id;
  });
  after(() => s.close());

  it('rejects malformed JSON, unknown fields and wrong types with the field path', async () => {
    assertProblem(
      await http(s.url, 'POST', '/api/v1/jobs', { token, raw: '{"name": "x",' }),
      400,
      'USAGE',
      /JSON/,
    );
    const unknown = await http(s.url, 'POST', '/api/v1/jobs', {
      token,
      body: { name: 'k', repository: 'r', sources: ['/tmp'], colour: 'red' },
    });
    assertProblem(unknown, 400, 'USAGE', /body\.colour is not a known field/);
    const wrong = await http(s.url, 'POST', '/api/v1/jobs', {
      token,
      body: { name: 'k', repository: 'r', sources: '/tmp' },
    });
    assertProblem(wrong, 400, 'USAGE', /body\.sources must be array/);
    const deep = await http(s.url, 'POST', '/api/v1/jobs', {
      token,
      body: { name: 'k', repository: 'r', sources: ['/tmp'], retention: { keepDaily: 'seven' } },
    });
    assertProblem(deep, 400, 'USAGE', /body\.retention\.keepDaily must be integer/);
    const q = await http(s.url, 'GET', '/api/v1/runs?limit=many', { token });
    assertProblem(q, 400, 'USAGE', /querystring\.limit/);
  });

  it('rejects a bad cron expression, a relative path and an unknown repository with 422', async () => {
    const cron = await http(s.url, 'POST', '/api/v1/jobs', {
      token,
      body: { name: 'k', repository: 'r', sources: ['/tmp'], schedule: { cron: '0 25 * * *' } },
    });
    assertProblem(
      cron,
      422,
      'INVALID_INPUT',
      /schedule\.cron: "0 25 \* \* \*" is not a valid cron expression/,
    );
    const tz = await http(s.url, 'POST', '/api/v1/jobs', {
      token,
      body: {
        name: 'k',
        repository: 'r',
        sources: ['/tmp'],
        schedule: { cron: '0 2 * * *', timezone: 'Mars/Olympus' },
      },
    });
    assertProblem(tz, 422, 'INVALID_INPUT', /schedule\.timezone/);
    const rel = await http(s.url, 'POST', '/api/v1/jobs', {
      token,
      body: { name: 'k', repository: 'r', sources: ['etc'] },
    });
    assertProblem(rel, 422, 'INVALID_INPUT', /sources\[0\]: "etc" is not an absolute path/);
    const repo = await http(s.url, 'POST', '/api/v1/jobs', {
      token,
      body: { name: 'k', repository: 'nope', sources: ['/tmp'] },
    });
    assertProblem(repo, 422, 'INVALID_INPUT', /repository: no repository "nope"/);
    const dup = await http(s.url, 'POST', '/api/v1/jobs', {
      token,
      body: { name: 'j', repository: 'r', sources: ['/tmp'] },
    });
    assertProblem(dup, 409, 'CONFLICT', /name is taken/);
  });

  it('answers 413 to an oversized body and 404 to unknown ids and routes', async () => {
    const big = await http(s.url, 'POST', '/api/v1/jobs', {
      token,
      raw: JSON.stringify({ name: 'k', repository: 'r', sources: ['/' + 'a'.repeat(2 * 1024 * 1024)] }),
    });
    assertProblem(big, 413, 'TOO_LARGE');
    assertProblem(
      await http(s.url, 'GET', '/api/v1/jobs/00000000-0000-0000-0000-000000000000', { token }),
      404,
      'NOT_FOUND',
    );
    assertProblem(await http(s.url, 'GET', '/api/v1/runs/nope', { token }), 404, 'NOT_FOUND');
    assertProblem(await http(s.url, 'GET', '/api/v1/tasks/nope', { token }), 404, 'NOT_FOUND');
    assertProblem(await http(s.url, 'GET', '/api/v1/no-such-thing', { token }), 404, 'NOT_FOUND');
  });

  it('answers 401 without a session or with a forged one', async () => {
    assertProblem(await http(s.url, 'GET', '/api/v1/jobs'), 401, 'AUTH_REQUIRED');
    assertProblem(
      await http(s.url, 'GET', '/api/v1/jobs', { token: 'cairn_s_forged' }),
      401,
      'AUTH_REQUIRED',
    );
    assertProblem(await http(s.url, 'GET', '/metrics'), 401, 'AUTH_REQUIRED');
    const noBasic = await http(s.url, 'POST', '/api/v1/sessions');
    assertProblem(noBasic, 401, 'AUTH_REQUIRED');
    assert.match(noBasic.headers.get('www-authenticate') ?? '', /Basic/);
  });

  it('gives a viewer read access only, without action links', async () => {
    const created = await http(s.url, 'POST', '/api/v1/users', {
      token,
      body: { name: 'vera', password: 'viewer password', role: 'viewer' },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const vt = await logon(s.url, 'vera', 'viewer password');
    const job = await http(s.url, 'GET', `/api/v1/jobs/${jobId}`, { token: vt });
    assert.equal(job.status, 200);
    const rels = (job.body as { links: { rel: string }[] }).links.map((l) => l.rel);
    assert.ok(rels.includes('self') && !rels.includes('start') && !rels.includes('edit'), rels.join());
    assertProblem(
      await http(s.url, 'POST', `/api/v1/jobs/${jobId}/start`, { token: vt }),
      403,
      'FORBIDDEN',
      /viewer/,
    );
    assertProblem(await http(s.url, 'DELETE', `/api/v1/jobs/${jobId}`, { token: vt }), 403, 'FORBIDDEN');
    assertProblem(
      await http(s.url, 'POST', '/api/v1/restores', {
        token: vt,
        body: { repository: 'r', snapshot: 'latest', target: '/tmp/x' },
      }),
      403,
      'FORBIDDEN',
    );
    assertProblem(await http(s.url, 'GET', '/api/v1/users', { token: vt }), 403, 'FORBIDDEN');
  });

  it("hides another tenant's objects (404, not 403)", async () => {
    const other = await s.server.catalog.ensureTenant('other');
    const user = await s.server.catalog.createUser({
      name: 'otto',
      passwordHash: await hashPassword('other password'),
      systemAdmin: false,
    });
    await s.server.catalog.setRole(user.id, other.id, 'administrator');
    const ot = await logon(s.url, 'otto', 'other password');
    assertProblem(await http(s.url, 'GET', `/api/v1/jobs/${jobId}`, { token: ot }), 404, 'NOT_FOUND');
    assertProblem(await http(s.url, 'POST', `/api/v1/jobs/${jobId}/start`, { token: ot }), 404, 'NOT_FOUND');
    assertProblem(
      await http(s.url, 'GET', `/api/v1/repositories/${repoId}/snapshots`, { token: ot }),
      404,
      'NOT_FOUND',
    );
    const list = await http(s.url, 'GET', '/api/v1/jobs', { token: ot });
    assert.deepEqual((list.body as { data: unknown[] }).data, []);
  });

  it('slows down password guessing with 429 and Retry-After', async () => {
    const guess = () =>
      fetch(`${s.url}/api/v1/sessions`, {
        method: 'POST',
        headers: { authorization: `Basic ${Buffer.from('vera:guess').toString('base64')}` },
      });
    for (let i = 0; i < 5; i++) assert.equal((await guess()).status, 401);
    const limited = await guess();
    assert.equal(limited.status, 429);
    assert.ok(Number(limited.headers.get('retry-after')) > 0);
    assert.equal(((await limited.json()) as { code: string }).code, 'RATE_LIMITED');
  });

  it('works with an API key, and stops after it is revoked', async () => {
    const k = await http(s.url, 'POST', '/api/v1/api-keys', { token, body: { name: 'monitoring' } });
    assert.equal(k.status, 201);
    const key = (k.body as { key: string }).key;
    const withKey = await http(s.url, 'GET', '/metrics', { headers: { authorization: `Bearer ${key}` } });
    assert.notEqual(withKey.status, 401);
    const del = link(k.body, 'delete');
    assert.equal((await http(s.url, del.method, del.href, { token })).status, 204);
    assertProblem(
      await http(s.url, 'GET', '/api/v1/jobs', { headers: { authorization: `Bearer ${key}` } }),
      401,
      'AUTH_REQUIRED',
    );
  });

  it('cancels a run, which ends canceled, and refuses to start a job twice', async () => {
    const slow = await http(s.url, 'POST', '/api/v1/jobs', {
      token,
      body: {
        name: 'slow',
        repository: 'r',
        sources: [path.join(s.dir, 'src')],
        hooks: [{ on: ['start'], command: ['sleep', '3'] }],
      },
    });
    assert.equal(slow.status, 201, JSON.stringify(slow.body));
    const id = (slow.body as { id: string }).id;
    const started = await http(s.url, 'POST', `/api/v1/jobs/${id}/start`, { token });
    assert.equal(started.status, 202);
    assertProblem(await http(s.url, 'POST', `/api/v1/jobs/${id}/start`, { token }), 409, 'CONFLICT', /still/);
    const cancel = await http(s.url, 'POST', `/api/v1/jobs/${id}/cancel`, { token });
    assert.equal(cancel.status, 202, JSON.stringify(cancel.body));
    const task = await waitTask(s.url, token, (started.body as { id: string }).id);
    assert.equal(task.result, 'canceled');
  });

  it('runs the restore point simulator, and names a bad field', async () => {
    const input = {
      style: 'incremental',
      usedBytes: 1e12,
      points: 14,
      changePercent: 10,
      reductionPercent: 50,
      start: '2024-01-01T22:00',
    };
    const a = await http(s.url, 'POST', '/api/v1/simulations', { token, body: input });
    assert.equal(a.status, 200, JSON.stringify(a.body));
    const r = a.body as { points: number; totals: { total: number; grandTotal: number }; files: unknown[] };
    assert.equal(r.points, 14);
    // One full of 1e12 × 50% and 13 incrementals of 1e12 × 10% × 50%, at the worst moment.
    assert.equal(r.totals.total, 5e11 + 13 * 5e10);
    assert.ok(r.totals.grandTotal >= r.totals.total);
    const bad = await http(s.url, 'POST', '/api/v1/simulations', {
      token,
      body: { ...input, points: 'lots', colour: 1 },
    });
    assertProblem(bad, 400, 'USAGE', /body\.(points|colour)/);
    const paths = (bad.body as { errors: { path: string }[] }).errors.map((e) => e.path);
    assert.ok(paths.includes('body.colour') && paths.includes('body.points'), paths.join());
  });

  it('survives fuzzed bodies, paths and headers without a 500', async () => {
    const routes: [string, string][] = [
      ['POST', '/api/v1/jobs'],
      ['PUT', `/api/v1/jobs/${jobId}`],
      ['POST', '/api/v1/restores'],
      ['POST', '/api/v1/users'],
      ['POST', '/api/v1/api-keys'],
      ['POST', '/api/v1/schedules/preview'],
      ['POST', `/api/v1/jobs/${jobId}/cancel`],
      ['POST', '/api/v1/simulations'],
    ];
    const valid = { name: 'fz', repository: 'r', sources: ['/nonexistent-fuzz'] };
    const body = fc.oneof(
      fc.jsonValue(),
      // A valid job with one field replaced by anything: reaches the checks behind the schema.
      fc
        .record({
          key: fc.constantFrom(
            'name',
            'repository',
            'sources',
            'schedule',
            'retention',
            'hooks',
            'limits',
            'exclude',
            'level',
            'optionPlugins',
            'runBefore',
            'runAfter',
          ),
          value: fc.jsonValue(),
        })
        .map(({ key, value }) => ({ ...valid, [key]: value })),
      fc.record({ cron: fc.string(), timezone: fc.string() }).map((schedule) => ({ ...valid, schedule })),
      fc.record({ cron: fc.string() }).map((schedule) => ({ schedule })),
      // Directives and scripts of any text: parsed and checked behind the schema.
      fc
        .array(
          fc.oneof(
            fc.string(),
            fc.string().map((x) => `bpipe:${x}`),
          ),
          { minLength: 1, maxLength: 3 },
        )
        .map((sources) => ({ ...valid, sources })),
      fc.string({ minLength: 1 }).map((command) => ({ ...valid, runBefore: [{ command }] })),
    );
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...routes), body, async ([method, url], b) => {
        const a = await http(s.url, method, url, { token, raw: JSON.stringify(b) });
        assert.ok(
          a.status < 500,
          `${method} ${url} ${JSON.stringify(b)} → ${a.status} ${JSON.stringify(a.body)}`,
        );
        if (a.status >= 400) assert.match(a.type, /problem\+json/);
        // A fuzzed body that was a valid job must not stay: delete it for the next case.
        if (a.status === 201 && url === '/api/v1/jobs')
          await http(s.url, 'DELETE', `/api/v1/jobs/${(a.body as { id: string }).id}`, { token });
      }),
      { numRuns: 300 },
    );
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('GET', 'POST', 'PUT', 'DELETE'),
        fc.array(
          fc.oneof(
            fc.string(),
            fc.constantFrom('api', 'v1', 'jobs', 'runs', 'tasks', 'repositories', 'snapshots', 'log', jobId),
          ),
          { maxLength: 5 },
        ),
        fc.string(),
        async (method, segs, query) => {
          const url =
            '/' +
            segs.map(encodeURIComponent).join('/') +
            (query ? `?${encodeURIComponent(query)}=${encodeURIComponent(query)}` : '');
          const a = await http(s.url, method, url, {
            token,
            ...(method === 'POST' || method === 'PUT' ? { raw: '{}' } : {}),
          });
          assert.ok(a.status < 500, `${method} ${url} → ${a.status} ${JSON.stringify(a.body)}`);
        },
      ),
      { numRuns: 300 },
    );
    await fc.assert(
      fc.asyncProperty(fc.string(), fc.string(), async (session, auth) => {
        const headers: Record<string, string> = {};
        const clean = (x: string) => x.replace(/[^\x20-\x7e]/g, '');
        headers['x-cairn-session'] = clean(session) || 'x';
        headers.authorization = clean(auth) || 'x';
        const a = await http(s.url, 'GET', '/api/v1/jobs', { headers });
        assert.equal(a.status, 401);
        const b = await http(s.url, 'POST', '/api/v1/sessions', {
          headers: { authorization: `Basic ${Buffer.from(clean(auth)).toString('base64')}` },
        });
        assert.ok([401, 429].includes(b.status), `${b.status}`);
      }),
      { numRuns: 100 },
    );
  });
});

describe('registering an existing repository', () => {
  let s: TestServer;
  let token: string;
  let location: string;
  let right: string;
  let wrong: string;

  before(async () => {
    s = await testServer();
    token = await logon(s.url);
    location = path.join(s.dir, 'existing');
    right = path.join(s.dir, 'right.password');
    wrong = path.join(s.dir, 'wrong.password');
    writeFileSync(right, 'the right password\n', { mode: 0o600 });
    writeFileSync(wrong, 'not the password\n', { mode: 0o600 });
    // Made and forgotten: its data stays where it is, for the registrations below.
    const made = await http(s.url, 'POST', '/api/v1/repositories', {
      token,
      body: { name: 'made', location, passwordFile: right, create: true },
    });
    assert.equal(made.status, 201, JSON.stringify(made.body));
    const gone = await http(s.url, 'DELETE', `/api/v1/repositories/${(made.body as { id: string }).id}`, {
      token,
    });
    assert.equal(gone.status, 204);
  });
  after(() => s.close());

  const register = (body: Record<string, unknown>) =>
    http(s.url, 'POST', '/api/v1/repositories', { token, body: { name: 'again', ...body } });
  const names = async () =>
    (
      (await http(s.url, 'GET', '/api/v1/repositories', { token })).body as { data: { name: string }[] }
    ).data.map((r) => r.name);

  it('opens it, and refuses a wrong password or a location that holds no repository; nothing is recorded', async () => {
    assertProblem(
      await register({ location, passwordFile: wrong }),
      422,
      'REPO_WRONG_PASSWORD',
      /repository again.*no key slot opens with the given password/,
    );
    // A password given in the request: refused the same way, and its password file not kept.
    assertProblem(
      await register({ location, password: 'not the password either' }),
      422,
      'REPO_WRONG_PASSWORD',
      /repository again/,
    );
    const tenant = (await s.server.catalog.tenantByName('default'))!;
    assert.equal(existsSync(path.join(s.server.dataDir, 'secrets', tenant.id, 'again.password')), false);
    assertProblem(
      await register({ location, passwordFile: path.join(s.dir, 'no-such.password') }),
      400,
      'REPO_NO_PASSWORD',
      /repository again.*no-such\.password/,
    );
    // Not a repository: a folder whose config is not Cairn's, a file, nothing at all.
    const foreign = path.join(s.dir, 'foreign');
    mkdirSync(foreign);
    writeFileSync(path.join(foreign, 'config'), 'not a cairn config\n');
    assertProblem(
      await register({ location: foreign, passwordFile: right }),
      422,
      'REPO_NOT_CAIRN',
      /repository again.*not a Cairn config/,
    );
    assertProblem(await register({ location: right, passwordFile: right }), 422, 'REPO_NOT_CAIRN', /a file/);
    assertProblem(
      await register({ location: path.join(s.dir, 'nothing'), passwordFile: right }),
      404,
      'REPO_NOT_FOUND',
      /repository again/,
    );
    assert.deepEqual(await names(), []);
    const audit = (await http(s.url, 'GET', '/api/v1/audit', { token })).body as {
      data: { action: string }[];
    };
    assert.equal(audit.data.filter((a) => a.action === 'repository.create').length, 1, 'only "made"');

    // The right password file: registered, and it opens.
    const ok = await register({ location, passwordFile: right });
    assert.equal(ok.status, 201, JSON.stringify(ok.body));
    assert.deepEqual(await names(), ['again']);
    const snaps = await http(
      s.url,
      'GET',
      `/api/v1/repositories/${(ok.body as { id: string }).id}/snapshots`,
      {
        token,
      },
    );
    assert.equal(snaps.status, 200, JSON.stringify(snaps.body));
  });

  it('refuses at the server start a configuration file whose repository does not open, naming it', async () => {
    const config = path.join(s.dir, 'cairn.yaml');
    writeFileSync(
      config,
      `repositories:\n  - name: vault\n    location: ${location}\n    passwordFile: ${wrong}\n`,
    );
    const dataDir = path.join(s.dir, 'other-data');
    const options = {
      config,
      dataDir,
      listen: '127.0.0.1:0',
      env: { CAIRN_ADMIN_USER: 'admin', CAIRN_ADMIN_PASSWORD: 'correct horse battery' },
      say: () => undefined,
    };
    // A server that starts all the same is closed again, so that the failing test ends.
    const refused = await startServer(options).then(
      (started) => started.close(),
      (err: unknown) => err,
    );
    assert.ok(isCairnError(refused, 'REPO_WRONG_PASSWORD'), String(refused));
    assert.match(refused.message, /Cannot use repository vault: .*no key slot opens/);
    // With the right one it starts and has the repository.
    writeFileSync(
      config,
      `repositories:\n  - name: vault\n    location: ${location}\n    passwordFile: ${right}\n`,
    );
    const started = await startServer(options);
    try {
      const t = (await started.catalog.tenantByName('default'))!;
      assert.ok(await started.catalog.repositoryByName(t.id, 'vault'));
    } finally {
      await started.close();
    }
  });
});
