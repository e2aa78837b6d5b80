/**
 * Event hooks (the director-plugin tradition): on a run's start, end, success or failure, run a
 * program with the run described in CAIRN_* environment variables, or POST the same as JSON to a
 * webhook. A hook's failure is logged and never changes the run's result.
 */
import { spawn } from 'node:child_process';
import type { Hook } from './spec.ts';

export type HookEvent = 'start' | 'end' | 'success' | 'failure';

export interface RunFacts {
  readonly event: HookEvent;
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
  };
}

const TAIL = 2000;

function runCommand(argv: readonly string[], env: Record<string, string>, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const [program, ...args] = argv;
    const child = spawn(program ?? '', args, {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/', ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    // Our own timer: spawn's `timeout` option outlives a program that never started.
    const timer = setTimeout(() => child.kill('SIGTERM'), timeoutMs);
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString('utf8')).slice(-TAIL);
    });
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`cannot start ${program ?? ''}: ${err.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else {
        const why = signal ? `was stopped by ${signal}` : `exited with ${String(code)}`;
        const tail = stderr.trim() ? `: ${stderr.trim().split('\n').slice(-3).join(' | ')}` : '';
        reject(new Error(`${program ?? ''} ${why}${tail}`));
      }
    });
  });
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
