/**
 * `cairn repair`: commands that bring a damaged repository back to one that checks clean, each
 * a subcommand registered below (`repair index`: rebuild the index from the packs' trailers;
 * `repair snapshots`: replace snapshots that need missing data).
 */
import type { Command } from 'commander';
import {
  repairIndex,
  repairSnapshots,
  type RepairedSnapshot,
  type RepairIndexResult,
  type RepairSnapshotsResult,
} from '../repo/index.ts';
import { openSession, type GlobalOptions, type Session } from './context.ts';
import { formatDuration, outcome, plural } from './output.ts';
import { withSignals } from './signals.ts';

/** Cut paths printed per snapshot (all are in --json). */
const SHOWN = 10;

const WORKFLOW = `
A damaged repository, step by step:
  cairn check                          what is damaged, and which files need it
  cairn repair index                   an index that names only what the packs hold
  cairn repair snapshots --forget      snapshots without the files that cannot be restored
  cairn check                          clean again
Data that is lost stays lost: the next backup stores again the files that still exist.`;

export function registerRepair(program: Command): void {
  const repair = program
    .command('repair')
    .description('repair a damaged repository')
    .addHelpText('after', WORKFLOW);

  registerRepairIndex(repair);
  registerRepairSnapshots(repair);
}

function registerRepairIndex(repair: Command): void {
  repair
    .command('index')
    .description("rebuild the index from what the packs' trailers say they hold")
    .option('-n, --dry-run', 'read every trailer and say what the new index would hold; write nothing')
    .addHelpText(
      'after',
      `
Every pack's trailer is read (a ranged read of its end, not the whole pack). The new index names
every pack whose trailer can be read, with the blobs it lists. A pack whose trailer cannot be read
keeps the entries an old index file gave it, if one can still be read (each blob is still
authenticated when it is read), and is reported either way. A pack the old index named that is
not in storage is left out and reported: "cairn repair snapshots" then replaces the snapshots that
needed it. The old index files are removed once the new ones are written; no pack is touched.
Takes an exclusive lock: no backup, prune or check may run meanwhile.
${WORKFLOW}`,
    )
    .action(async (flags: { dryRun?: boolean }, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const dryRun = flags.dryRun === true;
      const s = await openSession(g, {
        lock: dryRun ? 'shared' : 'exclusive',
        command: 'repair index',
        index: false,
      });
      try {
        let phase = { what: 'index', done: 0, total: 0 };
        const stop = s.out.progress(
          (ms) =>
            `[${formatDuration(ms)}] ${phase.what === 'index' ? 'old index files' : 'pack trailers'} ${phase.done}/${phase.total}`,
        );
        let r: RepairIndexResult;
        try {
          r = await withSignals((signal) =>
            repairIndex(s.repo, {
              dryRun,
              signal,
              onProgress: (what, done, total) => (phase = { what, done, total }),
            }),
          );
        } finally {
          stop();
        }
        printRepairIndex(s, r);
      } finally {
        await s.close();
      }
    });
}

function printRepairIndex(s: Session, r: RepairIndexResult): void {
  const { out } = s;
  for (const f of r.indexFilesDamaged)
    out.warn(`old ${f.message}: replaced by the packs' own trailers`, { file: f.pack });
  for (const p of r.packsUnreadable) {
    out.warn(
      `${p.message}; ${p.kept ? 'its entries from the old index are kept' : 'no readable index file named it, so its blobs cannot be found'} ("cairn check --read-data" says what in it can still be read)`,
      { pack: p.pack },
    );
  }
  for (const p of r.packsMissing) {
    out.warn(
      `pack ${p} was named by the index but is not in storage: left out ("cairn repair snapshots" replaces the snapshots that needed it)`,
      { pack: p },
    );
  }
  const verb = r.dryRun ? 'would name' : 'names';
  out.line(
    `${r.dryRun ? 'dry run: ' : ''}read the trailers of ${plural(r.packs, 'pack')}: the new index ${verb} ${plural(r.packsIndexed, 'pack')} ` +
      `with ${plural(r.blobs, 'blob')}` +
      (r.packsAdded > 0 ? ` (${r.packsAdded} the old index did not name)` : '') +
      (r.dryRun
        ? ''
        : `; ${plural(r.indexFilesWritten, 'index file')} written, ${r.indexFilesRemoved} old removed`),
  );
  out.emit({
    message_type: 'summary',
    dry_run: r.dryRun,
    packs: r.packs,
    packs_indexed: r.packsIndexed,
    packs_added: r.packsAdded,
    blobs: r.blobs,
    packs_missing: r.packsMissing,
    packs_unreadable: r.packsUnreadable,
    index_files_damaged: r.indexFilesDamaged.map((f) => ({ file: f.pack, code: f.code, message: f.message })),
    index_files_written: r.indexFilesWritten,
    index_files_removed: r.indexFilesRemoved,
  });
}

interface SnapshotsFlags {
  readonly forget?: boolean;
  readonly dryRun?: boolean;
}

function registerRepairSnapshots(repair: Command): void {
  repair
    .command('snapshots')
    .description('replace snapshots that need missing data by ones without the files that cannot be restored')
    .argument('[snapshot...]', 'snapshots to look at ("latest" or id prefixes); all by default')
    .option('--forget', 'remove each original snapshot once its replacement is written')
    .option('-n, --dry-run', 'only say what would be cut; write nothing')
    .addHelpText(
      'after',
      `
A snapshot is damaged when a file needs a data blob that is in no index (or in a pack the
storage lacks), or a folder's tree is in no index or cannot be read. Its replacement keeps the
time, host, paths and tags (plus the tag "repaired"); the damaged files are cut and unreadable
folders are kept empty; the manifest records what was cut ("repaired" in --json of snapshots).
Everything else is kept exactly as it was. Damaged bytes of a blob that the index still names
are not looked for here (that takes reading every pack: "cairn check --read-data" finds them).

Without --forget the originals stay beside their replacements; running again with --forget
removes them (snapshots already replaced are not repaired twice). A snapshot file that cannot be
read at all cannot be repaired: "cairn forget ID" removes it.
${WORKFLOW}

Example: cairn repair snapshots --dry-run && cairn repair snapshots --forget`,
    )
    .action(async (refs: string[], flags: SnapshotsFlags, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const dryRun = flags.dryRun === true;
      const s = await openSession(g, {
        lock: dryRun ? 'shared' : 'exclusive',
        command: 'repair snapshots',
      });
      try {
        let phase = { done: 0, total: 0, trees: 0 };
        const stop = s.out.progress(
          (ms) =>
            `[${formatDuration(ms)}] snapshots ${phase.done}/${phase.total}, ${plural(phase.trees, 'tree')} read`,
        );
        let r: RepairSnapshotsResult;
        try {
          r = await withSignals((signal) =>
            repairSnapshots(s.repo, {
              snapshots: refs,
              forget: flags.forget === true,
              dryRun,
              signal,
              onProgress: (p) => (phase = { done: p.snapshotsDone, total: p.snapshotsTotal, trees: p.trees }),
            }),
          );
        } finally {
          stop();
        }
        printRepairSnapshots(s, r, flags.forget === true);
      } finally {
        await s.close();
      }
    });
}

function printRepairSnapshots(s: Session, r: RepairSnapshotsResult, forget: boolean): void {
  const { out } = s;
  const would = r.dryRun ? 'would be ' : '';
  for (const pack of r.missingPacks)
    out.warn(
      `pack ${pack} is named by the index but missing from storage: its blobs count as missing ("cairn repair index" drops it from the index)`,
      { pack },
    );
  for (const u of r.unreadable) {
    out.warn(
      `${u.message}; it cannot be repaired (nothing in it can be read): "cairn forget ${u.id}" removes it`,
      { snapshot: u.id },
    );
  }
  outcome.warnings += r.unreadable.length;

  for (const x of r.repaired) {
    const { files, folders } = counts(x);
    const what = [
      ...(files > 0 ? [`${plural(files, 'file')} ${would}cut`] : []),
      ...(folders > 0 ? [`${plural(folders, 'folder')} ${would}emptied`] : []),
    ].join(', ');
    const to = x.replacement !== undefined ? `: replaced by ${x.replacement.slice(0, 8)}` : '';
    const gone = x.forgotten ? ', original removed' : '';
    out.line(`snapshot ${x.original.slice(0, 8)}: ${what}${to}${gone}`);
    for (const c of x.cut.slice(0, SHOWN))
      out.line(`    ${c.path}${c.kind === 'folder' ? '/' : ''}  (${c.reason})`);
    if (x.cut.length > SHOWN) out.line(`    ... and ${x.cut.length - SHOWN} more`);
    out.emit({
      message_type: 'repaired_snapshot',
      dry_run: r.dryRun,
      original: x.original,
      replacement: x.replacement ?? null,
      files_cut: files,
      folders_emptied: folders,
      forgotten: x.forgotten,
      cut: x.cut,
    });
  }
  for (const a of r.alreadyRepaired) {
    out.line(
      `snapshot ${a.original.slice(0, 8)}: already replaced by ${a.replacement.slice(0, 8)}` +
        (a.forgotten ? ', original removed' : r.dryRun && forget ? ', original would be removed' : ''),
    );
  }

  const kept =
    r.repaired.filter((x) => !x.forgotten).length + r.alreadyRepaired.filter((a) => !a.forgotten).length;
  out.line(
    `${r.dryRun ? 'dry run: ' : ''}looked at ${plural(r.snapshots, 'snapshot')} (${plural(r.trees, 'tree')} read): ` +
      `${r.intact} intact, ${r.repaired.length} ${r.dryRun ? 'to repair' : 'repaired'}` +
      (r.alreadyRepaired.length > 0 ? `, ${r.alreadyRepaired.length} repaired earlier` : '') +
      (r.unreadable.length > 0 ? `, ${r.unreadable.length} unreadable` : ''),
  );
  if (!r.dryRun && kept > 0 && !forget) {
    out.line(
      `the ${plural(kept, 'original')} ${kept === 1 ? 'is' : 'are'} kept beside ${kept === 1 ? 'its replacement' : 'their replacements'}: ` +
        `run "cairn repair snapshots --forget" to remove ${kept === 1 ? 'it' : 'them'}`,
    );
  }
  out.emit({
    message_type: 'summary',
    dry_run: r.dryRun,
    snapshots: r.snapshots,
    intact: r.intact,
    repaired: r.repaired.map((x) => ({ original: x.original, replacement: x.replacement ?? null })),
    already_repaired: r.alreadyRepaired,
    forgotten: [...r.repaired, ...r.alreadyRepaired].filter((x) => x.forgotten).map((x) => x.original),
    unreadable: r.unreadable,
    missing_packs: r.missingPacks,
    trees: r.trees,
    trees_written: r.treesWritten,
  });
}

function counts(x: RepairedSnapshot): { files: number; folders: number } {
  const folders = x.cut.filter((c) => c.kind === 'folder').length;
  return { files: x.cut.length - folders, folders };
}
