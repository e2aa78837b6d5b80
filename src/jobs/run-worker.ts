/**
 * A run in a worker thread of its own: the walk, chunking and hashing of a backup keep this
 * thread busy, not the server's, which goes on answering the API. The protocol with the runner:
 *
 * - in: `workerData` is the WorkTask; a message `{ t: 'cancel', message }` aborts the work.
 * - out: `log`, `phase`, `stats`, `progress` (the counters, every 200 ms and at the end), then one
 *   of `done` (warnings, statistics) or `failed` (the error's code and message).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { CairnError, reason } from '../errors.ts';
import { newBackupProgress } from '../repo/index.ts';
import { runWork, type WorkTask } from './work.ts';

export type ToWorker = { t: 'cancel'; message: string };
export type FromWorker =
  | { t: 'log'; level: 'info' | 'warning' | 'error'; message: string }
  | { t: 'phase'; name: string }
  | { t: 'stats'; stats: Record<string, unknown>; snapshotId?: string }
  | { t: 'progress'; counters: ReturnType<typeof newBackupProgress> }
  | { t: 'done'; warnings: number; stats: Record<string, unknown> }
  | { t: 'failed'; code?: string; message: string; stack?: string };

const port = parentPort;
if (port) {
  const task = workerData as WorkTask;
  const abort = new AbortController();
  const counters = newBackupProgress();
  const send = (m: FromWorker) => port.postMessage(m);
  port.on('message', (m: ToWorker) => {
    if (m.t === 'cancel') abort.abort(new CairnError('INTERRUPTED', m.message));
  });
  const progress = setInterval(() => send({ t: 'progress', counters: { ...counters } }), 200);
  const stats: Record<string, unknown> = {};
  runWork(
    task,
    {
      signal: abort.signal,
      counters,
      phase: (name) => send({ t: 'phase', name }),
      log: (level, message) => send({ t: 'log', level, message }),
      stats: (s, snapshotId) => send({ t: 'stats', stats: s, ...(snapshotId ? { snapshotId } : {}) }),
    },
    stats,
  )
    .then((warnings) => {
      clearInterval(progress);
      send({ t: 'progress', counters: { ...counters } });
      send({ t: 'done', warnings, stats });
    })
    .catch((err: unknown) => {
      clearInterval(progress);
      send({ t: 'progress', counters: { ...counters } });
      send({
        t: 'failed',
        ...(err instanceof CairnError ? { code: err.code } : {}),
        message: reason(err),
        ...(err instanceof Error && !(err instanceof CairnError) && err.stack ? { stack: err.stack } : {}),
      });
    })
    .finally(() => port.close());
}
