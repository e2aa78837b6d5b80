/**
 * The engine against cases worked out by hand. Unless a case says otherwise: 1000 GiB used, 10 %
 * change per run, 50 % left after reduction, daily runs from Monday 2024-01-01 22:00 UTC. So a
 * full is 1000 × 50 % = 500 GiB, an incremental 1000 × 10 % × 50 % = 50 GiB, and the working
 * space 1000 GiB × 50 % × 1.05 (RPS's first bucket) = 525 GiB.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { bandwidthWindows, fastCloneChangePercent, simulate } from './engine.ts';
import { checkInput } from './input.ts';
import type { SimulatedFile, SimulationResult } from './types.ts';

const GiB = 1024 ** 3;
const START = '2024-01-01T22:00:00Z';

function sim(extra: Record<string, unknown> = {}): SimulationResult {
  return simulate(checkInput({ usedBytes: 1000 * GiB, start: START, ...extra }));
}

const gib = (bytes: number) => Math.round((bytes / GiB) * 1000) / 1000;
/** "F 2024-01-01 500" per file: code, point day, size in GiB. */
const shape = (files: readonly SimulatedFile[]) =>
  files.map((f) => `${f.code} ${f.pointDate.slice(0, 10)} ${gib(f.size)}`);
const day = (d: number) => `2024-01-${String(d).padStart(2, '0')}`;
/** Incrementals of `code` for days from..to of January 2024, each `size` GiB. */
const incs = (code: string, from: number, to: number, size = 50) =>
  Array.from({ length: to - from + 1 }, (_, i) => `${code} ${day(from + i)} ${size}`);

describe('forward incremental', () => {
  it('forever forward keeps one full and 13 incrementals, first at run 14', () => {
    // Run 1 (Jan 1) is the full, runs 2–14 add incrementals: 14 points, 500 + 13 × 50 = 1150 GiB.
    // Run 15 makes 15 points, so the full (point 15) takes in the oldest incremental: again one
    // full and 13 incrementals, 1150 GiB. The worst case is the first time: run 14, Jan 14.
    // Grand total 1150 + 525 = 1675 GiB. RPS predicts 24 h × (14 + 2) + 48 h = 18 days: 18 runs.
    const r = sim();
    assert.equal(r.points, 14);
    assert.equal(r.runs, 18);
    assert.deepEqual(r.worstCase, { run: 14, at: '2024-01-14T22:00:00Z' });
    assert.deepEqual(shape(r.files), ['F 2024-01-01 500', ...incs('I', 2, 14)]);
    assert.deepEqual(
      r.files.map((f) => f.retention),
      ['14', '13', '12', '11', '10', '9', '8', '7', '6', '5', '4', '3', '2', '1'],
    );
    assert.equal(gib(r.totals.fulls), 500);
    assert.equal(gib(r.totals.incrementals), 650);
    assert.equal(gib(r.totals.total), 1150);
    assert.equal(gib(r.totals.workingSpace), 525);
    assert.equal(gib(r.totals.grandTotal), 1675);
    assert.equal(r.lastRun, '2024-01-18T22:00:00Z');
  });

  it('forever forward merges the oldest incremental into the full once retention is full', () => {
    // Run 15 (Jan 15): write the VIB (SEQ 1× 50 GiB), merge the Jan 2 VIB into the full (RAND
    // 2× 50 GiB), delete it. I/O 50 + 2 × 50 = 150 GiB; 1150 GiB stored after.
    const run15 = simulateRun15();
    assert.deepEqual(
      run15.actions.map((a) => [a.text, a.pattern, a.multiplier, gib(a.bytes)]),
      [
        ['Created incremental 2024-01-15T220000.vib', 'sequential', 1, 50],
        ['Merged the oldest VIB into the full', 'random', 2, 50],
        ['Deleted the merged 2024-01-02T220000.vib', 'none', 0, 50],
      ],
    );
    assert.equal(gib(run15.io.total), 150);
    assert.equal(gib(run15.io.random2x), 50);
    assert.equal(gib(run15.total), 1150);
  });

  it('weekly synthetic fulls keep 3 fulls and up to 17 incrementals, with dependency keeps', () => {
    // Mon Jan 1 full; Sat Jan 6, 13, 20 synthetic fulls (the run's VIB becomes a full). On Thu
    // Jan 25 the chains are S Jan 20 + 5 VIBs, S Jan 13 + 6, S Jan 6 + 6: the 14 newest points
    // reach Jan 12, a VIB of the Jan 6 chain, which needs Jan 6–11 too: 20 points, 3 × 500 +
    // 17 × 50 = 2350 GiB. Points 15–20 are kept for point 14: "20 (14)". On Friday the Jan 6
    // chain goes. (Earlier, Jan 18, the short first chain made 3 fulls + 15 = 2250 GiB.)
    const r = sim({ syntheticFullDays: ['sat'] });
    assert.deepEqual(r.worstCase, { run: 25, at: '2024-01-25T22:00:00Z' });
    assert.deepEqual(shape(r.files), [
      'S 2024-01-06 500',
      ...incs('I', 7, 12),
      'S 2024-01-13 500',
      ...incs('I', 14, 19),
      'S 2024-01-20 500',
      ...incs('I', 21, 25),
    ]);
    assert.deepEqual(
      r.files.slice(0, 7).map((f) => f.retention),
      ['20 (14)', '19 (14)', '18 (14)', '17 (14)', '16 (14)', '15 (14)', '14'],
    );
    assert.equal(r.files[0]?.keptFor, 14);
    assert.equal(r.totals.fullCount, 3);
    assert.equal(r.totals.incrementalCount, 17);
    assert.equal(gib(r.totals.total), 2350);
    assert.equal(gib(r.totals.grandTotal), 2875);
  });

  it('a synthetic full costs random I/O of a full; an active full a sequential full', () => {
    // Sat Jan 20 with synthetic fulls: VIB SEQ 1× 50, synthetic RAND 2× 500, VIB deleted:
    // I/O 50 + 1000 = 1050 GiB. With active fulls on Saturday: a full, SEQ 1× 500 GiB.
    const synthetic = sim({ syntheticFullDays: ['sat'], logRuns: 6 }).log[0];
    assert.equal(synthetic?.at, '2024-01-20T22:00:00Z');
    assert.deepEqual(
      synthetic?.actions.map((a) => [a.pattern, a.multiplier, gib(a.bytes)]),
      [
        ['sequential', 1, 50],
        ['random', 2, 500],
        ['none', 0, 50],
      ],
    );
    assert.equal(gib(synthetic?.io.total ?? 0), 1050);
    const active = sim({ activeFullDays: ['sat'], logRuns: 6 });
    // Same shape and total as the synthetic case, but the fulls are active fulls (F).
    assert.deepEqual(
      shape(active.files).map((s) => s.replace(/^S/, 'F')),
      shape(sim({ syntheticFullDays: ['sat'] }).files).map((s) => s.replace(/^S/, 'F')),
    );
    assert.equal(active.files[0]?.code, 'F');
    assert.equal(gib(active.totals.total), 2350);
    const sat = active.log[0];
    assert.deepEqual(
      sat?.actions.map((a) => [a.text, a.pattern, gib(a.bytes)]),
      [['Created active full 2024-01-20T220000.vbk', 'sequential', 500]],
    );
  });

  it('fast clone: a synthetic full costs one change, until its chain is gone', () => {
    // The synthetic full of Sat Jan 13 is linked to the Fri Jan 12 VIB: one day apart, RPS
    // counts d = 10 % changed, so it shares 1000 × 90 % × 50 % = 450 GiB and costs 50 GiB. On
    // Jan 25: S Jan 6 (its chain of Jan 1–5 deleted, so it holds its 500 GiB itself), L Jan 13,
    // L Jan 20 at 50 GiB, 17 VIBs: 500 + 50 + 50 + 850 = 1450 GiB.
    const r = sim({ syntheticFullDays: ['sat'], fastClone: true });
    assert.deepEqual(r.worstCase, { run: 25, at: '2024-01-25T22:00:00Z' });
    assert.deepEqual(shape(r.files), [
      'S 2024-01-06 500',
      ...incs('I', 7, 12),
      'L 2024-01-13 50',
      ...incs('I', 14, 19),
      'L 2024-01-20 50',
      ...incs('I', 21, 25),
    ]);
    assert.equal(r.files[7]?.linkedTo, '2024-01-12T220000.vib');
    assert.equal(gib(r.files[7]?.fileSize ?? 0), 500);
    assert.equal(gib(r.totals.total), 1450);
  });

  it('a monthly active full runs on the chosen weekday of the chosen months only', () => {
    // First Saturday: Jan 6, Feb 3, Mar 2 2024. Last Sunday: Jan 28, Feb 25.
    const fullsOn = (monthly: object) =>
      sim({ activeFullMonthly: monthly, points: 7, years: 70 / 365, logRuns: 1000 })
        .log.flatMap((run) => run.actions)
        .filter((a) => a.text.startsWith('Created active full'))
        .map((a) => a.text.slice(20, 30));
    assert.deepEqual(fullsOn({ week: 'first', weekday: 'sat' }).slice(0, 2), ['2024-01-06', '2024-02-03']);
    assert.deepEqual(fullsOn({ week: 'last', weekday: 'sun' }).slice(0, 2), ['2024-01-28', '2024-02-25']);
    assert.deepEqual(fullsOn({ week: 'first', weekday: 'sat', months: ['feb'] }).slice(0, 1), ['2024-02-03']);
  });

  it('grows the source by whole days: 1000 GiB × 1.1³ after three years', () => {
    // Growth 10 %/year for 3 years: runs through day 1095, where the source is 1000 × 1.1³ =
    // 1331 GiB and so the worst case. The full sits at point 14 (day 1082): 500 × 1.1^(1082/365);
    // incrementals on days 1083–1095: 50 × 1.1^(day/365). Working space 1331 × 50 % × 1.05.
    const r = sim({ growthPercent: 10, years: 3 });
    assert.equal(r.runs, 1096);
    assert.equal(r.worstCase.run, 1096);
    let total = 500 * 1.1 ** (1082 / 365);
    for (let d = 1083; d <= 1095; d++) total += 50 * 1.1 ** (d / 365);
    assert.ok(Math.abs(r.totals.total / GiB - total) < 1e-6 * total);
    assert.ok(Math.abs(r.totals.workingSpace / GiB - 1331 * 0.5 * 1.05) < 1e-6);
    assert.equal(gib(r.files.at(-1)?.sourceBytes ?? 0), 1331);
    assert.equal(gib(r.bandwidth.changedBytes), 133.1);
  });

  it('hourly runs count a period in runs: 1d every 12 hours is 2 points', () => {
    const r = sim({ intervalHours: 12, points: '1d' });
    assert.equal(r.points, 2);
    assert.deepEqual(shape(r.files), ['F 2024-01-01 500', 'I 2024-01-02 50']);
  });
});

/** Run 15 of forever forward, from a simulation whose worst case is at its end (growth). */
function simulateRun15() {
  // With a tiny growth every run is larger than the last, so the worst case is run 15 and the log
  // holds it; sizes grow by under 0.001 GiB.
  const r = sim({ growthPercent: 0.0001, years: 14 / 365, logRuns: 1 });
  const run = r.log[0];
  assert.equal(run?.run, 15);
  return run;
}

describe('reverse incremental', () => {
  it('keeps the newest point as a full and 13 reverse incrementals', () => {
    // Each run reads the full, writes the previous point as a VRB (50 GiB) and updates the full:
    // RAND 3× 50 GiB. After run 14: 13 VRBs + the full at Jan 14 = 650 + 500 = 1150 GiB; run 15
    // drops the oldest VRB, which no newer point needs.
    const r = sim({ style: 'reverse', logRuns: 1 });
    assert.deepEqual(r.worstCase, { run: 14, at: '2024-01-14T22:00:00Z' });
    assert.deepEqual(shape(r.files), [...incs('R', 1, 13), 'S 2024-01-14 500']);
    assert.equal(gib(r.totals.total), 1150);
    assert.equal(gib(r.totals.grandTotal), 1675);
    const run = r.log[0];
    assert.deepEqual(
      run?.actions.map((a) => [a.pattern, a.multiplier, gib(a.bytes)]),
      [['random', 3, 50]],
    );
    assert.equal(gib(run?.io.random3x ?? 0), 50);
    assert.equal(gib(run?.io.total ?? 0), 150);
  });
});

describe('backup copy job with GFS', () => {
  it('archives the weekly full and keeps two of them', () => {
    // 7 points, 2 weekly (Sunday 22:00). The Sun Jan 7 VIB is tagged W; merges move the full
    // forward to Jan 7 (run 13), and on Jan 14 the tagged full is archived (G) while a new full
    // is made from it and the Jan 8 VIB. On Jan 21 the Jan 14 full is archived too: G Jan 7
    // (2W), G Jan 14 (1W), S Jan 15 + VIBs Jan 16–21 = 3 × 500 + 6 × 50 = 1800 GiB, first at
    // run 21. On Jan 28 the third archive replaces G Jan 7: still 1800 GiB.
    const r = sim({ style: 'backup-copy', gfs: { weekly: 2 }, logRuns: 1 });
    assert.equal(r.points, 7);
    assert.deepEqual(r.worstCase, { run: 21, at: '2024-01-21T22:00:00Z' });
    assert.deepEqual(shape(r.files), [
      'G 2024-01-07 500',
      'G 2024-01-14 500',
      'S 2024-01-15 500',
      ...incs('I', 16, 21),
    ]);
    assert.deepEqual(
      r.files.map((f) => f.retention),
      ['2W', '1W', '7', '6', '5', '4', '3', '2', '1 *W'],
    );
    assert.deepEqual(r.files[0]?.gfs, { W: 2 });
    assert.equal(gib(r.totals.total), 1800);
    assert.equal(gib(r.totals.grandTotal), 2325);
    // Run 21: copy the VIB (SEQ 1× 50), then the new full from the full and the Jan 15 VIB is
    // written sequentially, read and write: SEQ 2× 500 GiB. I/O 50 + 1000 = 1050 GiB.
    assert.deepEqual(
      r.log[0]?.actions.map((a) => [a.text, a.pattern, a.multiplier, gib(a.bytes)]),
      [
        ['Copied incremental 2024-01-21T220000.vib', 'sequential', 1, 50],
        ['Copied the full and the oldest VIB into a new full 2024-01-15T220000.vbk', 'sequential', 2, 500],
        ['Deleted the copied 2024-01-15T220000.vib', 'none', 0, 50],
        ['Archived 2024-01-14T220000.vbk as a GFS full', 'none', 0, 0],
      ],
    );
    assert.equal(gib(r.log[0]?.io.total ?? 0), 1050);
  });

  it('with fast clone, archives and the chain full share blocks with the archive before them', () => {
    // As above, but each new full is linked to the archive it was made from, and relinked as
    // merges move it on: a point k days after its link costs 500 GiB × min(staircase, k × 10 %)
    // (RPS method 4: under 2 days 10 %, under 14 days 30 %). G Jan 7: 500. H Jan 14, 7 days after
    // Jan 7: 30 % → 150. The chain full: made at Jan 15 (1 day, 50), merged to Jan 16 (2 days,
    // 20 % → 100), Jan 17 (3 days, 30 % → 150) on run 23. Total 500 + 150 + 150 + 6 × 50 = 1100
    // GiB, and never more: after Jan 28 the Jan 7 archive goes and Jan 14 holds its own 500.
    const r = sim({ style: 'backup-copy', gfs: { weekly: 2 }, fastClone: true });
    assert.deepEqual(r.worstCase, { run: 23, at: '2024-01-23T22:00:00Z' });
    assert.deepEqual(shape(r.files), [
      'G 2024-01-07 500',
      'H 2024-01-14 150',
      'L 2024-01-17 150',
      ...incs('I', 18, 23),
    ]);
    assert.deepEqual(
      r.files.map((f) => f.linkedTo),
      [null, '2024-01-07T220000.vbk', '2024-01-14T220000.vbk', null, null, null, null, null, null],
    );
    assert.equal(gib(r.totals.total), 1100);
  });

  it('with GFS active fulls makes a new full at each GFS point', () => {
    // Sunday Jan 7 and 14 are new fulls tagged W. On Fri Jan 19 the 7 newest points reach the
    // Jan 13 VIB, which needs the Jan 7 full and Jan 8–12: S Jan 7 + 6 VIBs, S Jan 14 + 5 VIBs
    // = 2 × 500 + 11 × 50 = 1550 GiB. On Saturday the Jan 7 full is archived (GFS 2W) and its
    // VIBs go: 2 fulls + 6 VIBs.
    const r = sim({ style: 'backup-copy', gfs: { weekly: 2 }, gfsActiveFull: true });
    assert.deepEqual(r.worstCase, { run: 19, at: '2024-01-19T22:00:00Z' });
    assert.deepEqual(shape(r.files), [
      'S 2024-01-07 500',
      ...incs('I', 8, 13),
      'S 2024-01-14 500',
      ...incs('I', 15, 19),
    ]);
    assert.equal(r.files[0]?.retention, '13 (7) 2W');
    assert.equal(r.files[7]?.retention, '6 1W');
    assert.equal(gib(r.totals.total), 1550);
  });
});

describe('replica', () => {
  it('keeps the base disk and 6 deltas, all uncompressed', () => {
    // A replica is stored as it is: disk 1000 GiB, deltas 1000 × 10 % = 100 GiB, plus an empty
    // protective snapshot. Run 7: disk + 6 deltas = 1600 GiB. Run 8 commits the oldest delta
    // into the disk. Working space: 1000 × min(3 × 10 %, 100 %) × 1.05 = 315 GiB.
    const r = sim({ style: 'replica', logRuns: 1 });
    assert.deepEqual(r.worstCase, { run: 7, at: '2024-01-07T22:00:00Z' });
    assert.deepEqual(shape(r.files), ['D 2024-01-01 1000', ...incs('P', 2, 7, 100), 'P 2024-01-07 0']);
    assert.equal(r.files.at(-1)?.retention, '*');
    assert.equal(r.totals.incrementalCount, 6);
    assert.equal(gib(r.totals.total), 1600);
    assert.equal(gib(r.totals.workingSpace), 315);
    // What crosses the wire is still reduced: 100 GiB changed, 50 GiB sent.
    assert.equal(gib(r.files[1]?.transferBytes ?? 0), 50);
  });

  it('commits the oldest delta into the disk once there are too many', () => {
    // Run 8: the disk moves to Jan 2 (RAND 2× 100 GiB) and the deltas are Jan 3–8.
    const r = sim({ style: 'replica', growthPercent: 0.0001, years: 7 / 365, logRuns: 1 });
    assert.equal(r.worstCase.run, 8);
    assert.deepEqual(shape(r.files).slice(0, 2), ['D 2024-01-02 1000', 'P 2024-01-03 100']);
    const commit = r.log[0]?.actions.find((a) => a.pattern === 'random');
    assert.deepEqual([commit?.multiplier, gib(commit?.bytes ?? 0)], [2, 100]);
  });
});

describe('cairn', () => {
  it('stores one full and the changes; forgetting the oldest frees what changed since', () => {
    // Run 1 stores 500 GiB, every later run 50 GiB: after run 14, 1150 GiB. Run 15 forgets the
    // Jan 1 snapshot: Jan 2, now the oldest, holds all its data (500 GiB; it held 50 and shared
    // the rest with Jan 1), and what only Jan 1 held (50 GiB) is freed. Stored 1150 GiB, and 50 GiB on disk until prune deletes it:
    // 1200 GiB, first at run 15.
    const r = sim({ style: 'cairn' });
    assert.deepEqual(r.worstCase, { run: 15, at: '2024-01-15T22:00:00Z' });
    assert.deepEqual(shape(r.files), ['C 2024-01-02 500', ...incs('C', 3, 15)]);
    assert.equal(r.totals.fullCount, 14);
    assert.equal(gib(r.totals.total), 1150);
    assert.equal(gib(r.totals.workingSpace), 50);
    assert.equal(gib(r.totals.grandTotal), 1200);
  });

  it('forgetting a point between kept ones frees only what no kept point shares', () => {
    // 2 points and 1 weekly, from Sat Jan 6. A kept snapshot costs the data the kept one before it
    // lacks: 1000 × (RPS's change estimate over the days between) × 50 %, at most what the two
    // held together. A Jan 6 (500), B Sun Jan 7 (50, tagged W), C Jan 8 (50).
    // Jan 8: A goes; B becomes the oldest: 500, freed 50 (B 500, C 50).
    // Jan 10: C goes; D is 2 days after B: min(3d, 2 × d) = 20 % → 100 = C + D, nothing freed.
    // Jan 11: D goes; E, 3 days after B: 30 % → 150 = D + E, nothing freed.
    // Jan 12: E goes; F, 4 days after B: still 30 % → 150, but E + F held 200: 50 freed.
    // Stored B 500 + F 150 + G 50 = 700 GiB, and 750 until prune has run: the worst case.
    const r = sim({
      style: 'cairn',
      points: 2,
      gfs: { weekly: 1 },
      start: '2024-01-06T22:00:00Z',
      years: 6 / 365,
    });
    assert.deepEqual(r.worstCase, { run: 7, at: '2024-01-12T22:00:00Z' });
    assert.deepEqual(shape(r.files), ['C 2024-01-07 500', 'C 2024-01-11 150', 'C 2024-01-12 50']);
    assert.deepEqual(
      r.files.map((f) => f.retention),
      ['1W', '2', '1'],
    );
    assert.equal(gib(r.totals.total), 700);
    assert.equal(gib(r.totals.workingSpace), 50);
    assert.equal(gib(r.totals.grandTotal), 750);
  });
});

describe('pieces', () => {
  it('estimates fast-clone change as RPS method 4 does', () => {
    // d = 10: under 2 days d, under 14 3d, under 38 5d, under 100 9d (capped at 100), never
    // more than d per day; d = 5: 12d, 15d, 18d under 193, 286, 379 days; beyond, 100.
    const ten = [0, 1, 2, 7, 13, 14, 37, 38, 99, 100].map((d) => fastCloneChangePercent(10, d));
    assert.deepEqual(ten, [10, 10, 20, 30, 30, 50, 50, 90, 90, 100]);
    const five = [100, 192, 193, 285, 286, 378, 379, -40].map((d) => fastCloneChangePercent(5, d));
    assert.deepEqual(five, [60, 60, 75, 75, 90, 90, 100, 45]);
  });

  it('rates for the bandwidth windows round up', () => {
    // 100 GiB = 107374182400 B changed, 50 GiB sent: in 1 h 107374182400 / 3600 = 29826161.8 →
    // 29826162 B/s; 53687091200 / 3600 = 14913080.9 → 14913081 B/s, × 8 = 119304647.1 →
    // 119304648 bit/s. In 24 h: 1242756.7 → 1242757 B/s.
    const w = bandwidthWindows(100 * GiB, 50 * GiB);
    assert.deepEqual(
      w.map((x) => x.hours),
      [1, 4, 8, 12, 16, 24],
    );
    assert.deepEqual(w[0], {
      hours: 1,
      changedBytesPerSecond: 29826162,
      transferBytesPerSecond: 14913081,
      transferBitsPerSecond: 119304648,
    });
    assert.equal(w[5]?.changedBytesPerSecond, 1242757);
    assert.deepEqual(sim().bandwidth.windows, w);
  });
});
