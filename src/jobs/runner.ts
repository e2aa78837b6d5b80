/**
 * The job runner: takes queued runs from the catalog (so several servers on one PostgreSQL share
 * the queue), runs them — backups with their retention, restores — and records state, log,
 * statistics and live progress. States: queued → running → success | warning | failed | canceled.
 *
 * Cancelling aborts the repository operation through its AbortSignal: a backup that stops writes no
 * snapshot, so the repository stays consistent (packs already written are only unused until the
 * next prune). A failed run is queued again after a backoff while the job's retries last.
 *
 * Leases: a server holds its runs by a heartbeat in the catalog (`servers.seen_at`, by the
 * database's clock), renewed every third of its lease (30 s by default). A run whose server's
 * lease expired — the server died, hangs or lost the database — is taken over by any live server
 * at its next look at the queue (and at the moment the lease ends, when it knows of it): failed,
 * or canceled if a cancel was asked for, with "server X stopped answering at T" in its message;
 * the job's retry policy may queue its next attempt; the run's repository locks are removed. A
 * server that cannot renew its lease for a whole lease period stops its runs itself, and one
 * whose run was taken over records nothing of it: the catalog has the one word on a run. A server
 * that stops cleanly cancels its runs, queues the next attempt of those whose job has retries
 * left, and removes its record.
 */
import { randomBytes } from 'node:crypto';
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
import { removeRunLocks } from './repos.ts';
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
  /**
   * This server took over a run whose server's lease expired: `server` is the server that held it
   * and stopped answering.
   */
  takeover: [t: { runId: string; tenantId: string; jobName: string; server: string }];
}

/** How long a heartbeat holds a server's runs, by default; renewed every third of it. */
export const DEFAULT_LEASE_MS = 30_000;

/** What the metrics exposition learns from the runner: one handle per run (see metrics/). */
export type RunObserver = (job: string, tenant: string) => RunMetrics;

export interface RunnerOptions {
  /** This server's id in the catalog (default HOST:PID:RANDOM, new at each start). */
  readonly workerId?: string;
  /**
   * How long a heartbeat holds this server's runs (default 30 s): another server takes a run over
   * once the lease ended without a heartbeat. Renewed every third of it.
   */
  readonly leaseMs?: number;
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

/** Why the runs of a server that stops are aborted (they are handed back, see stop()). */
const SERVER_STOPPING = new CairnError('INTERRUPTED', 'the server is stopping');

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
  readonly #active = new Map<
    string,
    { abort: AbortController; live: Live; done: Promise<void>; ending: boolean; claimedAt: number }
  >();
  readonly #leaseMs: number;
  /** Ends of runs that could not be recorded (the catalog failed): recorded again at each heartbeat. */
  readonly #unrecorded = new Map<string, { state: RunState; message: string | null; stats: unknown }>();
  #heartbeat: NodeJS.Timeout | undefined;
  #fence: NodeJS.Timeout | undefined;
  #expiry: { timer: NodeJS.Timeout; at: number } | undefined;
  #renewing = false;
  #renewFailing = false;
  #registered = false;
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
    this.workerId = options.workerId ?? `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
    this.#leaseMs = options.leaseMs ?? DEFAULT_LEASE_MS;
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

  get leaseMs(): number {
    return this.#leaseMs;
  }

  async start(): Promise<void> {
    const renewStarted = performance.now();
    await this.#register();
    this.#armFence(renewStarted);
    this.#heartbeat = setInterval(() => void this.#renew(), Math.max(50, Math.floor(this.#leaseMs / 3)));
    this.#heartbeat.unref();
    this.#timer = setInterval(() => this.poke(), this.#pollMs);
    this.#timer.unref();
    this.poke();
  }

  async #register(): Promise<void> {
    await this.#catalog.registerServer({
      id: this.workerId,
      host: hostname(),
      pid: process.pid,
      leaseMs: this.#leaseMs,
    });
    this.#registered = true;
  }

  /**
   * Stops every run when the lease could not be renewed for a whole lease period, counted from
   * the start of the last renewal that succeeded: by then another server may take them over.
   */
  #armFence(renewStarted: number): void {
    if (this.#fence) clearTimeout(this.#fence);
    const left = Math.max(0, this.#leaseMs - (performance.now() - renewStarted));
    this.#fence = setTimeout(() => {
      const seconds = this.#leaseMs / 1000;
      for (const a of this.#active.values())
        if (!a.abort.signal.aborted)
          a.abort.abort(
            new CairnError(
              'CATALOG_UNAVAILABLE',
              `this server could not renew its lease in the catalog for ${seconds} s, so another server may take its runs over`,
            ),
          );
    }, left);
    this.#fence.unref();
  }

  /**
   * The heartbeat: renews this server's lease, stops runs the catalog no longer gives it (taken
   * over while its lease had expired), and ends runs the catalog says it holds but it no longer
   * runs (their end could not be recorded).
   */
  async #renew(): Promise<void> {
    if (this.#renewing) return;
    this.#renewing = true;
    const started = performance.now();
    const wallStarted = Date.now();
    try {
      if (!(await this.#catalog.renewServer(this.workerId))) {
        if (this.#registered)
          process.stderr.write(
            `cairn server: this server's lease had expired and its record was removed: registering again as ${this.workerId}\n`,
          );
        await this.#register();
      }
      this.#armFence(started);
      if (this.#renewFailing) process.stderr.write('cairn server: the lease is renewed again\n');
      this.#renewFailing = false;
      const held = await this.#catalog.heldRuns(this.workerId);
      const heldIds = new Set(held.map((r) => r.id));
      for (const [id, a] of this.#active) {
        if (heldIds.has(id) || a.ending || a.claimedAt > started) continue;
        a.abort.abort(
          new CairnError('INTERRUPTED', "another server took the run over: this server's lease had expired"),
        );
      }
      for (const id of this.#unrecorded.keys()) if (!heldIds.has(id)) this.#unrecorded.delete(id);
      for (const r of held) {
        // A run claimed just now may be in the catalog before it is among the active ones.
        if (this.#active.has(r.id) || !(Date.parse(r.started_at ?? '') < wallStarted - 2000)) continue;
        const end = this.#unrecorded.get(r.id) ?? {
          state: r.cancel_requested === 1 ? 'canceled' : 'failed',
          message: `server ${this.workerId} no longer runs this run [INTERRUPTED]`,
          stats: undefined,
        };
        await this.#catalog.finishRun(r.id, end.state, end.message, {
          worker: this.workerId,
          ...(end.stats !== undefined ? { stats: end.stats } : {}),
        });
        this.#unrecorded.delete(r.id);
      }
    } catch (err) {
      if (!this.#renewFailing)
        process.stderr.write(
          `cairn server: cannot renew this server's lease in the catalog: ${reason(err)}\n`,
        );
      this.#renewFailing = true;
    } finally {
      this.#renewing = false;
    }
  }

  /** Looks again for expired leases when the next one known ends. */
  #lookAt(inMs: number): void {
    const at = performance.now() + inMs + 25;
    if (this.#expiry && this.#expiry.at <= at) return;
    if (this.#expiry) clearTimeout(this.#expiry.timer);
    const timer = setTimeout(() => {
      this.#expiry = undefined;
      this.poke();
    }, at - performance.now());
    timer.unref();
    this.#expiry = { timer, at };
  }

  /** Takes over the runs of servers whose lease expired. */
  async #takeOver(): Promise<void> {
    const { taken, nextExpiryMs } = await this.#catalog.takeOverExpiredRuns(this.workerId, (run, job) => {
      try {
        return this.#retryTime(run, JSON.parse(job.spec) as JobSpec);
      } catch {
        return undefined;
      }
    });
    if (nextExpiryMs !== undefined) this.#lookAt(nextExpiryMs);
    for (const t of taken) {
      process.stderr.write(`cairn server: took over run ${t.run.id} (${t.run.job_name}): ${t.message}\n`);
      this.emit('log', {
        runId: t.run.id,
        tenantId: t.run.tenant_id,
        level: t.state === 'canceled' ? 'warning' : 'error',
        message: t.message,
        at: new Date().toISOString(),
      });
      this.emit('takeover', {
        runId: t.run.id,
        tenantId: t.run.tenant_id,
        jobName: t.run.job_name,
        server: t.server,
      });
      this.emit('state', { id: t.run.id, tenantId: t.run.tenant_id, state: t.state });
      void this.#releaseLocks(t.run);
    }
  }

  /** Removes the repository locks a taken-over run left (its leftovers stay for prune). */
  async #releaseLocks(run: RunRow): Promise<void> {
    try {
      const repo = await this.#catalog.repository(run.tenant_id, run.repository_id);
      if (!repo) return;
      const removed = await removeRunLocks(refOf(repo, this.#tenancy), run.id);
      if (removed > 0)
        await this.#log(run, 'info', `removed ${removed} lock(s) the run left in repository ${repo.name}`);
    } catch (err) {
      await this.#log(run, 'warning', `cannot remove the locks the run left: ${reason(err)}`);
    }
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
    // First the runs of servers that stopped answering: their places become free for the claims.
    await this.#takeOver();
    while (!this.#stopping && this.#active.size < this.#slots) {
      const run = await this.#catalog.claimRun(this.workerId);
      if (!run) break;
      const abort = new AbortController();
      const live = new Live(run.id, newBackupProgress());
      const entry = { abort, live, done: Promise.resolve(), ending: false, claimedAt: performance.now() };
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

  /**
   * Stops taking runs and hands back those running: each is canceled, and a backup whose job has
   * retries left is queued again at once (for this server's next start or another server). The
   * lease is renewed until they have ended; then this server's record goes.
   */
  async stop(): Promise<void> {
    this.#stopping = true;
    if (this.#timer) clearInterval(this.#timer);
    if (this.#expiry) clearTimeout(this.#expiry.timer);
    for (const a of this.#active.values()) a.abort.abort(SERVER_STOPPING);
    await Promise.all([...this.#active.values()].map((a) => a.done));
    if (this.#heartbeat) clearInterval(this.#heartbeat);
    if (this.#fence) clearTimeout(this.#fence);
    if (this.#registered) {
      this.#registered = false;
      await this.#catalog
        .removeServer(this.workerId)
        .catch((err: unknown) =>
          process.stderr.write(
            `cairn server: cannot remove this server's record from the catalog: ${reason(err)}\n`,
          ),
        );
    }
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
        .runControl(run.id, this.workerId)
        .then((c) => {
          if (abort.signal.aborted) return;
          if (!c.held)
            abort.abort(
              new CairnError(
                'INTERRUPTED',
                "another server took the run over: this server's lease had expired",
              ),
            );
          else if (c.cancelRequested) abort.abort(new CairnError('INTERRUPTED', 'canceled by request'));
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
    const entry = this.#active.get(run.id);
    if (entry) entry.ending = true;
    let recorded: boolean;
    try {
      recorded = await this.#catalog.finishRun(run.id, state, message, { worker: this.workerId, stats });
    } catch (err) {
      // Recorded at the next heartbeat that reaches the catalog, while this server holds the run.
      this.#unrecorded.set(run.id, { state, message, stats });
      process.stderr.write(`cairn server: cannot record the end of run ${run.id}: ${reason(err)}\n`);
      recorded = true;
    }
    if (!recorded) {
      // Taken over by another server while this one's lease had expired: the catalog says how it
      // ended, and the job's next attempt, if any, is that server's.
      process.stderr.write(
        `cairn server: run ${run.id} was taken over by another server; its end here (${state}: ${message ?? ''}) is not recorded\n`,
      );
      metrics?.finish(state);
      return;
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
    if (
      state === 'canceled' &&
      abort.signal.reason === SERVER_STOPPING &&
      run.kind === 'backup' &&
      job &&
      spec
    )
      await this.#handBack(run, job, spec);
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

  /** When the next attempt after a failed `run` may start, or undefined when its retries are used up. */
  #retryTime(run: RunRow, spec: JobSpec): string | undefined {
    const retries = spec.limits?.retries ?? 0;
    if (run.attempt > retries) return undefined;
    const delay = (spec.limits?.retryDelaySeconds ?? 60) * 2 ** (run.attempt - 1);
    return new Date(Date.now() + delay * 1000).toISOString();
  }

  /** A run canceled because this server stops: queued again at once while the job has retries left. */
  async #handBack(run: RunRow, job: JobRow, spec: JobSpec): Promise<void> {
    if (this.#retryTime(run, spec) === undefined) return;
    await this.#retry(run, job, spec, new Date().toISOString());
  }

  async #retry(run: RunRow, job: JobRow, spec: JobSpec, at?: string): Promise<void> {
    const retries = spec.limits?.retries ?? 0;
    const notBefore = at ?? this.#retryTime(run, spec);
    if (notBefore === undefined) return;
    let next: RunRow;
    try {
      next = await this.#catalog.enqueueRun({
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
    } catch (err) {
      // A run of the job was started meanwhile: it is the next attempt.
      await this.#log(run, 'info', `not retried: ${reason(err)}`);
      return;
    }
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
