/**
 * The simulator's input as JSON: defaults (RPS's), a JSON Schema for clients, and a validation
 * that names the field of every problem (`gfs.weekly: expected …`). Unknown fields and wrong types
 * are refused, so a typo never silently falls back to a default.
 */
import { CairnError } from '../errors.ts';
import { simulationRuns } from './engine.ts';
import { parseUtc, isoUtc } from './dates.ts';
import { isPointsSpec, NO_GFS, resolvePoints } from './parse.ts';
import {
  INTERVAL_HOURS,
  MONTH_WEEKS,
  MONTHS,
  STYLES,
  WEEKDAYS,
  type GfsCounts,
  type MonthlySchedule,
  type SimulationInput,
  type Style,
} from './types.ts';

/** RPS's own defaults: 1000 GB (binary, as RPS counts), 10 % change, 50 % left, daily. */
export const DEFAULTS = {
  style: 'incremental',
  usedBytes: 1000 * 1024 ** 3,
  changePercent: 10,
  reductionPercent: 50,
  intervalHours: 24,
  growthPercent: 0,
  years: 0,
  fastClone: false,
  syntheticFullDays: [],
  activeFullDays: [],
  activeFullMonthly: null,
  gfs: NO_GFS,
  gfsActiveFull: false,
  logRuns: 7,
} as const satisfies Omit<SimulationInput, 'points' | 'start'>;

/** RPS's presets keep 14 points, 7 for a backup copy job and a replica. */
export function defaultPoints(style: Style): number {
  return style === 'backup-copy' || style === 'replica' ? 7 : 14;
}

export const LIMITS = {
  /** Restore points after a period is turned into runs (a year of hourly runs is 8760). */
  maxPoints: 10_000,
  /** VMware allows 32 snapshots; RPS caps a replica at 28 points. */
  maxReplicaPoints: 28,
  maxYears: 10,
  maxGrowthPercent: 300,
  maxGfs: { weekly: 520, monthly: 120, quarterly: 40, yearly: 10 },
  maxLogRuns: 1000,
  /** Runs times points, a bound on the work of one simulation. */
  maxWork: 100_000_000,
} as const;

const MONTHLY_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['week', 'weekday'],
  properties: {
    week: { enum: MONTH_WEEKS },
    weekday: { enum: WEEKDAYS },
    months: { type: 'array', items: { enum: MONTHS }, uniqueItems: true, minItems: 1 },
  },
} as const;

/** A JSON Schema (2020-12) of the input; every field is optional but `start`. */
export const INPUT_SCHEMA = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  title: 'Cairn restore-point simulation',
  type: 'object',
  additionalProperties: false,
  required: ['start'],
  properties: {
    style: { enum: STYLES, default: DEFAULTS.style },
    usedBytes: { type: 'integer', minimum: 1, default: DEFAULTS.usedBytes },
    points: {
      description: 'a count, or a period: 7d, 5w, 2.5m, 1q, 1y (default 14; 7 for backup-copy and replica)',
      oneOf: [
        { type: 'integer', minimum: 1, maximum: LIMITS.maxPoints },
        { type: 'string', pattern: '^\\d+(\\.\\d+)?[dwmqy]$' },
      ],
    },
    changePercent: { type: 'number', minimum: 0, maximum: 100, default: DEFAULTS.changePercent },
    reductionPercent: {
      type: 'number',
      exclusiveMinimum: 0,
      maximum: 100,
      default: DEFAULTS.reductionPercent,
    },
    intervalHours: { enum: INTERVAL_HOURS, default: DEFAULTS.intervalHours },
    growthPercent: {
      type: 'number',
      minimum: 0,
      maximum: LIMITS.maxGrowthPercent,
      default: DEFAULTS.growthPercent,
    },
    years: { type: 'number', minimum: 0, maximum: LIMITS.maxYears, default: DEFAULTS.years },
    fastClone: { type: 'boolean', default: DEFAULTS.fastClone },
    start: { type: 'string', description: 'UTC, e.g. 2024-01-01T22:00:00Z' },
    syntheticFullDays: { type: 'array', items: { enum: WEEKDAYS }, uniqueItems: true, default: [] },
    activeFullDays: { type: 'array', items: { enum: WEEKDAYS }, uniqueItems: true, default: [] },
    activeFullMonthly: { oneOf: [{ type: 'null' }, MONTHLY_SCHEMA], default: null },
    gfs: {
      type: 'object',
      additionalProperties: false,
      properties: {
        weekly: { type: 'integer', minimum: 0, maximum: LIMITS.maxGfs.weekly, default: 0 },
        monthly: { type: 'integer', minimum: 0, maximum: LIMITS.maxGfs.monthly, default: 0 },
        quarterly: { type: 'integer', minimum: 0, maximum: LIMITS.maxGfs.quarterly, default: 0 },
        yearly: { type: 'integer', minimum: 0, maximum: LIMITS.maxGfs.yearly, default: 0 },
      },
    },
    gfsActiveFull: { type: 'boolean', default: DEFAULTS.gfsActiveFull },
    logRuns: { type: 'integer', minimum: 0, maximum: LIMITS.maxLogRuns, default: DEFAULTS.logRuns },
  },
} as const;

export interface InputError {
  /** The field, as a path: `points`, `gfs.weekly`, `activeFullMonthly.months[2]`. */
  readonly path: string;
  readonly message: string;
}

export type Validation =
  | { readonly ok: true; readonly input: SimulationInput }
  | { readonly ok: false; readonly errors: readonly InputError[] };

export interface ValidateOptions {
  /** The start to use when the input has none (the engine has no clock: a caller picks "tomorrow"). */
  readonly defaultStart?: string;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function show(v: unknown): string {
  return v === undefined ? 'nothing' : JSON.stringify(v);
}

/** Checks a JSON value and fills in the defaults; never throws. */
export function validateInput(value: unknown, options: ValidateOptions = {}): Validation {
  const errors: InputError[] = [];
  const err = (path: string, message: string) => errors.push({ path, message });
  if (!isRecord(value))
    return { ok: false, errors: [{ path: '', message: `expected an object, got ${show(value)}` }] };
  for (const key of Object.keys(value)) {
    if (!(key in INPUT_SCHEMA.properties)) err(key, 'unknown field');
  }

  const num = (
    key: string,
    v: unknown,
    fallback: number,
    check: (n: number) => boolean,
    expected: string,
  ): number => {
    if (v === undefined) return fallback;
    if (typeof v !== 'number' || !Number.isFinite(v) || !check(v)) {
      err(key, `expected ${expected}, got ${show(v)}`);
      return fallback;
    }
    return v;
  };
  const bool = (key: string, v: unknown, fallback: boolean): boolean => {
    if (v === undefined) return fallback;
    if (typeof v !== 'boolean') {
      err(key, `expected true or false, got ${show(v)}`);
      return fallback;
    }
    return v;
  };
  const days = (key: string, v: unknown): (typeof WEEKDAYS)[number][] => {
    if (v === undefined) return [];
    if (!Array.isArray(v)) {
      err(key, `expected a list of days (${WEEKDAYS.join(', ')}), got ${show(v)}`);
      return [];
    }
    const seen = new Set<string>();
    v.forEach((d, i) => {
      if (typeof d !== 'string' || !WEEKDAYS.includes(d as never))
        err(`${key}[${i}]`, `expected one of ${WEEKDAYS.join(', ')}, got ${show(d)}`);
      else if (seen.has(d)) err(`${key}[${i}]`, `${d} is listed twice`);
      else seen.add(d);
    });
    return WEEKDAYS.filter((d) => seen.has(d));
  };

  let style: Style = DEFAULTS.style;
  if (value.style !== undefined) {
    if (typeof value.style === 'string' && STYLES.includes(value.style as Style))
      style = value.style as Style;
    else err('style', `expected one of ${STYLES.join(', ')}, got ${show(value.style)}`);
  }
  const usedBytes = num(
    'usedBytes',
    value.usedBytes,
    DEFAULTS.usedBytes,
    (n) => Number.isSafeInteger(n) && n >= 1,
    'a whole number of bytes, at least 1',
  );
  let points: number | string = defaultPoints(style);
  if (value.points !== undefined) {
    if (isPointsSpec(value.points)) points = value.points;
    else err('points', `expected a number of points or 7d/5w/2m/1q/1y, got ${show(value.points)}`);
  }
  const changePercent = num(
    'changePercent',
    value.changePercent,
    DEFAULTS.changePercent,
    (n) => n >= 0 && n <= 100,
    'a percentage from 0 to 100',
  );
  const reductionPercent = num(
    'reductionPercent',
    value.reductionPercent,
    DEFAULTS.reductionPercent,
    (n) => n > 0 && n <= 100,
    'a percentage above 0, up to 100 (100: no reduction)',
  );
  const intervalHours = num(
    'intervalHours',
    value.intervalHours,
    DEFAULTS.intervalHours,
    (n) => INTERVAL_HOURS.includes(n),
    `one of ${INTERVAL_HOURS.join(', ')} hours`,
  );
  const growthPercent = num(
    'growthPercent',
    value.growthPercent,
    DEFAULTS.growthPercent,
    (n) => n >= 0 && n <= LIMITS.maxGrowthPercent,
    `a yearly growth from 0 to ${LIMITS.maxGrowthPercent} %`,
  );
  const years = num(
    'years',
    value.years,
    DEFAULTS.years,
    (n) => n >= 0 && n <= LIMITS.maxYears,
    `a number of years from 0 (until retention settles) to ${LIMITS.maxYears}`,
  );
  const fastClone = bool('fastClone', value.fastClone, DEFAULTS.fastClone);
  const gfsActiveFull = bool('gfsActiveFull', value.gfsActiveFull, DEFAULTS.gfsActiveFull);
  const logRuns = num(
    'logRuns',
    value.logRuns,
    DEFAULTS.logRuns,
    (n) => Number.isInteger(n) && n >= 0 && n <= LIMITS.maxLogRuns,
    `a whole number of runs from 0 to ${LIMITS.maxLogRuns}`,
  );

  let start = '';
  const startText = value.start ?? options.defaultStart;
  if (startText === undefined)
    err('start', 'required: the date of the first run, in UTC (2024-01-01T22:00:00Z)');
  else {
    const ms = typeof startText === 'string' ? parseUtc(startText) : undefined;
    if (ms === undefined)
      err('start', `expected a date and time in UTC like 2024-01-01T22:00:00Z, got ${show(startText)}`);
    else start = isoUtc(ms);
  }

  const syntheticFullDays = days('syntheticFullDays', value.syntheticFullDays);
  const activeFullDays = days('activeFullDays', value.activeFullDays);

  let activeFullMonthly: MonthlySchedule | null = null;
  const monthly = value.activeFullMonthly;
  if (monthly !== undefined && monthly !== null) {
    if (!isRecord(monthly))
      err('activeFullMonthly', `expected null or {week, weekday, months}, got ${show(monthly)}`);
    else {
      for (const key of Object.keys(monthly))
        if (!(key in MONTHLY_SCHEMA.properties)) err(`activeFullMonthly.${key}`, 'unknown field');
      const week = monthly.week;
      const weekday = monthly.weekday;
      if (typeof week !== 'string' || !MONTH_WEEKS.includes(week as never))
        err('activeFullMonthly.week', `expected one of ${MONTH_WEEKS.join(', ')}, got ${show(week)}`);
      if (typeof weekday !== 'string' || !WEEKDAYS.includes(weekday as never))
        err('activeFullMonthly.weekday', `expected one of ${WEEKDAYS.join(', ')}, got ${show(weekday)}`);
      let months = [...MONTHS];
      if (monthly.months !== undefined) {
        if (!Array.isArray(monthly.months) || monthly.months.length === 0)
          err(
            'activeFullMonthly.months',
            `expected a list of months (${MONTHS.join(', ')}), got ${show(monthly.months)}`,
          );
        else {
          const seen = new Set<string>();
          monthly.months.forEach((m, i) => {
            if (typeof m !== 'string' || !MONTHS.includes(m as never))
              err(`activeFullMonthly.months[${i}]`, `expected one of ${MONTHS.join(', ')}, got ${show(m)}`);
            else if (seen.has(m)) err(`activeFullMonthly.months[${i}]`, `${m} is listed twice`);
            else seen.add(m);
          });
          months = MONTHS.filter((m) => seen.has(m));
        }
      }
      activeFullMonthly = {
        week: week as MonthlySchedule['week'],
        weekday: weekday as MonthlySchedule['weekday'],
        months,
      };
    }
  }

  let gfs: GfsCounts = NO_GFS;
  if (value.gfs !== undefined) {
    if (!isRecord(value.gfs))
      err('gfs', `expected {weekly, monthly, quarterly, yearly}, got ${show(value.gfs)}`);
    else {
      const g = value.gfs;
      for (const key of Object.keys(g))
        if (!(key in INPUT_SCHEMA.properties.gfs.properties)) err(`gfs.${key}`, 'unknown field');
      const count = (key: keyof GfsCounts) =>
        num(
          `gfs.${key}`,
          g[key],
          0,
          (n) => Number.isInteger(n) && n >= 0 && n <= LIMITS.maxGfs[key],
          `a whole number from 0 to ${LIMITS.maxGfs[key]}`,
        );
      gfs = {
        weekly: count('weekly'),
        monthly: count('monthly'),
        quarterly: count('quarterly'),
        yearly: count('yearly'),
      };
    }
  }

  // What applies to which style: RPS hides the others, an API refuses them.
  const only = (path: string, what: string, styles: readonly Style[]) => {
    if (styles.includes(style)) return;
    const list =
      styles.length > 1
        ? `${styles.slice(0, -1).join(', ')} and ${styles.at(-1)} styles`
        : `${styles[0]} style`;
    err(path, `${what} only for the ${list}`);
  };

  if (syntheticFullDays.length > 0) only('syntheticFullDays', 'synthetic fulls are', ['incremental']);
  if (activeFullDays.length > 0)
    only('activeFullDays', 'scheduled active fulls are', ['incremental', 'reverse']);
  if (activeFullMonthly) only('activeFullMonthly', 'scheduled active fulls are', ['incremental', 'reverse']);
  const anyGfs = gfs.weekly + gfs.monthly + gfs.quarterly + gfs.yearly > 0;
  if (anyGfs) only('gfs', 'GFS archives are', ['backup-copy', 'cairn']);
  if (gfsActiveFull) {
    only('gfsActiveFull', 'GFS active fulls are', ['backup-copy']);
    if (!anyGfs)
      err('gfsActiveFull', 'needs at least one GFS count (gfs.weekly, monthly, quarterly or yearly)');
  }
  if (fastClone) only('fastClone', 'fast clone is', ['incremental', 'reverse', 'backup-copy']);

  if (errors.length === 0) {
    const resolved = resolvePoints(points, intervalHours);
    if (style === 'replica' && resolved > LIMITS.maxReplicaPoints)
      err('points', `a replica keeps at most ${LIMITS.maxReplicaPoints} restore points, not ${resolved}`);
    else if (resolved > LIMITS.maxPoints)
      err('points', `at most ${LIMITS.maxPoints} restore points, not ${resolved}`);
  }

  const input: SimulationInput = {
    style,
    usedBytes,
    points,
    changePercent,
    reductionPercent,
    intervalHours,
    growthPercent,
    years,
    fastClone,
    start,
    syntheticFullDays,
    activeFullDays,
    activeFullMonthly,
    gfs,
    gfsActiveFull,
    logRuns,
  };
  if (errors.length === 0) {
    const runs = simulationRuns(input);
    const work = runs * resolvePoints(points, intervalHours);
    if (work > LIMITS.maxWork)
      err(
        'points',
        `too large to simulate: ${runs} runs of ${resolvePoints(points, intervalHours)} points; ` +
          'use fewer points, a longer interval or fewer years',
      );
  }
  return errors.length > 0 ? { ok: false, errors } : { ok: true, input };
}

/** `validateInput`, throwing one USAGE error that lists every problem. */
export function checkInput(value: unknown, options: ValidateOptions = {}): SimulationInput {
  const v = validateInput(value, options);
  if (!v.ok)
    throw new CairnError(
      'USAGE',
      v.errors.map((e) => (e.path ? `${e.path}: ${e.message}` : e.message)).join('; '),
    );
  return v.input;
}
