/**
 * The shared token bucket of a tenant's bandwidth, on a clock the test moves: the waits it asks
 * for, its burst after idleness, its rate changes, and the bound it keeps — by any time after its
 * creation its writers together wrote at most rate × that time, whatever they ask and when. Two
 * worker threads hammering one bucket lose no reservation.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Worker } from 'node:worker_threads';
import fc from 'fast-check';
import { isCairnError, CairnError } from '../errors.ts';
import { SharedTokenBucket } from './throttle.ts';

function clock(start = 1_000_000) {
  const c = { t: start, now: () => c.t };
  return c;
}

describe('SharedTokenBucket', () => {
  it('starts empty: a writer waits for the bytes it asks, one after another', () => {
    const c = clock();
    const b = SharedTokenBucket.create(1000, { now: c.now, burstSeconds: 1 });
    assert.equal(b.rate, 1000);
    assert.equal(b.reserve(500), 500);
    assert.equal(b.reserve(500), 1000, 'the second waits behind the first');
    c.t += 1000;
    assert.equal(b.reserve(250), 250, 'paid up to now: the next bytes wait for their own time');
  });

  it('lets a writer idle for the burst time write one burst at once, not more', () => {
    const c = clock();
    const b = SharedTokenBucket.create(1000, { now: c.now, burstSeconds: 1 });
    c.t += 60_000;
    assert.equal(b.reserve(1000), 0, 'one second of the rate at once');
    assert.equal(b.reserve(1), 1, 'then at the rate');
    c.t += 60_000;
    assert.equal(b.reserve(3000), 2000, 'a write larger than the burst waits for the rest');
  });

  it('is one bucket for every writer on its memory (another thread makes a bucket of the same memory)', () => {
    const c = clock();
    const a = SharedTokenBucket.create(2000, { now: c.now });
    const b = new SharedTokenBucket(a.memory, { now: c.now });
    assert.equal(b.rate, 2000);
    assert.equal(a.reserve(2000), 1000);
    assert.equal(b.reserve(2000), 2000);
    assert.equal(a.reserve(2000), 3000);
  });

  it('has no limit at rate 0 or null, and a changed rate holds from the next request', () => {
    const c = clock();
    const b = SharedTokenBucket.create(null, { now: c.now });
    assert.equal(b.rate, 0);
    assert.equal(b.reserve(10 ** 12), 0);
    b.setRate(100);
    assert.equal(b.reserve(100), 1000);
    b.setRate(1000);
    assert.equal(b.reserve(1000), 2000, 'the earlier debt stays, the new bytes cost at the new rate');
    b.setRate(0);
    assert.equal(b.reserve(10 ** 9), 0);
  });

  it('keeps every writer together under rate × time since its creation, and burst + rate × time in any window', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 10_000_000 }),
        fc.double({ min: 0, max: 3, noNaN: true }),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 5000 }), fc.integer({ min: 1, max: 5_000_000 })), {
          minLength: 1,
          maxLength: 60,
        }),
        (rate, burstSeconds, steps) => {
          const c = clock(0);
          const b = SharedTokenBucket.create(rate, { now: c.now, burstSeconds });
          // Each grant: when its bytes may be written (ms) and how many.
          const writes: { at: number; bytes: number }[] = [];
          for (const [advance, bytes] of steps) {
            c.t += advance;
            writes.push({ at: c.t + b.reserve(bytes), bytes });
          }
          // Rounding: one microsecond a grant.
          const slack = (n: number) => (rate * n) / 1e6 + 1e-6;
          // Grants are written in the order they were made (their times do not decrease).
          for (let i = 1; i < writes.length; i++) assert.ok(writes[i]!.at >= writes[i - 1]!.at);
          for (let j = 0; j < writes.length; j++) {
            const w = writes[j]!;
            const by = writes.slice(0, j + 1).reduce((n, x) => n + x.bytes, 0);
            assert.ok(by <= (rate * w.at) / 1000 + slack(j + 1), `${by} bytes by ${w.at} ms`);
            for (let i = 0; i <= j; i++) {
              const v = writes[i]!;
              const inWindow = writes.slice(i, j + 1).reduce((n, x) => n + x.bytes, 0);
              // The first write of a window is one burst, or its own bytes when they are more.
              const head = Math.max(rate * burstSeconds, v.bytes);
              assert.ok(
                inWindow <= head + (rate * (w.at - v.at)) / 1000 + slack(j + 1),
                `${inWindow} bytes from ${v.at} to ${w.at} ms`,
              );
            }
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it('ends a wait when its signal aborts, with the reason', async () => {
    const b = SharedTokenBucket.create(1, { burstSeconds: 0 });
    const abort = new AbortController();
    const waiting = b.take(10_000, abort.signal);
    setTimeout(() => abort.abort(new CairnError('INTERRUPTED', 'canceled by request')), 20);
    await assert.rejects(waiting, (err: unknown) => isCairnError(err, 'INTERRUPTED'));
    await assert.rejects(b.take(1, abort.signal), (err: unknown) => isCairnError(err, 'INTERRUPTED'));
  });

  it("as a cancelled backup's pace: no pack or restore point is written, its index file at once", async () => {
    // One byte a second: a wait that is not ended would outlast the test.
    const b = SharedTokenBucket.create(1, { burstSeconds: 0 });
    const abort = new AbortController();
    const pace = b.pace(abort.signal);
    const pack = pace.take(10_000, 'pack');
    const index = pace.take(10_000, 'index');
    setTimeout(() => abort.abort(new CairnError('INTERRUPTED', 'canceled by request')), 20);
    await assert.rejects(pack, (err: unknown) => isCairnError(err, 'INTERRUPTED'));
    await index;
    await assert.rejects(pace.take(1, 'pack'), (err: unknown) => isCairnError(err, 'INTERRUPTED'));
    await assert.rejects(pace.take(1, 'snapshot'), (err: unknown) => isCairnError(err, 'INTERRUPTED'));
    const first = await Promise.race([
      pace.take(10_000, 'index').then(() => 'written'),
      new Promise((resolve) => setImmediate(() => resolve('still waiting'))),
    ]);
    assert.equal(first, 'written');
  });

  it('loses no reservation when two worker threads take from one bucket at once', async () => {
    // A clock that stands still: every reservation then only adds its cost to the paid time.
    const rate = 1_000_000; // one byte costs one microsecond
    const b = SharedTokenBucket.create(rate, { now: () => 5000, burstSeconds: 0 });
    const url = new URL('./throttle.ts', import.meta.url).href;
    const code = `
      const { workerData, parentPort } = require('node:worker_threads');
      import(workerData.url).then(({ SharedTokenBucket }) => {
        const b = new SharedTokenBucket(workerData.memory, { now: () => 5000, burstSeconds: 0 });
        let last = 0;
        for (let i = 0; i < workerData.n; i++) last = b.reserve(1);
        parentPort.postMessage(last);
      });`;
    const n = 20_000;
    const run = () =>
      new Promise<number>((resolve, reject) => {
        const w = new Worker(code, { eval: true, workerData: { url, memory: b.memory, n } });
        w.once('message', resolve);
        w.once('error', reject);
      });
    const lasts = await Promise.all([run(), run()]);
    // Paid up to 2n µs after the start: the next byte waits 2n + 1 µs.
    assert.equal(b.reserve(1), (2 * n + 1) / 1000, `the workers' last waits: ${lasts.join(', ')} ms`);
  });
});
