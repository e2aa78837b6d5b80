import type { Command } from 'commander';
import {
  formatGfs,
  formatInterval,
  formatMonthly,
  formatSizeText,
  inputFromText,
  parseRpsQuery,
  simulate,
  toShareQuery,
  type SimulatedFile,
  type SimulationInput,
  type SimulationResult,
  type TextKey,
} from '../simulate/index.ts';
import type { GlobalOptions } from './context.ts';
import { formatBytes, makeOutput, plural, snakeCaseDeep } from './output.ts';

interface SimulateFlags {
  readonly style?: string;
  readonly used?: string;
  readonly points?: string;
  readonly change?: string;
  readonly reduction?: string;
  readonly interval?: string;
  readonly syntheticFull?: string;
  readonly activeFullWeekly?: string;
  readonly activeFullMonthly?: string;
  readonly gfs?: string;
  readonly gfsActiveFull?: boolean;
  readonly fastClone?: boolean;
  readonly growth?: string;
  readonly years?: string;
  readonly start?: string;
  readonly logRuns?: string;
  readonly rps?: string;
}

/** RPS starts tomorrow at 22:00; here in UTC, like every date of the simulator. */
function tomorrowAt22(now: number): string {
  const d = new Date(now);
  return new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() + 1, 22)).toISOString();
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

function unitOf(bytes: number): number {
  let i = 0;
  while (bytes >= 1024 ** (i + 1) && i < UNITS.length - 1) i++;
  return i;
}

/**
 * One unit for a whole table, so sizes compare at a glance (as RPS does): the unit of the smallest
 * file, but at most one step below the grand total's.
 */
function tableUnit(result: SimulationResult): number {
  const sizes = result.files.map((f) => f.size).filter((s) => s > 0);
  const smallest = sizes.length > 0 ? Math.min(...sizes) : result.totals.grandTotal;
  return Math.max(unitOf(smallest), unitOf(result.totals.grandTotal) - 1);
}

function inUnit(bytes: number, unit: number): string {
  if (unit === 0) return `${bytes} B`;
  const v = bytes / 1024 ** unit;
  return `${v > 0 && v < 0.05 ? '<0.1' : v.toFixed(1)} ${UNITS[unit]}`;
}

/** "Sun 2024-01-14 22:00". */
function when(iso: string): string {
  const d = new Date(iso);
  const day = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'][d.getUTCDay()];
  return `${day} ${iso.slice(0, 10)} ${iso.slice(11, 16)}`;
}

/** "1000 GB (931 GiB)", "500 GiB". */
function usedText(bytes: number): string {
  const exact = formatSizeText(bytes).replace(/^(\d+(?:\.\d+)?)([A-Za-z]+)$/, '$1 $2');
  const binary = formatBytes(bytes);
  return exact === binary || /^\d+$/.test(exact) ? binary : `${exact} (${binary})`;
}

function describeStyle(input: SimulationInput): string {
  const parts: string[] = [];
  const fulls = () => {
    if (input.activeFullMonthly) parts.push(`active full ${formatMonthly(input.activeFullMonthly)}`);
    else if (input.activeFullDays.length > 0) parts.push(`active full on ${input.activeFullDays.join(', ')}`);
  };
  const gfs = () => {
    const g = input.gfs;
    if (g.weekly + g.monthly + g.quarterly + g.yearly > 0) parts.push(`GFS ${formatGfs(g)}`);
  };
  let name: string;
  switch (input.style) {
    case 'incremental':
      name = 'Forward incremental';
      if (input.syntheticFullDays.length > 0)
        parts.push(`synthetic full on ${input.syntheticFullDays.join(', ')}`);
      fulls();
      if (parts.length === 0) name = 'Forever forward incremental';
      break;
    case 'reverse':
      name = 'Reverse incremental';
      fulls();
      break;
    case 'backup-copy':
      name = 'Backup copy job';
      gfs();
      if (input.gfsActiveFull) parts.push('GFS points as active fulls');
      break;
    case 'replica':
      name = 'VM replica';
      break;
    case 'cairn':
      name = 'Cairn (deduplicated snapshots, each a full restore point)';
      gfs();
      break;
  }
  if (input.fastClone) parts.push('fast clone');
  return parts.length > 0 ? `${name}, ${parts.join(', ')}` : name;
}

function pad(rows: string[][], right: ReadonlySet<number>): string[] {
  const widths = rows[0]?.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length))) ?? [];
  return rows.map((r) =>
    r
      .map((cell, c) => (right.has(c) ? cell.padStart(widths[c] ?? 0) : cell.padEnd(widths[c] ?? 0)))
      .join('  ')
      .trimEnd(),
  );
}

const KIND_LABEL: Readonly<Record<SimulatedFile['kind'], string>> = {
  full: 'active full',
  'synthetic-full': 'full',
  incremental: 'incremental',
  'reverse-incremental': 'reverse incr.',
  'gfs-full': 'GFS full',
  'gfs-linked-full': 'GFS full, cloned',
  'linked-full': 'full, cloned',
  'replica-disk': 'replica disk',
  'replica-delta': 'snapshot delta',
  snapshot: 'snapshot',
};

function humanReport(r: SimulationResult): string[] {
  const input = r.input;
  const lines: string[] = [];
  const unit = tableUnit(r);
  const growth = input.growthPercent > 0 ? `, growing ${input.growthPercent}% a year` : '';
  const length = input.years > 0 ? ` for ${input.years} ${input.years === 1 ? 'year' : 'years'}` : '';
  lines.push(describeStyle(input));
  lines.push(
    `${plural(r.points, 'restore point')}${typeof input.points === 'string' ? ` (${input.points})` : ''}, ` +
      `${formatInterval(input.intervalHours) === 'daily' ? 'daily' : `every ${input.intervalHours} h`} from ${when(r.firstRun)} UTC${length}; ` +
      `${usedText(input.usedBytes)} used${growth}, ${input.changePercent}% changing per run, ` +
      `${input.reductionPercent}% left after reduction`,
  );
  lines.push(`Worst case after run ${r.worstCase.run} of ${r.runs}, ${when(r.worstCase.at)} UTC:`);
  lines.push('');
  const rows = [['Retention', 'File', 'Kind', 'Point', 'Size']];
  for (const f of r.files)
    rows.push([
      f.retention || '-',
      f.name,
      KIND_LABEL[f.kind],
      when(f.pointDate).slice(4),
      inUnit(f.size, unit),
    ]);
  lines.push(...pad(rows, new Set([4])));
  lines.push('');
  const t = r.totals;
  const totalRows = [
    [
      r.input.style === 'cairn' ? `Snapshots (${t.fullCount})` : `Fulls (${t.fullCount})`,
      inUnit(t.fulls, unit),
    ],
    ...(t.incrementalCount > 0 || r.input.style !== 'cairn'
      ? [[`Incrementals (${t.incrementalCount})`, inUnit(t.incrementals, unit)]]
      : []),
    ['Total', inUnit(t.total, unit)],
    [
      r.input.style === 'cairn' ? 'Working space (freed, until prune)' : 'Working space',
      inUnit(t.workingSpace, unit),
    ],
    ['Grand total', inUnit(t.grandTotal, unit)],
  ];
  lines.push(...pad(totalRows, new Set([1])));

  if (r.log.length > 0) {
    lines.push('');
    const runs = r.log.length === 1 ? 'the worst-case run' : `the ${r.log.length} runs up to the worst case`;
    lines.push(`Actions of ${runs} (I/O: bytes × 1, 2 or 3 passes):`);
    const logRows: string[][] = [];
    for (const run of r.log) {
      run.actions.forEach((a, i) => {
        const io =
          a.pattern === 'none'
            ? ''
            : `${a.pattern === 'random' ? 'RAND' : 'SEQ'} ${a.multiplier}x ${formatBytes(a.bytes)}`;
        const text = a.pattern === 'none' && a.bytes > 0 ? `${a.text} (${formatBytes(a.bytes)})` : a.text;
        logRows.push([i === 0 ? `${run.run}` : '', i === 0 ? when(run.at) : '', text, io]);
      });
      logRows.push(['', '', `I/O ${formatBytes(run.io.total)}, stored ${formatBytes(run.total)}`, '']);
    }
    lines.push(...pad(logRows, new Set([0])).map((l) => `  ${l}`));
  }

  const b = r.bandwidth;
  lines.push('');
  lines.push(
    `Bandwidth to copy one run's change (${formatBytes(b.changedBytes)} changed, ` +
      `${formatBytes(b.transferBytes)} after reduction) within:`,
  );
  const bwRows = [['Window', 'Changed data', 'After reduction', 'On the wire']];
  for (const w of b.windows)
    bwRows.push([
      `${w.hours} h`,
      `${formatBytes(w.changedBytesPerSecond)}/s`,
      `${formatBytes(w.transferBytesPerSecond)}/s`,
      `${formatBits(w.transferBitsPerSecond)}`,
    ]);
  lines.push(...pad(bwRows, new Set([1, 2, 3])).map((l) => `  ${l}`));
  return lines;
}

function formatBits(bps: number): string {
  const units = ['bit/s', 'kbit/s', 'Mbit/s', 'Gbit/s', 'Tbit/s'];
  let v = bps;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}

export function registerSimulate(program: Command): void {
  program
    .command('simulate')
    .description(
      'simulate how much storage a backup style and retention take (after the Restore Point Simulator)',
    )
    .option(
      '--style <style>',
      'incremental (forward; forever forward without scheduled fulls), reverse, backup-copy, replica or cairn (default incremental)',
    )
    .option('--used <size>', 'used source size, e.g. 1000GB, 2TiB (default 1000GiB, RPS\'s "1000 GB")')
    .option(
      '--points <n>',
      'restore points to keep, or a period: 7d, 5w, 2m, 1q, 1y (default 14; 7 for backup-copy, replica)',
    )
    .option('--change <percent>', 'share of the source changing per run (default 10)')
    .option(
      '--reduction <percent>',
      'share left after compression and deduplication; 100 is none (default 50)',
    )
    .option('--interval <interval>', 'daily, or every 1h, 2h, 3h, 4h, 6h, 8h or 12h (default daily)')
    .option('--synthetic-full <days>', 'incremental: synthetic full on these days, e.g. sat or wed,sat')
    .option('--active-full-weekly <days>', 'incremental, reverse: active full on these days, e.g. sat')
    .option(
      '--active-full-monthly <when>',
      'incremental, reverse: active full on e.g. first-sat, last-sun, first-sat:jan,jul (wins over weekly)',
    )
    .option('--gfs <counts>', 'backup-copy, cairn: GFS archives to keep, e.g. 4w,12m,0q,1y')
    .option(
      '--gfs-active-full',
      'backup-copy: make GFS points as new active fulls (v9) instead of by transform',
    )
    .option('--fast-clone', 'incremental, reverse, backup-copy: block cloning (XFS reflink, ReFS)')
    .option('--growth <percent>', 'yearly growth of the source (default 0)')
    .option('--years <n>', 'simulate this many years (default: until retention has settled)')
    .option('--start <date>', 'first run, UTC, e.g. 2024-01-01T22:00 (default tomorrow 22:00)')
    .option('--log-runs <n>', 'runs of the action log to show, ending at the worst case (default 7)')
    .option('--rps <link>', 'start from the parameters of an RPS share link (other options override them)')
    .addHelpText(
      'after',
      `
Runs the backups day by day (or hour by hour) and applies the style's merges, transforms, GFS
archives and retention, keeping whatever the kept points depend on. It shows the files at the
worst moment (largest stored total plus working space), the actions of the runs before it with
their I/O, and the bandwidth one run's change needs. Sizes: GB, TB are decimal; GiB, TiB and bare
G, T binary. Needs no repository. With --json: one object, sizes in bytes. See docs/simulator.md.

Examples:
  cairn simulate --style incremental --used 1000GB --points 14 --change 10 --reduction 50
  cairn simulate --synthetic-full sat --fast-clone
  cairn simulate --style reverse --active-full-monthly first-sat --points 30
  cairn simulate --style backup-copy --points 7 --gfs 4w,12m,0q,1y
  cairn simulate --style cairn --points 14 --gfs 4w,12m --growth 10 --years 3
  cairn simulate --rps 'm=1&s=1000&r=14&c=50&d=10&i=D&sy=0,0,0,0,0,1,0&e' --json`,
    )
    .action((flags: SimulateFlags, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const out = makeOutput(g);
      const defaultStart = tomorrowAt22(Date.now());
      let base: SimulationInput | undefined;
      if (flags.rps !== undefined) {
        let imported;
        try {
          imported = parseRpsQuery(flags.rps, { defaultStart: flags.start ?? defaultStart });
        } catch (err) {
          if (err instanceof Error) err.message = `--rps: ${err.message}`;
          throw err;
        }
        base = imported.input;
        for (const i of imported.ignored)
          out.warn(`--rps: ignored ${i.param}: ${i.reason}`, { param: i.param });
      }
      const values: Partial<Record<TextKey, string | boolean | undefined>> = {
        style: flags.style,
        used: flags.used,
        points: flags.points,
        change: flags.change,
        reduction: flags.reduction,
        interval: flags.interval,
        'synthetic-full': flags.syntheticFull,
        'active-full-weekly': flags.activeFullWeekly,
        'active-full-monthly': flags.activeFullMonthly,
        gfs: flags.gfs,
        'gfs-active-full': flags.gfsActiveFull,
        'fast-clone': flags.fastClone,
        growth: flags.growth,
        years: flags.years,
        start: flags.start,
        'log-runs': flags.logRuns,
      };
      const input = inputFromText(values, {
        label: (k) => `--${k}`,
        defaultStart,
        ...(base ? { base } : {}),
      });
      const result = simulate(input);
      for (const line of humanReport(result)) out.line(line);
      // snake_case like every other --json output.
      out.emit(
        snakeCaseDeep({
          message_type: 'simulation',
          style: input.style,
          points: result.points,
          runs: result.runs,
          firstRun: result.firstRun,
          lastRun: result.lastRun,
          worstCase: result.worstCase,
          fullCount: result.totals.fullCount,
          fulls: result.totals.fulls,
          incrementalCount: result.totals.incrementalCount,
          incrementals: result.totals.incrementals,
          total: result.totals.total,
          workingSpace: result.totals.workingSpace,
          grandTotal: result.totals.grandTotal,
          files: result.files,
          log: result.log,
          bandwidth: result.bandwidth,
          input,
          share: toShareQuery(input),
        }),
      );
    });
}
