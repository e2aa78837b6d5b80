/** A fast-check generator of valid simulator inputs, for the property tests. */
import fc from 'fast-check';
import { checkInput } from './input.ts';
import { INTERVAL_HOURS, MONTH_WEEKS, MONTHS, STYLES, WEEKDAYS, type SimulationInput } from './types.ts';

const GiB = 1024 ** 3;

/** Inputs every style accepts, kept small enough that a simulation takes milliseconds. */
export const arbInput: fc.Arbitrary<SimulationInput> = fc
  .record({
    style: fc.constantFrom(...STYLES),
    usedBytes: fc.oneof(
      fc.integer({ min: 1, max: 100_000 }).map((n) => n * GiB),
      fc.integer({ min: 2 ** 20, max: 2 ** 45 }),
    ),
    points: fc.oneof(
      fc.integer({ min: 1, max: 30 }),
      fc.tuple(fc.integer({ min: 1, max: 4 }), fc.constantFrom('d', 'w')).map(([n, u]) => `${n}${u}`),
    ),
    changePercent: fc.oneof(
      fc.integer({ min: 1, max: 100 }),
      fc.integer({ min: 10, max: 999 }).map((n) => n / 10),
    ),
    reductionPercent: fc.integer({ min: 1, max: 100 }),
    intervalHours: fc.constantFrom(...INTERVAL_HOURS.filter((h) => h >= 4)),
    growthPercent: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 50 })),
    years: fc.constantFrom(0, 0, 0.25, 0.5),
    fastClone: fc.boolean(),
    startDay: fc.integer({ min: 0, max: 3650 }),
    startHour: fc.integer({ min: 0, max: 23 }),
    syntheticFullDays: fc.subarray([...WEEKDAYS], { maxLength: 2 }),
    activeFullDays: fc.subarray([...WEEKDAYS], { maxLength: 2 }),
    activeFullMonthly: fc.option(
      fc.record({
        week: fc.constantFrom(...MONTH_WEEKS),
        weekday: fc.constantFrom(...WEEKDAYS),
        months: fc.subarray([...MONTHS], { minLength: 1 }),
      }),
    ),
    gfs: fc.record({
      weekly: fc.integer({ min: 0, max: 4 }),
      monthly: fc.integer({ min: 0, max: 3 }),
      quarterly: fc.integer({ min: 0, max: 1 }),
      yearly: fc.constant(0),
    }),
    gfsActiveFull: fc.boolean(),
    logRuns: fc.integer({ min: 0, max: 10 }),
  })
  .map((r) => {
    const s = r.style;
    const forward = s === 'incremental';
    const chain = s === 'incremental' || s === 'reverse';
    const gfsStyle = s === 'backup-copy' || s === 'cairn';
    const anyGfs = r.gfs.weekly + r.gfs.monthly + r.gfs.quarterly > 0;
    return checkInput({
      style: s,
      usedBytes: r.usedBytes,
      points: s !== 'replica' ? r.points : typeof r.points === 'string' ? 7 : Math.min(r.points, 28),
      changePercent: r.changePercent,
      reductionPercent: r.reductionPercent,
      // A monthly full in few months makes long chains: keep those runs daily or twice a day.
      intervalHours: chain && r.activeFullMonthly ? Math.max(12, r.intervalHours) : r.intervalHours,
      growthPercent: r.growthPercent,
      years: r.years,
      fastClone: r.fastClone && (chain || s === 'backup-copy'),
      start: new Date(Date.UTC(2020, 0, 1 + r.startDay, r.startHour)).toISOString(),
      syntheticFullDays: forward ? r.syntheticFullDays : [],
      activeFullDays: chain ? r.activeFullDays : [],
      activeFullMonthly: chain ? r.activeFullMonthly : null,
      gfs: gfsStyle ? r.gfs : undefined,
      gfsActiveFull: s === 'backup-copy' && anyGfs && r.gfsActiveFull,
      logRuns: r.logRuns,
    });
  });
