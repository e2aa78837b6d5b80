/**
 * SIGINT and SIGTERM. Ctrl-C always works: an interrupted command is asked to stop (its
 * operation's AbortSignal fires) and given GRACE_MS to stop cleanly, saving what it can; if it
 * has not ended by then, or at a second signal, it is ended where it stands: its repository locks
 * are removed, a message says what was interrupted and what was kept, and the process exits at
 * once, whatever reads are stuck in the kernel (/proc/kmsg, a hung network mount).
 *
 * Signals are handled this way only while a command holds a lock (guardLock) or runs an operation
 * (withSignals); otherwise they end the process as they always do.
 */
import { CairnError } from '../errors.ts';
import type { Lock } from '../repo/index.ts';

/**
 * How long an interrupted command may take to stop on its own: longer than the 3 s that plugins
 * and --run-before/--run-after programs get between SIGTERM and SIGKILL, so they are gone first.
 */
export const GRACE_MS = 5000;
/** How long removing a lock that is not a local file (S3) may take when the command is ended. */
const REMOTE_UNLOCK_MS = 2000;

/** The operations running under withSignals, aborted when the command is interrupted. */
const running = new Set<AbortController>();
/** The repository locks held, removed when the command must end before releasing them. */
const held = new Set<{ readonly lock: Lock; readonly command: string }>();

interface Interruption {
  /** What interrupted: 'SIGINT', 'SIGTERM', or the reader of standard output going away. */
  readonly cause: string;
  readonly reason: CairnError;
  /** How the operation ended, when it ended by the interruption: its message says what was kept. */
  outcome?: CairnError;
}

let interruption: Interruption | undefined;
let listening = false;
let ending = false;
/** Reports the error a forced end ends with and ends the process (set by main). */
let forcedEnd: (err: CairnError) => void = (err) => {
  process.stderr.write(`error: ${err.message} [${err.code}]\n`);
  exitNow(err.spec.exit);
};

/** Whether the command was interrupted: the process must then end by exitNow. */
export function interrupted(): boolean {
  return interruption !== undefined;
}

/**
 * What ends the process when an interrupted command is ended before it returns: `report` says the
 * error and ends the process (with exitNow).
 */
export function onForcedEnd(report: (err: CairnError) => void): void {
  forcedEnd = report;
}

/**
 * Ends the process with `code` now. process.exit() would not: it waits for libuv's threads and
 * the worker threads to finish, and a read stuck in the kernel never does. Replacing the process
 * image (execve(2)) ends every thread, and the program that replaces it exits with `code`.
 */
export function exitNow(code: number): never {
  try {
    process.execve?.(process.execPath, [process.execPath, '-e', `process.exit(${code})`], {});
  } catch {
    // execve failed (or this platform has none): exit as well as Node can.
  }
  process.exit(code);
}

/**
 * Turns SIGINT and SIGTERM into an AbortSignal for the duration of one operation. The operation is
 * aborted with a CairnError INTERRUPTED (exit 130); one started after an interruption is aborted
 * from the start, unless it is `afterInterrupt` (a --run-after program, which restarts what
 * --run-before stopped): that one runs, within what is left of the grace period.
 */
export async function withSignals<T>(
  fn: (signal: AbortSignal) => Promise<T>,
  options: { afterInterrupt?: boolean } = {},
): Promise<T> {
  const controller = new AbortController();
  if (interruption && !options.afterInterrupt) controller.abort(interruption.reason);
  running.add(controller);
  listen();
  try {
    return await fn(controller.signal);
  } catch (err) {
    if (interruption && controller.signal.aborted && err instanceof CairnError) {
      // INTERRUPTED, or how else it ended once stopped (a restore that kept part of its files).
      interruption.outcome = err;
    }
    throw err;
  } finally {
    running.delete(controller);
    unlisten();
  }
}

/**
 * Keeps `lock` removable while the command holds it, even when the command cannot stop on its own;
 * call the returned function once the lock is released. `command` names the command in messages.
 */
export function guardLock(lock: Lock, command: string): () => void {
  const entry = { lock, command };
  held.add(entry);
  listen();
  return () => {
    held.delete(entry);
    unlisten();
  };
}

function listen(): void {
  if (listening) return;
  listening = true;
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}

function unlisten(): void {
  // Once interrupted, a second signal must still end the command at once.
  if (!listening || interruption || running.size > 0 || held.size > 0) return;
  listening = false;
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
}

function onSignal(name: NodeJS.Signals): void {
  if (interruption) {
    void forceEnd(name, 'second');
    return;
  }
  // Between operations (opening the repository, waiting for input) there is nothing to stop
  // cleanly: the command ends at once.
  if (running.size === 0) {
    interruption = { cause: name, reason: interruptedBy(name) };
    void forceEnd(name, 'idle');
    return;
  }
  process.stderr.write(
    `${name}: stopping (within ${GRACE_MS / 1000} s; a second ${name === 'SIGINT' ? 'Ctrl-C' : name} ends at once)\n`,
  );
  interrupt(name, interruptedBy(name));
}

function interruptedBy(name: string): CairnError {
  return new CairnError('INTERRUPTED', `Interrupted by ${name}: the command stopped before it was done`);
}

/** Aborts the running operations and gives the command GRACE_MS to end on its own. */
function interrupt(cause: string, reason: CairnError): void {
  if (interruption) return;
  interruption = { cause, reason };
  for (const controller of running) controller.abort(reason);
  // Ref'd: the command ends within the grace period, or this ends it.
  setTimeout(() => void forceEnd(cause, 'grace'), GRACE_MS);
}

/** Removes the locks still held; returns how many are gone and how many could not be removed. */
async function releaseHeld(): Promise<{ removed: number; kept: number }> {
  const counts = { removed: 0, kept: 0 };
  // A local lock file goes synchronously, before anything could wait on libuv's threads.
  await Promise.all(
    [...held].map(async ({ lock }) => {
      if (await lock.releaseNow(REMOTE_UNLOCK_MS)) counts.removed++;
      else counts.kept++;
    }),
  );
  return counts;
}

/**
 * Removes the locks still held, says what happened, and ends the process: after a `second`
 * signal, when the `grace` period after the first is over, or at once when the first came while
 * no operation ran (`idle`). `cause` names the signal.
 */
async function forceEnd(cause: string, when: 'second' | 'grace' | 'idle'): Promise<void> {
  if (ending) return;
  ending = true;
  const commands = [...new Set([...held].map((h) => `cairn ${h.command}`))];
  const what = commands.length > 0 ? `"${commands.join('", "')}"` : 'the command';
  const { removed, kept } = await releaseHeld();
  const outcome = interruption?.outcome;
  const grace = `${GRACE_MS / 1000} s`;
  let message: string;
  if (outcome) {
    // The operation stopped and said what it kept; what hung came after it (closing, a stuck read).
    const at = when === 'second' ? 'at a second signal' : `${grace} after the signal`;
    message = `${outcome.message}; what was still running ${at} (such as a read stuck in the kernel) was abandoned`;
  } else if (when === 'idle') {
    message = `Interrupted by ${cause}: ${what} ended at once, between operations; what it had done is kept`;
  } else {
    message =
      (when === 'second'
        ? `Interrupted by a second ${cause}: ${what} was ended at once`
        : `Interrupted by ${cause}: ${what} did not stop within ${grace} (perhaps a read stuck in the kernel) and was ended`) +
      '; the repository is left as a crash would leave it (consistent; what was already stored is kept)';
  }
  if (removed > 0)
    message += removed === 1 ? '; its repository lock was removed' : '; its repository locks were removed';
  if (kept > 0)
    message += `; ${kept === 1 ? 'a lock' : `${kept} locks`} could not be removed in time: run "cairn unlock"`;
  forcedEnd(new CairnError('INTERRUPTED', message));
}

/**
 * What happens when the reader of standard output goes away (`cairn snapshots | head`): a
 * program in C would die of SIGPIPE, which Node ignores, so the write fails with EPIPE and,
 * unhandled, ended the command with a stack trace. Now an operation that is running stops as if
 * interrupted (its repository left as a crash would leave it, its lock released), and otherwise
 * the command ends at once and quietly. Other output errors are thrown as before.
 */
export function endQuietlyWhenOutputCloses(): void {
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
    if (running.size === 0) {
      // Quietly, with the code the command has so far; its locks do not outlive it.
      void releaseHeld().then(() => process.exit());
      return;
    }
    interrupt(
      'the reader of its output going away',
      new CairnError('INTERRUPTED', 'Interrupted: the reader of its output went away (EPIPE)'),
    );
  });
}
