/**
 * Busy time per stage of a pipeline, for saying which stage limits it (Veeam's "Load: Source 86%
 * > Proxy 54% > Network 56% > Target 42%, primary bottleneck: Source").
 *
 * A stage is busy while at least one of its operations is in flight: four reads at once for one
 * second are one busy second, not four. So each stage's busy time is the length of the union of
 * its operations' intervals, and its share of the wall time is at most 1. Stages overlap each
 * other freely (that is what a pipeline is for); the busiest one is the bottleneck.
 */

export interface StageLoad {
  /** Milliseconds during which at least one operation of the stage was in flight. */
  readonly busyMs: number;
  /** busyMs / wall time, from 0 to 1. */
  readonly share: number;
}

export interface StageReport<S extends string> {
  readonly wallMs: number;
  readonly stages: Readonly<Record<S, StageLoad>>;
  /** The stage with the largest share (the first of them in the clock's order on a tie). */
  readonly bottleneck: S;
}

/**
 * Intervals kept unmerged-with-the-past per stage before the oldest half is folded into a total.
 * An interval recorded later that starts before the folded ones' end is clipped there.
 */
const KEEP_INTERVALS = 1024;

class StageTime {
  /** Operations in flight now, and since when at least one has been. */
  active = 0;
  since = 0;
  /** Busy time folded away, and the end of the last folded interval. */
  folded = 0;
  floor = -Infinity;
  /** Disjoint intervals [start, end], sorted; flattened as start0, end0, start1, end1... */
  spans: number[] = [];

  add(start: number, end: number): void {
    const s = Math.max(start, this.floor);
    if (!(end > s)) return;
    const spans = this.spans;
    const n = spans.length;
    // The common case: after (or touching the end of) the last interval.
    if (n === 0 || s > (spans[n - 1] as number)) {
      spans.push(s, end);
    } else if (s >= (spans[n - 2] as number)) {
      spans[n - 1] = Math.max(spans[n - 1] as number, end);
    } else {
      this.merge(s, end);
    }
    if (spans.length > 2 * KEEP_INTERVALS) this.fold();
  }

  /** Inserts [s, e] anywhere, merging with every interval it overlaps. */
  private merge(s: number, e: number): void {
    const spans = this.spans;
    // First interval whose end is ≥ s: everything before it ends before the new one starts.
    let lo = 0;
    let hi = spans.length / 2;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((spans[2 * mid + 1] as number) < s) lo = mid + 1;
      else hi = mid;
    }
    let last = lo;
    let start = s;
    let end = e;
    while (last < spans.length / 2 && (spans[2 * last] as number) <= end) {
      start = Math.min(start, spans[2 * last] as number);
      end = Math.max(end, spans[2 * last + 1] as number);
      last++;
    }
    spans.splice(2 * lo, 2 * (last - lo), start, end);
  }

  private fold(): void {
    const spans = this.spans;
    const cut = KEEP_INTERVALS; // half of the kept intervals, as flattened numbers
    for (let i = 0; i < cut; i += 2) this.folded += (spans[i + 1] as number) - (spans[i] as number);
    this.floor = spans[cut - 1] as number;
    this.spans = spans.slice(cut);
  }

  /** Busy time so far; an interval still open counts up to `now`. */
  busy(now: number): number {
    let total = this.folded;
    const spans = this.spans;
    for (let i = 0; i < spans.length; i += 2) total += (spans[i + 1] as number) - (spans[i] as number);
    if (this.active > 0) {
      // The open interval [since, now], less what of it the kept intervals already cover.
      const s = Math.max(this.since, this.floor);
      let open = Math.max(0, now - s);
      for (let i = 0; i < spans.length; i += 2) {
        const overlap = Math.min(now, spans[i + 1] as number) - Math.max(s, spans[i] as number);
        if (overlap > 0) open -= overlap;
      }
      total += Math.max(0, open);
    }
    return total;
  }
}

/**
 * Measures busy time per named stage. Use begin()/end() (or time()/timeSync()) around operations
 * on this thread, and record() for intervals measured elsewhere (a worker thread), in this
 * clock's time base. The cost is one clock read and a few additions per call.
 */
export class StageClock<S extends string> {
  readonly stageNames: readonly S[];
  private readonly now: () => number;
  private readonly stages = new Map<S, StageTime>();

  /** `now`: monotonic milliseconds, `performance.now()` by default. */
  constructor(stages: readonly S[], now: () => number = () => performance.now()) {
    if (stages.length === 0) throw new RangeError('A stage clock needs at least one stage');
    this.stageNames = [...stages];
    this.now = now;
    for (const s of stages) this.stages.set(s, new StageTime());
  }

  /** An operation of `stage` starts. */
  begin(stage: S): void {
    const st = this.get(stage);
    if (st.active++ === 0) st.since = this.now();
  }

  /** An operation of `stage` ends. An end without a begin is ignored. */
  end(stage: S): void {
    const st = this.get(stage);
    if (st.active === 0) return;
    if (--st.active === 0) st.add(st.since, this.now());
  }

  /** Runs `fn` as an operation of `stage`, until its promise settles. */
  async time<T>(stage: S, fn: () => Promise<T>): Promise<T> {
    this.begin(stage);
    try {
      return await fn();
    } finally {
      this.end(stage);
    }
  }

  /** Runs a synchronous `fn` as an operation of `stage`. */
  timeSync<T>(stage: S, fn: () => T): T {
    this.begin(stage);
    try {
      return fn();
    } finally {
      this.end(stage);
    }
  }

  /** Adds an interval measured elsewhere, in this clock's milliseconds; it may overlap any other. */
  record(stage: S, start: number, end: number): void {
    if (Number.isFinite(start) && Number.isFinite(end)) this.get(stage).add(start, end);
  }

  /** Busy milliseconds of `stage` so far. */
  busyMs(stage: S): number {
    return this.get(stage).busy(this.now());
  }

  /** Each stage's busy time and its share of `wallMs`, and the busiest stage. */
  report(wallMs: number): StageReport<S> {
    const now = this.now();
    const stages = {} as Record<S, StageLoad>;
    let bottleneck = this.stageNames[0] as S;
    let top = -1;
    for (const name of this.stageNames) {
      const busyMs = this.get(name).busy(now);
      const share = wallMs > 0 ? Math.min(1, busyMs / wallMs) : 0;
      stages[name] = { busyMs, share };
      if (share > top) {
        top = share;
        bottleneck = name;
      }
    }
    return { wallMs, stages, bottleneck };
  }

  private get(stage: S): StageTime {
    const st = this.stages.get(stage);
    if (st === undefined) throw new RangeError(`Unknown stage "${stage}"`);
    return st;
  }
}
