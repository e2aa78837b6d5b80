import { CairnError } from '../errors.ts';

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
  try {
    return await fn(controller.signal);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
