import { CairnError } from '../errors.ts';

/** The operations running under withSignals, to stop when standard output is closed. */
const running = new Set<AbortController>();

/** Turns SIGINT and SIGTERM into an AbortSignal for the duration of one operation. */
export async function withSignals<T>(fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  // The reason is what `signal.throwIfAborted()` throws deep inside repo/: a CairnError, so the
  // command ends with INTERRUPTED (exit 130), not as an unexpected failure.
  const onSignal = (name: NodeJS.Signals) =>
    controller.abort(
      new CairnError('INTERRUPTED', `Interrupted by ${name}: the command stopped before it was done`),
    );
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  running.add(controller);
  try {
    return await fn(controller.signal);
  } finally {
    running.delete(controller);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
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
    if (running.size === 0) process.exit();
    for (const controller of running) {
      controller.abort(
        new CairnError('INTERRUPTED', 'Interrupted: the reader of its output went away (EPIPE)'),
      );
    }
  });
}
