import type { Command } from 'commander';
import { CairnError } from '../errors.ts';
import { copySnapshots, type CopyMode, type CopyProgress } from '../repo/index.ts';
import { snapshotFilter, withFilterOptions, type FilterFlags } from './choose.ts';
import { acquireLock, openSession, type GlobalOptions } from './context.ts';
import { fromLocation, openFrom, withFromOptions, type FromFlags } from './from-repo.ts';
import { formatBytes, formatDuration, plural } from './output.ts';
import { guardLock, withSignals } from './signals.ts';

const HOW: Record<CopyMode, string> = {
  clone: 'shared keys on one file system: sealed blobs cloned, not read',
  raw: 'shared keys: sealed blobs copied as they are',
  reencrypt: 'other keys, same chunker: blobs decrypted and sealed again',
  rechunk: 'other keys and chunker: files cut again with the destination chunker',
};

type CopyFlags = FromFlags & FilterFlags & { readonly fromNoLock?: boolean };

export function registerCopy(program: Command): void {
  const copy = program
    .command('copy')
    .description('copy snapshots from another repository into this one')
    .argument('[snapshot...]', 'snapshots of the source to copy ("latest" or ids); all when none is named');
  withFilterOptions(
    withFromOptions(copy, 'where the snapshots come from'),
    'copy only (and choose "latest" among)',
  )
    .option(
      '--from-no-lock',
      'take no lock in the source repository (it is only read): for a read-only or immutable source',
    )
    .addHelpText(
      'after',
      `
Snapshots the destination already holds (copied before: each copy records the id of the
snapshot it copies) are skipped, so running copy again copies only what is new.

How data moves depends on the two repositories:
  - the same master key (init --from-repo SRC --copy-keys): sealed blobs move as they are; on one
    XFS with reflink or Btrfs their blocks are cloned (shared, nothing read or written again);
  - other keys, the same chunker (init --from-repo SRC): blobs are decrypted and sealed again;
  - anything else: files are cut again with the destination's chunker, so its later backups
    deduplicate against the copy (slower: every byte goes through the chunker).

Example: cairn -r /srv/offsite copy --from-repo /srv/backup --from-password-file /root/.src-pass`,
    );
  copy.action(async (refs: string[], flags: CopyFlags, cmd: Command) => {
    const g = cmd.optsWithGlobals<GlobalOptions>();
    if (g.lock === false) {
      throw new CairnError(
        'USAGE',
        'Cannot use --no-lock with "copy": it writes to the destination; --from-no-lock leaves the source unlocked',
      );
    }
    const from = fromLocation(flags);
    if (from === undefined) {
      throw new CairnError(
        'USAGE',
        'Cannot copy: name the source repository with --from-repo DIR (or $CAIRN_FROM_REPOSITORY)',
      );
    }
    const src = await openFrom(from, flags);
    const srcLock =
      flags.fromNoLock === true
        ? undefined
        : await acquireLock(src, {
            exclusive: false,
            command: 'copy',
            readOnly: true,
            option: '--from-no-lock',
          });
    const unguard = srcLock ? guardLock(srcLock, 'copy') : undefined;
    try {
      const s = await openSession(g, { lock: 'shared', command: 'copy' });
      try {
        await src.loadIndex();
        const started = Date.now();
        let p: CopyProgress | undefined;
        const stop = s.out.progress(
          (ms) =>
            `[${formatDuration(ms)}] ` +
            (p === undefined
              ? 'reading the snapshots'
              : `snapshot ${p.snapshotsDone}/${p.snapshotsTotal}, ${plural(p.blobs, 'blob')}, ` +
                `${formatBytes(p.bytesCloned)} cloned, ${formatBytes(p.bytesCopied)} copied`),
        );
        let r;
        try {
          r = await withSignals((signal) =>
            copySnapshots(src, s.repo, {
              snapshots: refs,
              filter: snapshotFilter(flags),
              signal,
              onProgress: (progress) => (p = progress),
            }),
          );
        } finally {
          stop();
        }
        const seconds = (Date.now() - started) / 1000;
        for (const c of r.copied)
          s.out.line(`snapshot ${c.source.slice(0, 8)} copied as ${c.copy.slice(0, 8)}`);
        for (const id of r.skipped) s.out.line(`snapshot ${id.slice(0, 8)} skipped: this repository has it`);
        s.out.line(
          `copied ${plural(r.copied.length, 'snapshot')}` +
            (r.skipped.length > 0 ? ` (${r.skipped.length} skipped)` : '') +
            `: ${plural(r.blobs, 'new blob')}, ${formatBytes(r.bytesCloned)} cloned, ` +
            `${formatBytes(r.bytesCopied)} copied in ${formatDuration(seconds * 1000)} (${HOW[r.mode]})`,
        );
        s.out.emit({
          message_type: 'copy',
          mode: r.mode,
          snapshots_copied: r.copied.length,
          snapshots_skipped: r.skipped.length,
          copied: r.copied,
          skipped: r.skipped,
          blobs: r.blobs,
          bytes_cloned: r.bytesCloned,
          bytes_copied: r.bytesCopied,
          total_duration: seconds,
        });
      } finally {
        await s.close();
      }
    } finally {
      await src.close();
      await srcLock?.release();
      unguard?.();
    }
  });
}
