/**
 * The simulator's input as text: Cairn's own share string (the command line's option names as
 * query parameters, e.g. `style=reverse&used=1000GiB&points=14&start=2024-01-01T22:00:00Z`), and
 * the parameters of an RPS share link (`?m=1&s=1000&r=14&c=50&d=10&i=D&e`).
 */
import { CairnError } from '../errors.ts';
import { defaultPoints, DEFAULTS, validateInput, type InputError, type ValidateOptions } from './input.ts';
import {
  formatGfs,
  formatInterval,
  formatMonthly,
  formatSizeText,
  formatWeekdays,
  parseGfsText,
  parseIntervalText,
  parseMonthlyText,
  parseNumberText,
  parsePercentText,
  parsePointsText,
  parseSizeText,
  parseWeekdaysText,
} from './parse.ts';
import { MONTHS, STYLES, WEEKDAYS, type SimulationInput, type Style } from './types.ts';

/** The input's fields by their text names: the command line's options and the share string's keys. */
export const TEXT_FIELDS = {
  style: 'style',
  used: 'usedBytes',
  points: 'points',
  change: 'changePercent',
  reduction: 'reductionPercent',
  interval: 'intervalHours',
  'synthetic-full': 'syntheticFullDays',
  'active-full-weekly': 'activeFullDays',
  'active-full-monthly': 'activeFullMonthly',
  gfs: 'gfs',
  'gfs-active-full': 'gfsActiveFull',
  'fast-clone': 'fastClone',
  growth: 'growthPercent',
  years: 'years',
  start: 'start',
  'log-runs': 'logRuns',
} as const satisfies Record<string, keyof SimulationInput>;

export type TextKey = keyof typeof TEXT_FIELDS;
export const TEXT_KEYS = Object.keys(TEXT_FIELDS) as TextKey[];

const KEY_OF_FIELD = Object.fromEntries(Object.entries(TEXT_FIELDS).map(([k, f]) => [f, k])) as Record<
  keyof SimulationInput,
  TextKey
>;

function parseBoolean(v: string | boolean, label: string): boolean {
  if (typeof v === 'boolean') return v;
  const t = v.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on', ''].includes(t)) return true;
  if (['0', 'false', 'no', 'off'].includes(t)) return false;
  throw new CairnError('USAGE', `${label}: expected 1 or 0, got ${JSON.stringify(v)}`);
}

/** Reads one text value into the JSON the validation takes. */
function fieldValue(key: TextKey, v: string | boolean, label: string): unknown {
  const text = typeof v === 'string' ? v : String(v);
  switch (key) {
    case 'style': {
      const s = text.trim().toLowerCase();
      if (!STYLES.includes(s as Style))
        throw new CairnError('USAGE', `${label}: expected ${STYLES.join(', ')}, got ${JSON.stringify(text)}`);
      return s;
    }
    case 'used':
      return parseSizeText(text, label);
    case 'points':
      return parsePointsText(text, label);
    case 'change':
    case 'reduction':
    case 'growth':
      return parsePercentText(text, label);
    case 'interval':
      return parseIntervalText(text, label);
    case 'synthetic-full':
    case 'active-full-weekly':
      return parseWeekdaysText(text, label);
    case 'active-full-monthly':
      return parseMonthlyText(text, label);
    case 'gfs':
      return parseGfsText(text, label);
    case 'gfs-active-full':
    case 'fast-clone':
      return parseBoolean(v, label);
    case 'years':
      return parseNumberText(text, label, 'a number of years like 3 or 0.5');
    case 'log-runs':
      return parseNumberText(text, label, 'a number of runs like 7');
    case 'start':
      return text.trim();
  }
}

/** Turns validation errors into one USAGE error whose parts start with `label(key)`. */
function refuse(errors: readonly InputError[], label: (key: TextKey) => string): never {
  const parts = errors.map((e) => {
    const field = e.path.split(/[.[]/)[0] as keyof SimulationInput;
    const key = KEY_OF_FIELD[field];
    if (!key) return e.path ? `${e.path}: ${e.message}` : e.message;
    const detail = e.path.length > field.length ? ` (${e.path.slice(field.length).replace(/^\./, '')})` : '';
    return `${label(key)}${detail}: ${e.message}`;
  });
  throw new CairnError('USAGE', parts.join('; '));
}

export interface TextInputOptions extends ValidateOptions {
  /** How a key is named in messages: `--points` on the command line, `points` in a share string. */
  readonly label?: (key: TextKey) => string;
  /** Values the text overrides (e.g. an imported RPS link). */
  readonly base?: SimulationInput;
}

/**
 * Builds a checked input from text values by key (`{ used: '1000GB', points: '7d' }`); a flag
 * may be `true`. Throws a USAGE error that names the key of every problem.
 */
export function inputFromText(
  values: Readonly<Partial<Record<TextKey, string | boolean | undefined>>>,
  options: TextInputOptions = {},
): SimulationInput {
  const label = options.label ?? ((k: TextKey) => k);
  const json: Record<string, unknown> = { ...options.base };
  for (const key of TEXT_KEYS) {
    const v = values[key];
    if (v !== undefined) json[TEXT_FIELDS[key]] = fieldValue(key, v, label(key));
  }
  const v = validateInput(json, options);
  if (!v.ok) refuse(v.errors, label);
  return v.input;
}

/**
 * Cairn's share string for an input: the command line's option names as query parameters, with
 * only what differs from the defaults (`start` always). `parseShareQuery` reads it back equal.
 */
export function toShareQuery(input: SimulationInput): string {
  const q = new URLSearchParams();
  const put = (key: TextKey, value: string, isDefault: boolean) => {
    if (!isDefault) q.set(key, value);
  };
  put('style', input.style, false);
  put('used', formatSizeText(input.usedBytes), input.usedBytes === DEFAULTS.usedBytes);
  put('points', String(input.points), input.points === defaultPoints(input.style));
  put('change', String(input.changePercent), input.changePercent === DEFAULTS.changePercent);
  put('reduction', String(input.reductionPercent), input.reductionPercent === DEFAULTS.reductionPercent);
  put('interval', formatInterval(input.intervalHours), input.intervalHours === DEFAULTS.intervalHours);
  put('synthetic-full', formatWeekdays(input.syntheticFullDays), input.syntheticFullDays.length === 0);
  put('active-full-weekly', formatWeekdays(input.activeFullDays), input.activeFullDays.length === 0);
  put('active-full-monthly', formatMonthly(input.activeFullMonthly), input.activeFullMonthly === null);
  const g = input.gfs;
  put('gfs', formatGfs(g), g.weekly + g.monthly + g.quarterly + g.yearly === 0);
  put('gfs-active-full', '1', !input.gfsActiveFull);
  put('fast-clone', '1', !input.fastClone);
  put('growth', String(input.growthPercent), input.growthPercent === DEFAULTS.growthPercent);
  put('years', String(input.years), input.years === DEFAULTS.years);
  put('start', input.start, false);
  put('log-runs', String(input.logRuns), input.logRuns === DEFAULTS.logRuns);
  return q.toString();
}

function searchParams(query: string): URLSearchParams {
  const t = query.trim();
  const at = t.indexOf('?');
  return new URLSearchParams(at >= 0 ? t.slice(at + 1).split('#')[0] : t.replace(/^#/, ''));
}

/** Reads Cairn's share string (or a URL holding one); unknown or repeated keys are refused. */
export function parseShareQuery(query: string, options: ValidateOptions = {}): SimulationInput {
  const params = searchParams(query);
  const values: Partial<Record<TextKey, string>> = {};
  for (const [key, value] of params) {
    if (!(key in TEXT_FIELDS)) throw new CairnError('USAGE', `${key}: unknown parameter`);
    if (values[key as TextKey] !== undefined) throw new CairnError('USAGE', `${key}: given twice`);
    values[key as TextKey] = value;
  }
  return inputFromText(values, options);
}

// ---- RPS share links ----

/** RPS's `m`: 1 incremental, 2 reverse incremental, 3 backup copy job, 4 VMware replica. */
const RPS_STYLES: Readonly<Record<string, Style>> = {
  '1': 'incremental',
  '2': 'reverse',
  '3': 'backup-copy',
  '4': 'replica',
};

/** Which input field each RPS parameter sets, for messages. */
const RPS_PARAM: Readonly<Partial<Record<keyof SimulationInput, string>>> = {
  style: 'm',
  usedBytes: 's',
  points: 'r',
  changePercent: 'd',
  reductionPercent: 'c',
  intervalHours: 'i',
  growthPercent: 'dgr',
  years: 'dgy',
  fastClone: 're',
  syntheticFullDays: 'sy',
  gfs: 'g',
  gfsActiveFull: 'gaf',
};

/** Parameters of RPS's interface that do not change a simulation (run now, manual steps, …). */
const RPS_UI_FLAGS = new Set(['e', 'exec', 'x', 'man']);

/** What RPS parameters could not be carried over, with the reason. */
export interface RpsImport {
  readonly input: SimulationInput;
  readonly ignored: readonly { readonly param: string; readonly reason: string }[];
}

function rpsFlags(text: string, count: number, param: string, what: string): boolean[] {
  const parts = text.split(',').map((p) => p.trim());
  if (parts.length !== count || !parts.every((p) => p === '0' || p === '1'))
    throw new CairnError(
      'USAGE',
      `${param}: expected ${count} flags of 0 or 1 (${what}), got ${JSON.stringify(text)}`,
    );
  return parts.map((p) => p === '1');
}

/** RPS's size: GB (binary, as RPS counts), or with m, g, t or p (`gbcheck`: 10tb, 1.5pb, 500m). */
function rpsSize(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([mgtp])?b?$/i.exec(text.trim());
  if (!m)
    throw new CairnError(
      'USAGE',
      `s: expected a size in GB like 1000, 10tb or 1.5pb, got ${JSON.stringify(text)}`,
    );
  const exp = { m: -1, g: 0, t: 1, p: 2 }[(m[2] ?? 'g').toLowerCase() as 'm' | 'g' | 't' | 'p'];
  const bytes = Math.round(Number(m[1]) * 1024 ** (3 + exp));
  if (!Number.isSafeInteger(bytes) || bytes < 1)
    throw new CairnError(
      'USAGE',
      `s: expected a size in GB like 1000, 10tb or 1.5pb, got ${JSON.stringify(text)}`,
    );
  return bytes;
}

/**
 * Reads an RPS share link's parameters (`m, s, r, c, d, i, sy, iw, im, rw, rm, g, gaf, dg, dgy,
 * dgr, re`) into an input. Parameters RPS would not apply to the chosen style, and those Cairn
 * does not simulate (capacity tier, developer settings), are listed in `ignored`. RPS starts
 * "tomorrow at 22:00" by the reader's clock: pass that as `defaultStart`.
 */
export function parseRpsQuery(query: string, options: ValidateOptions = {}): RpsImport {
  const params = searchParams(query);
  const ignored: { param: string; reason: string }[] = [];
  const get = (name: string) => params.get(name) ?? undefined;
  const json: Record<string, unknown> = {};

  const m = get('m') ?? '1';
  const style = RPS_STYLES[m.trim()];
  if (!style)
    throw new CairnError(
      'USAGE',
      `m: expected 1 (incremental), 2 (reverse incremental), 3 (backup copy job) or 4 (replica), got ${JSON.stringify(m)}`,
    );
  json.style = style;
  const s = get('s');
  if (s !== undefined) json.usedBytes = rpsSize(s);
  const r = get('r');
  if (r !== undefined) json.points = parsePointsText(r, 'r');
  const c = get('c');
  if (c !== undefined) json.reductionPercent = parsePercentText(c, 'c');
  const d = get('d');
  if (d !== undefined) json.changePercent = parsePercentText(d, 'd');
  const i = get('i');
  if (i !== undefined) json.intervalHours = parseIntervalText(i, 'i');

  const dg = get('dg');
  if (dg !== undefined && parseBoolean(dg, 'dg')) {
    json.growthPercent = parsePercentText(get('dgr') ?? '10', 'dgr');
    json.years = parseNumberText(get('dgy') ?? '1', 'dgy', 'a number of years like 3 or 0.5');
  } else {
    for (const p of ['dgr', 'dgy'])
      if (params.has(p)) ignored.push({ param: p, reason: 'growth is off (dg is not 1)' });
  }

  const notFor = (param: string) => ignored.push({ param, reason: `RPS does not apply it to style ${m}` });
  const days = (flags: boolean[]) => WEEKDAYS.filter((_, k) => flags[k]);
  const monthly = (flags: boolean[]) =>
    flags.includes(true)
      ? { week: 'first', weekday: 'sat', months: MONTHS.filter((_, k) => flags[k]) }
      : null;
  for (const [param, forStyle, field, count, what] of [
    ['sy', 'incremental', 'syntheticFullDays', 7, 'Monday first'],
    ['iw', 'incremental', 'activeFullDays', 7, 'Monday first'],
    ['rw', 'reverse', 'activeFullDays', 7, 'Monday first'],
    ['im', 'incremental', 'activeFullMonthly', 12, 'January first'],
    ['rm', 'reverse', 'activeFullMonthly', 12, 'January first'],
  ] as const) {
    const v = get(param);
    if (v === undefined) continue;
    if (style !== forStyle) {
      notFor(param);
      continue;
    }
    const flags = rpsFlags(v, count, param, what);
    json[field] = count === 7 ? days(flags) : monthly(flags);
  }
  const g = get('g');
  if (g !== undefined) {
    if (style !== 'backup-copy') notFor('g');
    else {
      json.gfs = rpsGfs(g);
    }
  }
  const gaf = get('gaf');
  if (gaf !== undefined && parseBoolean(gaf, 'gaf')) {
    const gfs = json.gfs as
      { weekly: number; monthly: number; quarterly: number; yearly: number } | undefined;
    if (style !== 'backup-copy') notFor('gaf');
    else if (!gfs || gfs.weekly + gfs.monthly + gfs.quarterly + gfs.yearly === 0)
      ignored.push({ param: 'gaf', reason: 'no GFS count is set' });
    else json.gfsActiveFull = true;
  }
  const re = get('re');
  if (re !== undefined && parseBoolean(re, 're')) {
    if (style === 'replica') notFor('re');
    else json.fastClone = true;
  }

  const known = new Set([
    'm',
    's',
    'r',
    'c',
    'd',
    'i',
    'dg',
    'dgr',
    'dgy',
    'sy',
    'iw',
    'rw',
    'im',
    'rm',
    'g',
    'gaf',
    're',
  ]);
  for (const param of new Set(params.keys())) {
    if (known.has(param) || RPS_UI_FLAGS.has(param)) continue;
    const reason = ['ctce', 'ctme', 'ctmd'].includes(param)
      ? 'the capacity tier is not simulated'
      : ['used', 'rp', 'delta', 'fullsave', 'incsave', 'strat', 'hourly'].includes(param)
        ? 'a legacy RPS parameter'
        : 'not an RPS simulation parameter';
    ignored.push({ param, reason });
  }

  const v = validateInput(json, options);
  if (!v.ok) {
    throw new CairnError(
      'USAGE',
      v.errors
        .map((e) => {
          const field = e.path.split(/[.[]/)[0] as keyof SimulationInput;
          const param =
            field === 'activeFullDays'
              ? style === 'reverse'
                ? 'rw'
                : 'iw'
              : field === 'activeFullMonthly'
                ? style === 'reverse'
                  ? 'rm'
                  : 'im'
                : (RPS_PARAM[field] ?? e.path);
          return `${param}: ${e.message}`;
        })
        .join('; '),
    );
  }
  return { input: v.input, ignored };
}

/** RPS's `g=W,M,Q,Y`. */
function rpsGfs(text: string): { weekly: number; monthly: number; quarterly: number; yearly: number } {
  const parts = text.split(',').map((p) => p.trim());
  if (parts.length !== 4 || !parts.every((p) => /^\d+$/.test(p)))
    throw new CairnError(
      'USAGE',
      `g: expected four GFS counts W,M,Q,Y like 4,12,0,1, got ${JSON.stringify(text)}`,
    );
  const [weekly, monthly, quarterly, yearly] = parts.map(Number) as [number, number, number, number];
  return { weekly, monthly, quarterly, yearly };
}
