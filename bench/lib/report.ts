/** Samples, their medians per tool and scenario, the ratio tables and the issue's targets. */
import type { BackupReport, ToolName } from './tools.ts';

export interface Sample {
  readonly tool: ToolName;
  readonly scenario: string;
  readonly round: number;
  readonly wallS: number;
  readonly cpuS: number;
  readonly userS: number;
  readonly sysS: number;
  readonly maxRssBytes: number;
  /** Repository size after the step (du: allocated bytes), for the steps that write. */
  readonly repoBytes?: number;
  readonly repoApparentBytes?: number;
  readonly backup?: BackupReport;
  /** Restores: what was compared with the source (a difference fails the run). */
  readonly verified?: { files: number; dirs: number; symlinks: number; bytes: number; differences: number };
  /** The machine's 1-minute load average when the step started (other work competing for the cores). */
  readonly loadAverage?: number;
  /** Scenario-specific numbers (blob counts, index bytes per blob). */
  readonly extra?: Record<string, number>;
}

export interface Median {
  readonly tool: ToolName;
  readonly scenario: string;
  readonly rounds: number;
  readonly wallS: number;
  readonly cpuS: number;
  readonly maxRssBytes: number;
  readonly repoBytes?: number;
}

export function median(values: readonly number[]): number {
  const v = [...values].sort((a, b) => a - b);
  const mid = Math.floor(v.length / 2);
  return v.length % 2 === 1 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
}

/** Samples grouped by scenario and tool, in the order each pair first appears. */
export function byScenarioAndTool<S extends { readonly scenario: string; readonly tool: string }>(
  samples: readonly S[],
): S[][] {
  const groups = new Map<string, S[]>();
  for (const s of samples) {
    const key = `${s.scenario}\u0000${s.tool}`;
    const g = groups.get(key);
    if (g) g.push(s);
    else groups.set(key, [s]);
  }
  return [...groups.values()];
}

export function medians(samples: readonly Sample[]): Median[] {
  return byScenarioAndTool(samples).map((g) => {
    const repo = g.flatMap((s) => (s.repoBytes === undefined ? [] : [s.repoBytes]));
    return {
      tool: g[0]!.tool,
      scenario: g[0]!.scenario,
      rounds: g.length,
      wallS: median(g.map((s) => s.wallS)),
      cpuS: median(g.map((s) => s.cpuS)),
      maxRssBytes: median(g.map((s) => s.maxRssBytes)),
      ...(repo.length > 0 ? { repoBytes: median(repo) } : {}),
    };
  });
}

export type Metric = 'wallS' | 'cpuS' | 'maxRssBytes' | 'repoBytes';

export function find(ms: readonly Median[], tool: ToolName, scenario: string): Median | undefined {
  return ms.find((m) => m.tool === tool && m.scenario === scenario);
}

export function ratio(
  ms: readonly Median[],
  scenario: string,
  metric: Metric,
  other: ToolName,
): number | undefined {
  const a = find(ms, 'cairn', scenario)?.[metric];
  const b = find(ms, other, scenario)?.[metric];
  return a === undefined || b === undefined || b === 0 ? undefined : a / b;
}

function fmt(metric: Metric, v: number | undefined): string {
  if (v === undefined) return '–';
  if (metric === 'wallS' || metric === 'cpuS') return `${v.toFixed(v < 10 ? 2 : 1)} s`;
  const MiB = v / (1024 * 1024);
  return MiB >= 1024 ? `${(MiB / 1024).toFixed(2)} GiB` : `${MiB.toFixed(MiB < 10 ? 1 : 0)} MiB`;
}

function fmtRatio(r: number | undefined): string {
  return r === undefined ? '–' : `${r.toFixed(2)}×`;
}

const METRIC_TITLES: Record<Metric, string> = {
  wallS: 'Wall time',
  cpuS: 'CPU time (user + sys)',
  maxRssBytes: 'Peak RSS',
  repoBytes: 'Repository size (du)',
};

/** One Markdown table per metric: a row per scenario, a column per tool, then the ratios. */
export function tables(
  ms: readonly Median[],
  scenarios: readonly string[],
  tools: readonly ToolName[],
): string {
  const others = tools.filter((t): t is 'restic' | 'borg' => t !== 'cairn');
  const hasCairn = tools.includes('cairn');
  const names: Record<ToolName, string> = { cairn: 'Cairn', restic: 'restic', borg: 'Borg' };
  const out: string[] = [];
  for (const metric of ['wallS', 'cpuS', 'maxRssBytes', 'repoBytes'] as const) {
    const rows = scenarios.filter((s) => tools.some((t) => find(ms, t, s)?.[metric] !== undefined));
    if (rows.length === 0) continue;
    const head = [
      'scenario',
      ...tools.map((t) => names[t]),
      ...(hasCairn ? others.map((o) => `Cairn/${names[o]}`) : []),
    ];
    out.push(
      `${METRIC_TITLES[metric]}, median`,
      '',
      `| ${head.join(' | ')} |`,
      `|${head.map((_, i) => (i === 0 ? ' --- ' : ' ---: ')).join('|')}|`,
    );
    for (const s of rows) {
      const cells = [
        s,
        ...tools.map((t) => fmt(metric, find(ms, t, s)?.[metric])),
        ...(hasCairn ? others.map((o) => fmtRatio(ratio(ms, s, metric, o))) : []),
      ];
      out.push(`| ${cells.join(' | ')} |`);
    }
    out.push('');
  }
  return out.join('\n');
}

export interface TargetResult {
  readonly target: string;
  readonly limit: number;
  /** Cairn/restic in this run; undefined when not measured. */
  readonly ratio?: number;
  readonly met?: boolean;
}

/** The targets of issue 4, all against restic in the same run. */
export function targets(ms: readonly Median[]): TargetResult[] {
  const rss = ['first', 'unchanged', 'changed', 'restore', 'check']
    .map((s) => ratio(ms, s, 'maxRssBytes', 'restic'))
    .filter((r): r is number => r !== undefined);
  const list: [string, number | undefined, number][] = [
    ['first backup wall time', ratio(ms, 'first', 'wallS', 'restic'), 0.7],
    ['unchanged incremental wall time', ratio(ms, 'unchanged', 'wallS', 'restic'), 0.7],
    ['restore wall time', ratio(ms, 'restore', 'wallS', 'restic'), 0.7],
    ['check --read-data wall time', ratio(ms, 'check', 'wallS', 'restic'), 0.7],
    ['peak RSS (highest ratio of the five scenarios)', rss.length > 0 ? Math.max(...rss) : undefined, 1.5],
    ['repository size after the first backup', ratio(ms, 'first', 'repoBytes', 'restic'), 1.05],
  ];
  return list.map(([target, r, limit]) =>
    r === undefined ? { target, limit } : { target, limit, ratio: r, met: r <= limit },
  );
}

export function targetLines(ts: readonly TargetResult[]): string {
  return ts
    .map(
      (t) =>
        `- ${t.target}: Cairn/restic ${t.ratio === undefined ? 'not measured' : `${t.ratio.toFixed(2)}×`} ` +
        `(target ≤ ${t.limit}×)${t.met === undefined ? '' : t.met ? ' — met' : ' — NOT met'}`,
    )
    .join('\n');
}
