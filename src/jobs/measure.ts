/**
 * The simulator's measured mode: instead of guessing the change rate and the reduction, take them
 * from a job's real runs. Each successful backup after the first says how much new data it found
 * (bytes added after deduplication, before compression) out of how much it looked at, and how much
 * of that was left after compression.
 */
import { INTERVAL_HOURS } from '../simulate/index.ts';
import type { RunRow } from '../catalog/index.ts';

export interface Measured {
  /** Runs the figures come from (successful backups with statistics). */
  readonly runs: number;
  readonly usedBytes: number;
  /** Median share of the source that was new data per run, after the first run. */
  readonly changePercent: number;
  /** Median share of new data left after compression. */
  readonly reductionPercent: number;
  /** The allowed interval nearest to the median time between runs. */
  readonly intervalHours: number;
}

interface RunStats {
  bytesProcessed?: number;
  bytesAdded?: number;
  bytesStored?: number;
}

function median(xs: number[]): number | undefined {
  if (xs.length === 0) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1]! + s[mid]!) / 2;
}

const round = (x: number) => Math.round(x * 100) / 100;

/** Measured figures from runs (any order); undefined when no successful backup has statistics. */
export function measure(runs: readonly RunRow[]): Measured | undefined {
  const done = runs
    .filter(
      (r) =>
        r.kind === 'backup' && (r.state === 'success' || r.state === 'warning') && r.stats && r.started_at,
    )
    .map((r) => ({ at: Date.parse(r.started_at ?? ''), stats: JSON.parse(r.stats ?? '{}') as RunStats }))
    .filter((r) => (r.stats.bytesProcessed ?? 0) > 0)
    .sort((a, b) => a.at - b.at);
  const last = done[done.length - 1];
  if (!last) return undefined;
  // The first run reads everything: it says nothing of the change rate.
  const later = done.slice(1);
  const change = median(later.map((r) => ((r.stats.bytesAdded ?? 0) / (r.stats.bytesProcessed ?? 1)) * 100));
  const reduction = median(
    done
      .filter((r) => (r.stats.bytesAdded ?? 0) > 0)
      .map((r) => ((r.stats.bytesStored ?? 0) / (r.stats.bytesAdded ?? 1)) * 100),
  );
  const gaps = done.slice(1).map((r, i) => (r.at - done[i]!.at) / 3_600_000);
  const gap = median(gaps) ?? 24;
  const intervalHours = INTERVAL_HOURS.reduce(
    (best, h) => (Math.abs(h - gap) < Math.abs(best - gap) ? h : best),
    24,
  );
  return {
    runs: done.length,
    usedBytes: last.stats.bytesProcessed ?? 0,
    changePercent: round(Math.min(100, change ?? 0)),
    // The simulator needs a positive share; an all-duplicate history leaves the least it accepts.
    reductionPercent: round(Math.min(100, Math.max(0.01, reduction ?? 100))),
    intervalHours,
  };
}
