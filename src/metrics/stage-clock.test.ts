import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { StageClock } from './stage-clock.ts';

/** A clock whose time the test sets. */
function manual<S extends string>(stages: readonly S[]): { clock: StageClock<S>; at: (t: number) => void } {
  let now = 0;
  return { clock: new StageClock(stages, () => now), at: (t) => void (now = t) };
}

describe('stage clock', () => {
  it('counts a stage busy while at least one of its operations is in flight (union, not sum)', () => {
    const { clock, at } = manual(['source', 'write'] as const);
    at(0);
    clock.begin('source');
    at(10);
    clock.begin('source'); // overlaps the first
    at(30);
    clock.end('source');
    at(40);
    clock.end('source');
    at(50);
    clock.begin('write');
    at(60);
    clock.end('write');
    at(100);
    const r = clock.report(100);
    assert.equal(r.stages.source.busyMs, 40);
    assert.equal(r.stages.source.share, 0.4);
    assert.equal(r.stages.write.busyMs, 10);
    assert.equal(r.bottleneck, 'source');
  });

  it('counts an operation still in flight up to now', () => {
    const { clock, at } = manual(['a', 'b'] as const);
    at(10);
    clock.begin('b');
    at(60);
    assert.equal(clock.busyMs('b'), 50);
    const r = clock.report(100);
    assert.equal(r.stages.b.share, 0.5);
    assert.equal(r.bottleneck, 'b');
  });

  it('merges intervals recorded elsewhere (worker threads) with each other and with live ones', () => {
    const { clock, at } = manual(['seal'] as const);
    clock.record('seal', 10, 20);
    clock.record('seal', 15, 30); // overlaps
    clock.record('seal', 50, 60);
    clock.record('seal', 0, 5); // out of order
    at(40);
    clock.begin('seal');
    clock.record('seal', 35, 45); // overlaps the open interval
    at(55);
    assert.equal(clock.busyMs('seal'), 5 + 20 + (60 - 35));
    clock.end('seal');
    assert.equal(clock.busyMs('seal'), 5 + 20 + (60 - 35));
    assert.equal(clock.report(0).stages.seal.share, 0, 'no wall time, no share');
  });

  it('times async and sync work, and picks the first stage on a tie', async () => {
    const clock = new StageClock(['x', 'y'] as const);
    const v = await clock.time('x', async () => {
      await new Promise((r) => setTimeout(r, 20));
      return 7;
    });
    assert.equal(v, 7);
    assert.throws(() =>
      clock.timeSync('y', () => {
        throw new Error('boom');
      }),
    );
    assert.ok(clock.busyMs('x') >= 15);
    clock.end('y'); // an end without a begin is ignored
    const tie = new StageClock(['p', 'q'] as const).report(10);
    assert.equal(tie.bottleneck, 'p');
    assert.throws(() => clock.begin('z' as 'x'), RangeError);
  });

  it('equals the length of the union of any intervals (property), also past the kept window', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 100_000 }), fc.integer({ min: 0, max: 60 })), {
          minLength: 1500,
          maxLength: 3000,
        }),
        (raw) => {
          // Roughly in time order with local disorder, as worker replies arrive.
          const intervals = raw
            .map(([s, len], i) => [i * 40 + (s % 50), i * 40 + (s % 50) + len] as const)
            .sort((a, b) => a[0] - b[0]);
          for (let i = 0; i + 1 < intervals.length; i += 3) {
            const t = intervals[i]!;
            intervals[i] = intervals[i + 1]!;
            intervals[i + 1] = t;
          }
          const { clock, at } = manual(['s'] as const);
          for (const [s, e] of intervals) clock.record('s', s, e);
          at(1e9);
          const sorted = [...intervals].sort((a, b) => a[0] - b[0]);
          let union = 0;
          let curS = -1;
          let curE = -1;
          for (const [s, e] of sorted) {
            if (s > curE) {
              union += curE - curS;
              curS = s;
              curE = e;
            } else curE = Math.max(curE, e);
          }
          union += curE - curS;
          assert.equal(clock.busyMs('s'), union);
        },
      ),
      { numRuns: 50 },
    );
  });

  it('keeps its memory bounded over many intervals without losing busy time', () => {
    const { clock, at } = manual(['s'] as const);
    for (let i = 0; i < 100_000; i++) clock.record('s', i * 40, i * 40 + 10);
    at(4_000_000);
    assert.equal(clock.busyMs('s'), 1_000_000);
    clock.record('s', 5, 20); // long folded away: not counted again
    assert.equal(clock.busyMs('s'), 1_000_000);
  });

  it('never gives a share above 1', () => {
    const { clock, at } = manual(['a'] as const);
    clock.record('a', 0, 500);
    at(500);
    assert.equal(clock.report(100).stages.a.share, 1);
  });
});
