/**
 * /metrics of a live server after real runs: Prometheus' own linter (`promtool check metrics`,
 * Debian package prometheus) accepts the exposition, and the series an operator alerts on are
 * there with the catalog's values: the last success per job, runs by state, the queue, repository
 * and recycle-bin sizes, overdue jobs, takeovers — every one of a tenant's with its tenant label.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import type { EventEmitter } from 'node:events';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { http, logon, testServer, waitTask, type TestServer } from './server-api.testing.ts';

/** The value of the sample line `series value`, if there is one. */
function valueOf(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(series + ' '));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

function havePromtool(): boolean {
  const r = spawnSync('promtool', ['--version'], { encoding: 'utf8' });
  return !r.error && r.status === 0;
}

describe('/metrics of a live server', () => {
  let s: TestServer;
  let token: string;
  let text: string;
  let run: { endedAt: string; state: string };

  before(async () => {
    s = await testServer();
    token = await logon(s.url);
    const source = path.join(s.dir, 'source');
    mkdirSync(source);
    writeFileSync(path.join(source, 'a.txt'), 'alpha\n'.repeat(1000));
    const repo = await http(s.url, 'POST', '/api/v1/repositories', {
      token,
      body: { name: 'main', location: path.join(s.dir, 'repo'), create: true },
    });
    assert.equal(repo.status, 201, JSON.stringify(repo.body));
    const runJob = async (name: string, sources: string[]) => {
      const job = await http(s.url, 'POST', '/api/v1/jobs', {
        token,
        body: { name, repository: 'main', sources, schedule: { cron: '0 3 * * *', timezone: 'UTC' } },
      });
      assert.equal(job.status, 201, JSON.stringify(job.body));
      const started = await http(s.url, 'POST', `/api/v1/jobs/${(job.body as { id: string }).id}/start`, {
        token,
      });
      assert.equal(started.status, 202, JSON.stringify(started.body));
      return waitTask(s.url, token, (started.body as { id: string }).id);
    };
    const good = await runJob('files', [source]);
    assert.equal(good.result, 'success', JSON.stringify(good));
    const runs = await http(s.url, 'GET', '/api/v1/runs?state=success', { token });
    run = (runs.body as { data: { endedAt: string; state: string }[] }).data[0]!;
    const gone = path.join(s.dir, 'gone');
    const bad = await runJob('laptop', [gone]);
    assert.equal(bad.result, 'failed');
    // The runner says so when it takes over a run whose server's lease lapsed.
    const d = await s.server.catalog.tenantByName('default');
    (s.server.runner as unknown as EventEmitter).emit('takeover', {
      runId: 'r1',
      tenantId: d!.id,
      jobName: 'files',
      server: 'elsewhere:1',
    });
    // A retry waiting for its time: queued, but not in the queue for a slot yet.
    const job = await s.server.catalog.jobByName(d!.id, 'laptop');
    await s.server.catalog.enqueueRun({
      tenantId: d!.id,
      jobId: job!.id,
      jobName: 'laptop',
      repositoryId: job!.repository_id,
      kind: 'backup',
      params: {},
      trigger: 'retry',
      notBefore: new Date(Date.now() + 3600_000).toISOString(),
    });
    // The takeover's tenant is looked up in the catalog before it is counted.
    const until = Date.now() + 10_000;
    for (;;) {
      const m = await http(s.url, 'GET', '/metrics', { token });
      assert.equal(m.status, 200);
      text = String(m.body);
      if (/^cairn_run_takeovers_total\{/m.test(text) || Date.now() > until) break;
      await new Promise((r) => setTimeout(r, 50));
    }
  });
  after(async () => {
    await s?.close();
  });

  it(
    'passes promtool check metrics',
    {
      skip:
        !havePromtool() &&
        'promtool is not installed (Debian package prometheus; scripts/setup.sh installs it)',
    },
    () => {
      const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
      const output = `${r.stdout}${r.stderr}`;
      process.stdout.write(
        `# promtool check metrics: exit ${r.status}${output ? `: ${output}` : ', no problem'}\n`,
      );
      assert.equal(r.status, 0, output);
      assert.equal(output, '');
      // What promtool would refuse is not there (prom-client's gauges named _total).
      assert.doesNotMatch(text, /^# TYPE \w+_total gauge$/m);
    },
  );

  it('shows the series an operator alerts on, with the catalog’s values', async () => {
    const series = (s: string) => valueOf(text, s);
    assert.equal(
      series('cairn_job_last_success_timestamp_seconds{tenant="default",job="files"}'),
      Date.parse(run.endedAt) / 1000,
    );
    assert.equal(
      series('cairn_job_last_success_timestamp_seconds{tenant="default",job="laptop"}'),
      undefined,
      'never succeeded: no series',
    );
    assert.equal(series('cairn_runs{tenant="default",state="success"}'), 1);
    assert.equal(series('cairn_runs{tenant="default",state="failed"}'), 1);
    assert.equal(series('cairn_runs{tenant="default",state="queued"}'), 1);
    assert.equal(series('cairn_runs{tenant="default",state="running"}'), 0);
    assert.equal(series('cairn_queue_depth{tenant="default"}'), 0, 'the retry’s time has not come');
    assert.equal(series('cairn_job_overdue{tenant="default",job="files"}'), 0);
    assert.equal(series('cairn_job_overdue{tenant="default",job="laptop"}'), 0);
    assert.equal(series('cairn_run_takeovers_total{tenant="default"}'), 1);
    assert.equal(series('cairn_runs_running{tenant="default"}'), 0);
    assert.equal(series('cairn_catalog_up'), 1);
    const usage = (await http(s.url, 'GET', '/api/v1/usage', { token })).body as {
      recycledBytes: number;
      repositories: { name: string; storedBytes: number }[];
    };
    const main = usage.repositories.find((r) => r.name === 'main');
    assert.ok(main && main.storedBytes > 0, JSON.stringify(usage));
    assert.equal(
      series('cairn_repository_stored_bytes{tenant="default",repository="main"}'),
      main.storedBytes,
    );
    assert.equal(series('cairn_tenant_recycled_bytes{tenant="default"}'), usage.recycledBytes);
    // Every series of a tenant's job, run, repository or storage names its tenant.
    for (const line of text.split('\n'))
      if (/^cairn_(backup|runs|run_|last_run|job|queue|repository|tenant)/.test(line))
        assert.match(line, /[{,]tenant="/, line);
  });
});
