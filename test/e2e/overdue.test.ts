/**
 * Missed backups on a live server (backrest #1058: silent while a repository was unreachable): a
 * job scheduled every two seconds whose repository has gone away becomes overdue within seconds
 * (grace 1 s, checked twice a second). Its overdue webhook reaches a real HTTP listener on
 * 127.0.0.1 once, however many runs fail after; /metrics says cairn_job_overdue 1; the dashboard
 * and the audit log list it. Back in place, the next successful run clears it all, and the next
 * episode is told again.
 */
import assert from 'node:assert/strict';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { http, logon, testServer, type TestServer } from './server-api.testing.ts';

interface Overdue {
  job: { id: string; name: string };
  lastSuccess: string | null;
  dueAt: string;
  overdueAt: string;
}

/** Polls `ok` until it holds. */
async function until(ok: () => Promise<boolean> | boolean, what: string, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > end) assert.fail(`waited ${ms} ms for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('missed backups on a live server', () => {
  let s: TestServer;
  let token: string;
  let listener: Server;
  const hooks: Record<string, unknown>[] = [];
  let repo: string;
  let away: string;

  const metric = async (series: string) => {
    const text = String((await http(s.url, 'GET', '/metrics', { token })).body);
    const line = text.split('\n').find((l) => l.startsWith(series + ' '));
    return line === undefined ? undefined : Number(line.slice(series.length + 1));
  };
  const overdue = async () =>
    ((await http(s.url, 'GET', '/api/v1/dashboard', { token })).body as { overdue: Overdue[] }).overdue;

  before(async () => {
    listener = createServer((req, res) => {
      let text = '';
      req.on('data', (c: Buffer) => (text += c.toString()));
      req.on('end', () => {
        hooks.push(JSON.parse(text) as Record<string, unknown>);
        res.end();
      });
    });
    await new Promise<void>((r) => listener.listen(0, '127.0.0.1', r));
    const address = listener.address();
    const hookUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/cairn`;
    s = await testServer({ overdueGraceSeconds: 1, overdueCheckSeconds: 0.5 });
    token = await logon(s.url);
    const source = path.join(s.dir, 'source');
    mkdirSync(source);
    writeFileSync(path.join(source, 'a.txt'), 'alpha\n');
    repo = path.join(s.dir, 'repo');
    away = path.join(s.dir, 'repo-unplugged');
    const r = await http(s.url, 'POST', '/api/v1/repositories', {
      token,
      body: { name: 'usb', location: repo, create: true },
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    // The disk is unplugged before the job's first time.
    renameSync(repo, away);
    const job = await http(s.url, 'POST', '/api/v1/jobs', {
      token,
      body: {
        name: 'laptop',
        repository: 'usb',
        sources: [source],
        schedule: { cron: '*/2 * * * * *' },
        hooks: [{ on: ['overdue'], webhook: hookUrl }],
      },
    });
    assert.equal(job.status, 201, JSON.stringify(job.body));
  });
  after(async () => {
    await s?.close();
    listener?.close();
  });

  it('tells an overdue job once: webhook, metric, dashboard and audit', async () => {
    await until(() => hooks.length > 0, 'the overdue webhook');
    const started = Date.now();
    const hook = hooks[0]!;
    assert.equal(hook.event, 'overdue');
    assert.equal(hook.job, 'laptop');
    assert.equal(hook.tenant, 'default');
    assert.equal(hook.repository, 'usb');
    assert.equal(hook.state, 'overdue');
    assert.equal(hook.lastSuccess, null);
    assert.match(
      String(hook.message),
      /^no successful run since it was created at .*its last run ended failed: /,
    );
    assert.equal(await metric('cairn_job_overdue{tenant="default",job="laptop"}'), 1);
    const listed = await overdue();
    assert.deepEqual(
      listed.map((o) => [o.job.name, o.lastSuccess]),
      [['laptop', null]],
    );
    assert.ok(listed[0]!.overdueAt < new Date().toISOString());
    const audit = (await http(s.url, 'GET', '/api/v1/audit', { token })).body as {
      data: { action: string; user: string; detail: { job: string } }[];
    };
    const told = audit.data.filter((a) => a.action === 'job.overdue');
    assert.deepEqual(
      told.map((a) => [a.user, a.detail.job]),
      [['cairn', 'laptop']],
    );
    // More runs fail and more checks pass: still told once.
    const failedBefore = (
      (await http(s.url, 'GET', '/api/v1/runs?state=failed', { token })).body as {
        pagination: { total: number };
      }
    ).pagination.total;
    await until(
      async () =>
        (
          (await http(s.url, 'GET', '/api/v1/runs?state=failed', { token })).body as {
            pagination: { total: number };
          }
        ).pagination.total >
          failedBefore + 1 && Date.now() - started > 3000,
      'more failed runs',
    );
    assert.equal(hooks.length, 1, JSON.stringify(hooks));
  });

  it('clears with the next successful run, and tells the next episode again', async () => {
    renameSync(away, repo);
    await until(
      async () =>
        ((await http(s.url, 'GET', '/api/v1/runs?state=success', { token })).body as { data: unknown[] }).data
          .length > 0,
      'a successful run',
    );
    assert.equal(await metric('cairn_job_overdue{tenant="default",job="laptop"}'), 0);
    assert.deepEqual(await overdue(), []);
    const last = await metric('cairn_job_last_success_timestamp_seconds{tenant="default",job="laptop"}');
    assert.ok(last !== undefined && Math.abs(last * 1000 - Date.now()) < 10_000, String(last));
    assert.equal(hooks.length, 1);

    renameSync(repo, away);
    await until(() => hooks.length > 1, 'the second episode’s webhook');
    assert.equal(hooks.length, 2);
    assert.match(String(hooks[1]!.lastSuccess), /^\d{4}-\d\d-\d\dT/);
    assert.equal(await metric('cairn_job_overdue{tenant="default",job="laptop"}'), 1);
    renameSync(away, repo); // runs may end while the server stops
  });
});
