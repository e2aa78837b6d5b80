/**
 * The restore-point simulator's input and result, as plain JSON-able data. Sizes are bytes, dates
 * are ISO 8601 strings in UTC, percentages are numbers from 0 to 100.
 */

/**
 * How restore points are made and kept:
 * - `incremental`: forward incremental (forever forward when no full is scheduled), RPS style 1;
 * - `reverse`: reverse incremental, RPS style 2;
 * - `backup-copy`: a backup copy job with GFS archives, RPS style 3;
 * - `replica`: a VM replica with snapshot deltas, RPS style 4;
 * - `cairn`: deduplicated snapshots, every one a full restore point.
 */
export type Style = 'incremental' | 'reverse' | 'backup-copy' | 'replica' | 'cairn';
export const STYLES: readonly Style[] = ['incremental', 'reverse', 'backup-copy', 'replica', 'cairn'];

export type Weekday = 'mon' | 'tue' | 'wed' | 'thu' | 'fri' | 'sat' | 'sun';
/** Monday first, as RPS's day arrays. */
export const WEEKDAYS: readonly Weekday[] = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];

export type Month =
  'jan' | 'feb' | 'mar' | 'apr' | 'may' | 'jun' | 'jul' | 'aug' | 'sep' | 'oct' | 'nov' | 'dec';
export const MONTHS: readonly Month[] = [
  'jan',
  'feb',
  'mar',
  'apr',
  'may',
  'jun',
  'jul',
  'aug',
  'sep',
  'oct',
  'nov',
  'dec',
];

/** Which occurrence of a weekday in a month; `last` is the fifth or, in a short month, the fourth. */
export type MonthWeek = 'first' | 'second' | 'third' | 'fourth' | 'last';
export const MONTH_WEEKS: readonly MonthWeek[] = ['first', 'second', 'third', 'fourth', 'last'];

/** An active full on one weekday of chosen months, e.g. the first Saturday of every month. */
export interface MonthlySchedule {
  readonly week: MonthWeek;
  readonly weekday: Weekday;
  /** The months it runs in (all twelve by default). */
  readonly months: readonly Month[];
}

/** How many weekly, monthly, quarterly and yearly archives (GFS) to keep. */
export interface GfsCounts {
  readonly weekly: number;
  readonly monthly: number;
  readonly quarterly: number;
  readonly yearly: number;
}

/** The intervals RPS offers: every 1, 2, 3, 4, 6, 8 or 12 hours, or daily (24). */
export const INTERVAL_HOURS: readonly number[] = [1, 2, 3, 4, 6, 8, 12, 24];

export interface SimulationInput {
  readonly style: Style;
  /** Used (not provisioned) source size in bytes. */
  readonly usedBytes: number;
  /** Restore points to keep: a count, or a period (`7d`, `5w`, `2.5m`, `1q`, `1y`) turned into runs. */
  readonly points: number | string;
  /** Share of the source that changes between two runs. */
  readonly changePercent: number;
  /** Share of the data left after compression and deduplication (100: no reduction). */
  readonly reductionPercent: number;
  /** Hours between runs; 24 is daily. */
  readonly intervalHours: number;
  /** Yearly growth of the source. */
  readonly growthPercent: number;
  /** How long to simulate; 0 runs until the retention has settled (RPS's predicted end). */
  readonly years: number;
  /** Block cloning (XFS reflink, ReFS): synthetic fulls and merges share blocks. */
  readonly fastClone: boolean;
  /** The first run, in UTC (`2024-01-01T22:00:00Z`). */
  readonly start: string;
  /** Days a synthetic full replaces the incremental (style `incremental`). */
  readonly syntheticFullDays: readonly Weekday[];
  /** Days an active full is made (styles `incremental` and `reverse`). */
  readonly activeFullDays: readonly Weekday[];
  /** A monthly active full; when set it wins over `activeFullDays` (styles `incremental` and `reverse`). */
  readonly activeFullMonthly: MonthlySchedule | null;
  /** GFS archives (styles `backup-copy` and `cairn`). */
  readonly gfs: GfsCounts;
  /** Backup copy: make GFS points as new active fulls instead of by transforming the chain (v9). */
  readonly gfsActiveFull: boolean;
  /** How many runs of the action log to return, the last of them the worst-case run. */
  readonly logRuns: number;
}

/**
 * The kinds of file, with RPS's one-letter codes: F active full, S synthetic full, I incremental,
 * R reverse incremental, G GFS full, H GFS full sharing blocks, L full sharing blocks (fast clone),
 * D replica base disk, P replica snapshot delta, C Cairn snapshot.
 */
export type FileCode = 'F' | 'S' | 'I' | 'R' | 'G' | 'H' | 'L' | 'D' | 'P' | 'C';

export type FileKind =
  | 'full'
  | 'synthetic-full'
  | 'incremental'
  | 'reverse-incremental'
  | 'gfs-full'
  | 'gfs-linked-full'
  | 'linked-full'
  | 'replica-disk'
  | 'replica-delta'
  | 'snapshot';

export const FILE_KINDS: Readonly<Record<FileCode, FileKind>> = {
  F: 'full',
  S: 'synthetic-full',
  I: 'incremental',
  R: 'reverse-incremental',
  G: 'gfs-full',
  H: 'gfs-linked-full',
  L: 'linked-full',
  D: 'replica-disk',
  P: 'replica-delta',
  C: 'snapshot',
};

export type GfsKey = 'W' | 'M' | 'Q' | 'Y';

export interface SimulatedFile {
  readonly code: FileCode;
  readonly kind: FileKind;
  /** Whether the file holds a whole restore point (fulls, replica disk, Cairn snapshots). */
  readonly full: boolean;
  readonly name: string;
  /** The restore point the file holds. */
  readonly pointDate: string;
  /** When the file was last written. */
  readonly modifyDate: string;
  /** Space the file takes, after block sharing (fast clone) and deduplication. */
  readonly size: number;
  /** The file's own size before block sharing. */
  readonly fileSize: number;
  /** Source size when the point was taken. */
  readonly sourceBytes: number;
  /** Source bytes that changed for this point (the whole source for a full). */
  readonly changedBytes: number;
  /** Bytes a copy of this point sends over the wire (after reduction). */
  readonly transferBytes: number;
  /** RPS's retention label: position, `(n)` when kept only because point n needs it, GFS flags. */
  readonly retention: string;
  /** Position counted from the newest point (1), or null for GFS archives. */
  readonly pointId: number | null;
  /** The position of the point that this one is kept for (a chain dependency), or null. */
  readonly keptFor: number | null;
  /** GFS flags: the position among kept archives of that kind, or `*` for a flag not archived yet. */
  readonly gfs: Partial<Readonly<Record<GfsKey, number | '*'>>>;
  /** The file this one shares blocks with (fast clone), or null. */
  readonly linkedTo: string | null;
}

export type IoPattern = 'sequential' | 'random' | 'none';

export interface Action {
  readonly text: string;
  /** Bytes the action moves; the I/O it costs is `bytes × multiplier`. */
  readonly bytes: number;
  readonly pattern: IoPattern;
  readonly multiplier: number;
}

export interface IoCost {
  /** Bytes written once, sequentially (fulls, incrementals). */
  readonly sequentialWrite: number;
  /** Bytes read and written sequentially (GFS copies: 2×). */
  readonly sequential2x: number;
  /** Bytes read and written in random order (merges, synthetic fulls: 2×). */
  readonly random2x: number;
  /** Bytes read, written and updated in random order (reverse incremental: 3×). */
  readonly random3x: number;
  /** The I/O all this costs: each amount times its multiplier. */
  readonly total: number;
}

export interface RunLog {
  /** Run number, from 1. */
  readonly run: number;
  readonly at: string;
  readonly actions: readonly Action[];
  readonly io: IoCost;
  /** Stored after the run (without working space). */
  readonly total: number;
}

export interface Totals {
  readonly fullCount: number;
  readonly fulls: number;
  readonly incrementalCount: number;
  readonly incrementals: number;
  readonly total: number;
  /** Temporary space for merges and transforms (RPS's bucketed estimate). */
  readonly workingSpace: number;
  readonly grandTotal: number;
}

export interface BandwidthWindow {
  readonly hours: number;
  readonly changedBytesPerSecond: number;
  readonly transferBytesPerSecond: number;
  readonly transferBitsPerSecond: number;
}

export interface Bandwidth {
  /** The run whose change is measured: the worst-case run. */
  readonly at: string;
  readonly changedBytes: number;
  readonly transferBytes: number;
  readonly windows: readonly BandwidthWindow[];
}

export interface SimulationResult {
  /** The input, with every default filled in. */
  readonly input: SimulationInput;
  /** Restore points kept, `points` turned into a count. */
  readonly points: number;
  readonly runs: number;
  readonly firstRun: string;
  readonly lastRun: string;
  /** The first run after which the grand total was largest; `files` and `totals` are that moment. */
  readonly worstCase: { readonly run: number; readonly at: string };
  /** GFS archives first, then the active chain, oldest first. */
  readonly files: readonly SimulatedFile[];
  readonly totals: Totals;
  /** The last `logRuns` runs up to the worst case. */
  readonly log: readonly RunLog[];
  readonly bandwidth: Bandwidth;
}
