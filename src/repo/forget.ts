/**
 * Retention: which snapshots a policy keeps (restic's `forget` rules).
 *
 * Snapshots are grouped (by default by host and paths) and each group is judged alone, newest
 * first:
 * - keep-last N: the N newest;
 * - keep-hourly/daily/weekly/monthly/yearly N: the newest snapshot of each of the N newest
 *   hours/days/ISO weeks/months/years that have one (local time);
 * - keep-within D: every snapshot younger than D, counted back from the group's newest snapshot
 *   (not from now, so a host that stopped backing up does not lose its last points);
 * - keep-tag T: every snapshot with tag T.
 * A snapshot kept by any rule is kept; the reasons say which. Pure: no clock, no I/O.
 */
import { CairnError } from '../errors.ts';
import type { SnapshotInfo } from './snapshot.ts';

export interface RetentionPolicy {
  readonly last?: number;
  readonly hourly?: number;
  readonly daily?: number;
  readonly weekly?: number;
  readonly monthly?: number;
  readonly yearly?: number;
  /** Milliseconds. */
  readonly within?: number;
  readonly tags?: readonly string[];
}

export type GroupKey = 'host' | 'paths' | 'tags';

export interface Decision {
  readonly snapshot: SnapshotInfo;
  readonly keep: boolean;
  readonly reasons: readonly string[];
}

export interface GroupDecision {
  readonly group: Readonly<Partial<Record<GroupKey, string | readonly string[]>>>;
  /** Newest first. */
  readonly decisions: readonly Decision[];
}

export function policyIsEmpty(p: RetentionPolicy): boolean {
  return (
    !p.last &&
    !p.hourly &&
    !p.daily &&
    !p.weekly &&
    !p.monthly &&
    !p.yearly &&
    !p.within &&
    (p.tags ?? []).length === 0
  );
}

/** ISO 8601 week-numbering year and week of a local date. */
function isoWeek(d: Date): string {
  const day = new Date(d.getFullYear(), d.getMonth(), d.getDate());
  const weekday = (day.getDay() + 6) % 7; // Monday = 0
  day.setDate(day.getDate() - weekday + 3); // the Thursday of this week decides the year
  const firstThursday = new Date(day.getFullYear(), 0, 4);
  const week =
    1 +
    Math.round(
      ((day.getTime() - firstThursday.getTime()) / 86400000 - 3 + ((firstThursday.getDay() + 6) % 7)) / 7,
    );
  return `${day.getFullYear()}-W${String(week).padStart(2, '0')}`;
}

const pad = (n: number) => String(n).padStart(2, '0');
const BUCKETS: readonly [keyof RetentionPolicy, string, (d: Date) => string][] = [
  [
    'hourly',
    'hourly',
    (d) => `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}`,
  ],
  ['daily', 'daily', (d) => `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`],
  ['weekly', 'weekly', isoWeek],
  ['monthly', 'monthly', (d) => `${d.getFullYear()}-${pad(d.getMonth() + 1)}`],
  ['yearly', 'yearly', (d) => String(d.getFullYear())],
];

function groupKey(s: SnapshotInfo, by: readonly GroupKey[]): string {
  return JSON.stringify(
    by.map((k) => (k === 'host' ? s.host : k === 'paths' ? [...s.paths].sort() : [...s.tags].sort())),
  );
}

export function applyPolicy(
  snapshots: readonly SnapshotInfo[],
  policy: RetentionPolicy,
  groupBy: readonly GroupKey[] = ['host', 'paths'],
): GroupDecision[] {
  const groups = new Map<string, SnapshotInfo[]>();
  for (const s of snapshots) {
    const k = groupKey(s, groupBy);
    let g = groups.get(k);
    if (g === undefined) groups.set(k, (g = []));
    g.push(s);
  }
  const out: GroupDecision[] = [];
  for (const list of groups.values()) {
    const newest = [...list].sort((a, b) => b.time.localeCompare(a.time) || b.id.localeCompare(a.id));
    const reasons = new Map<string, string[]>(newest.map((s) => [s.id, []]));
    const add = (s: SnapshotInfo, why: string) => reasons.get(s.id)?.push(why);
    newest.slice(0, policy.last ?? 0).forEach((s, i) => add(s, `last ${i + 1}/${policy.last}`));
    for (const [key, name, bucketOf] of BUCKETS) {
      const n = policy[key] as number | undefined;
      if (!n) continue;
      let last: string | undefined;
      let count = 0;
      for (const s of newest) {
        if (count >= n) break;
        const b = bucketOf(new Date(s.time));
        if (b === last) continue;
        last = b;
        count++;
        add(s, `${name} ${count}/${n} (${b})`);
      }
    }
    const first = newest[0];
    if (policy.within && first) {
      const limit = Date.parse(first.time) - policy.within;
      for (const s of newest) if (Date.parse(s.time) > limit) add(s, 'within');
    }
    for (const tag of policy.tags ?? [])
      for (const s of newest) if (s.tags.includes(tag)) add(s, `tag ${tag}`);
    const sample = newest[0];
    out.push({
      group: Object.fromEntries(
        groupBy.map((k) => [
          k,
          k === 'host'
            ? (sample?.host ?? '')
            : k === 'paths'
              ? [...(sample?.paths ?? [])]
              : [...(sample?.tags ?? [])],
        ]),
      ),
      decisions: newest.map((s) => {
        const r = reasons.get(s.id) ?? [];
        return { snapshot: s, keep: r.length > 0, reasons: r };
      }),
    });
  }
  return out;
}

/** "7d", "36h", "2w", "6m" (months of 30 days), "1y" (365 days), or combinations like "1y6m". */
export function parseDuration(text: string): number {
  const units: Record<string, number> = {
    h: 3600e3,
    d: 86400e3,
    w: 7 * 86400e3,
    m: 30 * 86400e3,
    y: 365 * 86400e3,
  };
  const re = /(\d+)([hdwmy])/g;
  let total = 0;
  let consumed = 0;
  for (const m of text.matchAll(re)) {
    total += Number(m[1]) * (units[m[2] as string] ?? 0);
    consumed += m[0].length;
  }
  if (consumed !== text.length || total === 0) {
    throw new CairnError('USAGE', `Cannot use the duration "${text}": write it like 7d, 36h, 2w, 6m or 1y6m`);
  }
  return total;
}
