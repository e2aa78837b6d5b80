/**
 * The work of one run — a backup with its retention, or a restore — written against a small
 * interface (log, statistics, progress counters, phase, cancellation) so that it runs the same in
 * the server's thread or in a worker thread of its own (run-worker.ts), which keeps the HTTP API
 * answering while a backup chunks and hashes.
 */
import {
  applyPolicy,
  backup,
  exclusiveBytes,
  purgeSnapshots,
  normalisePaths,
  parseDuration,
  policyIsEmpty,
  prune,
  Selection,
  SharedTokenBucket,
  type BackupLevel,
  type BackupProgress,
  type BackupResult,
  type ReplacePolicy,
  type RetentionPolicy,
  type SnapshotInfo,
  type Repository,
} from '../repo/index.ts';
import { CairnError, isCairnError, reason } from '../errors.ts';
import {
  backupWithPlugins,
  prepareBackup,
  PluginRegistry,
  resolveUse,
  restoreWithPlugins,
  type LogLevel,
  type PluginUse,
} from '../plugins/index.ts';
import { openPlugins, sourcesOf, usesPlugins, type PluginSettings } from './plugins.ts';
import type { BandwidthTask } from './bandwidth.ts';
import { quotaBudget, type QuotaTask } from './quota.ts';
import { openRepository, runLockTag, type RepoRef } from './repos.ts';
import { runScripts, type Script, type ScriptIO } from '../plugins/index.ts';
import { scriptsOf, type JobSpec, type Retention } from './spec.ts';
import { plural } from '../words.ts';

export interface RestoreParams {
  readonly snapshot: string;
  readonly target: string;
  readonly paths?: readonly string[];
  readonly replace?: ReplacePolicy;
  readonly delete?: boolean;
  readonly verify?: boolean;
  /** Restore plugin entries as plain files: no plugin (no bpipe writer) runs. */
  readonly asFiles?: boolean;
  /** Directives whose options replace those stored (cairn restore --plugin-options). */
  readonly pluginOptions?: readonly string[];
  /** Asked for by a tenant user: the target is checked against its restore roots again at run time. */
  readonly confined?: boolean;
}

/** What a backup run may change of its job (a run started by hand at another level). */
export interface BackupRunParams {
  readonly level?: BackupLevel;
}

/** What a run does, in plain data (it crosses to a worker thread). */
export interface WorkTask {
  readonly kind: 'backup' | 'restore';
  readonly jobName: string;
  readonly runId?: string;
  readonly spec?: JobSpec;
  readonly params?: RestoreParams;
  /** The level of this run, when it is not the job's. */
  readonly level?: BackupLevel;
  readonly repo: RepoRef;
  readonly host: string;
  /** The server's plugin directory and names. */
  readonly plugins?: PluginSettings;
  /** A backup's share of its tenant's quota: no pack past it is written. */
  readonly quota?: QuotaTask;
  /** The repository's recycle bin, when its tenant is protected or the bin holds anything. */
  readonly recycle?: RecycleTask;
  /** Its tenant's bandwidth: what it writes to the repository waits for the tenant's bucket. */
  readonly bandwidth?: BandwidthTask;
}

/**
 * Insider protection, in plain data: what retention forgets goes to the recycle bin (the runner
 * records it) instead of being removed while `protectionDays` > 0; restore points whose
 * protection ended are purged. Restore points in the bin are neither kept nor forgotten by a
 * retention policy: the policy judges only what the tenant sees.
 */
export interface RecycleTask {
  readonly protectionDays: number;
  /** Ids of the restore points in the bin. */
  readonly bin: readonly string[];
  /** Those of them whose protection has ended: their files are removed. */
  readonly expired: readonly string[];
}

/** Has the repository's writes wait for the tenant's bandwidth, their waits ended by a cancel. */
function pace(repo: Repository, t: WorkTask, signal: AbortSignal): void {
  if (t.bandwidth) repo.pace = new SharedTokenBucket(t.bandwidth.bucket).pace(signal);
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

/**
 * What a run's repository lock says it is: `backup (job nightly, run ID)`. A server that takes
 * over the run of a server that died removes the locks naming the run (removeRunLocks).
 */
function lockCommand(what: string, t: WorkTask): string {
  return t.runId ? `${what}, ${runLockTag(t.runId)})` : `${what})`;
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

/** Plugin messages into the run's log; warnings and errors count as the run's warnings. */
function pluginLogger(
  io: WorkIO,
  warn: () => void,
): (plugin: string, level: LogLevel, message: string) => void {
  return (plugin, level, message) => {
    if (level !== 'info') warn();
    io.log(level, `${plugin}: ${message}`);
  };
}

/** Scripts' output lines and warnings into the run's log. */
function scriptLog(io: WorkIO): ScriptIO {
  return {
    line: (script: Script, stream, text) => io.log('info', `${script.label} (${stream}): ${text}`),
    warn: (message) => io.log('warning', message),
  };
}

async function backupWork(
  t: WorkTask,
  spec: JobSpec,
  io: WorkIO,
  stats: Record<string, unknown>,
): Promise<number> {
  const before = scriptsOf(spec, 'before');
  const after = scriptsOf(spec, 'after');
  let warnings = 0;
  let level: BackupLevel = t.level ?? spec.level ?? 'incremental';
  const env = { CAIRN_JOB: t.jobName, ...(t.runId ? { CAIRN_RUN_ID: t.runId } : {}) };
  let snapshotId: string | undefined;
  let failure: Error | undefined;
  try {
    warnings += await backupAndRetention(t, spec, io, stats, {
      before,
      env,
      setLevel: (l) => (level = l),
      setSnapshot: (id) => (snapshotId = id),
    });
  } catch (err) {
    failure = err instanceof Error ? err : new Error(reason(err));
  }
  if (after.length > 0) {
    io.phase('run after');
    const result = failure !== undefined ? 'failed' : warnings > 0 ? 'warning' : 'success';
    try {
      // Not stopped by a cancel: a script that undoes what runBefore did must run (its time
      // limit bounds it).
      warnings += await runScripts(
        'after',
        after,
        {
          ...env,
          CAIRN_LEVEL: level,
          CAIRN_RESULT: result,
          ...(snapshotId ? { CAIRN_SNAPSHOT: snapshotId } : {}),
          ...(failure !== undefined ? { CAIRN_MESSAGE: reason(failure) } : {}),
        },
        scriptLog(io),
      );
    } catch (err) {
      if (failure === undefined) failure = err instanceof Error ? err : new Error(reason(err));
      else io.log('error', reason(err));
    }
  }
  if (failure !== undefined) throw failure;
  return warnings;
}

async function backupAndRetention(
  t: WorkTask,
  spec: JobSpec,
  io: WorkIO,
  stats: Record<string, unknown>,
  run: {
    readonly before: readonly Script[];
    readonly env: Readonly<Record<string, string>>;
    setLevel(level: BackupLevel): void;
    setSnapshot(id: string): void;
  },
): Promise<number> {
  const repoRow = t.repo;
  const signal = io.signal;
  const { paths, directives } = sourcesOf(spec);
  const sources = normalisePaths(paths);
  const asked: BackupLevel = t.level ?? spec.level ?? 'incremental';
  const tag = jobTag(t.jobName);
  let warnings = 0;
  const onLog = pluginLogger(io, () => warnings++);
  // Directives are checked (and out-of-process plugins started) before the repository is opened.
  const registry = usesPlugins(spec) ? await openPlugins(t.plugins, onLog) : undefined;
  try {
    const commands: PluginUse[] = [];
    const optionUses: PluginUse[] = [];
    if (registry) {
      for (const d of directives) commands.push(await resolveUse(registry, d, 'command'));
      for (const d of spec.optionPlugins ?? []) optionUses.push(await resolveUse(registry, d, 'option'));
    }
    const what = [...sources, ...commands.map((c) => c.stored)];
    io.log('info', `backing up ${what.join(', ')} to repository ${repoRow.name}`);
    io.phase('opening');
    const open = await openRepository(repoRow, {
      lock: 'shared',
      command: lockCommand(`backup (job ${t.jobName}`, t),
      index: true,
    });
    if (t.quota) open.repo.budget = quotaBudget(t.quota, repoRow.name);
    pace(open.repo, t, signal);
    try {
      const { snapshots } = await open.repo.listSnapshots();
      // Only the job's own restore points: another job of the same paths is not its parent.
      const mine = snapshots.filter((s) => s.tags.includes(tag));
      let parent: SnapshotInfo | undefined;
      let level = asked;
      const setup = registry
        ? prepareBackup(mine, {
            paths: sources,
            commands,
            level: asked,
            host: t.host,
          })
        : undefined;
      if (setup) {
        level = setup.level;
        parent = setup.parent;
        if (setup.upgraded)
          io.log('info', `no full backup of these sources yet: running a full backup (${asked} asked)`);
        else io.log('info', `level: ${level}`);
      } else if (level !== 'full') {
        parent = mine
          .filter((s) => s.host === t.host && JSON.stringify(s.paths) === JSON.stringify(sources))
          .at(-1);
      }
      run.setLevel(level);
      stats.level = level;
      io.stats(stats);
      if (parent) io.log('info', `comparing with restore point ${parent.id.slice(0, 12)} of ${parent.time}`);
      if (run.before.length > 0) {
        io.phase('run before');
        warnings += await runScripts(
          'before',
          run.before,
          { ...run.env, CAIRN_LEVEL: level },
          scriptLog(io),
          signal,
        );
      }
      io.phase('backup');
      const options = {
        host: t.host,
        tags: [...(spec.tags ?? []), tag],
        signal,
        progress: io.counters,
        keepAlive: () => open.lock?.check(),
        selection: new Selection({
          excludes: spec.exclude ?? [],
          excludeCaches: spec.excludeCaches === true,
          oneFileSystem: spec.oneFileSystem === true,
        }),
        onWarning: (w: { path: string; message: string }) => {
          warnings++;
          if (warnings <= 200) io.log('warning', `${w.path}: ${w.message}`);
        },
      };
      const result: BackupResult = setup
        ? await backupWithPlugins(
            open.repo,
            {
              paths: sources,
              commands,
              optionUses,
              host: t.host,
              onLog,
              ...(t.runId ? { run: t.runId } : {}),
            },
            setup,
            options,
          )
        : await backup(open.repo, sources, { ...options, ...(parent ? { parent } : {}) });
      const snapshotId = result.id;
      run.setSnapshot(snapshotId);
      const sum = result.snapshot.summary;
      Object.assign(stats, {
        snapshotId,
        level,
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
        `restore point ${snapshotId.slice(0, 12)} saved (${level}): ${sum?.totalFilesProcessed ?? 0} files, ${sum?.totalBytesProcessed ?? 0} bytes read, ${sum?.dataAdded ?? 0} bytes new`,
      );
    } finally {
      await open.close();
    }
  } finally {
    await registry?.close();
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
  const recycle = t.recycle;
  if (policyIsEmpty(policy) && (recycle?.expired.length ?? 0) === 0) return;
  io.phase('retention');
  let open;
  try {
    open = await openRepository(repoRow, {
      // Beside the repository's other backups: retention and prune need only exclude other collectors.
      lock: 'gc',
      command: lockCommand(`retention (job ${t.jobName}`, t),
      index: false,
    });
  } catch (err) {
    if (isCairnError(err, 'REPO_LOCKED')) {
      io.log(
        'info',
        'retention postponed to the next run: another prune, forget or repair holds the repository',
      );
      return;
    }
    throw err;
  }
  pace(open.repo, t, signal);
  try {
    const { snapshots, errors } = await open.repo.listSnapshots();
    if (errors[0]) throw errors[0];
    const inBin = new Set(recycle?.bin ?? []);
    const mine = snapshots.filter(
      (s: SnapshotInfo) => s.tags.includes(jobTag(t.jobName)) && !inBin.has(s.id),
    );
    const groups = policyIsEmpty(policy) ? [] : applyPolicy(mine, policy, ['host', 'paths']);
    const doomed = groups.flatMap((g) => g.decisions.filter((d) => !d.keep).map((d) => d.snapshot));
    const protect = (recycle?.protectionDays ?? 0) > 0;
    let removed = 0;
    if (protect) {
      // Kept in the repository, hidden from the tenant: the runner records them in the bin.
      stats.recycled = doomed.map((d) => ({ id: d.id, time: d.time }));
      if (doomed.length > 0) {
        io.log(
          'info',
          `retention moved ${plural(doomed.length, 'restore point')} to the recycle bin for ${plural(recycle?.protectionDays ?? 0, 'day')}: ${doomed.map((d) => d.id.slice(0, 8)).join(', ')}`,
        );
      }
    } else {
      for (const d of doomed) await open.repo.backend.remove({ type: 'snapshots', name: d.id });
      stats.forgotten = doomed.map((d) => d.id);
      removed += doomed.length;
      if (doomed.length > 0)
        io.log(
          'info',
          `retention removed ${plural(doomed.length, 'restore point')}: ${doomed.map((d) => d.id.slice(0, 8)).join(', ')}`,
        );
    }
    if (doomed.length === 0 && !policyIsEmpty(policy))
      io.log(
        'info',
        `retention kept ${mine.length === 1 ? 'its only restore point' : `all ${plural(mine.length, 'restore point')}`}`,
      );
    if (recycle && recycle.expired.length > 0) {
      const purged = await purgeSnapshots(open.repo, recycle.expired);
      stats.purged = purged;
      removed += purged.length;
      io.log(
        'info',
        `purged ${plural(purged.length, 'restore point')} whose protection ended from the recycle bin: ${purged.map((id) => id.slice(0, 8)).join(', ')}`,
      );
    }
    if (spec.retention?.prune && removed > 0) {
      io.phase('prune');
      const r = await prune(open.repo, { signal, ...(open.lock ? { lockName: open.lock.name } : {}) });
      stats.prune = r;
      io.log(
        'info',
        `prune freed ${r.bytesFreed} bytes (${r.packsDeleted} packs deleted, ${r.packsRepacked} repacked)`,
      );
    }
    if (recycle) {
      // What the bin now holds, and the bytes only it needs: they are kept outside the quota.
      const purged = new Set((stats.purged as string[] | undefined) ?? []);
      const binIds = new Set([
        ...recycle.bin.filter((id) => !purged.has(id)),
        ...(protect ? doomed.map((d) => d.id) : []),
      ]);
      // Listed again, not derived from the first list: backups beside retention may have added
      // restore points since, and those may need some of the bin's blobs.
      const { snapshots: now } = await open.repo.listSnapshots();
      const bin = now.filter((s) => binIds.has(s.id));
      if (bin.length === 0) stats.recycledBytes = 0;
      else {
        io.phase('measure recycle bin');
        try {
          await open.repo.loadIndex();
          stats.recycledBytes = await exclusiveBytes(
            open.repo,
            now.filter((s) => !binIds.has(s.id)),
            bin,
            signal,
          );
        } catch (err) {
          if (!isCairnError(err) || signal.aborted) throw err;
          // The bin's restore points stay whatever their size: only the quota's view waits.
          io.log('warning', `the recycle bin's size is unknown for now: ${err.message}`);
        }
      }
    }
  } finally {
    await open.close();
  }
}

/** Entries left out that a restore run's statistics list (its count says how many in all). */
const NOT_RESTORED_KEPT = 1000;

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
  const open = await openRepository(repoRow, {
    lock: 'shared',
    command: lockCommand('restore (server', t),
    index: true,
  });
  try {
    // A tenant user's restore never reaches into the recycle bin: for it, those points are gone.
    const hidden = new Set(t.recycle?.bin ?? []);
    const snap = await open.repo.findSnapshot(p.snapshot, (s) => !hidden.has(s.id));
    if (hidden.has(snap.id))
      throw new CairnError(
        'SNAPSHOT_NOT_FOUND',
        `Cannot find snapshot ${p.snapshot}: no snapshot has that id`,
      );
    io.log('info', `restoring restore point ${snap.id.slice(0, 12)} of ${snap.time} to ${p.target}`);
    // Plugins are looked for only when the snapshot has plugin entries to hand back.
    const needed =
      p.asFiles !== true &&
      ((snap.plugins ?? []).some((r) => r.kind === 'command') || (p.pluginOptions ?? []).length > 0);
    const registry = needed
      ? await openPlugins(
          t.plugins,
          pluginLogger(io, () => warnings++),
        )
      : await PluginRegistry.open();
    io.phase('restore');
    let summary;
    try {
      summary = await restoreWithPlugins(open.repo, snap, p.target, {
        registry,
        overrides: p.pluginOptions ?? [],
        asFiles: p.asFiles === true,
        onLog: pluginLogger(io, () => warnings++),
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
    } catch (err) {
      if (isCairnError(err, 'PLUGIN_NOT_FOUND'))
        throw new CairnError(
          'PLUGIN_NOT_FOUND',
          `${err.message} (through the API: "asFiles": true; or give the server --plugin-dir)`,
          { cause: err },
        );
      throw err;
    } finally {
      await registry.close();
    }
    const { diverted: _d, warnings: _w, plugins, notRestored, ...counts } = summary;
    // The run's record keeps the list (bounded: a row, not a report), its log names the first ones.
    Object.assign(stats, {
      snapshotId: snap.id,
      ...counts,
      plugins,
      warnings,
      notRestoredCount: notRestored.length,
      notRestored: notRestored.slice(0, NOT_RESTORED_KEPT),
    });
    io.stats(stats, snap.id);
    io.log('info', `restored ${summary.files} files, ${summary.dirs} folders`);
    for (const n of notRestored.slice(0, 200))
      io.log('error', `not restored: ${n.path} (${n.kind}): ${n.reason} [${n.code}]`);
    for (const u of plugins) {
      if (u.entries === 0) continue;
      io.log(
        'info',
        `${u.entries} ${u.entries === 1 ? 'entry' : 'entries'} went to ${u.name} (${u.restored} restored, ${u.core} written as files, ${u.skipped} skipped)`,
      );
    }
    if (notRestored.length > 0) {
      const files = notRestored.filter((n) => n.kind === 'file').length;
      throw new CairnError(
        'RESTORE_INCOMPLETE',
        `Cannot restore all of restore point ${snap.id.slice(0, 12)}: ${plural(files, 'file')} and ${plural(notRestored.length - files, 'folder')} left out (damaged or missing data; listed in the run's log and statistics); the rest was restored to ${p.target}`,
      );
    }
  } finally {
    await open.close();
  }
  return warnings;
}
