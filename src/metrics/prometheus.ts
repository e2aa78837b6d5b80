/**
 * Cairn's Prometheus metrics: one Registry per server (never prom-client's global one, so two
 * servers in one process, or tests, do not share counters), the metric families below, the
 * process's default metrics, and the text exposition.
 *
 * Every series of a tenant's job, run, repository or storage carries the `tenant` label (the
 * tenant's name): job and repository names are unique only within a tenant. The exposition names
 * every tenant's jobs and sizes, so the server shows it to the system administrator only.
 *
 * Two kinds of series: those this server counts as it runs (bytes backed up, finished runs,
 * takeovers; they start from zero at each start), and those read from the catalog at each scrape
 * (storage, runs by state, the queue, last successes, overdue jobs; the same on every server
 * sharing the catalog).
 */
import { createRequire } from 'node:module';
import type * as PromClient from 'prom-client';
import type { Counter, Gauge, Histogram, Metric, Registry } from 'prom-client';
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

/** One tenant's figures from the catalog, for the cairn_tenant_* gauges, cairn_runs and the queue. */
export interface TenantFigures {
  readonly tenant: string;
  /** null: not measured yet (no series). */
  readonly usageBytes: number | null;
  /** null: no quota (no series). */
  readonly quotaBytes: number | null;
  /** Stored bytes only restore points in its recycle bins need (outside the quota); null: no series. */
  readonly recycledBytes?: number | null;
  /** Runs the catalog holds by state; states left out count 0. */
  readonly runs?: Readonly<Record<string, number>>;
  /** Queued runs whose time has come: waiting for a slot or a limit. */
  readonly queueDepth?: number;
}

/** One repository's stored size, for cairn_repository_stored_bytes. */
export interface RepositoryFigures {
  readonly tenant: string;
  readonly repository: string;
  /** null: not measured yet (no series). */
  readonly storedBytes: number | null;
}

/** One job's last success and whether it is overdue (docs/server.md, "Missed backups"). */
export interface JobFigures {
  readonly tenant: string;
  readonly job: string;
  /** When its last successful run ended, in Unix seconds; null: none (no series). */
  readonly lastSuccessSeconds: number | null;
  /** null: the job has no schedule or is disabled (no series). */
  readonly overdue: boolean | null;
}

/** What the server reads from the catalog at each scrape (watchCatalog). */
export interface CatalogFigures {
  readonly tenants: readonly TenantFigures[];
  readonly repositories?: readonly RepositoryFigures[];
  readonly jobs?: readonly JobFigures[];
}

/** The states cairn_runs always has a series for, per tenant (0 when none). */
export const RUN_STATES: readonly string[] = [
  'queued',
  'running',
  'success',
  'warning',
  'failed',
  'canceled',
];

/** Default metrics of prom-client left out: gauges named `_total`, which promtool refuses. */
const DROPPED_DEFAULTS = new Set([
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
]);

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
  readonly runsRunning: Gauge<'tenant'>;
  readonly lastRunTimestamp: Gauge<'tenant' | 'job' | 'result'>;
  readonly runTakeovers: Counter<'tenant'>;
  /**
   * A run of `job` of `tenant` starts (cairn_runs_running goes up); feed and finish it through
   * the handles.
   */
  startRun(job: string, tenant: string): RunMetrics;
  /**
   * A run of a tenant was taken over from a server whose lease on it lapsed (the runner's
   * `takeover` event): cairn_run_takeovers_total grows.
   */
  takeover(tenant: string): void;
  /**
   * Where the catalog's gauges come from: called once at each render() (the catalog's last
   * measurements, runs, jobs). Until it is set, those gauges have no series; when it fails, they
   * have none and cairn_catalog_up is 0.
   */
  watchCatalog(source: () => Promise<CatalogFigures>): void;
  /** The text exposition of every metric in the registry (reads the catalog source first). */
  render(): Promise<string>;
}

/** Creates a Registry holding Cairn's metric families; see docs/architecture.md for the list. */
export function createMetrics(options: MetricsOptions = {}): CairnMetrics {
  const { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } = promClient();
  const registry = new Registry();
  const registers = [registry];
  const now = options.now ?? (() => performance.now());
  const clock = options.clock ?? (() => Date.now());
  if (options.defaultMetrics !== false) {
    // Collected into a scratch registry and moved over but for the gauges promtool refuses (their
    // per-type siblings, e.g. nodejs_active_handles{type}, sum to the same).
    const scratch = new Registry();
    collectDefaultMetrics({ register: scratch });
    // The array holds the metrics themselves (typed as their descriptions).
    for (const metric of scratch.getMetricsAsArray() as unknown as Metric[]) {
      if (!DROPPED_DEFAULTS.has((metric as unknown as { name: string }).name))
        registry.registerMetric(metric);
    }
  }

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
    help: 'Runs in progress on this server',
    labelNames: ['tenant'] as const,
    registers,
  });
  const lastRunTimestamp = new Gauge({
    name: 'cairn_last_run_timestamp_seconds',
    help: 'When the last run of a job with this result ended (Unix time)',
    labelNames: ['tenant', 'job', 'result'] as const,
    registers,
  });

  const runTakeovers = new Counter({
    name: 'cairn_run_takeovers_total',
    help: 'Runs this server took over from a server whose lease on them lapsed',
    labelNames: ['tenant'] as const,
    registers,
  });

  // The catalog's figures, read once per render() and shared by the gauges below.
  let source: (() => Promise<CatalogFigures>) | undefined;
  let figures: CatalogFigures | undefined;
  new Gauge({
    name: 'cairn_catalog_up',
    help: "1 when this scrape read the catalog's figures, else 0 (their series are then missing)",
    registers,
    collect(this: Gauge) {
      this.set(figures !== undefined ? 1 : 0);
    },
  });
  /** A gauge set from the figures at each scrape: what is gone since the last one does not linger. */
  const catalogGauge = <L extends string>(
    name: string,
    help: string,
    labelNames: readonly L[],
    each: (f: CatalogFigures, set: (labels: Record<L, string>, value: number | null) => void) => void,
  ) =>
    new Gauge<L>({
      name,
      help,
      labelNames,
      registers,
      collect(this: Gauge<L>) {
        this.reset();
        if (figures === undefined) return;
        each(figures, (labels, value) => {
          if (value !== null && Number.isFinite(value)) this.set(labels as never, value);
        });
      },
    });
  catalogGauge(
    'cairn_tenant_usage_bytes',
    "Bytes a tenant's repositories store (after deduplication and compression, without the recycle bins), as last measured",
    ['tenant'],
    (f, set) => f.tenants.forEach((t) => set({ tenant: t.tenant }, t.usageBytes)),
  );
  catalogGauge(
    'cairn_tenant_quota_bytes',
    "A tenant's quota in bytes (tenants without one have no series)",
    ['tenant'],
    (f, set) => f.tenants.forEach((t) => set({ tenant: t.tenant }, t.quotaBytes)),
  );
  catalogGauge(
    'cairn_tenant_recycled_bytes',
    "Bytes only the restore points in a tenant's recycle bins need (kept, outside the quota)",
    ['tenant'],
    (f, set) => f.tenants.forEach((t) => set({ tenant: t.tenant }, t.recycledBytes ?? null)),
  );
  catalogGauge(
    'cairn_runs',
    'Runs the catalog holds, by tenant and state (all servers sharing the catalog)',
    ['tenant', 'state'],
    (f, set) => {
      for (const t of f.tenants) {
        const states = new Set([...RUN_STATES, ...Object.keys(t.runs ?? {})]);
        for (const state of states) set({ tenant: t.tenant, state }, t.runs?.[state] ?? 0);
      }
    },
  );
  catalogGauge(
    'cairn_queue_depth',
    'Queued runs of a tenant whose time has come: waiting for a free slot or for a limit',
    ['tenant'],
    (f, set) => f.tenants.forEach((t) => set({ tenant: t.tenant }, t.queueDepth ?? 0)),
  );
  catalogGauge(
    'cairn_repository_stored_bytes',
    'Bytes a repository stores (its files, after deduplication and compression), as last measured',
    ['tenant', 'repository'],
    (f, set) =>
      (f.repositories ?? []).forEach((r) =>
        set({ tenant: r.tenant, repository: r.repository }, r.storedBytes),
      ),
  );
  catalogGauge(
    'cairn_job_last_success_timestamp_seconds',
    'When the last successful run (success or warning) of a job ended (Unix time); none yet: no series',
    ['tenant', 'job'],
    (f, set) => (f.jobs ?? []).forEach((j) => set({ tenant: j.tenant, job: j.job }, j.lastSuccessSeconds)),
  );
  catalogGauge(
    'cairn_job_overdue',
    '1 when a scheduled job has had no successful run within its expected interval (docs/server.md), else 0',
    ['tenant', 'job'],
    (f, set) =>
      (f.jobs ?? []).forEach((j) =>
        set({ tenant: j.tenant, job: j.job }, j.overdue === null ? null : j.overdue ? 1 : 0),
      ),
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
    runsRunning.inc({ tenant });
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
        runsRunning.dec({ tenant });
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
    runTakeovers,
    startRun,
    takeover(tenant) {
      runTakeovers.inc({ tenant });
    },
    watchCatalog(s) {
      source = s;
    },
    async render() {
      try {
        figures = source === undefined ? undefined : await source();
      } catch {
        figures = undefined;
      }
      return registry.metrics();
    },
  };
}
