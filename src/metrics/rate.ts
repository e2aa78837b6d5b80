/**
 * Rates from cumulative counters. A counter (bytes read so far, sectors written since boot) is
 * sampled with a timestamp; the rate of an interval is Δvalue / Δt between two samples, never a
 * guess at an instantaneous speed. A bounded series of the last samples is kept for graphs.
 */

/** One interval's end: when (monotonic ms), the counter's value then, and the rate since the last sample. */
export interface RateSample {
  /** Monotonic milliseconds (the caller's clock, `performance.now()` by default). */
  readonly t: number;
  /** The counter's cumulative value at `t`. */
  readonly value: number;
  /** Units per second over the interval that ends at `t`; never negative. */
  readonly rate: number;
}

/** How many samples a tracker keeps unless told otherwise (10 minutes at one sample a second). */
export const DEFAULT_RATE_CAPACITY = 600;

/**
 * Turns samples of one cumulative counter into per-interval rates, keeping the last `capacity`
 * of them in a ring buffer.
 *
 * - The first sample only sets the baseline: a rate needs an interval.
 * - A value lower than the last one is a reset (a restarted process, a new run): the counter
 *   counted from zero meanwhile, so the interval's increase is the new value (as Prometheus's
 *   `rate()` does). A rate is never negative.
 * - A sample whose time is not after the last one's (Δt ≤ 0) is ignored; its increase is counted
 *   in the next interval, which is measured from the last accepted sample.
 */
export class RateTracker {
  readonly capacity: number;
  private readonly ring: RateSample[] = [];
  /** Index of the oldest sample in `ring` once it is full. */
  private head = 0;
  private last: { t: number; value: number } | undefined;

  constructor(capacity = DEFAULT_RATE_CAPACITY) {
    if (!Number.isSafeInteger(capacity) || capacity < 1) {
      throw new RangeError(`A rate tracker keeps at least one sample, not ${capacity}`);
    }
    this.capacity = capacity;
  }

  /**
   * Records the counter's value at time `t`. Returns the interval's sample, or undefined for the
   * first sample (the baseline) and for one that is ignored (Δt ≤ 0, or not a finite number).
   */
  sample(value: number, t: number = performance.now()): RateSample | undefined {
    if (!Number.isFinite(value) || !Number.isFinite(t)) return undefined;
    const last = this.last;
    if (last === undefined) {
      this.last = { t, value };
      return undefined;
    }
    const dt = t - last.t;
    if (dt <= 0) return undefined;
    const increase = value >= last.value ? value - last.value : Math.max(0, value);
    const s: RateSample = { t, value, rate: (increase / dt) * 1000 };
    this.last = { t, value };
    if (this.ring.length < this.capacity) this.ring.push(s);
    else {
      this.ring[this.head] = s;
      this.head = (this.head + 1) % this.capacity;
    }
    return s;
  }

  /** The kept samples, oldest first. */
  series(): RateSample[] {
    return [...this.ring.slice(this.head), ...this.ring.slice(0, this.head)];
  }

  /** The newest sample, if any interval has been measured. */
  latest(): RateSample | undefined {
    if (this.ring.length === 0) return undefined;
    return this.ring[(this.head + this.ring.length - 1) % this.ring.length];
  }

  /** The newest interval's rate in units per second; 0 before the second sample. */
  get rate(): number {
    return this.latest()?.rate ?? 0;
  }

  /** Forgets every sample and the baseline. */
  clear(): void {
    this.ring.length = 0;
    this.head = 0;
    this.last = undefined;
  }
}
