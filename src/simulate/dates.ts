/**
 * UTC calendar arithmetic for the simulator: no clock, no time zone, only the dates it is given.
 * Times are milliseconds since the epoch.
 */

export const HOUR = 3_600_000;
export const DAY = 24 * HOUR;

/** Moment.js's average month and year, which RPS uses to predict how long to simulate. */
export const AVERAGE_MONTH = (146_097 / 4800) * DAY;
export const AVERAGE_YEAR = 365.2425 * DAY;

/** "2024-01-01", "2024-01-01T22:00", "2024-01-01T22:00:00", each with an optional "Z" or ".000Z". */
const START = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.0+)?)?)?Z?$/;

/** The time a start date names in UTC, or undefined when it is not a valid date. */
export function parseUtc(text: string): number | undefined {
  const m = START.exec(text.trim());
  if (!m) return undefined;
  const [y, mo, d, h, mi, s] = m.slice(1).map((v) => Number(v ?? 0)) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  if (mo < 1 || mo > 12 || h > 23 || mi > 59 || s > 59) return undefined;
  const ms = Date.UTC(y, mo - 1, d, h, mi, s);
  // Date.UTC rolls 2024-02-30 over into March: a date that does not come back is not valid.
  if (new Date(ms).getUTCDate() !== d) return undefined;
  return ms;
}

/** "2024-01-01T22:00:00Z". */
export function isoUtc(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** "2024-01-01T220000", RPS's file name stem. */
export function fileStamp(ms: number): string {
  return isoUtc(ms).slice(0, 19).replaceAll(':', '');
}

/** Monday 0 … Sunday 6. */
export function weekday(ms: number): number {
  return (new Date(ms).getUTCDay() + 6) % 7;
}

export function startOfDay(ms: number): number {
  return ms - (((ms % DAY) + DAY) % DAY);
}

/** Whole days from `from` to `to` (truncated, as moment's diff). */
export function daysBetween(from: number, to: number): number {
  return Math.trunc((to - from) / DAY);
}

/**
 * The day of the month of the `n`-th `day` (Monday 0) of a month, `n` from 1; 5 is the last
 * occurrence, which in a month with four is the fourth.
 */
export function nthWeekdayOfMonth(year: number, month: number, day: number, n: number): number {
  const first = (new Date(Date.UTC(year, month, 1)).getUTCDay() + 6) % 7;
  const firstDay = 1 + ((day - first + 7) % 7);
  const daysInMonth = new Date(Date.UTC(year, month + 1, 0)).getUTCDate();
  const occurrences = Math.floor((daysInMonth - firstDay) / 7) + 1;
  return firstDay + 7 * (Math.min(n, occurrences) - 1);
}

export type GfsKind = 'W' | 'M' | 'Q' | 'Y';

/**
 * When GFS points fall, RPS's defaults (not settable in its interface): weekly on Sunday at 22:00,
 * monthly on the first Sunday at 22:00, quarterly on the first Sunday of the quarter, yearly on
 * the first Sunday of January.
 */
export const GFS_SCHEDULE = { weekday: 6, hour: 22, week: 1 } as const;

/** The GFS moments of one kind in (from, to]. */
export function gfsMoments(kind: GfsKind, from: number, to: number): number[] {
  const out: number[] = [];
  const { weekday: day, hour, week } = GFS_SCHEDULE;
  if (kind === 'W') {
    let t = startOfDay(from) - 7 * DAY + hour * HOUR;
    while (weekday(t) !== day) t += DAY;
    for (; t <= to; t += 7 * DAY) if (t > from) out.push(t);
    return out;
  }
  const a = new Date(from);
  const b = new Date(to);
  const last = b.getUTCFullYear() * 12 + b.getUTCMonth();
  for (let i = a.getUTCFullYear() * 12 + a.getUTCMonth() - 1; i <= last; i++) {
    const y = Math.floor(i / 12);
    const m = i - y * 12;
    if (kind === 'Q' && m % 3 !== 0) continue;
    if (kind === 'Y' && m !== 0) continue;
    const t = Date.UTC(y, m, nthWeekdayOfMonth(y, m, day, week), hour);
    if (t > from && t <= to) out.push(t);
  }
  return out;
}
