/**
 * Cairn's Prometheus metrics: one Registry per server (never prom-client's global one, so two
 * servers in one process, or tests, do not share counters), the metric families below, the
 * process's default metrics, and the text exposition.
 *
 * Every series of a job or a run carries the `tenant` label (the tenant's name) beside `job`: job
 * names are unique only within a tenant. The exposition names every tenant's jobs and sizes, so
 * the server shows it to the system administrator only.
 */
import { createRequire } from 'node:module';
import type * as PromClient from 'prom-client';
import type { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { HostSampler } from './host.ts';

let loaded: typeof PromClient | undefined;

/**
 * prom-client, loaded on the first createMetrics(): every command imports this folder (the
 * archiver's stage clock), and loading prom-client costs some 40 ms of start-up that only a
 * server needs.
 */
function promClient(): typeof PromClient {
  return (loaded ??= createRequire(import.meta.url)('prom-client') as typeof PromClient);
}

/** Seconds: from a small incremental backup to a day-long full one. */
export const RUN_DURATION_BUCKETS: readonly number[] = [
  1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400, 28800, 86400,
];

export interface MetricsOptions {
  /** Feeds the host disk and network gauges at each scrape (its latest rates). */
  readonly host?: HostSampler;
  /** process_* and nodejs_* metrics (CPU, memory, event loop lag, GC); true by default. */
  readonly defaultMetrics?: boolean;
  /** Buckets of cairn_run_duration_seconds. */
  readonly durationBuckets?: readonly number[];
  /** Monotonic milliseconds for run durations; performance.now() by default. */
  readonly now?: () => number;
  /** Wall clock for cairn_last_run_timestamp_seconds; Date.now() by default. */
  readonly clock?: () => number;
}

/** One tenant's storage for cairn_tenant_usage_bytes and cairn_tenant_quota_bytes. */
export interface TenantFigures {
  readonly tenant: string;
  /** null: not measured yet (no series). */
  readonly usageBytes: number | null;
  /** null: no quota (no series). */
  readonly quotaBytes: number | null;
}

/** Cumulative counts of one run, as its progress reports them (BackupProgress). */
export interface RunCounts {
  readonly bytesRead?: number;
  readonly bytesWritten?: number;
  readonly files?: number;
}

/** The handles of one run, from CairnMetrics.startRun(). */
export interface RunMetrics {
  /**
   * Takes the run's cumulative counts (call it from a timer and at the end): the job's counters
   * grow by the increase since the last call. A count lower than before is ignored.
   */
  progress(counts: RunCounts): void;
  /**
   * The run has ended with `result` ("success", "warning", "failure", "cancelled"...): counts the
   * run, observes its duration, sets the last-run timestamp and lowers cairn_runs_running. Only the
   * first call counts.
   */
  finish(result: string): void;
}

export interface CairnMetrics {
  readonly registry: Registry;
  /** The Content-Type of render()'s text. */
  readonly contentType: string;
  readonly backupBytesRead: Counter<'tenant' | 'job'>;
  readonly backupBytesWritten: Counter<'tenant' | 'job'>;
  readonly backupFiles: Counter<'tenant' | 'job'>;
  readonly runs: Counter<'tenant' | 'job' | 'result'>;
  readonly runDuration: Histogram<'tenant' | 'job'>;
  readonly runsRunning: Gauge;
  readonly lastRunTimestamp: Gauge<'tenant' | 'job' | 'result'>;
  /**
   * A run of `job` of `tenant` starts (cairn_runs_running goes up); feed and finish it through
   * the handles.
   */
  startRun(job: string, tenant: string): RunMetrics;
  /**
   * Where the tenant gauges come from: called at each scrape (the catalog's last measurements).
   * Until it is set, the gauges have no series.
   */
  watchTenants(source: () => Promise<readonly TenantFigures[]>): void;
  /** The text exposition of every metric in the registry. */
  render(): Promise<string>;
}

/** Creates a Registry holding Cairn's metric families; see docs/architecture.md for the list. */
export function createMetrics(options: MetricsOptions = {}): CairnMetrics {
  const { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } = promClient();
  const registry = new Registry();
  const registers = [registry];
  const now = options.now ?? (() => performance.now());
  const clock = options.clock ?? (() => Date.now());
  if (options.defaultMetrics !== false) collectDefaultMetrics({ register: registry });

  const backupBytesRead = new Counter({
    name: 'cairn_backup_bytes_read_total',
    help: 'Bytes read from the sources by backups',
    labelNames: ['tenant', 'job'] as const,
    registers,
  });
  const backupBytesWritten = new Counter({
    name: 'cairn_backup_bytes_written_total',
    help: 'Bytes written to the repository by backups (packs and index files)',
    labelNames: ['tenant', 'job'] as const,
    registers,
  });
  const backupFiles = new Counter({
    name: 'cairn_backup_files_total',
    help: 'Files backed up (read or found unchanged)',
    labelNames: ['tenant', 'job'] as const,
    registers,
  });
  const runs = new Counter({
    name: 'cairn_runs_total',
    help: 'Finished runs by job and result',
    labelNames: ['tenant', 'job', 'result'] as const,
    registers,
  });
  const runDuration = new Histogram({
    name: 'cairn_run_duration_seconds',
    help: 'Duration of finished runs',
    labelNames: ['tenant', 'job'] as const,
    buckets: [...(options.durationBuckets ?? RUN_DURATION_BUCKETS)],
    registers,
  });
  const runsRunning = new Gauge({
    name: 'cairn_runs_running',
    help: 'Runs in progress',
    registers,
  });
  const lastRunTimestamp = new Gauge({
    name: 'cairn_last_run_timestamp_seconds',
    help: 'When the last run of a job with this result ended (Unix time)',
    labelNames: ['tenant', 'job', 'result'] as const,
    registers,
  });

  let tenants: (() => Promise<readonly TenantFigures[]>) | undefined;
  const tenantGauge = (name: string, help: string, pick: (t: TenantFigures) => number | null) =>
    new Gauge({
      name,
      help,
      labelNames: ['tenant'] as const,
      registers,
      async collect(this: Gauge<'tenant'>) {
        // A tenant deleted, or a quota lifted, since the last scrape must not linger.
        this.reset();
        if (tenants === undefined) return;
        for (const t of await tenants()) {
          const v = pick(t);
          if (v !== null) this.set({ tenant: t.tenant }, v);
        }
      },
    });
  tenantGauge(
    'cairn_tenant_usage_bytes',
    "Bytes a tenant's repositories store (after deduplication and compression), as last measured",
    (t) => t.usageBytes,
  );
  tenantGauge(
    'cairn_tenant_quota_bytes',
    "A tenant's quota in bytes (tenants without one have no series)",
    (t) => t.quotaBytes,
  );

  const host = options.host;
  const hostGauge = (
    name: string,
    help: string,
    label: 'device' | 'interface',
    rates: (h: HostSampler) => Iterable<[string, number]>,
  ) =>
    new Gauge({
      name,
      help,
      labelNames: [label],
      registers,
      collect(this: Gauge) {
        // Devices that went away since the last scrape must not linger.
        this.reset();
        if (host === undefined) return;
        for (const [key, rate] of rates(host)) this.set({ [label]: key }, rate);
      },
    });
  const perDisk = (pick: 'read' | 'written') => (h: HostSampler) =>
    [...h.diskRates()].map(([k, r]): [string, number] => [k, r[pick].rate]);
  const perNet = (pick: 'receive' | 'transmit') => (h: HostSampler) =>
    [...h.netRates()].map(([k, r]): [string, number] => [k, r[pick].rate]);
  hostGauge(
    'cairn_host_disk_read_bytes_per_second',
    'Bytes read per second from a block device over the last sampling interval',
    'device',
    perDisk('read'),
  );
  hostGauge(
    'cairn_host_disk_written_bytes_per_second',
    'Bytes written per second to a block device over the last sampling interval',
    'device',
    perDisk('written'),
  );
  hostGauge(
    'cairn_host_network_receive_bytes_per_second',
    'Bytes received per second on a network interface over the last sampling interval',
    'interface',
    perNet('receive'),
  );
  hostGauge(
    'cairn_host_network_transmit_bytes_per_second',
    'Bytes transmitted per second on a network interface over the last sampling interval',
    'interface',
    perNet('transmit'),
  );

  const startRun = (job: string, tenant: string): RunMetrics => {
    const started = now();
    const seen = { bytesRead: 0, bytesWritten: 0, files: 0 };
    let finished = false;
    runsRunning.inc();
    const grow = (counter: Counter<'tenant' | 'job'>, key: keyof typeof seen, value: number | undefined) => {
      if (value === undefined || !Number.isFinite(value) || value <= seen[key]) return;
      counter.inc({ tenant, job }, value - seen[key]);
      seen[key] = value;
    };
    return {
      progress(counts) {
        if (finished) return;
        grow(backupBytesRead, 'bytesRead', counts.bytesRead);
        grow(backupBytesWritten, 'bytesWritten', counts.bytesWritten);
        grow(backupFiles, 'files', counts.files);
      },
      finish(result) {
        if (finished) return;
        finished = true;
        runsRunning.dec();
        runs.inc({ tenant, job, result });
        runDuration.observe({ tenant, job }, Math.max(0, now() - started) / 1000);
        lastRunTimestamp.set({ tenant, job, result }, clock() / 1000);
      },
    };
  };

  return {
    registry,
    contentType: registry.contentType,
    backupBytesRead,
    backupBytesWritten,
    backupFiles,
    runs,
    runDuration,
    runsRunning,
    lastRunTimestamp,
    startRun,
    watchTenants(source) {
      tenants = source;
    },
    render: () => registry.metrics(),
  };
}
