import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { register as globalRegistry } from 'prom-client';
import { HostSampler } from './host.ts';
import { createMetrics, type CatalogFigures } from './prometheus.ts';

/** promtool's verdict on an exposition, or undefined when promtool is not installed. */
function promtool(text: string): { status: number | null; output: string } | undefined {
  const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  if (r.error && (r.error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

/** The value of one sample line (`name{labels} value`) in the exposition, if present. */
function valueOf(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(series + ' '));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('prometheus metrics', () => {
  it("exposes Cairn's families on a registry of its own, with the process's default metrics", async () => {
    const m = createMetrics();
    const text = await m.render();
    for (const name of [
      'cairn_backup_bytes_read_total',
      'cairn_backup_bytes_written_total',
      'cairn_backup_files_total',
      'cairn_runs_total',
      'cairn_run_duration_seconds',
      'cairn_runs_running',
      'cairn_last_run_timestamp_seconds',
      'cairn_run_takeovers_total',
      'cairn_catalog_up',
      'cairn_tenant_usage_bytes',
      'cairn_tenant_quota_bytes',
      'cairn_tenant_recycled_bytes',
      'cairn_runs',
      'cairn_queue_depth',
      'cairn_repository_stored_bytes',
      'cairn_job_last_success_timestamp_seconds',
      'cairn_job_overdue',
      'cairn_host_disk_read_bytes_per_second',
      'cairn_host_disk_written_bytes_per_second',
      'cairn_host_network_receive_bytes_per_second',
      'cairn_host_network_transmit_bytes_per_second',
      'process_cpu_seconds_total',
      'nodejs_eventloop_lag_seconds',
      'nodejs_active_handles',
    ]) {
      assert.match(text, new RegExp(`^# TYPE ${name} `, 'm'), name);
    }
    // Gauges named like counters, which promtool refuses, are left out.
    assert.doesNotMatch(text, /^# TYPE nodejs_active_\w+_total /m);
    assert.match(m.contentType, /^text\/plain; version=0\.0\.4/);
    assert.equal(globalRegistry.getMetricsAsArray().length, 0, 'the global registry stays empty');
    // A second server in the same process gets its own counters without a name clash.
    const other = createMetrics({ defaultMetrics: false });
    assert.doesNotMatch(await other.render(), /process_cpu/);
  });

  it('counts a run: progress deltas, result, duration, last-run time and the running gauge', async () => {
    let mono = 1000;
    const m = createMetrics({ defaultMetrics: false, now: () => mono, clock: () => 1_700_000_000_000 });
    const run = m.startRun('home', 'acme');
    assert.equal(valueOf(await m.render(), 'cairn_runs_running{tenant="acme"}'), 1);
    run.progress({ bytesRead: 100, bytesWritten: 10, files: 1 });
    run.progress({ bytesRead: 250, files: 3 });
    run.progress({ bytesRead: 200 }); // lower: ignored
    mono += 42_000;
    run.finish('success');
    run.finish('failure'); // once only
    run.progress({ bytesRead: 1e9 }); // after the end: ignored
    const text = await m.render();
    assert.equal(valueOf(text, 'cairn_backup_bytes_read_total{tenant="acme",job="home"}'), 250);
    assert.equal(valueOf(text, 'cairn_backup_bytes_written_total{tenant="acme",job="home"}'), 10);
    assert.equal(valueOf(text, 'cairn_backup_files_total{tenant="acme",job="home"}'), 3);
    assert.equal(valueOf(text, 'cairn_runs_total{tenant="acme",job="home",result="success"}'), 1);
    assert.equal(valueOf(text, 'cairn_runs_total{tenant="acme",job="home",result="failure"}'), undefined);
    assert.equal(valueOf(text, 'cairn_run_duration_seconds_sum{tenant="acme",job="home"}'), 42);
    assert.equal(valueOf(text, 'cairn_run_duration_seconds_bucket{le="60",tenant="acme",job="home"}'), 1);
    assert.equal(valueOf(text, 'cairn_run_duration_seconds_bucket{le="30",tenant="acme",job="home"}'), 0);
    assert.equal(
      valueOf(text, 'cairn_last_run_timestamp_seconds{tenant="acme",job="home",result="success"}'),
      1_700_000_000,
    );
    assert.equal(valueOf(text, 'cairn_runs_running{tenant="acme"}'), 0);
  });

  it('labels each job by its tenant: the same job name in two tenants is two series', async () => {
    const m = createMetrics({ defaultMetrics: false });
    const a = m.startRun('nightly', 'acme');
    const b = m.startRun('nightly', 'globex');
    a.progress({ bytesRead: 10 });
    b.progress({ bytesRead: 7 });
    a.finish('success');
    b.finish('failed');
    const text = await m.render();
    assert.equal(valueOf(text, 'cairn_backup_bytes_read_total{tenant="acme",job="nightly"}'), 10);
    assert.equal(valueOf(text, 'cairn_backup_bytes_read_total{tenant="globex",job="nightly"}'), 7);
    assert.equal(valueOf(text, 'cairn_runs_total{tenant="globex",job="nightly",result="failed"}'), 1);
    assert.equal(valueOf(text, 'cairn_runs_total{tenant="acme",job="nightly",result="failed"}'), undefined);
    // No series without a tenant label.
    assert.doesNotMatch(
      text,
      /^cairn_(backup|runs_total|run_duration|last_run)[^ ]*\{(?!(le="[^"]*",)?tenant=)/m,
    );
  });

  it("reads the catalog's figures once per scrape, and drops what is gone", async () => {
    const m = createMetrics({ defaultMetrics: false });
    let text = await m.render();
    assert.doesNotMatch(text, /^cairn_tenant_usage_bytes\{/m, 'no source yet: no series');
    assert.equal(valueOf(text, 'cairn_catalog_up'), 0);
    let reads = 0;
    let figures: CatalogFigures = {
      tenants: [
        {
          tenant: 'acme',
          usageBytes: 18_000_000,
          quotaBytes: 20_000_000,
          recycledBytes: 3_000_000,
          runs: { success: 4, failed: 1, queued: 2 },
          queueDepth: 1,
        },
        { tenant: 'globex', usageBytes: 5, quotaBytes: null },
        { tenant: 'new', usageBytes: null, quotaBytes: null },
      ],
      repositories: [
        { tenant: 'acme', repository: 'vault', storedBytes: 21_000_000 },
        { tenant: 'acme', repository: 'fresh', storedBytes: null },
      ],
      jobs: [
        { tenant: 'acme', job: 'nightly', lastSuccessSeconds: 1_700_000_000.5, overdue: false },
        { tenant: 'acme', job: 'laptop', lastSuccessSeconds: null, overdue: true },
        { tenant: 'globex', job: 'by-hand', lastSuccessSeconds: 1_600_000_000, overdue: null },
      ],
    };
    m.watchCatalog(async () => {
      reads++;
      return figures;
    });
    text = await m.render();
    assert.equal(reads, 1, 'one read of the catalog per scrape, whatever the number of gauges');
    assert.equal(valueOf(text, 'cairn_catalog_up'), 1);
    assert.equal(valueOf(text, 'cairn_tenant_usage_bytes{tenant="acme"}'), 18_000_000);
    assert.equal(valueOf(text, 'cairn_tenant_quota_bytes{tenant="acme"}'), 20_000_000);
    assert.equal(valueOf(text, 'cairn_tenant_recycled_bytes{tenant="acme"}'), 3_000_000);
    assert.equal(valueOf(text, 'cairn_tenant_usage_bytes{tenant="globex"}'), 5);
    assert.equal(
      valueOf(text, 'cairn_tenant_quota_bytes{tenant="globex"}'),
      undefined,
      'no quota: no series',
    );
    assert.equal(
      valueOf(text, 'cairn_tenant_usage_bytes{tenant="new"}'),
      undefined,
      'not measured: no series',
    );
    // Every state of every tenant has a series, 0 when none: an alert never meets an absent one.
    assert.equal(valueOf(text, 'cairn_runs{tenant="acme",state="success"}'), 4);
    assert.equal(valueOf(text, 'cairn_runs{tenant="acme",state="failed"}'), 1);
    assert.equal(valueOf(text, 'cairn_runs{tenant="acme",state="running"}'), 0);
    assert.equal(valueOf(text, 'cairn_runs{tenant="new",state="canceled"}'), 0);
    assert.equal(valueOf(text, 'cairn_queue_depth{tenant="acme"}'), 1);
    assert.equal(valueOf(text, 'cairn_queue_depth{tenant="globex"}'), 0);
    assert.equal(
      valueOf(text, 'cairn_repository_stored_bytes{tenant="acme",repository="vault"}'),
      21_000_000,
    );
    assert.equal(valueOf(text, 'cairn_repository_stored_bytes{tenant="acme",repository="fresh"}'), undefined);
    assert.equal(
      valueOf(text, 'cairn_job_last_success_timestamp_seconds{tenant="acme",job="nightly"}'),
      1_700_000_000.5,
    );
    assert.equal(
      valueOf(text, 'cairn_job_last_success_timestamp_seconds{tenant="acme",job="laptop"}'),
      undefined,
    );
    assert.equal(valueOf(text, 'cairn_job_overdue{tenant="acme",job="nightly"}'), 0);
    assert.equal(valueOf(text, 'cairn_job_overdue{tenant="acme",job="laptop"}'), 1);
    assert.equal(valueOf(text, 'cairn_job_overdue{tenant="globex",job="by-hand"}'), undefined, 'no schedule');
    // No series of a tenant's storage, runs or jobs without its tenant label.
    assert.doesNotMatch(text, /^cairn_(tenant|runs|queue|repository|job)[^ ]*\{(?!tenant=)/m);

    figures = { tenants: [{ tenant: 'acme', usageBytes: 1000, quotaBytes: null }] };
    text = await m.render();
    assert.equal(valueOf(text, 'cairn_tenant_usage_bytes{tenant="acme"}'), 1000);
    assert.equal(valueOf(text, 'cairn_tenant_quota_bytes{tenant="acme"}'), undefined);
    assert.equal(valueOf(text, 'cairn_tenant_usage_bytes{tenant="globex"}'), undefined);
    assert.equal(valueOf(text, 'cairn_job_overdue{tenant="acme",job="laptop"}'), undefined, 'job gone');
    assert.equal(valueOf(text, 'cairn_repository_stored_bytes{tenant="acme",repository="vault"}'), undefined);

    // The catalog does not answer: its series go, cairn_catalog_up says so, the rest still renders.
    m.watchCatalog(() => Promise.reject(new Error('connection refused')));
    text = await m.render();
    assert.equal(valueOf(text, 'cairn_catalog_up'), 0);
    assert.doesNotMatch(text, /^cairn_tenant_usage_bytes\{/m);
    assert.match(text, /^# TYPE cairn_runs_total counter$/m);
  });

  it('counts takeovers per tenant', async () => {
    const m = createMetrics({ defaultMetrics: false });
    m.takeover('acme');
    m.takeover('acme');
    m.takeover('globex');
    const text = await m.render();
    assert.equal(valueOf(text, 'cairn_run_takeovers_total{tenant="acme"}'), 2);
    assert.equal(valueOf(text, 'cairn_run_takeovers_total{tenant="globex"}'), 1);
  });

  it('passes promtool check metrics, default metrics and every family with series', async (t) => {
    const m = createMetrics();
    const run = m.startRun('nightly', 'acme');
    run.progress({ bytesRead: 10, bytesWritten: 5, files: 1 });
    run.finish('success');
    m.takeover('acme');
    m.watchCatalog(async () => ({
      tenants: [{ tenant: 'acme', usageBytes: 1, quotaBytes: 2, recycledBytes: 0, runs: { success: 1 } }],
      repositories: [{ tenant: 'acme', repository: 'vault', storedBytes: 1 }],
      jobs: [{ tenant: 'acme', job: 'nightly', lastSuccessSeconds: 1_700_000_000, overdue: false }],
    }));
    const verdict = promtool(await m.render());
    if (verdict === undefined) {
      t.skip('promtool is not installed (Debian package prometheus; scripts/setup.sh installs it)');
      return;
    }
    assert.equal(verdict.status, 0, verdict.output);
    assert.equal(verdict.output, '', 'no lint problem');
  });

  it("feeds the host gauges from the sampler's latest rates at each scrape", async () => {
    let t = 0;
    let k = 0;
    const host = new HostSampler({
      now: () => t,
      readFile: (p) =>
        p.endsWith('diskstats')
          ? ` 254 0 vda 1 0 ${10 * k} 0 1 0 ${20 * k} 0 0 0 0\n`
          : `  eth0: ${1000 * k} 0 0 0 0 0 0 0 ${3000 * k} 0 0 0 0 0 0 0\n`,
    });
    const m = createMetrics({ defaultMetrics: false, host });
    host.sample();
    t = 1000;
    k = 1;
    host.sample();
    const text = await m.render();
    assert.equal(valueOf(text, 'cairn_host_disk_read_bytes_per_second{device="vda"}'), 5120);
    assert.equal(valueOf(text, 'cairn_host_disk_written_bytes_per_second{device="vda"}'), 10240);
    assert.equal(valueOf(text, 'cairn_host_network_receive_bytes_per_second{interface="eth0"}'), 1000);
    assert.equal(valueOf(text, 'cairn_host_network_transmit_bytes_per_second{interface="eth0"}'), 3000);
  });
});
