/**
 * The job runner: takes queued runs from the catalog (so several servers on one PostgreSQL share
 * the queue), runs them — backups with their retention, restores — and records state, log,
 * statistics and live progress. States: queued → running → success | warning | failed | canceled.
 *
 * Cancelling aborts the repository operation through its AbortSignal: a backup that stops writes no
 * snapshot, so the repository stays consistent (packs already written are only unused until the
 * next prune). A failed run is queued again after a backoff while the job's retries last.
 */
import { EventEmitter } from 'node:events';
import { hostname } from 'node:os';
import type { Catalog, JobRow, RepositoryRow, RunRow, RunState, TenantRow } from '../catalog/index.ts';
import { Worker } from 'node:worker_threads';
import { CairnError, ERRORS, isCairnError, reason, type ErrorCode } from '../errors.ts';
import { newBackupProgress, type BackupProgress } from '../repo/index.ts';
import { RateTracker, type RunMetrics } from '../metrics/index.ts';
import { BandwidthBook, rateText, type BandwidthTask } from './bandwidth.ts';
import { runHooks, type HookEvent } from './hooks.ts';
import type { FromWorker, ToWorker } from './run-worker.ts';
import type { PluginSettings } from './plugins.ts';
import { measureRepository, QUOTA_WARNING, QuotaBook, sizeText, type QuotaTask } from './quota.ts';
import type { JobSpec } from './spec.ts';
import {
  checkConfinedSpec,
  confinementOf,
  confinePath,
  refOf,
  resolveScripts,
  type Tenancy,
} from './tenancy.ts';
import { binOf, recordRecycle, recycleTaskFor } from './recycle.ts';
import { requireVolume } from './volume.ts';
import { runWork, type BackupRunParams, type RestoreParams, type WorkIO, type WorkTask } from './work.ts';

export { jobTag, type BackupRunParams, type RestoreParams } from './work.ts';

const workerUrl = new URL(`./run-worker${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url);

/** One sample of a run's cumulative counters, with the rate over the interval before it. */
export interface ThroughputSample {
  /** Seconds since the run started. */
  readonly t: number;
  readonly bytes: number;
  readonly files: number;
  /** Bytes per second over the interval since the previous sample: Δbytes / Δt. */
  readonly rate: number;
}

export interface LiveProgress {
  readonly runId: string;
  readonly phase: string;
  readonly files: number;
  readonly bytes: number;
  readonly currentFile: string;
  readonly rate: number;
  readonly elapsedSeconds: number;
  readonly samples: readonly ThroughputSample[];
}

export interface RunnerEvents {
  state: [run: { id: string; tenantId: string; state: RunState | 'running' }];
  progress: [p: LiveProgress & { tenantId: string }];
  log: [entry: { runId: string; tenantId: string; level: string; message: string; at: string }];
}

/** What the metrics exposition learns from the runner: one handle per run (see metrics/). */
export type RunObserver = (job: string, tenant: string) => RunMetrics;

export interface RunnerOptions {
  readonly workerId?: string;
  /** Runs at once on this server (default 2). */
  readonly slots?: number;
  readonly pollMs?: number;
  readonly sampleMs?: number;
  readonly observer?: RunObserver;
  /** Host name recorded in snapshots (default: this machine's). */
  readonly host?: string;
  /** Run each run's work in a worker thread, so the API stays responsive (default true). */
  readonly isolate?: boolean;
  /** The server's plugin directory and names, for jobs with directives and for restores. */
  readonly plugins?: PluginSettings;
  /** The server key and data directory: tenant repositories' keys, tenants' limits at run time. */
  readonly tenancy?: Tenancy;
}

const MAX_SAMPLES = 900;

class Live {
  phase = 'starting';
  readonly started = performance.now();
  readonly runId: string;
  readonly counters: BackupProgress;
  readonly #rates = new RateTracker(MAX_SAMPLES);
  readonly #files: number[] = [];

  constructor(runId: string, counters: BackupProgress) {
    this.runId = runId;
    this.counters = counters;
    this.#rates.sample(0, this.started);
  }

  /** Samples the cumulative byte counter; the rate is Δbytes / Δt since the previous sample. */
  sample(): void {
    if (this.#rates.sample(this.counters.bytesDone) !== undefined) {
      this.#files.push(this.counters.filesDone);
      if (this.#files.length > MAX_SAMPLES) this.#files.shift();
    }
  }

  get samples(): ThroughputSample[] {
    const series = this.#rates.series();
    const files = this.#files.slice(-series.length);
    return series.map((x, i) => ({
      t: Math.round(x.t - this.started) / 1000,
      bytes: x.value,
      files: files[i] ?? 0,
      rate: Math.round(x.rate),
    }));
  }

  view(): LiveProgress {
    return {
      runId: this.runId,
      phase: this.phase,
      files: this.counters.filesDone,
      bytes: this.counters.bytesDone,
      currentFile: this.counters.currentFile,
      rate: Math.round(this.#rates.rate),
      elapsedSeconds: (performance.now() - this.started) / 1000,
      samples: this.samples,
    };
  }
}

export class Runner extends EventEmitter<RunnerEvents> {
  readonly workerId: string;
  readonly #catalog: Catalog;
  readonly #slots: number;
  readonly #pollMs: number;
  readonly #sampleMs: number;
  readonly #observer: RunObserver | undefined;
  readonly #host: string;
  readonly #isolate: boolean;
  readonly #plugins: PluginSettings | undefined;
  readonly #tenancy: Tenancy | undefined;
  readonly #active = new Map<string, { abort: AbortController; live: Live; done: Promise<void> }>();
  readonly #quotas: QuotaBook;
  readonly #bandwidth = new BandwidthBook();
  #timer: NodeJS.Timeout | undefined;
  /**
   * Log lines are written one after another: each takes the next number of its run in a
   * transaction, and two at once under PostgreSQL's read committed took the same one (the second
   * was lost with "duplicate key run_logs_pk").
   */
  #logTail: Promise<void> = Promise.resolve();
  #stopping = false;
  #polling = false;
  /** Asked to look again while looking (a run ended meanwhile): look once more right after. */
  #again = false;

  constructor(catalog: Catalog, options: RunnerOptions = {}) {
    super();
    this.#catalog = catalog;
    this.workerId = options.workerId ?? `${hostname()}:${process.pid}`;
    this.#slots = options.slots ?? 2;
    this.#pollMs = options.pollMs ?? 1000;
    this.#sampleMs = options.sampleMs ?? 1000;
    this.#observer = options.observer;
    this.#host = options.host ?? hostname();
    this.#isolate = options.isolate ?? true;
    this.#plugins = options.plugins;
    this.#tenancy = options.tenancy;
    this.#quotas = new QuotaBook(catalog);
  }

  async start(): Promise<void> {
    const orphans = await this.#catalog.failOrphanedRuns(this.workerId);
    if (orphans > 0)
      process.stderr.write(`cairn server: ${orphans} run(s) interrupted by the last stop marked failed\n`);
    this.#timer = setInterval(() => this.poke(), this.#pollMs);
    this.#timer.unref();
    this.poke();
  }

  /** Looks for work now (after a run is queued) instead of at the next poll. */
  poke(): void {
    if (this.#stopping) return;
    if (this.#polling) {
      this.#again = true;
      return;
    }
    this.#polling = true;
    this.#again = false;
    void this.#fill()
      .catch((err: unknown) =>
        process.stderr.write(`cairn server: cannot take runs from the catalog: ${reason(err)}\n`),
      )
      .finally(() => {
        this.#polling = false;
        if (this.#again) this.poke();
      });
  }

  async #fill(): Promise<void> {
    while (!this.#stopping && this.#active.size < this.#slots) {
      const run = await this.#catalog.claimRun(this.workerId);
      if (!run) break;
      const abort = new AbortController();
      const live = new Live(run.id, newBackupProgress());
      const entry = { abort, live, done: Promise.resolve() };
      this.#active.set(run.id, entry);
      entry.done = this.#execute(run, abort, live).finally(() => {
        this.#active.delete(run.id);
        this.poke();
      });
    }
    if (this.#stopping) return;
    // Runs held back by their tenant's or repository's limit say so, once, in their log.
    for (const w of await this.#catalog.noteWaiting()) await this.#log(w.run, 'info', w.reason);
    await this.#bandwidth.refresh(this.#catalog);
  }

  /** Live progress of a run this server is running. */
  live(runId: string): LiveProgress | undefined {
    return this.#active.get(runId)?.live.view();
  }

  /** Stops a run this server is running (the catalog's cancel flag reaches other servers). */
  cancel(runId: string): boolean {
    const a = this.#active.get(runId);
    if (!a) return false;
    a.abort.abort(new CairnError('INTERRUPTED', 'canceled by request'));
    return true;
  }

  get running(): number {
    return this.#active.size;
  }

  /** Stops taking runs and cancels those running; their state becomes canceled. */
  async stop(): Promise<void> {
    this.#stopping = true;
    if (this.#timer) clearInterval(this.#timer);
    for (const a of this.#active.values())
      a.abort.abort(new CairnError('INTERRUPTED', 'the server is stopping'));
    await Promise.all([...this.#active.values()].map((a) => a.done));
  }

  async #log(run: RunRow, level: 'info' | 'warning' | 'error', message: string): Promise<void> {
    const at = new Date().toISOString();
    const written = this.#logTail.then(() => this.#catalog.appendLog(run.id, level, message));
    this.#logTail = written.catch(() => undefined);
    try {
      await written;
    } catch (err) {
      process.stderr.write(`cairn server: cannot write the log of run ${run.id}: ${reason(err)}\n`);
    }
    this.emit('log', { runId: run.id, tenantId: run.tenant_id, level, message, at });
  }

  async #execute(run: RunRow, abort: AbortController, live: Live): Promise<void> {
    this.emit('state', { id: run.id, tenantId: run.tenant_id, state: 'running' });
    const started = performance.now();
    let jobName = run.job_name;
    const stats: Record<string, unknown> = {};
    let warnings = 0;
    let state: RunState = 'success';
    let message: string | null = null;
    let spec: JobSpec | undefined;
    let job: JobRow | undefined;
    let repoRow: RepositoryRow | undefined;
    let tenant: TenantRow | undefined;
    let quota: QuotaTask | undefined;
    let joined = false;
    let bandwidth: BandwidthTask | undefined;
    let errorCode: string | undefined;
    // Cancellation requested through the catalog (perhaps by another server) and the time limit.
    let timeout: NodeJS.Timeout | undefined;
    let metrics: RunMetrics | undefined;
    const watcher = setInterval(() => {
      live.sample();
      metrics?.progress({
        bytesRead: live.counters.bytesRead,
        bytesWritten: live.counters.bytesWritten,
        files: live.counters.filesDone,
      });
      this.emit('progress', { ...live.view(), tenantId: run.tenant_id });
      void this.#catalog
        .cancelRequested(run.id)
        .then((yes) => {
          if (yes && !abort.signal.aborted) abort.abort(new CairnError('INTERRUPTED', 'canceled by request'));
        })
        .catch(() => undefined);
    }, this.#sampleMs);
    watcher.unref();
    try {
      repoRow = await this.#catalog.repository(run.tenant_id, run.repository_id);
      if (!repoRow) throw new CairnError('NOT_FOUND', `the repository of this run no longer exists`);
      // A tenant whose storage is a volume of its own: nothing runs while it is not mounted.
      requireVolume(await this.#catalog.tenant(run.tenant_id));
      if (run.kind === 'backup') {
        job = run.job_id ? await this.#catalog.job(run.tenant_id, run.job_id) : undefined;
        if (!job) throw new CairnError('NOT_FOUND', `job ${run.job_name} no longer exists`);
        jobName = job.name;
        // Checked before anything of it runs: a job a tenant user saved must still keep within
        // the tenant's limits (a symlink may have changed since), and named scripts become the
        // commands the system administrator defined. Until then no hook of it runs either.
        spec = await this.#prepare(run, job, JSON.parse(job.spec) as JobSpec);
        if (spec.limits?.timeoutSeconds) {
          const limit = spec.limits.timeoutSeconds;
          timeout = setTimeout(
            () => abort.abort(new CairnError('INTERRUPTED', `the run exceeded its time limit of ${limit} s`)),
            limit * 1000,
          );
          timeout.unref();
        }
      }
      tenant = await this.#catalog.tenant(run.tenant_id);
      metrics = this.#observer?.(jobName, tenant?.name ?? run.tenant_id);
      await this.#hooks(run, spec, 'start', { state: 'running' });
      if (run.kind !== 'backup' && run.kind !== 'restore')
        throw new CairnError('INTERNAL', `unknown run kind ${run.kind}`);
      const backupParams =
        run.kind === 'backup' ? (JSON.parse(run.params || '{}') as BackupRunParams) : undefined;
      const task: WorkTask = {
        kind: run.kind,
        jobName,
        runId: run.id,
        ...(spec ? { spec } : {}),
        ...(run.kind === 'restore'
          ? { params: await this.#checkRestore(run, JSON.parse(run.params) as RestoreParams) }
          : {}),
        ...(backupParams?.level ? { level: backupParams.level } : {}),
        repo: refOf(repoRow, this.#tenancy),
        host: this.#host,
        ...(this.#plugins ? { plugins: this.#plugins } : {}),
      };
      if (run.kind === 'backup' && tenant) {
        joined = true;
        const q = await this.#quotas.join(tenant, repoRow);
        quota = q.task;
        if (q.measured) await this.#quotaWarning(run, q.measured);
        if (quota)
          await this.#log(
            run,
            'info',
            `tenant ${quota.tenant}: ${sizeText(quota.usageBytes)} stored of a quota of ${sizeText(quota.quotaBytes)}`,
          );
      }
      if (run.kind === 'backup' && tenant) {
        bandwidth = this.#bandwidth.join(tenant);
        if (tenant.bandwidth_bytes_per_second !== null)
          await this.#log(
            run,
            'info',
            `tenant ${tenant.name}: its runs write at most ${rateText(tenant.bandwidth_bytes_per_second)} to its repositories, together`,
          );
      }
      const recycle =
        run.kind === 'backup'
          ? await recycleTaskFor(this.#catalog, tenant, repoRow)
          : run.kind === 'restore' && task.params?.confined
            ? { protectionDays: 0, bin: [...(await binOf(this.#catalog, repoRow.id))], expired: [] }
            : undefined;
      const work: WorkTask = {
        ...task,
        ...(quota ? { quota } : {}),
        ...(bandwidth ? { bandwidth } : {}),
        ...(recycle ? { recycle } : {}),
      };
      warnings = await this.#work(run, work, abort, live, stats);
      if (warnings > 0) state = 'warning';
      message = warnings > 0 ? `finished with ${warnings} warning(s)` : 'finished';
    } catch (err) {
      const aborted = abort.signal.aborted;
      const why: unknown = aborted ? abort.signal.reason : err;
      const timedOut = aborted && reason(why).includes('time limit');
      state = aborted && !timedOut ? 'canceled' : 'failed';
      message = isCairnError(why) ? `${why.message} [${why.code}]` : reason(why);
      errorCode = isCairnError(why) ? why.code : 'INTERNAL';
      stats.errorCode = errorCode;
      if (!isCairnError(err) && !aborted) {
        process.stderr.write(
          `cairn server: run ${run.id} failed unexpectedly: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
        );
      }
      await this.#log(run, state === 'canceled' ? 'warning' : 'error', message);
    } finally {
      clearInterval(watcher);
      if (timeout) clearTimeout(timeout);
    }
    if (repoRow && run.kind === 'backup' && (stats.recycled !== undefined || stats.purged !== undefined)) {
      // Recorded whatever became of the run: what retention hid must stay hidden, and kept.
      try {
        await recordRecycle(this.#catalog, repoRow, jobName, stats);
      } catch (err) {
        await this.#log(run, 'error', `cannot record the recycle bin of ${repoRow.name}: ${reason(err)}`);
      }
    }
    try {
      // A backup, its retention and prune change what the repository stores; a restore does not.
      if (repoRow && run.kind !== 'restore') {
        const fresh = await this.#catalog.repository(repoRow.tenant_id, repoRow.id);
        await this.#measure(run, fresh ?? repoRow);
      }
    } finally {
      if (joined) this.#quotas.leave(run.tenant_id);
      if (bandwidth) this.#bandwidth.leave(run.tenant_id);
    }
    live.sample();
    const seconds = (performance.now() - started) / 1000;
    stats.durationSeconds = Math.round(seconds * 1000) / 1000;
    stats.throughput = live.samples;
    try {
      await this.#catalog.updateRun(run.id, { stats });
      await this.#catalog.finishRun(run.id, state, message);
    } catch (err) {
      process.stderr.write(`cairn server: cannot record the end of run ${run.id}: ${reason(err)}\n`);
    }
    if (run.kind === 'backup') {
      metrics?.progress({
        bytesRead: live.counters.bytesRead,
        files: live.counters.filesDone,
        bytesWritten: live.counters.bytesWritten,
      });
    }
    metrics?.finish(state);
    await this.#hooks(run, spec, state === 'success' || state === 'warning' ? 'success' : 'failure', {
      state,
      message,
      stats,
      seconds,
    });
    await this.#hooks(run, spec, 'end', { state, message, stats, seconds });
    this.emit('state', { id: run.id, tenantId: run.tenant_id, state });
    if (state === 'failed' && run.kind === 'backup' && spec && job) {
      // The quota does not grow by waiting: another attempt would read everything again to fail.
      if (errorCode === 'QUOTA_EXCEEDED') {
        if ((spec.limits?.retries ?? 0) > 0)
          await this.#log(run, 'info', 'not retried: the tenant is out of quota');
      } else await this.#retry(run, job, spec);
    }
  }

  /** Measures the repository of a run, keeps its size and its tenant's usage, warns at 90 %. */
  async #measure(run: RunRow, repo: RepositoryRow): Promise<void> {
    try {
      const m = await measureRepository(this.#catalog, repo);
      await this.#log(
        run,
        'info',
        `repository ${m.repository} stores ${sizeText(m.storedBytes)}; tenant ${m.tenant} uses ${sizeText(m.usageBytes)}` +
          (m.quotaBytes !== null ? ` of its quota of ${sizeText(m.quotaBytes)}` : ''),
      );
      await this.#quotaWarning(run, m);
    } catch (err) {
      await this.#log(run, 'warning', `cannot measure what repository ${repo.name} stores: ${reason(err)}`);
    }
  }

  async #quotaWarning(
    run: RunRow,
    m: { crossedWarning: boolean; tenant: string; usageBytes: number; quotaBytes: number | null },
  ): Promise<void> {
    if (!m.crossedWarning || m.quotaBytes === null) return;
    const percent = Math.round((m.usageBytes / m.quotaBytes) * 1000) / 10;
    await this.#log(
      run,
      'warning',
      `tenant ${m.tenant} uses ${percent} % of its quota (${sizeText(m.usageBytes)} of ${sizeText(m.quotaBytes)}; warned from ${QUOTA_WARNING * 100} %)`,
    );
  }

  async #prepare(run: RunRow, job: JobRow, raw: JobSpec): Promise<JobSpec> {
    const tenancy = this.#tenancy;
    if (!tenancy) return raw;
    const tenant = await this.#catalog.tenant(run.tenant_id);
    if (!tenant) throw new CairnError('NOT_FOUND', `the tenant of job ${job.name} no longer exists`);
    if (job.confined === 1) {
      await checkConfinedSpec(this.#catalog, await confinementOf(this.#catalog, tenancy, run.tenant_id), raw);
    }
    return resolveScripts(this.#catalog, tenant, raw, job.confined === 1);
  }

  /** A restore a tenant user asked for: its target is checked again, symlinks resolved now. */
  async #checkRestore(run: RunRow, params: RestoreParams): Promise<RestoreParams> {
    if (!params.confined) return params;
    if (!this.#tenancy)
      throw new CairnError(
        'FORBIDDEN',
        "a tenant user's restore cannot be checked on a server without tenancy",
      );
    const c = await confinementOf(this.#catalog, this.#tenancy, run.tenant_id);
    return { ...params, target: confinePath(c, params.target, 'restore', 'target'), asFiles: true };
  }

  async #retry(run: RunRow, job: JobRow, spec: JobSpec): Promise<void> {
    const retries = spec.limits?.retries ?? 0;
    if (run.attempt > retries) return;
    const delay = (spec.limits?.retryDelaySeconds ?? 60) * 2 ** (run.attempt - 1);
    const notBefore = new Date(Date.now() + delay * 1000).toISOString();
    const next = await this.#catalog.enqueueRun({
      tenantId: run.tenant_id,
      jobId: job.id,
      jobName: job.name,
      repositoryId: run.repository_id,
      kind: 'backup',
      // A run started at another level is retried at that level.
      params: JSON.parse(run.params || '{}') as BackupRunParams,
      trigger: 'retry',
      attempt: run.attempt + 1,
      notBefore,
    });
    await this.#log(
      run,
      'info',
      `attempt ${run.attempt + 1} of ${retries + 1} queued as run ${next.id}, not before ${notBefore}`,
    );
  }

  async #hooks(
    run: RunRow,
    spec: JobSpec | undefined,
    event: HookEvent,
    facts: { state: string; message?: string | null; stats?: Record<string, unknown>; seconds?: number },
  ): Promise<void> {
    if (!spec?.hooks?.length) return;
    const tenant = await this.#catalog.tenant(run.tenant_id);
    const repo = await this.#catalog.repository(run.tenant_id, run.repository_id);
    const failures = await runHooks(spec.hooks, {
      event,
      runId: run.id,
      job: run.job_name,
      tenant: tenant?.name ?? run.tenant_id,
      repository: repo?.name ?? run.repository_id,
      state: facts.state,
      snapshotId: typeof facts.stats?.snapshotId === 'string' ? facts.stats.snapshotId : null,
      message: facts.message ?? null,
      bytesProcessed: Number(facts.stats?.bytesProcessed ?? 0),
      filesProcessed: Number(facts.stats?.filesProcessed ?? 0),
      durationSeconds: facts.seconds ?? 0,
    });
    for (const f of failures) await this.#log(run, 'warning', f);
  }

  /** Runs the work in a worker thread (or in this thread with `isolate: false`). */
  #work(
    run: RunRow,
    task: WorkTask,
    abort: AbortController,
    live: Live,
    stats: Record<string, unknown>,
  ): Promise<number> {
    const io: WorkIO = {
      signal: abort.signal,
      counters: live.counters,
      phase: (name) => {
        live.phase = name;
      },
      log: (level, message) => void this.#log(run, level, message),
      stats: (s, snapshotId) => {
        Object.assign(stats, s);
        void this.#catalog
          .updateRun(run.id, { stats, ...(snapshotId ? { snapshotId } : {}) })
          .catch((err: unknown) =>
            process.stderr.write(`cairn server: cannot record run ${run.id}: ${reason(err)}\n`),
          );
      },
    };
    // Cancelled while the start hooks ran: the work does not begin.
    if (abort.signal.aborted) {
      const why: unknown = abort.signal.reason;
      return Promise.reject(why instanceof Error ? why : new CairnError('INTERRUPTED', reason(why)));
    }
    if (!this.#isolate) return runWork(task, io, stats);
    return new Promise<number>((resolve, reject) => {
      const worker = new Worker(workerUrl, { workerData: task });
      let settled = false;
      const onAbort = () => {
        const why: unknown = abort.signal.reason;
        worker.postMessage({ t: 'cancel', message: reason(why) } satisfies ToWorker);
      };
      abort.signal.addEventListener('abort', onAbort, { once: true });
      const finish = (f: () => void) => {
        if (settled) return;
        settled = true;
        abort.signal.removeEventListener('abort', onAbort);
        f();
      };
      worker.on('message', (m: FromWorker) => {
        switch (m.t) {
          case 'log':
            io.log(m.level, m.message);
            break;
          case 'phase':
            io.phase(m.name);
            break;
          case 'stats':
            io.stats(m.stats, m.snapshotId);
            break;
          case 'progress':
            Object.assign(live.counters, m.counters);
            break;
          case 'done':
            Object.assign(stats, m.stats);
            finish(() => resolve(m.warnings));
            break;
          case 'failed':
            if (m.stack)
              process.stderr.write(`cairn server: run ${run.id} failed unexpectedly: ${m.stack}\n`);
            finish(() =>
              reject(
                m.code && m.code in ERRORS
                  ? new CairnError(m.code as ErrorCode, m.message)
                  : new Error(m.message),
              ),
            );
            break;
        }
      });
      worker.on('error', (err: Error) => finish(() => reject(err)));
      worker.on('exit', (code) =>
        finish(() =>
          reject(
            new CairnError('INTERNAL', `the run's worker thread stopped unexpectedly (exit code ${code})`),
          ),
        ),
      );
    });
  }
}
