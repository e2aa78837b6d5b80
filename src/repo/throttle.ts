/**
 * A bandwidth limit shared by several writers, threads included: a token bucket kept in shared
 * memory, as the generic cell rate algorithm keeps it — one number, the time up to which the bytes
 * granted so far are paid for at the rate, changed with compare-and-swap so that writers in several
 * worker threads never both spend the same tokens.
 *
 * - A writer asks before it writes `bytes`: the bytes are paid for from the later of that time and
 *   now less the burst; the writer waits until they are paid for (it writes only bytes already
 *   earned). Idle for the burst time or longer, a writer may write one burst's worth at once.
 * - A bucket starts empty: over any time from its creation, all its writers together write at
 *   most rate × that time; after that, at most one burst more than rate × time.
 * - A rate of 0 means no limit. The rate may change at any time; it holds from the next request.
 *
 * It limits throughput and never refuses: a write larger than the burst simply waits longer.
 */
import { CairnError } from '../errors.ts';

/** What a repository writes: a pack, an index file, a restore point. */
export type WriteKind = 'pack' | 'index' | 'snapshot';

/** What a repository asks before it writes (see Repository.pace). */
export interface WritePace {
  /** Resolves once `bytes` may be written; rejects when the writing is cancelled (see pace()). */
  take(bytes: number, kind: WriteKind): Promise<void>;
}

/** Milliseconds on a clock that all threads of the process share (wall time, monotonic per thread). */
export const sharedClock = (): number => performance.timeOrigin + performance.now();

/** Two 64-bit cells: the time the granted bytes are paid up to (µs), and the rate (bytes/s). */
const PAID = 0;
const RATE = 1;

export interface BucketOptions {
  /** Milliseconds; default sharedClock. Every bucket on one memory must use the same clock. */
  readonly now?: () => number;
  /** Seconds of the rate a writer idle that long may write at once (default 1). */
  readonly burstSeconds?: number;
}

function abortReason(signal: AbortSignal | undefined): Error {
  const why: unknown = signal?.reason;
  return why instanceof Error ? why : new CairnError('INTERRUPTED', 'the write was cancelled');
}

export class SharedTokenBucket {
  readonly memory: SharedArrayBuffer;
  readonly #cells: BigInt64Array;
  readonly #now: () => number;
  readonly #burst: bigint;

  /** A bucket over `memory` (made by SharedTokenBucket.create, perhaps in another thread). */
  constructor(memory: SharedArrayBuffer, options: BucketOptions = {}) {
    this.memory = memory;
    this.#cells = new BigInt64Array(memory);
    this.#now = options.now ?? sharedClock;
    this.#burst = BigInt(Math.round((options.burstSeconds ?? 1) * 1e6));
  }

  /** A new, empty bucket of `bytesPerSecond` (null or 0: no limit). */
  static create(bytesPerSecond: number | null, options: BucketOptions = {}): SharedTokenBucket {
    const b = new SharedTokenBucket(new SharedArrayBuffer(16), options);
    Atomics.store(b.#cells, PAID, b.#micros());
    b.setRate(bytesPerSecond);
    return b;
  }

  /** Bytes a second; 0: no limit. */
  get rate(): number {
    return Number(Atomics.load(this.#cells, RATE));
  }

  setRate(bytesPerSecond: number | null): void {
    const r = bytesPerSecond === null || !(bytesPerSecond > 0) ? 0 : Math.max(1, Math.round(bytesPerSecond));
    Atomics.store(this.#cells, RATE, BigInt(r));
  }

  #micros(): bigint {
    return BigInt(Math.round(this.#now() * 1000));
  }

  /** Takes `bytes` from the bucket; returns the milliseconds to wait before writing them (0: now). */
  reserve(bytes: number): number {
    const rate = this.rate;
    if (rate === 0 || !(bytes > 0)) return 0;
    const now = this.#micros();
    const cost = BigInt(Math.ceil((bytes * 1e6) / rate));
    const floor = now - this.#burst;
    for (;;) {
      const paid = Atomics.load(this.#cells, PAID);
      const next = (paid > floor ? paid : floor) + cost;
      if (Atomics.compareExchange(this.#cells, PAID, paid, next) === paid)
        return next > now ? Number(next - now) / 1000 : 0;
    }
  }

  /**
   * Waits until `bytes` may be written. A signal that aborts ends the wait: with its reason, or
   * (`onAbort: 'go'`) at once, as if the bytes were earned.
   */
  async take(bytes: number, signal?: AbortSignal, onAbort: 'fail' | 'go' = 'fail'): Promise<void> {
    if (signal?.aborted) {
      if (onAbort === 'go') return;
      throw abortReason(signal);
    }
    const ms = this.reserve(bytes);
    if (ms <= 0) return;
    await new Promise<void>((resolve, reject) => {
      const stop = () => {
        clearTimeout(timer);
        if (onAbort === 'go') resolve();
        else reject(abortReason(signal));
      };
      const timer = setTimeout(() => {
        signal?.removeEventListener('abort', stop);
        resolve();
      }, Math.ceil(ms));
      signal?.addEventListener('abort', stop, { once: true });
    });
  }

  /**
   * The bucket as a repository's pace, for a writing that `signal` cancels: a pack or restore point
   * waiting then is not written (the wait fails with the signal's reason), while an index file is
   * written at once — what a cancelled backup salvages, the index of the packs it wrote, is kept.
   */
  pace(signal?: AbortSignal): WritePace {
    return { take: (bytes, kind) => this.take(bytes, signal, kind === 'index' ? 'go' : 'fail') };
  }
}
