/** Properties of the engine over generated inputs of every style. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { simulate } from './engine.ts';
import { resolvePoints } from './parse.ts';
import { arbInput } from './testing.testing.ts';
import type { SimulationInput } from './types.ts';

const RUNS = { numRuns: 60 };

describe('simulation properties', () => {
  it('sizes and totals are never negative, and the totals add up', () => {
    fc.assert(
      fc.property(arbInput, (input) => {
        const r = simulate(input);
        const t = r.totals;
        for (const f of r.files) {
          assert.ok(f.size >= 0 && f.fileSize >= 0 && f.transferBytes >= 0, `${f.name}: ${f.size}`);
          assert.ok(f.size <= f.fileSize, `${f.name} takes no more than its own size`);
        }
        for (const v of Object.values(t)) assert.ok(Number.isInteger(v) && v >= 0);
        // Whole bytes add up exactly below 2^53 (8 PiB); above, as doubles do.
        const same = (a: number, b: number) =>
          assert.ok(a === b || (a > Number.MAX_SAFE_INTEGER && Math.abs(a - b) <= a * 1e-12), `${a} ≠ ${b}`);
        same(t.total, t.fulls + t.incrementals);
        same(t.grandTotal, t.total + t.workingSpace);
        same(
          t.total,
          r.files.reduce((s, f) => s + f.size, 0),
        );
        assert.ok(t.total > 0);
        assert.ok(r.log.length <= input.logRuns);
        assert.equal(r.log.at(-1)?.run ?? r.worstCase.run, r.worstCase.run);
        same(r.log.at(-1)?.total ?? t.total, t.total);
      }),
      RUNS,
    );
  });

  it('more retention points never give a smaller worst case', () => {
    // Run until retention has settled (years 0). Within a fixed number of years it can: more
    // points delay a backup copy's GFS archive (which makes a second full) past the end.
    fc.assert(
      fc.property(arbInput, fc.integer({ min: 1, max: 10 }), (generated, more) => {
        const input: SimulationInput = { ...generated, years: 0 };
        const points = resolvePoints(input.points, input.intervalHours);
        const fewer: SimulationInput = { ...input, points };
        const larger: SimulationInput = {
          ...input,
          points: input.style === 'replica' ? Math.min(28, points + more) : points + more,
        };
        const a = simulate(fewer).totals;
        const b = simulate(larger).totals;
        // A byte of slack for rounding each file to whole bytes.
        const slack = 64;
        assert.ok(b.grandTotal + slack >= a.grandTotal, `grand total ${b.grandTotal} < ${a.grandTotal}`);
        // Without growth (and outside Cairn, whose working space is what a run frees) the working
        // space is fixed, so the stored total at the worst moment grows too.
        if (input.growthPercent === 0 && input.style !== 'cairn')
          assert.ok(b.total + slack >= a.total, `total ${b.total} < ${a.total}`);
      }),
      { numRuns: 40 },
    );
  });

  it('is deterministic: the same input gives the same result', () => {
    fc.assert(
      fc.property(arbInput, (input) => {
        assert.deepEqual(simulate(input), simulate(structuredClone(input)));
      }),
      { numRuns: 30 },
    );
  });
});
