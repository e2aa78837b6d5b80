/**
 * The scheduler: each enabled job with a cron schedule has its next run time in the catalog. When
 * that time has come, the scheduler moves it on (a compare-and-set, so that several servers sharing
 * the catalog fire a time once) and queues a run.
 *
 * After downtime a job whose time passed while the server was down follows its `missed` policy:
 * `run-once` (default) queues one run now, however many times were missed; `skip` only moves on.
 * A job that still has a run queued or running does not get a second one (Bareos' "allow
 * duplicate jobs = no"); the skip is logged on the run that is still going.
 */
import type { Catalog, JobRow } from '../catalog/index.ts';
import { isCairnError, reason } from '../errors.ts';
import { nextRunOf, type JobSpec } from './spec.ts';

export interface SchedulerOptions {
  readonly tickMs?: number;
  /** A time more than this late counts as missed (downtime), not merely late (default 60 s). */
  readonly graceMs?: number;
  readonly now?: () => Date;
  readonly onQueued?: () => void;
}

export class Scheduler {
  readonly #catalog: Catalog;
  readonly #tickMs: number;
  readonly #graceMs: number;
  readonly #now: () => Date;
  readonly #onQueued: () => void;
  #timer: NodeJS.Timeout | undefined;
  #busy = false;

  constructor(catalog: Catalog, options: SchedulerOptions = {}) {
    this.#catalog = catalog;
    this.#tickMs = options.tickMs ?? 1000;
    this.#graceMs = options.graceMs ?? 60_000;
    this.#now = options.now ?? (() => new Date());
    this.#onQueued = options.onQueued ?? (() => undefined);
  }

  start(): void {
    this.#timer = setInterval(() => void this.tick(), this.#tickMs);
    this.#timer.unref();
    void this.tick();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
  }

  /** One pass over the due jobs; returns the runs queued. */
  async tick(): Promise<number> {
    if (this.#busy) return 0;
    this.#busy = true;
    let queued = 0;
    try {
      const now = this.#now();
      for (const job of await this.#catalog.scheduledJobs()) {
        if (job.next_run_at === null || Date.parse(job.next_run_at) > now.getTime()) continue;
        try {
          if (await this.#fire(job, now)) queued++;
        } catch (err) {
          process.stderr.write(`cairn server: cannot schedule job ${job.name}: ${reason(err)}\n`);
        }
      }
    } finally {
      this.#busy = false;
    }
    if (queued > 0) this.#onQueued();
    return queued;
  }

  async #fire(job: JobRow, now: Date): Promise<boolean> {
    const spec = JSON.parse(job.spec) as JobSpec;
    const due = job.next_run_at ?? now.toISOString();
    const next = nextRunOf(spec.schedule, now)?.toISOString() ?? null;
    if (!(await this.#catalog.advanceSchedule(job.id, due, next))) return false; // another server fired it
    const missed = now.getTime() - Date.parse(due) > this.#graceMs;
    if (missed && spec.schedule?.missed === 'skip') return false;
    const skipped = async (): Promise<boolean> => {
      const active = await this.#catalog.activeRunOf(job.id);
      if (!active) return false;
      await this.#catalog.appendLog(
        active.id,
        'warning',
        `the scheduled run of ${due} was skipped: this run of the job is still ${active.state}`,
      );
      return true;
    };
    if (await skipped()) return false;
    try {
      await this.#catalog.enqueueRun({
        tenantId: job.tenant_id,
        jobId: job.id,
        jobName: job.name,
        repositoryId: job.repository_id,
        kind: 'backup',
        params: missed ? { missed: due } : { scheduled: due },
        trigger: 'schedule',
      });
    } catch (err) {
      // A run of the job was queued meanwhile (started by hand, a retry): the catalog keeps one.
      if (isCairnError(err, 'CONFLICT') && (await skipped())) return false;
      throw err;
    }
    return true;
  }
}
