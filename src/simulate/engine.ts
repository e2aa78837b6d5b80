/**
 * The restore-point simulator: a run-by-run model of backup files, after Timothy Dewin's Restore
 * Point Simulator (RPS, github.com/tdewin/rps, pureengine.js). Each run creates, merges,
 * transforms and deletes files as the style's rules say; retention keeps the newest points and
 * whatever they depend on; after every run the stored total plus working space is measured, and
 * the largest (the worst case) is what the result shows. Pure: the same input gives the same
 * result, dates come only from `start`, there is no clock, randomness or I/O.
 *
 * Deliberate differences from RPS are marked "RPS:" below and listed in docs/simulator.md.
 */
import {
  AVERAGE_MONTH,
  AVERAGE_YEAR,
  DAY,
  daysBetween,
  fileStamp,
  gfsMoments,
  HOUR,
  isoUtc,
  nthWeekdayOfMonth,
  parseUtc,
  startOfDay,
  weekday,
  type GfsKind,
} from './dates.ts';
import { resolvePoints } from './parse.ts';
import {
  FILE_KINDS,
  MONTH_WEEKS,
  MONTHS,
  WEEKDAYS,
  type Action,
  type Bandwidth,
  type BandwidthWindow,
  type FileCode,
  type GfsKey,
  type IoCost,
  type IoPattern,
  type RunLog,
  type SimulatedFile,
  type SimulationInput,
  type SimulationResult,
  type Style,
  type Totals,
} from './types.ts';

const TIB = 1024 ** 4;

/**
 * RPS's working-space estimate: the room merges and transforms need, plus one extra full, eased
 * for large sources. Each slice of the source (up to 10 TiB, 10–20, 20–100, 100–500, above) counts
 * at its own factor, times the reduction.
 */
const WORKSPACE_BUCKETS: readonly { readonly upTo: number; readonly factor: number }[] = [
  { upTo: 10 * TIB, factor: 1.05 },
  { upTo: 20 * TIB, factor: 0.66 },
  { upTo: 100 * TIB, factor: 0.4 },
  { upTo: 500 * TIB, factor: 0.25 },
  { upTo: Infinity, factor: 0.1 },
];

/** A replica's working space counts three runs of change (RPS's `replicaWorkSpaceMultiPerc`). */
const REPLICA_WORKSPACE_RUNS = 3;

export const BANDWIDTH_HOURS: readonly number[] = [1, 4, 8, 12, 16, 24];

const GFS_KINDS: readonly GfsKind[] = ['W', 'M', 'Q', 'Y'];

interface Link {
  /** The older file whose blocks this one shares. */
  readonly to: Point;
  /** Bytes shared with it, which this file does not take again. */
  readonly discount: number;
}

/** What a file holds, in RPS's terms. */
interface Stats {
  /** The file's own size. */
  file: number;
  /** Source size at the point. */
  readonly source: number;
  /** Share left after reduction, as stored (100 for a replica). */
  readonly compression: number;
  /** Share of the source this file carries (100 for a full). */
  readonly changeRate: number;
  /** Share left after reduction on the wire. */
  readonly transferCompression: number;
  link: Link | null;
}

interface Point {
  /** Creation order, for names that stay unique and stable. */
  readonly seq: number;
  /** Run that created it (Cairn snapshots age by runs). */
  readonly run: number;
  code: FileCode;
  readonly origCode: FileCode;
  parent: Point | null;
  readonly createMs: number;
  modifyMs: number;
  pointMs: number;
  stats: Stats;
  pointId: number;
  /** 0, the position of the point this one is kept for, or -1: kept only as a GFS point. */
  keptFor: number;
  flagged: boolean;
  recycled: boolean;
  gfsTypes: GfsKind[];
  gfsIds: Partial<Record<GfsKind, number | '*'>>;
  /** A replica's protective snapshot, empty and not a restore point. */
  readonly protective: boolean;
}

interface Config {
  readonly style: Style;
  readonly points: number;
  readonly usedBytes: number;
  readonly change: number;
  readonly reduction: number;
  readonly stepMs: number;
  readonly startMs: number;
  readonly haltMs: number;
  readonly growth: number;
  readonly fastClone: boolean;
  readonly synthetic: readonly boolean[];
  readonly activeWeek: readonly boolean[];
  readonly monthly: {
    readonly n: number;
    readonly weekday: number;
    readonly months: readonly boolean[];
  } | null;
  /** No full is ever scheduled: the forward chain merges (forever forward). */
  readonly forever: boolean;
  readonly gfs: Readonly<Record<GfsKind, number>>;
  readonly gfsActiveFull: boolean;
  /** Every GFS moment of each kind in use over the simulated time, in order. */
  readonly moments: Readonly<Record<GfsKind, readonly number[]>>;
}

interface State {
  /** The active chain, oldest first. */
  ret: Point[];
  /** GFS archives, oldest first. */
  gfs: Point[];
  seq: number;
  newestFull: number;
  safeToMerge: boolean;
  /** The run's actions, or null when not recorded. */
  actions: Action[] | null;
  /** Cairn: bytes this run's forget released, on disk until prune has deleted them. */
  freed: number;
}

const FULL_CODES: Readonly<Record<FileCode, boolean>> = {
  F: true,
  S: true,
  G: true,
  H: true,
  L: true,
  D: true,
  C: true,
  I: false,
  R: false,
  P: false,
};
const isFull = (p: Point) => FULL_CODES[p.code];
/** A .vbk: a full of a backup chain. */
const isVbk = (p: Point) => FULL_CODES[p.code] && p.code !== 'D' && p.code !== 'C';
const marked = (p: Point) => p.gfsTypes.length > 0;
/** Space a file takes: its size less what it shares with the file it is linked to. */
const sizeOf = (p: Point) => Math.max(0, p.stats.link ? p.stats.file - p.stats.link.discount : p.stats.file);

function configure(input: SimulationInput): Config {
  const startMs = parseUtc(input.start);
  if (startMs === undefined) throw new RangeError(`start: not a date: ${input.start}`);
  const points = resolvePoints(input.points, input.intervalHours);
  const flags = (days: readonly string[]) => WEEKDAYS.map((d) => days.includes(d));
  const monthly = input.activeFullMonthly
    ? {
        n: MONTH_WEEKS.indexOf(input.activeFullMonthly.week) + 1,
        weekday: WEEKDAYS.indexOf(input.activeFullMonthly.weekday),
        months: MONTHS.map((m) => input.activeFullMonthly?.months.includes(m) ?? false),
      }
    : null;
  const base = {
    style: input.style,
    points,
    usedBytes: input.usedBytes,
    change: input.changePercent,
    reduction: input.reductionPercent,
    stepMs: input.intervalHours * HOUR,
    startMs,
    growth: input.growthPercent,
    fastClone: input.fastClone,
    synthetic: flags(input.syntheticFullDays),
    activeWeek: flags(input.activeFullDays),
    monthly,
    forever:
      input.syntheticFullDays.length === 0 &&
      input.activeFullDays.length === 0 &&
      input.activeFullMonthly === null,
    gfs: { W: input.gfs.weekly, M: input.gfs.monthly, Q: input.gfs.quarterly, Y: input.gfs.yearly },
    gfsActiveFull: input.gfsActiveFull,
  };
  const haltMs = haltTime(input, base);
  const moments = { W: [], M: [], Q: [], Y: [] } as Record<GfsKind, number[]>;
  for (const kind of GFS_KINDS)
    if (base.gfs[kind] > 0) moments[kind] = gfsMoments(kind, startMs - 400 * DAY, haltMs + 400 * DAY);
  return { ...base, haltMs, moments };
}

/**
 * When runs stop (the last run is before this time): after `years` of 365 days, that last day
 * included, or else RPS's prediction of when retention has settled, which depends on the style and
 * its schedules.
 */
function haltTime(
  input: SimulationInput,
  cfg: Pick<
    Config,
    'startMs' | 'points' | 'stepMs' | 'style' | 'gfs' | 'monthly' | 'activeWeek' | 'synthetic'
  >,
): number {
  // RPS stops before start + years, one run short of the growth it names (1000 GB × 1.1³).
  if (input.years > 0) return cfg.startMs + Math.round(input.years * 365 * DAY) + 1;
  let hours = (cfg.stepMs / HOUR) * (cfg.points + 2) + 48;
  const weekly = cfg.activeWeek.includes(true) || cfg.synthetic.includes(true);
  const twoWeeks = (14 * DAY) / HOUR;
  const months = (n: number) => (n * AVERAGE_MONTH) / HOUR;
  if (cfg.style === 'incremental') {
    // Longest run of months without a full, over two years, plus 14 months.
    if (cfg.monthly) hours += months(distanceMonths(cfg.monthly.months) + 14);
    else if (weekly) hours += twoWeeks;
  } else if (cfg.style === 'reverse') {
    if (cfg.monthly) hours += months(3);
    else if (weekly) hours += twoWeeks;
  } else if (
    cfg.style === 'backup-copy' ||
    (cfg.style === 'cairn' && GFS_KINDS.some((k) => cfg.gfs[k] > 0))
  ) {
    let longest = months(6);
    if (cfg.gfs.W > 0) longest = Math.max(longest, ((cfg.gfs.W + 2) * 7 * DAY) / HOUR);
    if (cfg.gfs.M > 0) longest = Math.max(longest, months(cfg.gfs.M + 2));
    if (cfg.gfs.Q > 0) longest = Math.max(longest, months(3 * (cfg.gfs.Q + 2)));
    if (cfg.gfs.Y > 0) longest = Math.max(longest, ((cfg.gfs.Y + 2) * AVERAGE_YEAR) / HOUR);
    hours += months(6) + longest;
  }
  return cfg.startMs + hours * HOUR;
}

/** RPS's `distanceMonths`: the longest run of unchecked months seen over 24 months. */
function distanceMonths(months: readonly boolean[]): number {
  let longest = 0;
  let current = 0;
  for (let i = 0; i < 24; i++) {
    if (!months[i % 12]) current++;
    else {
      longest = Math.max(longest, current);
      current = 0;
    }
  }
  return longest;
}

/** How many runs a simulation of this input makes (the first run is always made). */
export function simulationRuns(input: SimulationInput): number {
  const cfg = configure(input);
  return Math.max(1, Math.ceil((cfg.haltMs - cfg.startMs) / cfg.stepMs));
}

// ---- sizes ----

/** The source at time t, grown yearly by whole days (RPS: S0 × (1 + g)^(days / 365)). */
function sourceAt(cfg: Config, t: number): number {
  if (cfg.growth === 0) return cfg.usedBytes;
  return cfg.usedBytes * Math.pow(1 + cfg.growth / 100, daysBetween(cfg.startMs, t) / 365);
}

/** A replica is stored as it is; what crosses the wire is still reduced. */
function storedCompression(cfg: Config): number {
  return cfg.style === 'replica' ? 100 : cfg.reduction;
}

function fullStats(cfg: Config, t: number): Stats {
  const source = sourceAt(cfg, t);
  const compression = storedCompression(cfg);
  return {
    file: (source * compression) / 100,
    source,
    compression,
    changeRate: 100,
    transferCompression: cfg.reduction,
    link: null,
  };
}

function incrementalStats(cfg: Config, t: number): Stats {
  const source = sourceAt(cfg, t);
  const compression = storedCompression(cfg);
  return {
    file: source * (cfg.change / 100) * (compression / 100),
    source,
    compression,
    changeRate: cfg.change,
    transferCompression: cfg.reduction,
    link: null,
  };
}

/**
 * RPS's estimate (method 4, its default) of the share of a full that changes between two points
 * `days` apart: a staircase of multiples of the change rate, never more than the change rate per
 * elapsed day, never less than one run's change, and 100 % after a year.
 */
export function fastCloneChangePercent(change: number, days: number): number {
  const d = Math.abs(days);
  let p: number;
  if (d < 2) p = change;
  else if (d < 14) p = change * 3;
  else if (d < 38) p = change * 5;
  else if (d < 100) p = change * 9;
  else if (d < 193) p = change * 12;
  else if (d < 286) p = change * 15;
  else if (d < 379) p = change * 18;
  else p = 100;
  if (!(p >= 0 && p <= 100)) p = 100;
  p = Math.min(p, Math.max(d, 1) * change);
  return Math.max(p, change);
}

/** Makes `newer` share blocks with `older`: all but what changed between their points. */
function link(cfg: Config, newer: Point, older: Point): void {
  const p = fastCloneChangePercent(cfg.change, daysBetween(older.pointMs, newer.pointMs));
  const discount = Math.trunc(((older.stats.source * (100 - p)) / 100) * (newer.stats.compression / 100));
  newer.stats.link = { to: older, discount };
}

function workingSpace(cfg: Config, st: State, t: number): number {
  if (cfg.style === 'cairn') return st.freed;
  let source = sourceAt(cfg, t);
  let compression = cfg.reduction;
  if (cfg.style === 'replica') {
    compression = 100;
    source = (source * Math.min(cfg.change * REPLICA_WORKSPACE_RUNS, 100)) / 100;
  }
  let space = 0;
  let counted = 0;
  for (const bucket of WORKSPACE_BUCKETS) {
    const here = Math.max(0, Math.min(source, bucket.upTo) - counted);
    space += here * (compression / 100) * bucket.factor;
    counted += here;
  }
  return space;
}

// ---- files and the action log ----

function newPoint(
  st: State,
  run: number,
  code: FileCode,
  parent: Point | null,
  stats: Stats,
  createMs: number,
  pointMs: number,
  protective = false,
): Point {
  return {
    seq: st.seq++,
    run,
    code,
    origCode: code,
    parent,
    createMs,
    modifyMs: createMs,
    pointMs,
    stats,
    pointId: -1,
    keptFor: 0,
    flagged: false,
    recycled: false,
    gfsTypes: [],
    gfsIds: {},
    protective,
  };
}

function fileName(p: Point): string {
  const stamp = fileStamp(p.pointMs);
  switch (p.code) {
    case 'I':
      return `${stamp}.vib`;
    case 'R':
      return `${stamp}.vrb`;
    case 'D':
      return 'vm-flat.vmdk';
    case 'P':
      return `vm-${stamp}-delta.vmdk`;
    case 'C':
      return `snapshot-${stamp}`;
    default:
      return `${stamp}.vbk`;
  }
}

function act(st: State, text: string, bytes: number, pattern: IoPattern, multiplier: number): void {
  st.actions?.push({
    text,
    bytes: Math.round(bytes),
    pattern,
    multiplier: pattern === 'none' ? 0 : multiplier,
  });
}

function ioCost(actions: readonly Action[]): IoCost {
  let sequentialWrite = 0;
  let sequential2x = 0;
  let random2x = 0;
  let random3x = 0;
  let total = 0;
  for (const a of actions) {
    if (a.pattern === 'sequential' && a.multiplier === 1) sequentialWrite += a.bytes;
    else if (a.pattern === 'sequential') sequential2x += a.bytes;
    else if (a.pattern === 'random' && a.multiplier === 3) random3x += a.bytes;
    else if (a.pattern === 'random') random2x += a.bytes;
    total += a.bytes * a.multiplier;
  }
  return { sequentialWrite, sequential2x, random2x, random3x, total };
}

// ---- schedules ----

function isActiveFullDay(cfg: Config, t: number): boolean {
  const day = weekday(t);
  if (cfg.monthly) {
    const d = new Date(t);
    if (!cfg.monthly.months[d.getUTCMonth()] || day !== cfg.monthly.weekday) return false;
    return nthWeekdayOfMonth(d.getUTCFullYear(), d.getUTCMonth(), day, cfg.monthly.n) === d.getUTCDate();
  }
  return cfg.activeWeek[day] === true;
}

/** The fulls already made today (UTC), which stop a second one on the same day of hourly runs. */
function fullsToday(st: State, t: number): { active: Point | null; synthetic: Point | null } {
  const begin = startOfDay(t);
  const found: { active: Point | null; synthetic: Point | null } = { active: null, synthetic: null };
  for (let i = st.ret.length - 1; i >= 0; i--) {
    const p = st.ret[i];
    if (!p || p.modifyMs < begin) break;
    if (!isVbk(p)) continue;
    if (p.origCode === 'F' && p.createMs >= begin) found.active = p;
    if (p.code === 'S' || p.code === 'L') found.synthetic = p;
  }
  return found;
}

/** Tags whichever of x and y is closer to each GFS moment between them (RPS's highLowMark). */
function markForGfs(cfg: Config, x: Point, y: Point): void {
  for (const kind of GFS_KINDS) {
    if (cfg.gfs[kind] === 0) continue;
    for (const g of momentsBetween(cfg, kind, x.pointMs, y.pointMs)) {
      const target = g - x.pointMs < y.pointMs - g ? x : y;
      if (!target.gfsTypes.includes(kind)) target.gfsTypes.push(kind);
    }
  }
}

/** The GFS kinds with a moment in (from, to] (active-full GFS decides at the run). */
function gfsMarkers(cfg: Config, from: number, to: number): GfsKind[] {
  return GFS_KINDS.filter((k) => cfg.gfs[k] > 0 && momentsBetween(cfg, k, from, to).length > 0);
}

/** The GFS moments of a kind in (from, to], from the precomputed list. */
function momentsBetween(cfg: Config, kind: GfsKind, from: number, to: number): number[] {
  const all = cfg.moments[kind];
  let lo = 0;
  let hi = all.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((all[mid] as number) <= from) lo = mid + 1;
    else hi = mid;
  }
  const out: number[] = [];
  for (let i = lo; i < all.length && (all[i] as number) <= to; i++) out.push(all[i] as number);
  return out;
}

// ---- retention ----

/** Counts a GFS-tagged point against the archive limits, newest first; true if any kind keeps it. */
function gfsRecount(cfg: Config, p: Point, counters: Record<GfsKind, number>): boolean {
  let keep = false;
  for (const kind of p.gfsTypes) {
    if (counters[kind] <= cfg.gfs[kind]) {
      keep = true;
      p.gfsIds[kind] = counters[kind]++;
    } else p.gfsIds[kind] = -1;
  }
  return keep;
}

/**
 * Numbers the points from the newest (1) and flags what retention drops. A point beyond the
 * retention count stays when the oldest kept point needs it: its full, or an earlier incremental
 * of the same full (kept "for" that point, RPS's "18 (14)"). Reverse incrementals are never needed
 * by newer points. GFS archives are kept while within their kind's count.
 */
function recalc(cfg: Config, st: State): void {
  const counters: Record<GfsKind, number> = { W: 1, M: 1, Q: 1, Y: 1 };
  const ret = st.ret;
  let firstFull = false;
  st.newestFull = -1;
  st.safeToMerge = true;
  let keep = ret[ret.length - 1];
  let id = 1;
  for (let i = ret.length - 1; i >= 0; i--, id++) {
    const p = ret[i];
    if (!p || !keep) continue;
    p.pointId = id;
    if (!firstFull) {
      if (isFull(p)) {
        firstFull = true;
        st.newestFull = id;
        if (ret[i - 1]?.code === 'R') st.safeToMerge = false;
      } else if (p.code !== 'I') st.safeToMerge = false;
    }
    const gfsKeep = cfg.gfsActiveFull && isVbk(p) && marked(p) && gfsRecount(cfg, p, counters);
    // RPS compares parents by identity and every full has its own "null" parent: two fulls never
    // share one.
    const sameParent = keep.parent !== null && keep.parent === p.parent;
    if (id <= cfg.points) {
      keep = p;
      p.keptFor = 0;
    } else if ((!sameParent && keep.parent !== p) || (p.parent !== null && p.parent.pointMs > p.pointMs)) {
      if (gfsKeep) p.keptFor = -1;
      else p.flagged = true;
    } else p.keptFor = keep.pointId;
    if (marked(p) && !isVbk(p)) for (const kind of p.gfsTypes) p.gfsIds[kind] = '*';
  }
  for (let i = st.gfs.length - 1; i >= 0; i--) {
    const p = st.gfs[i];
    if (!p) continue;
    p.pointId = -1;
    if (!gfsRecount(cfg, p, counters)) p.flagged = true;
  }
}

/** The nearest ancestor by fast-clone link that survives, or null. */
function survivingLink(p: Point): Point | null {
  let q: Point | null = p;
  while (q?.recycled) q = q.stats.link?.to ?? null;
  return q;
}

/**
 * A file linked to a deleted one shares blocks with that one's surviving ancestor instead, at the
 * change over the longer time; with none left it holds all its blocks itself.
 */
function relink(cfg: Config, p: Point): void {
  const l = p.stats.link;
  if (!cfg.fastClone || !l || !l.to.recycled) return;
  const to = survivingLink(l.to);
  if (to) link(cfg, p, to);
  else {
    p.stats.link = null;
    p.code = p.code === 'H' || p.code === 'G' ? 'G' : 'S';
  }
}

function remove(st: State, p: Point, text = `Deleted ${fileName(p)}`): void {
  act(st, text, sizeOf(p), 'none', 0);
  p.recycled = true;
}

function doRecycle(cfg: Config, st: State): void {
  recalc(cfg, st);
  const gfs: Point[] = [];
  for (const p of st.gfs) {
    if (p.flagged) remove(st, p, `Deleted the GFS archive ${fileName(p)}`);
    else {
      relink(cfg, p);
      gfs.push(p);
    }
  }
  const ret: Point[] = [];
  for (const p of st.ret) {
    if (p.flagged) remove(st, p);
    else {
      relink(cfg, p);
      if (cfg.gfsActiveFull && isVbk(p) && marked(p) && p.keptFor === -1) {
        p.code = p.stats.link ? 'H' : 'G';
        p.keptFor = 0;
        gfs.push(p);
        act(st, `Archived ${fileName(p)} as a GFS full`, 0, 'none', 0);
      } else ret.push(p);
    }
  }
  st.gfs = gfs;
  st.ret = ret;
}

/**
 * Forever forward and backup copy: when the newest full has fallen out of retention, the
 * incrementals after it are merged into it, oldest first, until it is the oldest kept point. A full
 * tagged for GFS is not merged into: it is archived, and a new full made from it and the next
 * incremental carries the chain on.
 */
function mergeVbk(cfg: Config, st: State, t: number): void {
  recalc(cfg, st);
  if (st.newestFull === -1 || !st.safeToMerge || st.newestFull <= cfg.points) return;
  const ret = st.ret;
  const out: Point[] = [];
  let i = 0;
  for (; i < ret.length && ret[i]?.pointId !== st.newestFull; i++) out.push(ret[i] as Point);
  let parent = ret[i];
  if (!parent) return;
  out.push(parent);
  for (i++; i < ret.length; i++) {
    const q = ret[i] as Point;
    if (q.pointId < cfg.points || q.parent !== parent) {
      out.push(q);
      continue;
    }
    if (marked(parent)) {
      // RPS: the new full kept the archived full's point date, so one restore point (the merged
      // incremental's) went missing from the chain; here the new full holds the incremental's point.
      const archived = out.pop() as Point;
      const full = newPoint(
        st,
        q.run,
        cfg.fastClone ? 'L' : 'S',
        null,
        fullStats(cfg, q.pointMs),
        t,
        q.pointMs,
      );
      if (cfg.fastClone) link(cfg, full, archived);
      full.gfsTypes = [...q.gfsTypes];
      for (let j = i + 1; j < ret.length && ret[j]?.parent === archived; j++) (ret[j] as Point).parent = full;
      out.push(full);
      act(
        st,
        `Copied the full and the oldest VIB into a new full ${fileName(full)}`,
        sizeOf(full),
        'sequential',
        2,
      );
      remove(st, q, `Deleted the copied ${fileName(q)}`);
      archived.code = archived.stats.link ? 'H' : 'G';
      archived.keptFor = 0;
      st.gfs.push(archived);
      act(st, `Archived ${fileName(archived)} as a GFS full`, 0, 'none', 0);
      parent = full;
    } else {
      const merged = sizeOf(q);
      parent.modifyMs = t;
      parent.pointMs = q.pointMs;
      parent.pointId = q.pointId;
      parent.gfsTypes = [...q.gfsTypes];
      const linked = parent.stats.link ? survivingLink(parent.stats.link.to) : null;
      parent.stats = fullStats(cfg, q.pointMs);
      if (cfg.fastClone && linked) {
        link(cfg, parent, linked);
        act(st, 'Merged the oldest VIB into the full by cloning blocks', merged, 'none', 0);
      } else {
        parent.code = 'S';
        // RPS logs random I/O for every merge that is not into a linked full; with fast clone the
        // merge clones the incremental's blocks instead of copying them.
        if (cfg.fastClone)
          act(st, 'Merged the oldest VIB into the full by cloning blocks', merged, 'none', 0);
        else act(st, 'Merged the oldest VIB into the full', merged, 'random', 2);
      }
      remove(st, q, `Deleted the merged ${fileName(q)}`);
    }
  }
  st.ret = out;
}

// ---- one run of each style ----

function firstFull(cfg: Config, st: State, t: number, code: FileCode): void {
  const full = newPoint(st, 0, code, null, fullStats(cfg, t), t, t);
  full.pointId = 1;
  st.ret.push(full);
  act(st, `Created full ${fileName(full)}`, sizeOf(full), 'sequential', 1);
}

function runIncremental(cfg: Config, st: State, run: number, t: number): void {
  if (st.ret.length === 0) return firstFull(cfg, st, t, 'F');
  const today = fullsToday(st, t);
  const latest = st.ret[st.ret.length - 1] as Point;
  let np: Point;
  if (!today.active && isActiveFullDay(cfg, t)) {
    np = newPoint(st, run, 'F', null, fullStats(cfg, t), t, t);
    today.active = np;
    act(st, `Created active full ${fileName(np)}`, sizeOf(np), 'sequential', 1);
  } else if (!'FSIL'.includes(latest.code)) {
    np = newPoint(st, run, 'F', null, fullStats(cfg, t), t, t);
    today.active = np;
    act(st, `Created full ${fileName(np)} (no chain to add to)`, sizeOf(np), 'sequential', 1);
  } else {
    np = newPoint(st, run, 'I', isVbk(latest) ? latest : latest.parent, incrementalStats(cfg, t), t, t);
    act(st, `Created incremental ${fileName(np)}`, sizeOf(np), 'sequential', 1);
  }
  st.ret.push(np);
  if (cfg.forever) mergeVbk(cfg, st, t);
  else if (!today.active && !today.synthetic && cfg.synthetic[weekday(t)]) {
    const vib = st.ret.pop() as Point;
    let full: Point;
    if (cfg.fastClone) {
      full = newPoint(st, run, 'L', null, fullStats(cfg, t), t, t);
      link(cfg, full, latest);
      act(st, `Synthesized full ${fileName(full)} by cloning blocks`, sizeOf(full), 'none', 0);
    } else {
      full = newPoint(st, run, 'S', null, fullStats(cfg, t), t, vib.pointMs);
      act(st, `Synthesized full ${fileName(full)} from the chain`, sizeOf(full), 'random', 2);
    }
    st.ret.push(full);
    remove(st, vib, `Deleted ${fileName(vib)}, now inside the synthetic full`);
  }
  doRecycle(cfg, st);
}

function runReverse(cfg: Config, st: State, run: number, t: number): void {
  if (st.ret.length === 0) return firstFull(cfg, st, t, 'F');
  const today = fullsToday(st, t);
  const latest = st.ret[st.ret.length - 1] as Point;
  if (!today.active && isActiveFullDay(cfg, t)) {
    const np = newPoint(st, run, 'F', null, fullStats(cfg, t), t, t);
    st.ret.push(np);
    act(st, `Created active full ${fileName(np)}`, sizeOf(np), 'sequential', 1);
  } else if (isVbk(latest)) {
    const vbk = st.ret.pop() as Point;
    const vrb = newPoint(st, run, 'R', vbk, incrementalStats(cfg, vbk.pointMs), t, vbk.pointMs);
    st.ret.push(vrb);
    vbk.modifyMs = t;
    vbk.pointMs = t;
    vbk.code = 'S';
    vbk.stats = fullStats(cfg, t);
    st.ret.push(vbk);
    act(
      st,
      `Created reverse incremental ${fileName(vrb)}: read the full, wrote the VRB, updated the full`,
      sizeOf(vrb),
      'random',
      3,
    );
  } else {
    const np = newPoint(st, run, 'F', null, fullStats(cfg, t), t, t);
    st.ret.push(np);
    act(st, `Created full ${fileName(np)} (no full to update)`, sizeOf(np), 'sequential', 1);
  }
  doRecycle(cfg, st);
}

function runBackupCopy(cfg: Config, st: State, run: number, t: number): void {
  if (st.ret.length === 0) return firstFull(cfg, st, t, 'S');
  const latest = st.ret[st.ret.length - 1] as Point;
  const markers = cfg.gfsActiveFull ? gfsMarkers(cfg, latest.pointMs, t) : [];
  let np: Point;
  if (!'FSIL'.includes(latest.code)) {
    np = newPoint(st, run, 'S', null, fullStats(cfg, t), t, t);
    act(st, `Created full ${fileName(np)} (no chain to add to)`, sizeOf(np), 'sequential', 1);
  } else if (markers.length > 0) {
    np = newPoint(st, run, 'S', null, fullStats(cfg, t), t, t);
    np.gfsTypes = markers;
    act(st, `Created GFS active full ${fileName(np)} (${markers.join(', ')})`, sizeOf(np), 'sequential', 1);
  } else {
    np = newPoint(st, run, 'I', isVbk(latest) ? latest : latest.parent, incrementalStats(cfg, t), t, t);
    act(st, `Copied incremental ${fileName(np)}`, sizeOf(np), 'sequential', 1);
    if (!cfg.gfsActiveFull) markForGfs(cfg, latest, np);
  }
  st.ret.push(np);
  if (!cfg.gfsActiveFull) mergeVbk(cfg, st, t);
  doRecycle(cfg, st);
}

/** Numbers a replica's points: each delta from the newest, then the base disk after them. */
function recalcReplica(st: State): void {
  let id = 1;
  const disk = st.ret[0];
  for (let i = st.ret.length - 1; i >= 1; i--) (st.ret[i] as Point).pointId = id++;
  if (disk) disk.pointId = id;
}

function runReplica(cfg: Config, st: State, run: number, t: number): void {
  let disk = st.ret[0];
  if (!disk) {
    disk = newPoint(st, run, 'D', null, fullStats(cfg, t), t, t);
    disk.pointId = 1;
    st.ret.push(disk);
    act(st, 'Created the replica disk vm-flat.vmdk', sizeOf(disk), 'sequential', 1);
  } else {
    st.ret.pop(); // the protective snapshot, which this run's delta fills
    act(st, 'Created a temporary snapshot of the source VM', 0, 'none', 0);
    const delta = newPoint(st, run, 'P', disk, incrementalStats(cfg, t), t, t);
    st.ret.push(delta);
    act(st, `Wrote the changed blocks into ${fileName(delta)}`, sizeOf(delta), 'sequential', 1);
    act(st, 'Removed the temporary snapshot of the source VM', 0, 'none', 0);
    recalcReplica(st);
    if (disk.pointId > cfg.points) {
      const rest: Point[] = [];
      for (const p of st.ret.slice(1)) {
        if (p.pointId > cfg.points - 1) {
          disk.stats = { ...p.stats, file: (p.stats.source * p.stats.compression) / 100, changeRate: 100 };
          disk.pointId = p.pointId;
          disk.modifyMs = t;
          disk.pointMs = p.pointMs;
          act(st, `Committed the oldest snapshot ${fileName(p)} into the disk`, sizeOf(p), 'random', 2);
          p.recycled = true;
        } else rest.push(p);
      }
      st.ret = [disk, ...rest];
    }
  }
  const empty: Stats = {
    file: 0,
    source: 0,
    compression: 100,
    changeRate: 100,
    transferCompression: 100,
    link: null,
  };
  const protective = newPoint(st, run, 'P', disk, empty, t, t, true);
  st.ret.push(protective);
  act(st, 'Created the protective snapshot (an empty delta)', 0, 'none', 0);
}

/**
 * The bytes `newer` stores that `older` does not hold: its data less what the two share, which is
 * all of `older` but the share RPS estimates changed between their points (as for fast clone).
 */
function unshared(cfg: Config, newer: Point, older: Point | null): number {
  if (!older) return (newer.stats.source * cfg.reduction) / 100;
  const p = fastCloneChangePercent(cfg.change, daysBetween(older.pointMs, newer.pointMs));
  return Math.max(0, ((newer.stats.source - older.stats.source * (1 - p / 100)) * cfg.reduction) / 100);
}

/**
 * Cairn: every snapshot is a full restore point over deduplicated storage. Each kept snapshot is
 * charged with the data the kept snapshot before it does not hold: the oldest with all of it,
 * each next one with one run's change (after reduction). Forgetting a snapshot frees only what no
 * kept snapshot shares: the next one is charged again against the kept one before the gap, with
 * RPS's estimate of what changed over that longer time (the same staircase as fast clone), and
 * never more than the two held together.
 */
function runCairn(cfg: Config, st: State, run: number, t: number): void {
  const source = sourceAt(cfg, t);
  const latest = st.ret[st.ret.length - 1] ?? null;
  const stats: Stats = {
    file: 0,
    source,
    compression: cfg.reduction,
    changeRate: 100,
    transferCompression: cfg.reduction,
    link: null,
  };
  const snap = newPoint(st, run, 'C', null, stats, t, t);
  if (latest) {
    const kept = 1 - cfg.change / 100;
    const changed = Math.max(0, source - latest.stats.source * kept);
    stats.file = (changed * cfg.reduction) / 100;
    snap.stats = { ...stats, changeRate: source > 0 ? (changed / source) * 100 : 0 };
    markForGfs(cfg, latest, snap);
  } else stats.file = (source * cfg.reduction) / 100;
  st.ret.push(snap);
  act(st, `Stored the new data of ${fileName(snap)}`, sizeOf(snap), 'sequential', 1);

  const counters: Record<GfsKind, number> = { W: 1, M: 1, Q: 1, Y: 1 };
  for (let i = st.ret.length - 1, id = 1; i >= 0; i--, id++) {
    const p = st.ret[i] as Point;
    p.pointId = id;
    const gfsKeep = marked(p) && gfsRecount(cfg, p, counters);
    p.flagged = id > cfg.points && !gfsKeep;
  }
  st.freed = 0;
  const kept: Point[] = [];
  for (let i = 0; i < st.ret.length; i++) {
    const p = st.ret[i] as Point;
    if (!p.flagged) {
      kept.push(p);
      continue;
    }
    // The newest snapshot is always kept, so a forgotten one always has a next one.
    const next = st.ret[i + 1] as Point;
    const before = p.stats.file + next.stats.file;
    next.stats.file = Math.min(unshared(cfg, next, kept[kept.length - 1] ?? null), before);
    const freed = before - next.stats.file;
    st.freed += freed;
    act(st, `Forgot ${fileName(p)}; prune frees what no kept snapshot shares`, freed, 'none', 0);
    p.recycled = true;
  }
  st.ret = kept;
}

const RUNNERS: Readonly<Record<Style, (cfg: Config, st: State, run: number, t: number) => void>> = {
  incremental: runIncremental,
  reverse: runReverse,
  'backup-copy': runBackupCopy,
  replica: runReplica,
  cairn: runCairn,
};

// ---- the simulation ----

interface Pass {
  readonly runs: number;
  readonly lastRunMs: number;
  readonly worstRun: number;
  readonly worstMs: number;
  readonly st: State;
  readonly log: RunLog[];
}

function measure(cfg: Config, st: State, t: number): { total: number; workingSpace: number } {
  let total = 0;
  for (const p of st.gfs) total += sizeOf(p);
  for (const p of st.ret) total += sizeOf(p);
  return { total, workingSpace: workingSpace(cfg, st, t) };
}

/**
 * Runs from the start until the halt time, or only until run `stopAfter`, recording the actions
 * of the `logRuns` runs that end at `logUntil`. The worst case is the first run with the largest
 * grand total.
 */
function pass(cfg: Config, logRuns: number, logUntil: number, stopAfter?: number): Pass {
  const st: State = {
    ret: [],
    gfs: [],
    seq: 0,
    newestFull: -1,
    safeToMerge: false,
    actions: null,
    freed: 0,
  };
  const runner = RUNNERS[cfg.style];
  const log: RunLog[] = [];
  let worst = -Infinity;
  let worstRun = 0;
  let worstMs = cfg.startMs;
  let run = 0;
  let t = cfg.startMs;
  for (; run === 0 || t < cfg.haltMs; run++, t += cfg.stepMs) {
    const recording = run > logUntil - logRuns && run <= logUntil;
    st.actions = recording ? [] : null;
    runner(cfg, st, run, t);
    const m = measure(cfg, st, t);
    if (recording) {
      const actions = st.actions ?? [];
      let total = 0;
      for (const p of st.gfs) total += Math.round(sizeOf(p));
      for (const p of st.ret) total += Math.round(sizeOf(p));
      log.push({ run: run + 1, at: isoUtc(t), actions, io: ioCost(actions), total });
    }
    if (m.total + m.workingSpace > worst) {
      worst = m.total + m.workingSpace;
      worstRun = run;
      worstMs = t;
    }
    if (run === stopAfter) break;
  }
  if (run !== stopAfter) {
    run--;
    t -= cfg.stepMs;
  }
  return { runs: run + 1, lastRunMs: t, worstRun, worstMs, st, log };
}

function gfsOf(p: Point): Partial<Record<GfsKey, number | '*'>> {
  const out: Partial<Record<GfsKey, number | '*'>> = {};
  for (const kind of GFS_KINDS) {
    if (!p.gfsTypes.includes(kind)) continue;
    const id = p.gfsIds[kind];
    if (typeof id === 'number' && id > 0) out[kind] = id;
    else if (id !== -1) out[kind] = '*';
  }
  return out;
}

function describe(cfg: Config, p: Point): SimulatedFile {
  const archived = p.code === 'G' || p.code === 'H';
  const gfsOnly = archived || p.keptFor === -1 || (cfg.style === 'cairn' && p.pointId > cfg.points);
  const pointId = p.protective || gfsOnly || p.pointId < 1 ? null : p.pointId;
  const keptFor = p.keptFor > 0 ? p.keptFor : null;
  const gfs = gfsOf(p);
  const label: string[] = [];
  if (p.protective) label.push('*');
  if (pointId !== null) label.push(keptFor !== null ? `${pointId} (${keptFor})` : String(pointId));
  for (const [kind, id] of Object.entries(gfs)) label.push(id === '*' ? `*${kind}` : `${id}${kind}`);
  const changed = (p.stats.source * p.stats.changeRate) / 100;
  return {
    code: p.code,
    kind: FILE_KINDS[p.code],
    full: isFull(p),
    name: p.protective ? `vm-${fileStamp(p.pointMs)}-protective.vmdk` : fileName(p),
    pointDate: isoUtc(p.pointMs),
    modifyDate: isoUtc(p.modifyMs),
    size: Math.round(sizeOf(p)),
    fileSize: Math.round(p.stats.file),
    sourceBytes: Math.round(p.stats.source),
    changedBytes: Math.round(changed),
    transferBytes: Math.round((changed * p.stats.transferCompression) / 100),
    retention: label.join(' '),
    pointId,
    keptFor,
    gfs,
    linkedTo: p.stats.link ? fileName(p.stats.link.to) : null,
  };
}

/** Rates that move `changedBytes` (and `transferBytes` after reduction) within each window. */
export function bandwidthWindows(changedBytes: number, transferBytes: number): BandwidthWindow[] {
  return BANDWIDTH_HOURS.map((hours) => {
    const seconds = hours * 3600;
    return {
      hours,
      changedBytesPerSecond: Math.ceil(changedBytes / seconds),
      transferBytesPerSecond: Math.ceil(transferBytes / seconds),
      transferBitsPerSecond: Math.ceil((transferBytes * 8) / seconds),
    };
  });
}

/** Simulates `input`, which `validateInput` has checked. */
export function simulate(input: SimulationInput): SimulationResult {
  const cfg = configure(input);
  const lastRun = Math.max(1, Math.ceil((cfg.haltMs - cfg.startMs) / cfg.stepMs)) - 1;
  const whole = pass(cfg, input.logRuns, lastRun);
  // Deterministic, so the worst moment can be reached again; with growth it is usually the last
  // run, and the first pass already holds it.
  const at = whole.worstRun === lastRun ? whole : pass(cfg, input.logRuns, whole.worstRun, whole.worstRun);
  const files = [...at.st.gfs, ...at.st.ret].map((p) => describe(cfg, p));
  let fullCount = 0;
  let fulls = 0;
  let incrementalCount = 0;
  let incrementals = 0;
  for (const f of files) {
    if (f.full) {
      fullCount++;
      fulls += f.size;
    } else {
      if (!f.name.endsWith('-protective.vmdk')) incrementalCount++;
      incrementals += f.size;
    }
  }
  const ws = Math.round(workingSpace(cfg, at.st, whole.worstMs));
  const totals: Totals = {
    fullCount,
    fulls,
    incrementalCount,
    incrementals,
    total: fulls + incrementals,
    workingSpace: ws,
    grandTotal: fulls + incrementals + ws,
  };
  const source = sourceAt(cfg, whole.worstMs);
  const changedBytes = Math.round((source * cfg.change) / 100);
  const transferBytes = Math.round((changedBytes * cfg.reduction) / 100);
  const bandwidth: Bandwidth = {
    at: isoUtc(whole.worstMs),
    changedBytes,
    transferBytes,
    windows: bandwidthWindows(changedBytes, transferBytes),
  };
  return {
    input,
    points: cfg.points,
    runs: whole.runs,
    firstRun: isoUtc(cfg.startMs),
    lastRun: isoUtc(whole.lastRunMs),
    worstCase: { run: whole.worstRun + 1, at: isoUtc(whole.worstMs) },
    files,
    totals,
    log: at.log,
    bandwidth,
  };
}
