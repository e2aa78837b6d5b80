import type { Command } from 'commander';
import { CairnError } from '../errors.ts';
import { restore, type ReplacePolicy, type RestoreProgress } from '../repo/index.ts';
import { openSession, type GlobalOptions } from './context.ts';
import { formatBytes, formatDuration, outcome } from './output.ts';
import { restoreShell } from './restore-shell.ts';
import { withSignals } from './signals.ts';

const repeatable = (v: string, p: string[] | undefined) => [...(p ?? []), v];

export function registerRestore(program: Command): void {
  program
    .command('restore')
    .description('restore a snapshot into a directory')
    .argument(
      '<snapshot>',
      'snapshot id (or a unique prefix) or "latest", optionally :SUBPATH (e.g. latest:/etc)',
    )
    .requiredOption(
      '-t, --target <dir>',
      'directory to restore into; the backed-up paths are re-created under it',
    )
    .option(
      '--include <pattern>',
      'restore only paths matching the pattern, with what is in them (repeatable)',
      repeatable,
    )
    .option('-e, --exclude <pattern>', 'leave out paths matching the pattern (repeatable)', repeatable)
    .option('-n, --dry-run', 'write nothing; say how much would be restored')
    .option(
      '-i, --interactive',
      'choose what to restore in a shell: cd, ls, mark, unmark, marked, estimate, done, quit',
    )
    .option('--verify', 'read every restored file back and check it against the snapshot')
    .option(
      '--replace <when>',
      "existing files: always (default), ifnewer, ifolder (than the snapshot's copy) or never",
      'always',
    )
    .option(
      '--delete',
      'delete what the snapshot does not have from the restored folders, so the target matches it',
    )
    .option(
      '--numeric-owner',
      'use the recorded uid/gid even where the recorded user or group name exists here',
    )
    .addHelpText(
      'after',
      `
Existing files at the same paths are replaced. Every blob is verified before it is written.
With SNAPSHOT:SUBPATH the contents of that folder (or that file) land directly in the target.
Patterns follow backup --exclude and match paths as they are in the snapshot.`,
    )
    .action(
      async (
        spec: string,
        flags: {
          target: string;
          numericOwner?: boolean;
          include?: string[];
          exclude?: string[];
          dryRun?: boolean;
          verify?: boolean;
          replace: string;
          delete?: boolean;
          interactive?: boolean;
        },
        cmd: Command,
      ) => {
        if (!['always', 'ifnewer', 'ifolder', 'never'].includes(flags.replace)) {
          throw new CairnError(
            'USAGE',
            `Cannot use --replace ${flags.replace}: choose always, ifnewer, ifolder or never`,
          );
        }
        if (flags.delete && (flags.include ?? []).length > 0) {
          throw new CairnError(
            'USAGE',
            'Cannot combine --delete with --include: what is not included would be deleted',
          );
        }
        const colon = spec.indexOf(':');
        const ref = colon < 0 ? spec : spec.slice(0, colon);
        const subpath = colon < 0 ? undefined : spec.slice(colon + 1);
        const g = cmd.optsWithGlobals<GlobalOptions>();
        const s = await openSession(g, { lock: 'shared', command: 'restore' });
        try {
          const { repo, out } = s;
          const snap = await repo.findSnapshot(ref);
          let includePaths: string[] | undefined;
          if (flags.interactive) {
            includePaths = await restoreShell(repo, snap, process.stdin, process.stdout);
            if (includePaths === undefined) {
              out.line('nothing restored');
              return;
            }
          }
          out.line(
            `restoring snapshot ${snap.id.slice(0, 12)} of ${snap.paths.join(' ')} at ${snap.time} to ${flags.target}`,
          );
          const progress: RestoreProgress = { filesDone: 0, bytesDone: 0, currentFile: '' };
          const total = snap.summary?.totalBytesProcessed ?? 0;
          const stop = out.progress((ms) => {
            const pct = total > 0 ? ` ${((progress.bytesDone / total) * 100).toFixed(1)}%` : '';
            return `[${formatDuration(ms)}]${pct} ${progress.filesDone} files ${formatBytes(progress.bytesDone)} ${progress.currentFile}`;
          });
          const started = Date.now();
          let sum;
          try {
            sum = await withSignals((signal) =>
              restore(repo, snap, flags.target, {
                signal,
                progress,
                numericOwner: flags.numericOwner === true,
                ...(subpath ? { subpath } : {}),
                includes: flags.include ?? [],
                ...(includePaths ? { includePaths } : {}),
                excludes: flags.exclude ?? [],
                dryRun: flags.dryRun === true,
                verify: flags.verify === true,
                replace: flags.replace as ReplacePolicy,
                delete: flags.delete === true,
                onWarning: (w) => out.warn(`${w.path}: ${w.message}`, { path: w.path }),
              }),
            );
          } finally {
            stop();
          }
          const ms = Date.now() - started;
          out.line(
            `${sum.dryRun ? 'dry run: would restore' : 'restored'} ${sum.files} files, ${sum.dirs} dirs, ${sum.symlinks} symlinks` +
              (sum.hardLinks > 0 ? `, ${sum.hardLinks} hard links` : '') +
              (sum.specials > 0 ? `, ${sum.specials} special files` : '') +
              `, ${formatBytes(sum.bytes)} in ${formatDuration(ms)}` +
              (flags.verify ? `; ${sum.verified} files read back and verified` : '') +
              (sum.skipped > 0 ? `; ${sum.skipped} existing entries kept (--replace ${flags.replace})` : '') +
              (sum.deleted > 0
                ? `; ${sum.deleted} entries ${sum.dryRun ? 'would be ' : ''}deleted (--delete)`
                : ''),
          );
          out.emit({
            message_type: 'summary',
            snapshot_id: snap.id,
            files_restored: sum.files,
            dirs_restored: sum.dirs,
            symlinks_restored: sum.symlinks,
            hard_links_restored: sum.hardLinks,
            special_files_restored: sum.specials,
            bytes_restored: sum.bytes,
            dry_run: sum.dryRun,
            files_verified: sum.verified,
            entries_kept: sum.skipped,
            entries_deleted: sum.deleted,
            total_duration: ms / 1000,
            warnings: sum.warnings.length,
          });
          outcome.warnings += sum.warnings.length;
        } finally {
          await s.close();
        }
      },
    );
}
