/** Samples of the PostgreSQL benchmark, their medians per tool and scenario, and the ratio table. */
import type { Counts } from './pg.ts';
import type { PgBackupReport, PgToolName } from './pg-tools.ts';
import { PG_TOOL_LABELS } from './pg-tools.ts';
import { byScenarioAndTool, median } from './report.ts';

export const PG_SCENARIOS = ['full', 'incremental', 'restore', 'start'] as const;
export type PgScenario = (typeof PG_SCENARIOS)[number];

export const PG_SCENARIO_TITLES: Record<PgScenario, string> = {
  full: 'full backup',
  incremental: 'incremental backup (after pgbench)',
  restore: 'restore of the incremental',
  start: 'restored server start (recovery), not in the restore time',
};

export interface PgSample {
  readonly tool: PgToolName;
  readonly scenario: PgScenario;
  readonly round: number;
  readonly wallS: number;
  /** Absent for `start` (the server's recovery runs in a process pg_ctl does not wait for). */
  readonly cpuS?: number;
  readonly userS?: number;
  readonly sysS?: number;
  readonly maxRssBytes?: number;
  /**
   * Peak of the summed resident sets of the command's process tree, sampled every 200 ms (at
   * least maxRssBytes): pgBackRest runs several processes, Cairn one.
   */
  readonly treeRssBytes?: number;
  /** The machine's 1-minute load average when the step started. */
  readonly loadAverage: number;
  /** Repository size after a backup (du: allocated bytes; and apparent bytes). */
  readonly repoBytes?: number;
  readonly repoApparentBytes?: number;
  readonly backup?: PgBackupReport;
  /** Restores: bytes the restore wrote (du of the target: data directory, and Cairn's WAL). */
  readonly restoredBytes?: number;
  /** Restores: what the restored server answered, what the source had, and whether they agree. */
  readonly verified?: { readonly restored: Counts; readonly source: Counts; readonly matched: boolean };
}

export interface PgMedian {
  readonly tool: PgToolName;
  readonly scenario: PgScenario;
  readonly rounds: number;
  readonly wallS: number;
  readonly cpuS?: number;
  readonly maxRssBytes?: number;
  readonly treeRssBytes?: number;
  readonly repoBytes?: number;
  readonly bytesStored?: number;
  readonly restoredBytes?: number;
}

function med(values: readonly (number | undefined)[]): number | undefined {
  const v = values.filter((x): x is number => x !== undefined && Number.isFinite(x));
  return v.length > 0 ? median(v) : undefined;
}

export function pgMedians(samples: readonly PgSample[]): PgMedian[] {
  return byScenarioAndTool(samples).map((g) => {
    const m: {
      tool: PgToolName;
      scenario: PgScenario;
      rounds: number;
      wallS: number;
      cpuS?: number;
      maxRssBytes?: number;
      treeRssBytes?: number;
      repoBytes?: number;
      bytesStored?: number;
      restoredBytes?: number;
    } = {
      tool: g[0]!.tool,
      scenario: g[0]!.scenario,
      rounds: g.length,
      wallS: median(g.map((s) => s.wallS)),
    };
    const cpu = med(g.map((s) => s.cpuS));
    const rss = med(g.map((s) => s.maxRssBytes));
    const tree = med(g.map((s) => s.treeRssBytes));
    const repo = med(g.map((s) => s.repoBytes));
    const stored = med(g.map((s) => s.backup?.bytesStored));
    if (cpu !== undefined) m.cpuS = cpu;
    if (rss !== undefined) m.maxRssBytes = rss;
    if (tree !== undefined) m.treeRssBytes = tree;
    if (repo !== undefined) m.repoBytes = repo;
    if (stored !== undefined) m.bytesStored = stored;
    const restored = med(g.map((s) => s.restoredBytes));
    if (restored !== undefined) m.restoredBytes = restored;
    return m;
  });
}

type Metric =
  'wallS' | 'cpuS' | 'maxRssBytes' | 'treeRssBytes' | 'repoBytes' | 'bytesStored' | 'restoredBytes';

function value(ms: readonly PgMedian[], tool: PgToolName, s: PgScenario, metric: Metric): number | undefined {
  return ms.find((m) => m.tool === tool && m.scenario === s)?.[metric];
}

export function pgRatio(
  ms: readonly PgMedian[],
  s: PgScenario,
  metric: Metric,
  other: PgToolName,
): number | undefined {
  const a = value(ms, 'cairn', s, metric);
  const b = value(ms, other, s, metric);
  return a === undefined || b === undefined || b === 0 ? undefined : a / b;
}

export function formatSeconds(v: number): string {
  return `${v.toFixed(v < 10 ? 2 : 1)} s`;
}

export function formatBytes(v: number): string {
  const MiB = v / 2 ** 20;
  return MiB >= 1024 ? `${(MiB / 1024).toFixed(2)} GiB` : `${MiB.toFixed(MiB < 10 ? 1 : 0)} MiB`;
}

const SECTIONS: { title: string; metric: Metric; rows: [PgScenario, string][] }[] = [
  {
    title: 'wall time',
    metric: 'wallS',
    rows: [
      ['full', 'full backup'],
      ['incremental', 'incremental backup'],
      ['restore', 'restore (latest)'],
      ['start', 'restored server start'],
    ],
  },
  {
    title: 'CPU time (user + sys)',
    metric: 'cpuS',
    rows: [
      ['full', 'full backup'],
      ['incremental', 'incremental backup'],
      ['restore', 'restore (latest)'],
    ],
  },
  {
    title: 'peak RSS (largest process)',
    metric: 'maxRssBytes',
    rows: [
      ['full', 'full backup'],
      ['incremental', 'incremental backup'],
      ['restore', 'restore (latest)'],
    ],
  },
  {
    title: 'peak RSS (all its processes, sampled)',
    metric: 'treeRssBytes',
    rows: [
      ['full', 'full backup'],
      ['incremental', 'incremental backup'],
      ['restore', 'restore (latest)'],
    ],
  },
  {
    title: 'repository size (du)',
    metric: 'repoBytes',
    rows: [
      ['full', 'after the full backup'],
      ['incremental', 'after the incremental'],
    ],
  },
  {
    title: 'added by the backup (as the tool reports it)',
    metric: 'bytesStored',
    rows: [
      ['full', 'full backup'],
      ['incremental', 'incremental backup'],
    ],
  },
  {
    title: 'written by the restore (du of the target)',
    metric: 'restoredBytes',
    rows: [['restore', 'restore (latest)']],
  },
];

/** One Markdown table: a section per metric, a column per tool, then Cairn/each other tool. */
export function pgTable(ms: readonly PgMedian[], tools: readonly PgToolName[]): string {
  const others = tools.filter((t) => t !== 'cairn');
  const withRatios = tools.includes('cairn');
  const head = [
    'measurement',
    ...tools.map((t) => PG_TOOL_LABELS[t]),
    ...(withRatios ? others.map((o) => `Cairn/${PG_TOOL_LABELS[o]}`) : []),
  ];
  const out = [
    `| ${head.join(' | ')} |`,
    `|${head.map((_, i) => (i === 0 ? ' --- ' : ' ---: ')).join('|')}|`,
  ];
  for (const section of SECTIONS) {
    const rows = section.rows.filter(([s]) =>
      tools.some((t) => value(ms, t, s, section.metric) !== undefined),
    );
    if (rows.length === 0) continue;
    out.push(`| **${section.title}** |${' |'.repeat(head.length - 1)}`);
    const fmt = section.metric === 'wallS' || section.metric === 'cpuS' ? formatSeconds : formatBytes;
    for (const [s, label] of rows) {
      const cells = [
        label,
        ...tools.map((t) => {
          const v = value(ms, t, s, section.metric);
          return v === undefined ? '–' : fmt(v);
        }),
        ...(withRatios
          ? others.map((o) => {
              const r = pgRatio(ms, s, section.metric, o);
              return r === undefined ? '–' : `${r.toFixed(2)}×`;
            })
          : []),
      ];
      out.push(`| ${cells.join(' | ')} |`);
    }
  }
  return out.join('\n');
}
