import type { Command } from 'commander';
import { CairnError } from '../errors.ts';
import {
  applyPolicy,
  isDamaged,
  matchesFilter,
  type DamagedSnapshot,
  parseDuration,
  policyIsEmpty,
  prune,
  type GroupKey,
  type PruneResult,
  type RetentionPolicy,
  type SnapshotInfo,
} from '../repo/index.ts';
import { snapshotFilter, withFilterOptions, type FilterFlags } from './choose.ts';
import { openSession, type GlobalOptions, type Session } from './context.ts';
import { formatBytes, plural } from './output.ts';
import { withSignals } from './signals.ts';

interface ForgetFlags extends FilterFlags {
  readonly keepLast?: string;
  readonly keepHourly?: string;
  readonly keepDaily?: string;
  readonly keepWeekly?: string;
  readonly keepMonthly?: string;
  readonly keepYearly?: string;
  readonly keepWithin?: string;
  readonly keepTag?: string[];
  readonly groupBy: string;
  readonly dryRun?: boolean;
  readonly prune?: boolean;
  readonly maxUnused: string;
}

const repeatable = (v: string, prev: string[] | undefined) => [...(prev ?? []), v];

function count(text: string, option: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1)
    throw new CairnError('USAGE', `Cannot use ${option} ${text}: give a whole number of 1 or more`);
  return n;
}

export function parsePercent(text: string, option: string): number {
  const m = /^(\d+(?:\.\d+)?)%?$/.exec(text.trim());
  const v = m ? Number(m[1]) : NaN;
  if (!(v >= 0 && v <= 100))
    throw new CairnError('USAGE', `Cannot use ${option} ${text}: give a percentage from 0% to 100%`);
  return v / 100;
}

export function printPrune(s: Session, r: PruneResult): void {
  const verb = r.dryRun ? 'would' : '';
  s.out.line(
    `${r.dryRun ? 'dry run: ' : ''}${plural(r.snapshots, 'snapshot')} use ${plural(r.blobsUsed, 'blob')}; ` +
      `packs: ${r.packsKept} kept, ${r.packsDeleted} ${verb ? 'would be ' : ''}deleted, ${r.packsRepacked} ${verb ? 'would be ' : ''}repacked, ` +
      `${r.packsUnreferenced} unreferenced ${verb ? 'would be ' : ''}deleted`,
  );
  if (!r.dryRun) {
    const cloned =
      r.bytesCloned > 0
        ? ` (${formatBytes(r.bytesCloned)} cloned, ${formatBytes(r.bytesCopied)} copied)`
        : '';
    s.out.line(
      `read ${formatBytes(r.bytesRead)}, wrote ${formatBytes(r.bytesWritten)}${cloned} in ${plural(r.packsWritten, 'new pack')}, ` +
        `freed ${formatBytes(r.bytesFreed)} of ${formatBytes(r.bytesBefore)}`,
    );
  } else {
    s.out.line(`would free about ${formatBytes(r.bytesFreed)} of ${formatBytes(r.bytesBefore)}`);
  }
  if (r.packsRecovered > 0) {
    s.out.line(
      `${plural(r.packsRecovered, 'pack')} in no index ${r.packsRecovered === 1 ? 'holds' : 'hold'} blobs that snapshots need: ${r.dryRun ? 'they would be' : 'now'} indexed from ${r.packsRecovered === 1 ? 'its' : 'their'} trailer${r.packsRecovered === 1 ? '' : 's'}`,
    );
  }
  if (r.packsUnreadable.length > 0) {
    s.out.warn(
      `${plural(r.packsUnreadable.length, 'pack')} in no index ${r.packsUnreadable.length === 1 ? 'has a trailer' : 'have trailers'} that cannot be read, kept as ${r.packsUnreadable.length === 1 ? 'it is' : 'they are'}: ${r.packsUnreadable.slice(0, 3).join(', ')}${r.packsUnreadable.length > 3 ? ', ...' : ''}; "cairn check --read-data" says more`,
    );
  }
  if (r.packsRescued > 0) {
    s.out.line(
      `${plural(r.packsRescued, 'pack')} that looked unused ${r.packsRescued === 1 ? 'is' : 'are'} needed by a snapshot written meanwhile: kept`,
    );
  }
  if (r.waitedFor > 0) {
    s.out.line(
      `waited ${(r.waitedMs / 1000).toFixed(1)} s for ${plural(r.waitedFor, 'operation')} that began before the new index`,
    );
  }
  if (r.deferredBecause !== undefined) {
    s.out.warn(
      `${plural(r.packsDeferred, 'unused pack')} (${formatBytes(r.bytesDeferred)}) left for the next prune: ${r.deferredBecause}`,
    );
  }
  if (r.tempFilesRemoved > 0 || r.locksRemoved > 0) {
    s.out.line(
      `removed crash leftovers: ${plural(r.tempFilesRemoved, 'temp file')}, ${plural(r.locksRemoved, 'lock')} of dead processes`,
    );
  }
  if (r.packsRetained > 0 && r.retainedUntil !== undefined) {
    s.out.line(
      `${plural(r.packsRetained, 'pack')} (${formatBytes(r.bytesRetained)}) no longer needed ${r.packsRetained === 1 ? 'is' : 'are'} under retention ` +
        `(object lock) until ${r.retainedUntil.toISOString()} at the latest: a prune after that frees them`,
    );
  }
  s.out.emit({
    message_type: 'prune',
    dry_run: r.dryRun,
    snapshots: r.snapshots,
    blobs_used: r.blobsUsed,
    blobs_removed: r.blobsRemoved,
    packs_kept: r.packsKept,
    packs_deleted: r.packsDeleted,
    packs_repacked: r.packsRepacked,
    packs_unreferenced: r.packsUnreferenced,
    packs_written: r.packsWritten,
    bytes_read: r.bytesRead,
    bytes_written: r.bytesWritten,
    bytes_cloned: r.bytesCloned,
    bytes_copied: r.bytesCopied,
    bytes_freed: r.bytesFreed,
    bytes_before: r.bytesBefore,
    packs_recovered: r.packsRecovered,
    packs_unreadable: r.packsUnreadable,
    packs_rescued: r.packsRescued,
    packs_deferred: r.packsDeferred,
    bytes_deferred: r.bytesDeferred,
    ...(r.deferredBecause !== undefined ? { deferred_because: r.deferredBecause } : {}),
    waited_for: r.waitedFor,
    waited_ms: r.waitedMs,
    temp_files_removed: r.tempFilesRemoved,
    locks_removed: r.locksRemoved,
    packs_retained: r.packsRetained,
    bytes_retained: r.bytesRetained,
    ...(r.retainedUntil !== undefined ? { retained_until: r.retainedUntil.toISOString() } : {}),
  });
}

export function registerForget(program: Command): void {
  withFilterOptions(program.command('forget'), 'apply the policy only to')
    .description('remove snapshots: those named, or those a retention policy does not keep')
    .argument('[snapshot...]', 'snapshots to remove (ids or unique prefixes)')
    .option('--keep-last <n>', 'keep the n newest snapshots')
    .option('--keep-hourly <n>', 'keep the newest snapshot of each of the last n hours that have one')
    .option('--keep-daily <n>', 'keep the newest snapshot of each of the last n days that have one')
    .option('--keep-weekly <n>', 'keep the newest snapshot of each of the last n ISO weeks that have one')
    .option('--keep-monthly <n>', 'keep the newest snapshot of each of the last n months that have one')
    .option('--keep-yearly <n>', 'keep the newest snapshot of each of the last n years that have one')
    .option(
      '--keep-within <duration>',
      'keep snapshots younger than this (e.g. 7d, 2w, 6m, 1y) before the newest',
    )
    .option('--keep-tag <tag>', 'keep snapshots with this tag (repeatable)', repeatable)
    .option(
      '--group-by <keys>',
      'judge snapshots in groups by these keys: host, paths, tags (comma separated)',
      'host,paths',
    )
    .option('-n, --dry-run', 'only say what would be removed, and why each snapshot is kept')
    .option('--prune', 'then remove the data no snapshot needs any more (see "cairn prune")')
    .option('--max-unused <percent>', 'with --prune: repack packs whose unused share exceeds this', '5%')
    .addHelpText(
      'after',
      `
Snapshots are judged per group (by default host and paths), newest first; a snapshot kept by any
rule is kept, and --dry-run lists the rules that keep it. Days, weeks (ISO, Monday first) and
months are in local time. Without snapshots or a --keep option nothing is removed.

Example: cairn forget --keep-daily 7 --keep-weekly 4 --keep-monthly 12 --prune`,
    )
    .action(async (refs: string[], flags: ForgetFlags, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const policy: RetentionPolicy = {
        ...(flags.keepLast ? { last: count(flags.keepLast, '--keep-last') } : {}),
        ...(flags.keepHourly ? { hourly: count(flags.keepHourly, '--keep-hourly') } : {}),
        ...(flags.keepDaily ? { daily: count(flags.keepDaily, '--keep-daily') } : {}),
        ...(flags.keepWeekly ? { weekly: count(flags.keepWeekly, '--keep-weekly') } : {}),
        ...(flags.keepMonthly ? { monthly: count(flags.keepMonthly, '--keep-monthly') } : {}),
        ...(flags.keepYearly ? { yearly: count(flags.keepYearly, '--keep-yearly') } : {}),
        ...(flags.keepWithin ? { within: parseDuration(flags.keepWithin) } : {}),
        ...(flags.keepTag ? { tags: flags.keepTag } : {}),
      };
      const groupBy = flags.groupBy
        .split(',')
        .map((k) => k.trim())
        .filter(Boolean);
      for (const k of groupBy) {
        if (k !== 'host' && k !== 'paths' && k !== 'tags') {
          throw new CairnError('USAGE', `Cannot group by "${k}": choose from host, paths, tags`);
        }
      }
      if (refs.length > 0 && !policyIsEmpty(policy)) {
        throw new CairnError(
          'USAGE',
          'Cannot forget: name snapshots or give a policy (--keep-...), not both',
        );
      }
      if (refs.length === 0 && policyIsEmpty(policy)) {
        throw new CairnError(
          'USAGE',
          'Cannot forget: name snapshots to remove or give a policy such as --keep-daily 7 (nothing is removed otherwise)',
        );
      }
      const maxUnused = parsePercent(flags.maxUnused, '--max-unused');
      const s = await openSession(g, {
        lock: flags.dryRun ? 'shared' : 'gc',
        command: 'forget',
        index: false,
      });
      try {
        let doomed: (SnapshotInfo | DamagedSnapshot)[] = [];
        if (refs.length > 0) {
          // A damaged file named by id is removed too: that is how one gets rid of it.
          for (const ref of refs) {
            const found =
              ref === 'latest'
                ? await s.repo.findSnapshot(ref, snapshotFilter(flags))
                : await s.repo.resolveSnapshotId(ref);
            if (isDamaged(found)) s.out.line(`snapshot ${found.id.slice(0, 8)} is damaged (${found.reason})`);
            doomed.push(found);
          }
        } else {
          const { snapshots, damaged } = await s.repo.listSnapshots();
          // Its time, host and tags are unknown, so no policy can judge a damaged file.
          const first = damaged[0];
          if (first) {
            throw new CairnError(
              first.error.code,
              `Cannot apply the policy: snapshot file ${first.id} cannot be read (${first.reason})` +
                `${damaged.length > 1 ? ` and ${damaged.length - 1} more` : ''}; remove it by id ("cairn forget ${first.id.slice(0, 8)}") or look at "cairn snapshots" first; nothing was removed`,
              { cause: first.error },
            );
          }
          const filter = snapshotFilter(flags);
          const pool = snapshots.filter((x) => matchesFilter(x, filter));
          const groups = applyPolicy(pool, policy, groupBy as GroupKey[]);
          for (const grp of groups) {
            const label = Object.entries(grp.group)
              .map(([k, v]) => `${k} ${Array.isArray(v) ? v.join(' ') : String(v)}`)
              .join(', ');
            s.out.line(`snapshots of ${label}:`);
            for (const d of grp.decisions) {
              const when = d.snapshot.time.replace('T', ' ').slice(0, 19);
              s.out.line(
                `  ${d.keep ? 'keep  ' : 'remove'} ${d.snapshot.id.slice(0, 8)}  ${when}  ${d.reasons.join(', ')}`,
              );
            }
            doomed.push(...grp.decisions.filter((d) => !d.keep).map((d) => d.snapshot));
          }
          s.out.emit(
            groups.map((grp) => ({
              message_type: 'forget_group',
              group: grp.group,
              keep: grp.decisions
                .filter((d) => d.keep)
                .map((d) => ({ id: d.snapshot.id, time: d.snapshot.time, reasons: d.reasons })),
              remove: grp.decisions
                .filter((d) => !d.keep)
                .map((d) => ({ id: d.snapshot.id, time: d.snapshot.time })),
            })),
          );
        }
        doomed = [...new Map(doomed.map((d) => [d.id, d])).values()];
        if (flags.dryRun) {
          s.out.line(`dry run: ${plural(doomed.length, 'snapshot')} would be removed`);
        } else {
          for (const d of doomed) await s.repo.backend.remove({ type: 'snapshots', name: d.id });
          s.out.line(`removed ${plural(doomed.length, 'snapshot')}`);
        }
        const damaged = doomed.filter(isDamaged);
        s.out.emit({
          message_type: 'forget',
          dry_run: flags.dryRun === true,
          removed: doomed.map((d) => d.id),
          ...(damaged.length > 0 ? { damaged: damaged.map((d) => ({ id: d.id, reason: d.reason })) } : {}),
        });
        if (flags.prune) {
          const r = await withSignals((signal) =>
            prune(s.repo, {
              maxUnused,
              dryRun: flags.dryRun === true,
              signal,
              ...(s.lock ? { lockName: s.lock.name } : {}),
            }),
          );
          printPrune(s, r);
        }
      } finally {
        await s.close();
      }
    });
}
