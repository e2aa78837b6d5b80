import type { Command } from 'commander';
import { CairnError } from '../errors.ts';
import { patternProblem, type ReplacePolicy, type RestoreProgress } from '../repo/index.ts';
import { PluginRegistry, restoreWithPlugins } from '../plugins/index.ts';
import { snapshotFilter, withFilterOptions, type FilterFlags } from './choose.ts';
import { openSession, type GlobalOptions } from './context.ts';
import { formatBytes, formatDuration, outcome, plural } from './output.ts';
import { addPluginFlags, openRegistry, pluginLog, type PluginFlags } from './plugin-flags.ts';
import { restoreShell } from './restore-shell.ts';
import { notRestoredJson, reportNotRestored } from './restore-outcome.ts';
import { withSignals } from './signals.ts';

const repeatable = (v: string, p: string[] | undefined) => [...(p ?? []), v];

export function registerRestore(program: Command): void {
  const command = withFilterOptions(program.command('restore'))
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
    .option(
      '--plugin-options <directive>',
      'replace options of the directive stored for a plugin, e.g. "bpipe:writer=psql -d new" (repeatable)',
      repeatable,
    )
    .option('--as-files', "restore plugins' entries as plain files under the target; no plugin runs")
    .option(
      '--keep-partial',
      'keep what could be read of a file whose data is damaged as NAME.cairn-partial (damaged ranges left as holes)',
    )
    .addHelpText(
      'after',
      `
Existing files at the same paths are replaced. Every blob is verified before it is written.
With SNAPSHOT:SUBPATH the contents of that folder (or that file) land directly in the target.
Patterns follow backup --exclude and match paths as they are in the snapshot.

Entries a plugin made are handed back to it: bpipe runs the writer (in the target folder) with
the stored bytes on its standard input, or writes a plain file when there is no writer. With
--plugin-options NAME:key=value the given options replace those stored; an override naming
bpipe's file applies only to that file.

What is damaged or missing in the repository is left out and the rest restored: a file whose data
cannot be read is not left under its name (with --keep-partial what could be read is kept as
NAME.cairn-partial), a folder whose listing cannot be read is left out with all it holds. Each is
listed with the reason, and the command exits 29 (RESTORE_INCOMPLETE).`,
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
          pluginOptions?: string[];
          asFiles?: boolean;
          keepPartial?: boolean;
        } & PluginFlags &
          FilterFlags,
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
        const s = await openSession(g, { lock: 'shared', command: 'restore', readOnly: true });
        try {
          const { repo, out } = s;
          const snap = await repo.findSnapshot(ref, snapshotFilter(flags));
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
          // Patterns that are malformed or lie outside the snapshot's paths: said, not refused.
          for (const [what, patterns] of [
            ['include', flags.include ?? []],
            ['exclude', flags.exclude ?? []],
          ] as const) {
            for (const p of patterns) {
              const problem = patternProblem(p, snap.paths);
              if (problem === undefined) continue;
              out.warn(`the ${what} pattern "${p}" ${problem}`, { pattern: p });
              outcome.warnings++;
            }
          }
          const progress: RestoreProgress = { filesDone: 0, bytesDone: 0, currentFile: '' };
          const total = snap.summary?.totalBytesProcessed ?? 0;
          // The plugin directory is read only when the snapshot has plugin entries to hand back.
          const needed =
            flags.asFiles !== true &&
            ((snap.plugins ?? []).some((r) => r.kind === 'command') ||
              (flags.pluginOptions ?? []).length > 0);
          const registry = needed ? await openRegistry(flags, pluginLog(out)) : await PluginRegistry.open();
          const stop = out.progress((ms) => {
            const pct = total > 0 ? ` ${((progress.bytesDone / total) * 100).toFixed(1)}%` : '';
            return `[${formatDuration(ms)}]${pct} ${progress.filesDone} files ${formatBytes(progress.bytesDone)} ${progress.currentFile}`;
          });
          const started = Date.now();
          let sum;
          try {
            sum = await withSignals((signal) =>
              restoreWithPlugins(repo, snap, flags.target, {
                registry,
                overrides: flags.pluginOptions ?? [],
                asFiles: flags.asFiles === true,
                onLog: pluginLog(out),
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
                keepPartial: flags.keepPartial === true,
                onWarning: (w) => out.warn(`${w.path}: ${w.message}`, { path: w.path }),
              }),
            );
          } finally {
            stop();
            await registry.close();
          }
          const ms = Date.now() - started;
          const restoredAny =
            sum.files + sum.dirs + sum.symlinks + sum.hardLinks + sum.specials + sum.skipped > 0;
          if ((flags.include ?? []).length > 0 && !restoredAny) {
            out.warn(
              `the --include patterns (${(flags.include ?? []).map((p) => `"${p}"`).join(', ')}) match nothing in snapshot ${snap.id.slice(0, 12)}${subpath ? ` below ${subpath}` : ''}: nothing was restored ("cairn find PATTERN" searches the snapshots; patterns match whole paths, as backup --exclude does)`,
            );
            outcome.warnings++;
          }
          const through = sum.plugins
            .filter((p) => p.entries > 0)
            .map(
              (p) =>
                `${plural(p.entries, 'entry', 'entries')} ${sum.dryRun ? 'would go' : 'went'} to ${p.name}` +
                (p.core > 0 ? ` (${p.core} written as plain files)` : '') +
                (p.skipped > 0 ? ` (${p.skipped} skipped by it)` : ''),
            );
          out.line(
            `${sum.dryRun ? 'dry run: would restore' : 'restored'} ${sum.files} files, ${sum.dirs} dirs, ${sum.symlinks} symlinks` +
              (sum.hardLinks > 0 ? `, ${sum.hardLinks} hard links` : '') +
              (sum.specials > 0 ? `, ${sum.specials} special files` : '') +
              `, ${formatBytes(sum.bytes)} in ${formatDuration(ms)}` +
              (flags.verify ? `; ${sum.verified} files read back and verified` : '') +
              (sum.skipped > 0 ? `; ${sum.skipped} existing entries kept (--replace ${flags.replace})` : '') +
              (sum.deleted > 0
                ? `; ${sum.deleted} entries ${sum.dryRun ? 'would be ' : ''}deleted (--delete)`
                : '') +
              (through.length > 0 ? `; ${through.join(', ')}` : ''),
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
            files_not_restored: sum.notRestored.filter((n) => n.kind === 'file').length,
            folders_not_restored: sum.notRestored.filter((n) => n.kind === 'folder').length,
            not_restored: sum.notRestored.map(notRestoredJson),
            plugins: sum.plugins.map((p) => ({
              name: p.name,
              directive: p.directive,
              entries: p.entries,
              restored: p.restored,
              core: p.core,
              skipped: p.skipped,
            })),
          });
          outcome.warnings += sum.warnings.length;
          reportNotRestored(out, sum.notRestored, snap.id);
        } finally {
          await s.close();
        }
      },
    );
  addPluginFlags(command);
}
