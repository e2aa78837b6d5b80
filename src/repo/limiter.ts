/** Bounds work in flight by a budget (bytes, or a count with weight 1). FIFO, no starvation. */
export class Limiter {
  private used = 0;
  private readonly waiters: { weight: number; resolve: () => void }[] = [];
  private readonly budget: number;

  constructor(budget: number) {
    this.budget = budget;
  }

  /** Resolves once `weight` fits; a weight larger than the whole budget runs alone. */
  acquire(weight = 1): Promise<void> {
    if (this.waiters.length === 0 && this.fits(weight)) {
      this.used += weight;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiters.push({ weight, resolve }));
  }

  release(weight = 1): void {
    this.used -= weight;
    while (this.waiters.length > 0) {
      const next = this.waiters[0];
      if (next === undefined || !this.fits(next.weight)) break;
      this.waiters.shift();
      this.used += next.weight;
      next.resolve();
    }
  }

  async run<T>(fn: () => Promise<T>, weight = 1): Promise<T> {
    await this.acquire(weight);
    try {
      return await fn();
    } finally {
      this.release(weight);
    }
  }

  private fits(weight: number): boolean {
    return this.used === 0 || this.used + weight <= this.budget;
  }
}
