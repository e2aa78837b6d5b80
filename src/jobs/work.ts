/**
 * The work of one run — a backup with its retention, or a restore — written against a small
 * interface (log, statistics, progress counters, phase, cancellation) so that it runs the same in
 * the server's thread or in a worker thread of its own (run-worker.ts), which keeps the HTTP API
 * answering while a backup chunks and hashes.
 */
import {
  applyPolicy,
  backup,
  normalisePaths,
  parseDuration,
  policyIsEmpty,
  prune,
  restore,
  Selection,
  type BackupProgress,
  type ReplacePolicy,
  type RetentionPolicy,
  type SnapshotInfo,
} from '../repo/index.ts';
import { CairnError, isCairnError } from '../errors.ts';
import { openRepository, type RepoRef } from './repos.ts';
import type { JobSpec, Retention } from './spec.ts';

export interface RestoreParams {
  readonly snapshot: string;
  readonly target: string;
  readonly paths?: readonly string[];
  readonly replace?: ReplacePolicy;
  readonly delete?: boolean;
  readonly verify?: boolean;
}

/** What a run does, in plain data (it crosses to a worker thread). */
export interface WorkTask {
  readonly kind: 'backup' | 'restore';
  readonly jobName: string;
  readonly spec?: JobSpec;
  readonly params?: RestoreParams;
  readonly repo: RepoRef;
  readonly host: string;
}

/** How the work reports: the runner's thread or messages from a worker implement it. */
export interface WorkIO {
  readonly signal: AbortSignal;
  /** Cumulative counters the runner samples for live progress and throughput. */
  readonly counters: BackupProgress;
  phase(name: string): void;
  log(level: 'info' | 'warning' | 'error', message: string): void;
  /** Statistics so far (and the restore point written), to keep in the catalog. */
  stats(stats: Record<string, unknown>, snapshotId?: string): void;
}

/** The tag that marks a job's snapshots, so retention and parents look only at its own. */
export const jobTag = (name: string): string => `job:${name}`;

function retentionPolicy(r: Retention | undefined): RetentionPolicy {
  if (!r) return {};
  return {
    ...(r.keepLast ? { last: r.keepLast } : {}),
    ...(r.keepHourly ? { hourly: r.keepHourly } : {}),
    ...(r.keepDaily ? { daily: r.keepDaily } : {}),
    ...(r.keepWeekly ? { weekly: r.keepWeekly } : {}),
    ...(r.keepMonthly ? { monthly: r.keepMonthly } : {}),
    ...(r.keepYearly ? { yearly: r.keepYearly } : {}),
    ...(r.keepWithin ? { within: parseDuration(r.keepWithin) } : {}),
  };
}

/** Does the run's work; returns the number of warnings. `stats` is filled in as it goes. */
export async function runWork(t: WorkTask, io: WorkIO, stats: Record<string, unknown>): Promise<number> {
  if (t.kind === 'backup') {
    if (!t.spec) throw new CairnError('INTERNAL', 'a backup run without its job');
    return backupWork(t, t.spec, io, stats);
  }
  if (!t.params) throw new CairnError('INTERNAL', 'a restore run without its parameters');
  return restoreWork(t, t.params, io, stats);
}

async function backupWork(
  t: WorkTask,
  spec: JobSpec,
  io: WorkIO,
  stats: Record<string, unknown>,
): Promise<number> {
  const repoRow = t.repo;
  const signal = io.signal;
  const sources = normalisePaths(spec.sources);
  io.log('info', `backing up ${sources.join(', ')} to repository ${repoRow.name}`);
  io.phase('opening');
  const tag = jobTag(t.jobName);
  let warnings = 0;
  const open = await openRepository(repoRow, {
    lock: 'shared',
    command: `backup (job ${t.jobName})`,
    index: true,
  });
  let snapshotId: string;
  try {
    const { snapshots } = await open.repo.listSnapshots();
    const parent = snapshots
      .filter(
        (s) =>
          s.tags.includes(tag) && s.host === t.host && JSON.stringify(s.paths) === JSON.stringify(sources),
      )
      .at(-1);
    if (parent) io.log('info', `comparing with restore point ${parent.id.slice(0, 12)} of ${parent.time}`);
    io.phase('backup');
    const progress = io.counters;
    const result = await backup(open.repo, sources, {
      host: t.host,
      tags: [...(spec.tags ?? []), tag],
      ...(parent ? { parent } : {}),
      signal,
      progress,
      keepAlive: () => open.lock?.check(),
      selection: new Selection({
        excludes: spec.exclude ?? [],
        excludeCaches: spec.excludeCaches === true,
        oneFileSystem: spec.oneFileSystem === true,
      }),
      onWarning: (w) => {
        warnings++;
        if (warnings <= 200) io.log('warning', `${w.path}: ${w.message}`);
      },
    });
    snapshotId = result.id;
    const sum = result.snapshot.summary;
    Object.assign(stats, {
      snapshotId,
      filesNew: sum?.filesNew ?? 0,
      filesChanged: sum?.filesChanged ?? 0,
      filesUnmodified: sum?.filesUnmodified ?? 0,
      dirsNew: sum?.dirsNew ?? 0,
      filesProcessed: sum?.totalFilesProcessed ?? 0,
      bytesProcessed: sum?.totalBytesProcessed ?? 0,
      bytesAdded: sum?.dataAdded ?? 0,
      bytesStored: sum?.dataAddedPacked ?? 0,
      warnings,
    });
    // Each stage's busy share of the run, and the one that limited it (Veeam's "bottleneck").
    stats.load = result.load;
    stats.bottleneck = result.bottleneck;
    io.stats(stats, snapshotId);
    io.log(
      'info',
      `restore point ${snapshotId.slice(0, 12)} saved: ${sum?.totalFilesProcessed ?? 0} files, ${sum?.totalBytesProcessed ?? 0} bytes read, ${sum?.dataAdded ?? 0} bytes new`,
    );
  } finally {
    await open.close();
  }
  await retentionWork(t, spec, io, stats);
  return warnings;
}

async function retentionWork(
  t: WorkTask,
  spec: JobSpec,
  io: WorkIO,
  stats: Record<string, unknown>,
): Promise<void> {
  const repoRow = t.repo;
  const signal = io.signal;
  const policy = retentionPolicy(spec.retention);
  if (policyIsEmpty(policy)) return;
  io.phase('retention');
  let open;
  try {
    open = await openRepository(repoRow, {
      lock: 'exclusive',
      command: `retention (job ${t.jobName})`,
      index: spec.retention?.prune === true,
    });
  } catch (err) {
    if (isCairnError(err, 'REPO_LOCKED')) {
      io.log('info', 'retention postponed to the next run: the repository is in use by another run');
      return;
    }
    throw err;
  }
  try {
    const { snapshots, errors } = await open.repo.listSnapshots();
    if (errors[0]) throw errors[0];
    const mine = snapshots.filter((s: SnapshotInfo) => s.tags.includes(jobTag(t.jobName)));
    const groups = applyPolicy(mine, policy, ['host', 'paths']);
    const doomed = groups.flatMap((g) => g.decisions.filter((d) => !d.keep).map((d) => d.snapshot));
    for (const d of doomed) await open.repo.backend.remove({ type: 'snapshots', name: d.id });
    stats.forgotten = doomed.map((d) => d.id);
    io.log(
      'info',
      doomed.length > 0
        ? `retention removed ${doomed.length} restore point(s): ${doomed.map((d) => d.id.slice(0, 8)).join(', ')}`
        : `retention kept all ${mine.length} restore point(s)`,
    );
    if (spec.retention?.prune && doomed.length > 0) {
      io.phase('prune');
      const r = await prune(open.repo, { signal });
      stats.prune = r;
      io.log(
        'info',
        `prune freed ${r.bytesFreed} bytes (${r.packsDeleted} packs deleted, ${r.packsRepacked} repacked)`,
      );
    }
  } finally {
    await open.close();
  }
}

async function restoreWork(
  t: WorkTask,
  p: RestoreParams,
  io: WorkIO,
  stats: Record<string, unknown>,
): Promise<number> {
  const repoRow = t.repo;
  const signal = io.signal;
  io.phase('opening');
  let warnings = 0;
  const open = await openRepository(repoRow, { lock: 'shared', command: 'restore (server)', index: true });
  try {
    const snap = await open.repo.findSnapshot(p.snapshot);
    io.log('info', `restoring restore point ${snap.id.slice(0, 12)} of ${snap.time} to ${p.target}`);
    io.phase('restore');
    const summary = await restore(open.repo, snap, p.target, {
      signal,
      progress: io.counters,
      ...(p.paths?.length ? { includePaths: p.paths } : {}),
      replace: p.replace ?? 'always',
      ...(p.delete ? { delete: true } : {}),
      ...(p.verify ? { verify: true } : {}),
      onWarning: (w) => {
        warnings++;
        if (warnings <= 200) io.log('warning', `${w.path}: ${w.message}`);
      },
    });
    Object.assign(stats, { snapshotId: snap.id, ...summary, warnings });
    io.stats(stats, snap.id);
    io.log('info', `restored ${summary.files} files, ${summary.dirs} folders`);
  } finally {
    await open.close();
  }
  return warnings;
}
