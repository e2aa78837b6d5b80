/**
 * Missed backups (backrest #1058: silent while a repository was unreachable): a scheduled job
 * that has had no successful run within its expected interval is overdue, and says so once per
 * episode.
 *
 * The rule (docs/server.md, "Missed backups"): a job that is enabled and has a schedule is
 * overdue when the second time its schedule came due after its last successful run ended (a
 * backup that ended in success or warning; none yet: after the job was created) lies more than
 * the grace (an hour by default) in the past. One missed or failed time is not yet overdue (a
 * retry, or the next time, may still succeed); two are. An hourly job whose last success ended at
 * 10:05 is overdue from 13:00 (12:00 + an hour); a daily 02:00 job whose last success ended on
 * Monday at 02:10 is overdue from Wednesday 03:00. A run still going does not hold it back.
 *
 * An episode runs from the moment a job becomes overdue to its next successful run. The server
 * checks every job at its start and every minute; when one becomes overdue it writes the audit
 * entry `job.overdue` (which also marks the episode as told, for every server sharing the
 * catalog) and runs the job's hooks subscribed to `overdue`, confined as a run's hooks are: a
 * tenant's webhooks only to its allow-list, its programs only the scripts granted to it.
 */
import type { Catalog, JobRow, TenantRow } from '../catalog/index.ts';
import { CairnError, reason } from '../errors.ts';
import { runHooks, type RunFacts } from './hooks.ts';
import { nextRunOf, type Hook, type JobSpec } from './spec.ts';
import { checkConfinedSpec, confinementOf, resolveScripts, type Tenancy } from './tenancy.ts';

/** The grace after the second missed time before a job counts as overdue (seconds). */
export const OVERDUE_GRACE_SECONDS = 3600;
/** How often the server looks for overdue jobs (seconds). */
export const OVERDUE_CHECK_SECONDS = 60;
/** The audit action that tells an episode (its object: the job's id). */
export const OVERDUE_AUDIT = 'job.overdue';

/** One scheduled job as the overdue rule sees it. */
export interface JobWatch {
  readonly job: JobRow;
  /** When its last successful run ended; null: none yet (its creation counts instead). */
  readonly lastSuccess: string | null;
  /** The second time its schedule came (or comes) due after that: the time missed. */
  readonly dueAt: string;
  /** dueAt plus the grace: from then on the job is overdue. */
  readonly overdueAt: string;
  readonly overdue: boolean;
}

/**
 * The second time `schedule` comes due after `since`, and that plus the grace; null when the
 * schedule has no such time (or no longer parses).
 */
export function overdueTimes(
  schedule: JobSpec['schedule'],
  since: Date,
  graceMs: number,
): { dueAt: Date; overdueAt: Date } | null {
  try {
    const first = nextRunOf(schedule, since);
    const second = first ? nextRunOf(schedule, first) : null;
    return second ? { dueAt: second, overdueAt: new Date(second.getTime() + graceMs) } : null;
  } catch {
    return null;
  }
}

/**
 * Every enabled job with a schedule (of one tenant, or of all), with its last success and whether
 * it is overdue at `now`.
 */
export async function watchJobs(
  catalog: Catalog,
  options: { readonly now: Date; readonly graceMs: number; readonly tenantId?: string },
): Promise<JobWatch[]> {
  const [jobs, successes] = await Promise.all([
    catalog.allJobs(options.tenantId),
    catalog.lastSuccesses(options.tenantId),
  ]);
  return judgeJobs(jobs, successes, options.now, options.graceMs);
}

/** The rule over jobs and their last successes (by job id, from Catalog.lastSuccesses). */
export function judgeJobs(
  jobs: readonly JobRow[],
  successes: ReadonlyMap<string, string>,
  now: Date,
  graceMs: number,
): JobWatch[] {
  const out: JobWatch[] = [];
  for (const job of jobs) {
    if (job.enabled !== 1 || job.next_run_at === null) continue;
    let spec: JobSpec;
    try {
      spec = JSON.parse(job.spec) as JobSpec;
    } catch {
      continue;
    }
    if (!spec.schedule) continue;
    const lastSuccess = successes.get(job.id) ?? null;
    const times = overdueTimes(spec.schedule, new Date(lastSuccess ?? job.created_at), graceMs);
    if (!times) continue;
    out.push({
      job,
      lastSuccess,
      dueAt: times.dueAt.toISOString(),
      overdueAt: times.overdueAt.toISOString(),
      overdue: now.getTime() > times.overdueAt.getTime(),
    });
  }
  return out;
}

export interface OverdueWatchOptions {
  /** The grace after the second missed time (default OVERDUE_GRACE_SECONDS). */
  readonly graceSeconds?: number;
  /** Seconds between checks (default OVERDUE_CHECK_SECONDS). */
  readonly checkSeconds?: number;
  /** Keeps tenants' hooks within their limits; without it, tenants' hooks do not run. */
  readonly tenancy?: Tenancy;
  /** Where to say what happens (default: stderr). */
  readonly say?: (line: string) => void;
}

/** The server's periodic check: raises each overdue episode once (audit entry, `overdue` hooks). */
export class OverdueWatch {
  readonly #catalog: Catalog;
  readonly #graceMs: number;
  readonly #checkMs: number;
  readonly #tenancy: Tenancy | undefined;
  readonly #say: (line: string) => void;
  #timer: NodeJS.Timeout | undefined;
  #checking: Promise<unknown> = Promise.resolve();
  #busy = false;

  constructor(catalog: Catalog, options: OverdueWatchOptions = {}) {
    this.#catalog = catalog;
    this.#graceMs = (options.graceSeconds ?? OVERDUE_GRACE_SECONDS) * 1000;
    this.#checkMs = (options.checkSeconds ?? OVERDUE_CHECK_SECONDS) * 1000;
    this.#tenancy = options.tenancy;
    this.#say = options.say ?? ((l: string) => process.stderr.write(`cairn server: ${l}\n`));
  }

  get graceMs(): number {
    return this.#graceMs;
  }

  /** Checks now and then every interval, until stop(). */
  start(): void {
    if (this.#timer !== undefined) return;
    const tick = () => {
      if (this.#busy) return;
      this.#checking = this.check().catch((err: unknown) =>
        this.#say(`cannot check for overdue jobs: ${reason(err)}`),
      );
    };
    this.#timer = setInterval(tick, this.#checkMs);
    this.#timer.unref();
    tick();
  }

  /** Stops checking; waits for a check under way (and its hooks). */
  async stop(): Promise<void> {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#checking;
  }

  /** One pass: raises every overdue job whose episode has not been told yet; returns those. */
  async check(): Promise<JobWatch[]> {
    this.#busy = true;
    try {
      const catalog = this.#catalog;
      const raised: JobWatch[] = [];
      for (const w of await watchJobs(catalog, { now: catalog.now(), graceMs: this.#graceMs })) {
        if (!w.overdue) continue;
        // Told already when an entry is newer than the episode's start (the last success).
        const told = await catalog.lastAudit(w.job.tenant_id, OVERDUE_AUDIT, w.job.id);
        if (told && told.at >= (w.lastSuccess ?? w.job.created_at)) continue;
        try {
          await this.#raise(w);
          raised.push(w);
        } catch (err) {
          this.#say(`cannot tell that job ${w.job.name} is overdue: ${reason(err)}`);
        }
      }
      return raised;
    } finally {
      this.#busy = false;
    }
  }

  async #raise(w: JobWatch): Promise<void> {
    const catalog = this.#catalog;
    const { job } = w;
    const tenant = await catalog.tenant(job.tenant_id);
    if (!tenant) return; // deleted meanwhile
    const repo = await catalog.repository(job.tenant_id, job.repository_id);
    // The newest run that ended says why, most often (a run may be going now).
    const recent = await catalog.listRuns(job.tenant_id, { jobId: job.id, limit: 20 });
    const last = recent.data.find((r) => r.ended_at !== null);
    const since = w.lastSuccess
      ? `no successful run since ${w.lastSuccess}`
      : `no successful run since it was created at ${job.created_at}`;
    const lastRun =
      last && last.state !== 'success' && last.state !== 'warning'
        ? `; its last run ended ${last.state}${last.message ? `: ${last.message}` : ''}`
        : '';
    const message = `${since}, and its schedule came due twice since (last at ${w.dueAt})${lastRun}`;
    const graceSeconds = this.#graceMs / 1000;
    await catalog.audit({
      tenantId: job.tenant_id,
      user: 'cairn',
      action: OVERDUE_AUDIT,
      object: job.id,
      detail: { job: job.name, lastSuccess: w.lastSuccess, dueAt: w.dueAt, graceSeconds, message },
    });
    this.#say(`job ${job.name} of tenant ${tenant.name} is overdue: ${message}`);
    const spec = JSON.parse(job.spec) as JobSpec;
    let hooks: readonly Hook[];
    try {
      hooks = await this.#hooksOf(job, tenant, spec);
    } catch (err) {
      this.#say(`the overdue hooks of job ${job.name} of tenant ${tenant.name} did not run: ${reason(err)}`);
      return;
    }
    if (hooks.length === 0) return;
    const facts: RunFacts = {
      event: 'overdue',
      runId: '',
      job: job.name,
      tenant: tenant.name,
      repository: repo?.name ?? job.repository_id,
      state: 'overdue',
      message,
      lastSuccess: w.lastSuccess,
      dueAt: w.dueAt,
    };
    for (const f of await runHooks(hooks, facts)) this.#say(`job ${job.name} of tenant ${tenant.name}: ${f}`);
  }

  /**
   * The job's hooks subscribed to `overdue`, as a run would call them: a tenant user's job's are
   * checked again against its tenant's limits now (allow-list, granted scripts; no commands),
   * named scripts resolved. Its other hooks do not run here, so they are not checked here.
   */
  async #hooksOf(job: JobRow, tenant: TenantRow, spec: JobSpec): Promise<readonly Hook[]> {
    const indices: number[] = [];
    const hooks = (spec.hooks ?? []).filter((h, i) => {
      const on = (h.on as readonly string[]).includes('overdue');
      if (on) indices.push(i);
      return on;
    });
    if (hooks.length === 0) return [];
    const only: JobSpec = { sources: [], hooks };
    const confined = job.confined === 1;
    try {
      if (confined) {
        if (!this.#tenancy)
          throw new CairnError('FORBIDDEN', "a tenant's hooks cannot be checked on a server without tenancy");
        await checkConfinedSpec(
          this.#catalog,
          await confinementOf(this.#catalog, this.#tenancy, tenant.id),
          only,
        );
      }
      return (await resolveScripts(this.#catalog, tenant, only, confined)).hooks ?? [];
    } catch (err) {
      // The messages name hooks[i] of the list checked: named as the job has them.
      if (err instanceof CairnError)
        throw new CairnError(
          err.code,
          err.message.replace(/\bhooks\[(\d+)\]/g, (_, k: string) => `hooks[${indices[Number(k)] ?? k}]`),
          { cause: err },
        );
      throw err;
    }
  }
}
