/**
 * What every answer of the server carries (nosniff, no framing, no referrer, a content security
 * policy; no-store on data), the modes of the data directory and the catalog, and a wrong
 * repository password that is not mistaken for a failed logon (422, not 401).
 */
import assert from 'node:assert/strict';
import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startServer } from '../../src/api/index.ts';
import { ADMIN, http, logon, testServer, waitTask, type TestServer } from './server-api.testing.ts';
import { requireWebBuild, WEB_DIST } from './web.testing.ts';

function assertCommon(headers: Headers, what: string): void {
  assert.equal(headers.get('x-content-type-options'), 'nosniff', what);
  assert.equal(headers.get('x-frame-options'), 'DENY', what);
  assert.equal(headers.get('referrer-policy'), 'no-referrer', what);
  assert.match(headers.get('content-security-policy') ?? '', /frame-ancestors 'none'/, what);
}

describe('security headers', () => {
  let s: TestServer;
  let token: string;

  before(async () => {
    requireWebBuild();
    s = await testServer({ webRoot: WEB_DIST });
    token = await logon(s.url);
  });
  after(() => s.close());

  it('puts them on API answers, errors included, and no-store on data', async () => {
    const answers: [string, Response][] = [
      ['entry point', await fetch(`${s.url}/api/v1`)],
      ['jobs', await fetch(`${s.url}/api/v1/jobs`, { headers: { 'x-cairn-session': token } })],
      ['no session', await fetch(`${s.url}/api/v1/jobs`)],
      [
        'unknown route',
        await fetch(`${s.url}/api/v1/nothing-here`, { headers: { 'x-cairn-session': token } }),
      ],
      [
        'bad body',
        await fetch(`${s.url}/api/v1/jobs`, {
          method: 'POST',
          headers: { 'x-cairn-session': token, 'content-type': 'application/json' },
          body: '{',
        }),
      ],
      ['metrics', await fetch(`${s.url}/metrics`, { headers: { 'x-cairn-session': token } })],
      ['health', await fetch(`${s.url}/healthz`)],
    ];
    for (const [what, res] of answers) {
      await res.arrayBuffer();
      assertCommon(res.headers, what);
      assert.equal(
        res.headers.get('content-security-policy'),
        "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
        what,
      );
      assert.equal(res.headers.get('cache-control'), 'no-store', what);
    }
    const logonAnswer = await fetch(`${s.url}/api/v1/sessions`, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`${ADMIN.user}:${ADMIN.password}`).toString('base64')}`,
      },
    });
    assert.equal(logonAnswer.status, 201);
    assert.equal(logonAnswer.headers.get('cache-control'), 'no-store', 'the token is never cached');
  });

  it('puts them on the event stream of a run, which the handler writes itself', async () => {
    const src = path.join(s.dir, 'src');
    mkdirSync(src);
    writeFileSync(path.join(src, 'f'), 'x');
    const repo = await http(s.url, 'POST', '/api/v1/repositories', {
      token,
      body: { name: 'r', location: path.join(s.dir, 'repo'), create: true },
    });
    assert.equal(repo.status, 201, JSON.stringify(repo.body));
    const job = await http(s.url, 'POST', '/api/v1/jobs', {
      token,
      body: { name: 'j', repository: 'r', sources: [src] },
    });
    const started = await http(s.url, 'POST', `/api/v1/jobs/${(job.body as { id: string }).id}/start`, {
      token,
    });
    const task = await waitTask(s.url, token, (started.body as { id: string }).id);
    const run = (task.links as { rel: string; href: string }[]).find((l) => l.rel === 'run')!.href;
    const events = await fetch(`${s.url}${run}/events`, { headers: { 'x-cairn-session': token } });
    assert.match(await events.text(), /event: run/);
    assertCommon(events.headers, 'events');
    assert.equal(events.headers.get('cache-control'), 'no-store');
  });

  it("serves the web UI under a policy without 'unsafe-inline', which its built page needs none of", async () => {
    const html = readFileSync(path.join(WEB_DIST, 'index.html'), 'utf8');
    assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/, 'no inline script');
    assert.doesNotMatch(html, /<style|\sstyle=|\son[a-z]+=/i, 'no inline style or handler');
    const asset = readdirSync(path.join(WEB_DIST, 'assets')).find((f) => f.endsWith('.js'))!;
    for (const url of ['/', '/jobs', '/users', `/assets/${asset}`, '/favicon.svg']) {
      const res = await fetch(`${s.url}${url}`);
      await res.arrayBuffer();
      assert.equal(res.status, 200, url);
      assertCommon(res.headers, url);
      const csp = res.headers.get('content-security-policy') ?? '';
      assert.match(csp, /default-src 'self'/, url);
      assert.match(csp, /script-src 'self'(;|$)/, url);
      assert.doesNotMatch(csp, /unsafe/, url);
      assert.notEqual(res.headers.get('cache-control'), 'no-store', `${url}: the app's files may be cached`);
    }
  });

  it('keeps the Swagger UI under its own policy, framed by nobody', async () => {
    const res = await fetch(`${s.url}/api/docs/`);
    const text = await res.text();
    assert.equal(res.status, 200);
    assert.match(text, /swagger-ui/);
    assertCommon(res.headers, '/api/docs/');
    const csp = res.headers.get('content-security-policy') ?? '';
    assert.match(csp, /validator\.swagger\.io/, "the plugin's own policy");
    assert.doesNotMatch(csp, /frame-ancestors 'self'/);
  });
});

describe('modes of the data directory and the catalog', () => {
  it('makes the data directory 0700 and the catalog 0600, also when they were looser', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'cairn-modes-'));
    const dataDir = path.join(dir, 'data');
    mkdirSync(dataDir);
    chmodSync(dataDir, 0o755);
    writeFileSync(path.join(dataDir, 'catalog.db'), '');
    chmodSync(path.join(dataDir, 'catalog.db'), 0o644);
    const server = await startServer({
      dataDir,
      listen: '127.0.0.1:0',
      env: { CAIRN_ADMIN_PASSWORD: ADMIN.password },
      say: () => undefined,
    });
    try {
      await logon(server.url);
      const mode = (f: string) => (statSync(path.join(dataDir, f)).mode & 0o777).toString(8);
      assert.equal(mode('.'), '700');
      for (const f of ['catalog.db', 'catalog.db-wal', 'catalog.db-shm']) assert.equal(mode(f), '600', f);
    } finally {
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('a wrong repository password', () => {
  let s: TestServer;
  let token: string;

  before(async () => {
    s = await testServer();
    token = await logon(s.url);
  });
  after(() => s.close());

  it('answers 422 REPO_WRONG_PASSWORD, and the session goes on', async () => {
    const secret = path.join(s.dir, 'repo.password');
    writeFileSync(secret, 'the right password\n', { mode: 0o600 });
    const location = path.join(s.dir, 'repo');
    const repo = await http(s.url, 'POST', '/api/v1/repositories', {
      token,
      body: { name: 'locked', location, passwordFile: secret, create: true },
    });
    assert.equal(repo.status, 201, JSON.stringify(repo.body));
    writeFileSync(secret, 'not the password\n');
    const list = await http(
      s.url,
      'GET',
      `/api/v1/repositories/${(repo.body as { id: string }).id}/snapshots`,
      {
        token,
      },
    );
    assert.equal(list.status, 422, JSON.stringify(list.body));
    assert.equal((list.body as { code: string }).code, 'REPO_WRONG_PASSWORD');
    assert.equal(list.headers.get('www-authenticate'), null);
    assert.equal((await http(s.url, 'GET', '/api/v1/sessions/current', { token })).status, 200);
  });
});
