import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { RateTracker } from './rate.ts';

describe('rate tracker', () => {
  it('gives Δvalue / Δt per interval, not an instantaneous value', () => {
    const r = new RateTracker();
    assert.equal(r.sample(1000, 0), undefined, 'the first sample is the baseline');
    assert.equal(r.rate, 0);
    assert.deepEqual(r.sample(3000, 1000), { t: 1000, value: 3000, rate: 2000 });
    assert.deepEqual(r.sample(3000, 1500), { t: 1500, value: 3000, rate: 0 });
    assert.deepEqual(r.sample(4000, 2000), { t: 2000, value: 4000, rate: 2000 });
    assert.equal(r.rate, 2000);
    assert.deepEqual(
      r.series().map((s) => s.rate),
      [2000, 0, 2000],
    );
  });

  it('treats a value going down as a reset: the new value is the increase, never a negative rate', () => {
    const r = new RateTracker();
    r.sample(5000, 0);
    assert.equal(r.sample(100, 1000)?.rate, 100);
    assert.equal(r.sample(300, 2000)?.rate, 200, 'counts on from the reset value');
    assert.equal(r.sample(0, 3000)?.rate, 0);
  });

  it('ignores a sample with Δt ≤ 0 and counts its increase in the next interval', () => {
    const r = new RateTracker();
    r.sample(0, 1000);
    assert.equal(r.sample(500, 1000), undefined);
    assert.equal(r.sample(600, 900), undefined, 'time going back is ignored too');
    assert.equal(r.sample(1000, 2000)?.rate, 1000);
    assert.equal(r.series().length, 1);
    assert.equal(r.sample(Number.NaN, 3000), undefined);
  });

  it('keeps the last `capacity` samples, oldest first', () => {
    const r = new RateTracker(3);
    for (let i = 0; i <= 10; i++) r.sample(i * 10, i * 1000);
    assert.deepEqual(
      r.series().map((s) => s.t),
      [8000, 9000, 10000],
    );
    assert.equal(r.latest()?.t, 10000);
    r.clear();
    assert.deepEqual(r.series(), []);
    assert.equal(r.sample(5, 0), undefined, 'a cleared tracker starts with a new baseline');
    assert.throws(() => new RateTracker(0), RangeError);
  });

  it('never yields a negative or non-finite rate, and stays within capacity (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 20 }),
        fc.array(fc.tuple(fc.nat({ max: 1e9 }), fc.integer({ min: -100, max: 5000 }))),
        (capacity, steps) => {
          const r = new RateTracker(capacity);
          let t = 0;
          for (const [value, dt] of steps) {
            t += dt;
            r.sample(value, t);
          }
          const s = r.series();
          assert.ok(s.length <= capacity);
          for (const x of s) assert.ok(Number.isFinite(x.rate) && x.rate >= 0);
          for (let i = 1; i < s.length; i++) assert.ok(s[i]!.t > s[i - 1]!.t, 'series is in time order');
        },
      ),
    );
  });

  it('integrates back to the counter: Σ rate·Δt equals the total increase without resets', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat({ max: 1e6 }), fc.integer({ min: 1, max: 1000 })), { maxLength: 50 }),
        (steps) => {
          const r = new RateTracker(100);
          let t = 0;
          let v = 0;
          r.sample(v, t);
          let sum = 0;
          for (const [inc, dt] of steps) {
            t += dt;
            v += inc;
            const s = r.sample(v, t);
            sum += (s!.rate * dt) / 1000;
          }
          assert.ok(Math.abs(sum - v) <= 1e-6 * Math.max(1, v));
        },
      ),
    );
  });
});
