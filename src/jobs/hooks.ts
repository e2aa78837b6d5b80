/**
 * Event hooks (the director-plugin tradition): on a run's start, end, success or failure, and when
 * a scheduled job becomes overdue (overdue.ts), run a program with the run (or the job) described
 * in CAIRN_* environment variables, or POST the same as JSON to a webhook. A hook's failure is logged and never changes the run's result (unlike a job's
 * runBefore and runAfter scripts, which may fail the run by their policy: scripts.ts, which also
 * starts hook programs).
 */
import { runProgram, showCommand } from '../plugins/index.ts';
import type { Hook } from './spec.ts';

export type HookEvent = 'start' | 'end' | 'success' | 'failure' | 'overdue';

export interface RunFacts {
  readonly event: HookEvent;
  /** The run; empty for `overdue`, which is about the job. */
  readonly runId: string;
  readonly job: string;
  readonly tenant: string;
  readonly repository: string;
  readonly state: string;
  readonly snapshotId?: string | null;
  readonly message?: string | null;
  readonly bytesProcessed?: number;
  readonly filesProcessed?: number;
  readonly durationSeconds?: number;
  /** `overdue`: when the job's last successful run ended (null: none yet). */
  readonly lastSuccess?: string | null;
  /** `overdue`: the second scheduled time since, that passed without a successful run. */
  readonly dueAt?: string;
}

export function hookEnv(f: RunFacts): Record<string, string> {
  return {
    CAIRN_EVENT: f.event,
    CAIRN_RUN_ID: f.runId,
    CAIRN_JOB: f.job,
    CAIRN_TENANT: f.tenant,
    CAIRN_REPOSITORY: f.repository,
    CAIRN_STATE: f.state,
    CAIRN_SNAPSHOT_ID: f.snapshotId ?? '',
    CAIRN_MESSAGE: f.message ?? '',
    CAIRN_BYTES_PROCESSED: String(f.bytesProcessed ?? 0),
    CAIRN_FILES_PROCESSED: String(f.filesProcessed ?? 0),
    CAIRN_DURATION_SECONDS: String(f.durationSeconds ?? 0),
    CAIRN_LAST_SUCCESS: f.lastSuccess ?? '',
    CAIRN_DUE_AT: f.dueAt ?? '',
  };
}

async function runCommand(
  argv: readonly string[],
  env: Record<string, string>,
  timeoutMs: number,
): Promise<void> {
  // Hooks get a minimal environment: PATH, HOME and the run's CAIRN_* variables.
  const end = await runProgram(argv, {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/', ...env },
    timeoutMs,
  });
  if (end.ok) return;
  const tail = end.stderrTail ? `: ${end.stderrTail.split('\n').slice(-3).join(' | ')}` : '';
  throw new Error(`${showCommand(argv.slice(0, 1))} ${end.how}${tail}`);
}

async function postWebhook(url: string, facts: RunFacts, timeoutMs: number): Promise<void> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'user-agent': 'cairn-server' },
    body: JSON.stringify({ ...facts }),
    signal: AbortSignal.timeout(timeoutMs),
  });
  await res.arrayBuffer().catch(() => undefined);
  if (!res.ok) throw new Error(`${new URL(url).origin} answered ${res.status}`);
}

/** Runs the hooks subscribed to the event; returns one line per failure, for the run's log. */
export async function runHooks(hooks: readonly Hook[] | undefined, facts: RunFacts): Promise<string[]> {
  const failures: string[] = [];
  for (const [i, h] of (hooks ?? []).entries()) {
    if (!h.on.includes(facts.event)) continue;
    const timeoutMs = (h.timeoutSeconds ?? 60) * 1000;
    if (h.command) {
      try {
        await runCommand(h.command, hookEnv(facts), timeoutMs);
      } catch (err) {
        failures.push(
          `hook ${i} (${facts.event}) failed: ${err instanceof Error ? err.message : String(err)}`,
        );
      }
    }
    if (h.webhook) {
      try {
        await postWebhook(h.webhook, facts, timeoutMs);
      } catch (err) {
        // The URL may carry a token: only its origin goes into the log.
        let origin = 'the webhook';
        try {
          origin = new URL(h.webhook).origin;
        } catch {
          /* keep the generic name */
        }
        failures.push(
          `hook ${i} (${facts.event}) webhook ${origin} failed: ${err instanceof Error ? err.message.replace(h.webhook, origin) : String(err)}`,
        );
      }
    }
  }
  return failures;
}
