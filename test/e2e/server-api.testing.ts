/** A Cairn server in the test's process on a free loopback port, and a small HTTP client for it. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startServer, type RunningServer, type ServerOptions } from '../../src/api/index.ts';
import { createMetrics, HostSampler } from '../../src/metrics/index.ts';

export const ADMIN = { user: 'admin', password: 'correct horse battery' };

export interface TestServer {
  readonly server: RunningServer;
  readonly url: string;
  readonly dir: string;
  /**
   * Answers that did not match their route's schema (a field the schema does not list, a value
   * of another type, an undocumented status): close() fails when there are any.
   */
  readonly answerFailures: string[];
  close(): Promise<void>;
}

export async function testServer(options: Partial<ServerOptions> = {}): Promise<TestServer> {
  const dir = mkdtempSync(path.join(tmpdir(), 'cairn-server-'));
  const host = new HostSampler({ intervalSeconds: 1 }).start();
  const m = createMetrics({ host });
  const answerFailures: string[] = [];
  const server = await startServer({
    metrics: {
      render: () => m.render(),
      contentType: m.contentType,
      observer: (job, tenant) => m.startRun(job, tenant),
      watchCatalog: (source) => m.watchCatalog(source),
      takeover: (tenant) => m.takeover(tenant),
      stop: () => host.stop(),
    },
    dataDir: path.join(dir, 'data'),
    listen: '127.0.0.1:0',
    env: { CAIRN_ADMIN_USER: ADMIN.user, CAIRN_ADMIN_PASSWORD: ADMIN.password },
    say: () => undefined,
    pollMs: 100,
    sampleMs: 100,
    checkAnswers: (line) => answerFailures.push(line),
    ...options,
  });
  return {
    server,
    url: server.url,
    dir,
    answerFailures,
    async close() {
      await server.close();
      rmSync(dir, { recursive: true, force: true });
      assert.deepEqual(answerFailures, [], 'every answer matches its schema in the OpenAPI document');
    },
  };
}

export interface Answer {
  readonly status: number;
  readonly headers: Headers;
  readonly body: unknown;
  readonly type: string;
}

export async function http(
  base: string,
  method: string,
  url: string,
  options: { token?: string; body?: unknown; raw?: string; headers?: Record<string, string> } = {},
): Promise<Answer> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token) headers['x-cairn-session'] = options.token;
  let body: string | undefined;
  if (options.raw !== undefined) {
    body = options.raw;
    headers['content-type'] ??= 'application/json';
  } else if (options.body !== undefined) {
    body = JSON.stringify(options.body);
    headers['content-type'] = 'application/json';
  }
  const res = await fetch(base + url, { method, headers, ...(body !== undefined ? { body } : {}) });
  const text = await res.text();
  const type = res.headers.get('content-type') ?? '';
  let parsed: unknown = text;
  if (type.includes('json') && text) parsed = JSON.parse(text);
  return { status: res.status, headers: res.headers, body: parsed, type };
}

export async function logon(base: string, user = ADMIN.user, password = ADMIN.password): Promise<string> {
  const res = await fetch(`${base}/api/v1/sessions`, {
    method: 'POST',
    headers: { authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` },
  });
  assert.equal(res.status, 201, await res.text());
  const token = res.headers.get('x-cairn-session');
  assert.ok(token);
  return token;
}

/** Polls a task until it is finished; returns it. */
export async function waitTask(
  base: string,
  token: string,
  taskId: string,
  timeoutMs = 60_000,
): Promise<Record<string, unknown>> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const t = await http(base, 'GET', `/api/v1/tasks/${taskId}`, { token });
    assert.equal(t.status, 200);
    const task = t.body as Record<string, unknown>;
    if (task.state === 'finished') return task;
    if (Date.now() > until) assert.fail(`task ${taskId} still running after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export function link(obj: unknown, rel: string): { href: string; method: string } {
  const links = (obj as { links?: { rel: string; href: string; method: string }[] }).links ?? [];
  const l = links.find((x) => x.rel === rel);
  assert.ok(l, `no link "${rel}" in ${JSON.stringify(links)}`);
  return l;
}

/**
 * An answer is the RFC 9457 problem it should be: the status, Cairn's code, a title and type, the
 * detail naming what went wrong, and nothing of a stack trace.
 */
export function assertProblem(a: Answer, status: number, code: string, detail?: RegExp): void {
  assert.equal(a.status, status, JSON.stringify(a.body));
  assert.match(a.type, /^application\/problem\+json/);
  const p = a.body as { code: string; status: number; detail: string; title: string; type: string };
  assert.equal(p.code, code, JSON.stringify(a.body));
  assert.equal(p.status, status);
  assert.ok(p.title && p.type.startsWith('urn:cairn:problem:'));
  if (detail) assert.match(p.detail, detail);
  assert.doesNotMatch(JSON.stringify(p), /\\n\s+at |node_modules|\.ts:[0-9]+/, 'no stack trace');
}
