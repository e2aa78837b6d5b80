/**
 * A backend wrapper that retries transient failures with exponential backoff and full jitter.
 */

import { setTimeout as delay } from 'node:timers/promises';

import { CairnError } from '../errors.ts';
import type {
  Backend,
  BackendFeatures,
  CloneUse,
  ComposeResult,
  FileInfo,
  FileType,
  Handle,
  Segment,
} from './types.ts';
import { CONFIG_HANDLE } from './handle.ts';

export interface RetryOptions {
  /** Attempts in all, the first one included. Default 5. */
  readonly attempts?: number;
  /** Upper bound of the delay before the first retry; it doubles for each later one. Default 200. */
  readonly baseDelayMs?: number;
  /** Cap of the doubling bound. Default 10 000. */
  readonly maxDelayMs?: number;
  /** Waits between attempts. Default: a timer. */
  readonly sleep?: (ms: number) => Promise<void>;
  /** A number in [0, 1) picking the delay within its bound. Default Math.random. */
  readonly random?: () => number;
  /** Called before waiting for a retry; `attempt` is the 1-based number of the attempt that failed. */
  readonly onRetry?: (op: string, target: Handle | FileType, attempt: number, err: unknown) => void;
}

/**
 * Whether a failure may go away by itself: a CairnError whose code is retryable (BACKEND_IO).
 * INTERRUPTED is retryable for the user but not here: the caller asked us to stop.
 */
export function isTransient(err: unknown): boolean {
  return err instanceof CairnError && err.spec.retryable && err.code !== 'INTERRUPTED';
}

/**
 * Retries each operation of `inner` while it fails with a transient error (see `isTransient`), up
 * to `attempts` times, then throws the last error. Other errors (BACKEND_NOT_FOUND, NO_SPACE,
 * USAGE, …) are thrown at once. `list` is retried only until its first item was yielded, so no
 * item is ever yielded twice. A retried `remove` that finds the file gone succeeds: the earlier
 * attempt removed it and only its reply was lost.
 */
export class RetryBackend implements Backend {
  readonly inner: Backend;
  readonly #attempts: number;
  readonly #baseDelayMs: number;
  readonly #maxDelayMs: number;
  readonly #sleep: (ms: number) => Promise<void>;
  readonly #random: () => number;
  readonly #onRetry: RetryOptions['onRetry'];

  constructor(inner: Backend, options: RetryOptions = {}) {
    this.inner = inner;
    this.#attempts = options.attempts ?? 5;
    this.#baseDelayMs = options.baseDelayMs ?? 200;
    this.#maxDelayMs = options.maxDelayMs ?? 10_000;
    this.#sleep = options.sleep ?? ((ms) => delay(ms));
    this.#random = options.random ?? Math.random;
    this.#onRetry = options.onRetry;
    if (!Number.isSafeInteger(this.#attempts) || this.#attempts < 1) {
      throw new CairnError(
        'USAGE',
        `Cannot set up retries: attempts must be a positive integer, not ${this.#attempts}`,
      );
    }
  }

  get location(): string {
    return this.inner.location;
  }

  get features(): BackendFeatures {
    return this.inner.features;
  }

  create(): Promise<void> {
    return this.#retry('create', CONFIG_HANDLE, () => this.inner.create());
  }

  exists(h: Handle): Promise<boolean> {
    return this.#retry('exists', h, () => this.inner.exists(h));
  }

  async *list(type: FileType): AsyncGenerator<FileInfo> {
    for (let attempt = 1; ; attempt++) {
      let yielded = false;
      try {
        for await (const info of this.inner.list(type)) {
          yielded = true;
          yield info;
        }
        return;
      } catch (err) {
        if (yielded || !this.#shouldRetry(err, attempt)) throw err;
        await this.#backoff('list', type, attempt, err);
      }
    }
  }

  stat(h: Handle): Promise<FileInfo> {
    return this.#retry('stat', h, () => this.inner.stat(h));
  }

  read(h: Handle, range?: { offset: number; length: number }): Promise<Buffer> {
    return this.#retry('read', h, () => this.inner.read(h, range));
  }

  write(h: Handle, data: readonly Uint8Array[]): Promise<void> {
    // Safe to repeat: a write replaces the file whole.
    return this.#retry('write', h, () => this.inner.write(h, data));
  }

  remove(h: Handle): Promise<void> {
    let failedBefore = false;
    return this.#retry('remove', h, async () => {
      try {
        await this.inner.remove(h);
      } catch (err) {
        if (failedBefore && err instanceof CairnError && err.code === 'BACKEND_NOT_FOUND') return;
        failedBefore = true;
        throw err;
      }
    });
  }

  canClone(source?: Backend, use?: CloneUse): Promise<boolean> {
    return this.inner.canClone(source, use);
  }

  compose(type: FileType, segments: readonly Segment[], source?: Backend): Promise<ComposeResult> {
    // Safe to repeat: a failed attempt leaves nothing, and the same bytes get the same name.
    return this.#retry('compose', type, () => this.inner.compose(type, segments, source));
  }

  localPath(h: Handle): string | undefined {
    return this.inner.localPath(h);
  }

  retainedUntil(h: Handle): Promise<Date | undefined> {
    return this.#retry('retainedUntil', h, () => this.inner.retainedUntil(h));
  }

  removeStaleTempFiles(olderThanMs: number): Promise<number> {
    return this.inner.removeStaleTempFiles(olderThanMs);
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  /** The wait before retry number `attempt` (1-based): uniform in [0, min(max, base·2^(attempt-1))). */
  delayFor(attempt: number): number {
    const bound = Math.min(this.#maxDelayMs, this.#baseDelayMs * 2 ** (attempt - 1));
    return Math.floor(this.#random() * bound);
  }

  async #retry<T>(op: string, target: Handle | FileType, fn: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn();
      } catch (err) {
        if (!this.#shouldRetry(err, attempt)) throw err;
        await this.#backoff(op, target, attempt, err);
      }
    }
  }

  #shouldRetry(err: unknown, attempt: number): boolean {
    return attempt < this.#attempts && isTransient(err);
  }

  async #backoff(op: string, target: Handle | FileType, attempt: number, err: unknown): Promise<void> {
    this.#onRetry?.(op, target, attempt, err);
    await this.#sleep(this.delayFor(attempt));
  }
}
