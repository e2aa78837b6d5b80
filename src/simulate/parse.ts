/**
 * The simulator's words as text, read and written: sizes, retention points, intervals, days,
 * monthly schedules and GFS counts. The command line and both share strings use these, so a value
 * means the same everywhere. Each reader throws a USAGE error that starts with `label` (an option,
 * a field or a URL parameter) and says what was expected.
 */
import { CairnError } from '../errors.ts';
import {
  INTERVAL_HOURS,
  MONTH_WEEKS,
  MONTHS,
  WEEKDAYS,
  type GfsCounts,
  type Month,
  type MonthlySchedule,
  type MonthWeek,
  type Weekday,
} from './types.ts';

function fail(label: string, expected: string, text: string): never {
  throw new CairnError('USAGE', `${label}: expected ${expected}, got ${JSON.stringify(text)}`);
}

/** Units as Cairn's other size options read them: bare letters and `iB` binary, `B` decimal. */
const SIZE_UNITS: Readonly<Record<string, number>> = {
  '': 1,
  b: 1,
  k: 1024,
  kib: 1024,
  kb: 1000,
  m: 1024 ** 2,
  mib: 1024 ** 2,
  mb: 1000 ** 2,
  g: 1024 ** 3,
  gib: 1024 ** 3,
  gb: 1000 ** 3,
  t: 1024 ** 4,
  tib: 1024 ** 4,
  tb: 1000 ** 4,
  p: 1024 ** 5,
  pib: 1024 ** 5,
  pb: 1000 ** 5,
};

const SIZE_EXPECTED = 'a size like 1000GB, 1.5TiB or 500GiB';

/** "1000GB" (decimal), "1.5TiB", "512G" (binary), "4096" → bytes, rounded to a whole byte. */
export function parseSizeText(text: string, label: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(text.trim());
  const unit = m ? SIZE_UNITS[(m[2] ?? '').toLowerCase()] : undefined;
  if (!m || unit === undefined) fail(label, SIZE_EXPECTED, text);
  const n = Math.round(Number(m[1]) * unit);
  if (!Number.isSafeInteger(n) || n < 1) fail(label, `${SIZE_EXPECTED} (at least 1 byte)`, text);
  return n;
}

/** Bytes as the shortest exact text `parseSizeText` reads back: "1000GiB", "1500GB", "123". */
export function formatSizeText(bytes: number): string {
  for (const [unit, base] of [
    ['PiB', 1024 ** 5],
    ['PB', 1000 ** 5],
    ['TiB', 1024 ** 4],
    ['TB', 1000 ** 4],
    ['GiB', 1024 ** 3],
    ['GB', 1000 ** 3],
    ['MiB', 1024 ** 2],
    ['MB', 1000 ** 2],
    ['KiB', 1024],
    ['KB', 1000],
  ] as const) {
    if (bytes >= base && bytes % base === 0) return `${bytes / base}${unit}`;
  }
  return String(bytes);
}

/** Days per unit of a retention period, as RPS counts them. */
const PERIOD_DAYS: Readonly<Record<string, number>> = { d: 1, w: 7, m: 31, q: 92, y: 365 };
const POINTS_EXPECTED = 'a number of points or 7d/5w/2m/1q/1y';

/** "14" → 14; "7d", "2.5m" → the period, kept as text until the interval turns it into runs. */
export function parsePointsText(text: string, label: string): number | string {
  const t = text.trim().toLowerCase();
  if (/^\d+$/.test(t)) {
    const n = Number(t);
    if (n < 1) fail(label, `${POINTS_EXPECTED} (at least 1)`, text);
    return n;
  }
  const m = /^(\d+(?:\.\d+)?)([dwmqy])$/.exec(t);
  if (!m || Number(m[1]) <= 0) fail(label, POINTS_EXPECTED, text);
  return `${Number(m[1])}${m[2]}`;
}

/** Whether `points` is a valid count or period. */
export function isPointsSpec(points: unknown): points is number | string {
  if (typeof points === 'number') return Number.isInteger(points) && points >= 1;
  if (typeof points !== 'string') return false;
  const m = /^(\d+(?:\.\d+)?)([dwmqy])$/.exec(points);
  return m !== null && Number(m[1]) > 0;
}

/**
 * Retention points as a count of runs. A period counts days as RPS does (a month is 31 days, a
 * quarter 92, a year 365) times the runs per day, rounded up.
 */
export function resolvePoints(points: number | string, intervalHours: number): number {
  if (typeof points === 'number') return points;
  const m = /^(\d+(?:\.\d+)?)([dwmqy])$/.exec(points);
  if (!m) throw new CairnError('USAGE', `points: expected ${POINTS_EXPECTED}, got ${JSON.stringify(points)}`);
  const days = Number(m[1]) * (PERIOD_DAYS[m[2] ?? 'd'] ?? 1);
  return Math.max(1, Math.ceil(days * (24 / intervalHours) - 1e-9));
}

/** "daily", "24h", "4h", "4" → hours between runs. */
export function parseIntervalText(text: string, label: string): number {
  const t = text.trim().toLowerCase();
  const hours = t === 'daily' || t === 'd' ? 24 : /^\d+h?$/.test(t) ? Number(t.replace('h', '')) : NaN;
  if (!INTERVAL_HOURS.includes(hours)) fail(label, 'daily or every 1h, 2h, 3h, 4h, 6h, 8h or 12h', text);
  return hours;
}

export function formatInterval(hours: number): string {
  return hours === 24 ? 'daily' : `${hours}h`;
}

function weekdayOf(word: string): Weekday | undefined {
  const w = word.trim().toLowerCase().slice(0, 3);
  return word.trim().length >= 3 && WEEKDAYS.includes(w as Weekday) ? (w as Weekday) : undefined;
}

/** "sat", "sat,sun", "saturday", "none" → days, Monday first, each once. */
export function parseWeekdaysText(text: string, label: string): Weekday[] {
  const t = text.trim().toLowerCase();
  if (t === '' || t === 'none') return [];
  const days = new Set<Weekday>();
  for (const word of t.split(',')) {
    const d = weekdayOf(word);
    if (!d) fail(label, 'days like sat or mon,thu (or none)', text);
    days.add(d);
  }
  return WEEKDAYS.filter((d) => days.has(d));
}

export function formatWeekdays(days: readonly Weekday[]): string {
  return days.length === 0 ? 'none' : days.join(',');
}

const MONTHLY_EXPECTED = 'first-sat, last-sun or first-sat:jan,apr,jul,oct (or none)';

/** "first-sat" (every month), "last-sun:jan,jul", "none" → a monthly schedule or null. */
export function parseMonthlyText(text: string, label: string): MonthlySchedule | null {
  const t = text.trim().toLowerCase();
  if (t === '' || t === 'none') return null;
  const m = /^([a-z]+)-([a-z]+)(?::([a-z,]+))?$/.exec(t);
  const week = m?.[1] as MonthWeek | undefined;
  const weekday = m ? weekdayOf(m[2] ?? '') : undefined;
  if (!m || !week || !MONTH_WEEKS.includes(week) || !weekday) fail(label, MONTHLY_EXPECTED, text);
  let months: Month[] = [...MONTHS];
  if (m[3] !== undefined) {
    const chosen = new Set<Month>();
    for (const word of m[3].split(',')) {
      const mo = word.slice(0, 3) as Month;
      if (word.length < 3 || !MONTHS.includes(mo)) fail(label, MONTHLY_EXPECTED, text);
      chosen.add(mo);
    }
    months = MONTHS.filter((mo) => chosen.has(mo));
  }
  return { week, weekday, months };
}

export function formatMonthly(schedule: MonthlySchedule | null): string {
  if (!schedule) return 'none';
  const base = `${schedule.week}-${schedule.weekday}`;
  return schedule.months.length === 12 ? base : `${base}:${schedule.months.join(',')}`;
}

const GFS_EXPECTED = 'GFS counts like 4w,12m,0q,1y or 4,12,0,1 (or none)';
export const NO_GFS: GfsCounts = { weekly: 0, monthly: 0, quarterly: 0, yearly: 0 };

/** "4w,12m,0q,1y" (any order, missing kinds 0), "4,12,0,1" (RPS's order W,M,Q,Y), "none". */
export function parseGfsText(text: string, label: string): GfsCounts {
  const t = text.trim().toLowerCase();
  if (t === '' || t === 'none') return NO_GFS;
  const parts = t.split(',').map((p) => p.trim());
  if (parts.every((p) => /^\d+$/.test(p))) {
    if (parts.length !== 4) fail(label, GFS_EXPECTED, text);
    const [weekly, monthly, quarterly, yearly] = parts.map(Number) as [number, number, number, number];
    return { weekly, monthly, quarterly, yearly };
  }
  const counts = { weekly: 0, monthly: 0, quarterly: 0, yearly: 0 };
  const keys = { w: 'weekly', m: 'monthly', q: 'quarterly', y: 'yearly' } as const;
  const seen = new Set<string>();
  for (const p of parts) {
    const m = /^(\d+)([wmqy])$/.exec(p);
    if (!m || seen.has(m[2] ?? '')) fail(label, GFS_EXPECTED, text);
    seen.add(m[2] ?? '');
    counts[keys[m[2] as keyof typeof keys]] = Number(m[1]);
  }
  return counts;
}

export function formatGfs(gfs: GfsCounts): string {
  return `${gfs.weekly}w,${gfs.monthly}m,${gfs.quarterly}q,${gfs.yearly}y`;
}

/** "10", "10%", "2.5" → the number (the range is checked by the input validation). */
export function parsePercentText(text: string, label: string): number {
  const t = text.trim().replace(/%$/, '');
  if (!/^\d+(\.\d+)?$/.test(t)) fail(label, 'a percentage like 10 or 2.5%', text);
  return Number(t);
}

/** "3", "0.5" → the number. */
export function parseNumberText(text: string, label: string, expected: string): number {
  const t = text.trim();
  if (!/^\d+(\.\d+)?$/.test(t)) fail(label, expected, text);
  return Number(t);
}
