import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import type { Command } from 'commander';
import { CairnError, reason } from '../errors.ts';
import {
  backup,
  backupStream,
  countTotals,
  newBackupProgress,
  normalisePaths,
  patternProblem,
  type Totals,
  type BackupWarning,
  parsePatternFile,
  Selection,
  type BackupResult,
  type SnapshotInfo,
  BACKUP_STAGES,
} from '../repo/index.ts';
import {
  ArgsError,
  backupWithPlugins,
  isDirective,
  LEVELS,
  prepareBackup,
  commandWords,
  DEFAULT_SCRIPT_TIMEOUT_SECONDS,
  resolveUse,
  runScripts,
  type BackupSetup,
  type Script,
  type ScriptIO,
  type ScriptPhase,
  type PluginRegistry,
  type PluginUse,
} from '../plugins/index.ts';

import { openSession, type GlobalOptions } from './context.ts';
import { formatBytes, formatDuration, makeOutput, outcome, type Output } from './output.ts';
import { addPluginFlags, openRegistry, pluginLog, type PluginFlags } from './plugin-flags.ts';
import { withSignals } from './signals.ts';
import { commandSource, stdinSource } from './streams.ts';

interface BackupFlags extends PluginFlags {
  readonly source?: string[];
  readonly optionPlugin?: string[];
  readonly level?: string;
  readonly tag?: string[];
  readonly host?: string;
  readonly parent?: string;
  readonly force?: boolean;
  readonly exclude?: string[];
  readonly iexclude?: string[];
  readonly excludeFile?: string[];
  readonly iexcludeFile?: string[];
  readonly excludeCaches?: boolean;
  readonly excludeIfPresent?: string[];
  readonly oneFileSystem?: boolean;
  readonly filesFrom?: string[];
  readonly stdin?: boolean;
  readonly stdinFilename?: string;
  readonly stdinFromCommand?: boolean;
  readonly runBefore?: string[];
  readonly runAfter?: string[];
  readonly runBeforeOnError?: string;
  readonly runAfterOnError?: string;
  readonly runTimeout?: string;
}

const repeatable = (v: string, prev: string[] | undefined) => [...(prev ?? []), v];

function readListFile(file: string, what: string): string[] {
  try {
    return parsePatternFile(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new CairnError('USAGE', `Cannot read the ${what} file ${file}: ${reason(err)}`, { cause: err });
  }
}

/** The selection the flags describe; patterns are checked here, before the repository is opened. */
function selectionOf(flags: BackupFlags): Selection {
  return new Selection({
    excludes: [
      ...(flags.exclude ?? []),
      ...(flags.excludeFile ?? []).flatMap((f) => readListFile(f, 'exclude')),
    ],
    iexcludes: [
      ...(flags.iexclude ?? []),
      ...(flags.iexcludeFile ?? []).flatMap((f) => readListFile(f, 'exclude')),
    ],
    excludeIfPresent: flags.excludeIfPresent ?? [],
    excludeCaches: flags.excludeCaches === true,
    oneFileSystem: flags.oneFileSystem === true,
  });
}

/** Exclude patterns that are malformed or can never match under the paths: warned, not refused. */
function warnPatterns(g: GlobalOptions, flags: BackupFlags, roots: readonly string[]): void {
  const out = makeOutput(g);
  const patterns = [
    ...(flags.exclude ?? []),
    ...(flags.excludeFile ?? []).flatMap((f) => readListFile(f, 'exclude')),
    ...(flags.iexclude ?? []),
    ...(flags.iexcludeFile ?? []).flatMap((f) => readListFile(f, 'exclude')),
  ];
  for (const p of patterns) {
    const problem = patternProblem(p, roots);
    if (problem === undefined) continue;
    out.warn(`the exclude pattern "${p}" ${problem}`, { pattern: p });
    outcome.warnings++;
  }
}

/** "load: source 86% > chunk 54% > seal 56% > write 42%, bottleneck: source" (pipeline order). */
export function loadLine(result: Pick<BackupResult, 'load' | 'bottleneck'>): string {
  const stages = BACKUP_STAGES.map((st) => `${st} ${Math.round(result.load[st] * 100)}%`).join(' > ');
  return `load: ${stages}, bottleneck: ${result.bottleneck}`;
}

/** The --run-before and --run-after programs, checked before anything runs. */
function scriptsOf(flags: BackupFlags): { before: Script[]; after: Script[] } {
  const timeout = flags.runTimeout ?? String(DEFAULT_SCRIPT_TIMEOUT_SECONDS);
  const seconds = Number(timeout);
  if (!/^[0-9]+$/.test(timeout) || !Number.isSafeInteger(seconds) || seconds < 1) {
    throw new CairnError(
      'USAGE',
      `Cannot use --run-timeout ${timeout}: give a whole number of seconds (1 or more)`,
    );
  }
  const policy = (flag: string, value: string | undefined, fallback: Script['onError']) => {
    if (value === undefined) return fallback;
    if (value !== 'fail' && value !== 'warn') {
      throw new CairnError('USAGE', `Cannot use ${flag} ${value}: choose fail or warn`);
    }
    return value;
  };
  const make = (phase: ScriptPhase, lines: readonly string[], onError: Script['onError']): Script[] =>
    lines.map((line) => {
      const flag = phase === 'before' ? '--run-before' : '--run-after';
      try {
        return { label: flag, argv: commandWords(line), onError, timeoutSeconds: seconds };
      } catch (err) {
        if (!(err instanceof ArgsError)) throw err;
        throw new CairnError(
          'USAGE',
          `Cannot use ${flag} "${line}": ${err.message} (column ${err.column}); give a program and its arguments, quoted as in a shell (no shell runs them)`,
        );
      }
    });
  return {
    before: make(
      'before',
      flags.runBefore ?? [],
      policy('--run-before-on-error', flags.runBeforeOnError, 'fail'),
    ),
    after: make('after', flags.runAfter ?? [], policy('--run-after-on-error', flags.runAfterOnError, 'warn')),
  };
}

/** Scripts' output as lines ("run-before: ..."; JSON message lines with --json), warnings counted. */
function scriptOutput(out: Output): ScriptIO {
  return {
    line(script, stream, text) {
      const name = script.label.replace(/^--/, '');
      out.line(`${name}: ${text}`);
      out.emit({ message_type: 'script_output', script: name, stream, message: text });
    },
    warn(message) {
      outcome.warnings++;
      out.warn(message);
    },
  };
}

export function registerBackup(program: Command): void {
  const command = program
    .command('backup')
    .description('back up files and directories into a new snapshot')
    .argument('[path...]', 'files and directories to back up')
    .option(
      '--source <source>',
      'a path, or a plugin directive such as "bpipe:file=/db.sql:reader=pg_dump db" (repeatable)',
      repeatable,
    )
    .option(
      '--option-plugin <directive>',
      'an option plugin called for each file, e.g. "maxsize:size=1G" (repeatable)',
      repeatable,
    )
    .option(
      '--level <level>',
      'full, incremental (default) or differential, for plugins; full also reads every file again',
    )
    .option('--tag <tag>', 'add a tag to the snapshot (repeatable)', repeatable)
    .option('--host <name>', "record this host name instead of the machine's")
    .option(
      '--parent <snapshot>',
      'compare with this snapshot instead of the latest of the same host and paths ("latest" is that one, but fails when there is none or a snapshot file is damaged)',
    )
    .option('--force', 'read every file again, ignoring the parent snapshot')
    .option('-e, --exclude <pattern>', 'leave out paths matching the pattern (repeatable)', repeatable)
    .option('--iexclude <pattern>', 'like --exclude, ignoring case (repeatable)', repeatable)
    .option(
      '--exclude-file <file>',
      'read exclude patterns from a file, one per line (repeatable)',
      repeatable,
    )
    .option('--iexclude-file <file>', 'like --exclude-file, ignoring case (repeatable)', repeatable)
    .option('--exclude-caches', 'leave out the contents of folders holding a CACHEDIR.TAG file')
    .option(
      '--exclude-if-present <name[:header]>',
      'leave out the contents of folders holding this file (starting with header) (repeatable)',
      repeatable,
    )
    .option(
      '-x, --one-file-system',
      'do not descend into folders on other file systems (mount points stay, empty)',
    )
    .option(
      '--files-from <file>',
      'back up the paths listed in a file, one per line (repeatable)',
      repeatable,
    )
    .option('--stdin', 'back up standard input as one file')
    .option('--stdin-filename <name>', 'the name of that file in the snapshot', 'stdin')
    .option(
      '--stdin-from-command',
      'run the command given after -- (no shell) and back up its output; a failing command fails the backup',
    )
    .option(
      '--run-before <command>',
      'run this program (no shell) before the backup reads anything; its failure fails the backup (repeatable)',
      repeatable,
    )
    .option(
      '--run-after <command>',
      'run this program (no shell) after the backup, also after a failure, with CAIRN_RESULT (repeatable)',
      repeatable,
    )
    .option('--run-before-on-error <policy>', 'fail (default) or warn when a --run-before program fails')
    .option('--run-after-on-error <policy>', 'warn (default) or fail when a --run-after program fails')
    .option(
      '--run-timeout <seconds>',
      `stop a --run-before or --run-after program after this long, which is a failure (default ${DEFAULT_SCRIPT_TIMEOUT_SECONDS})`,
    )
    .addHelpText(
      'after',
      `
Patterns: "*.log" or "node_modules" match a name at any depth; a pattern with a slash matches
the absolute path ("/home/*/tmp"), or at any depth when it does not start with "/"; "**" spans
folders. A folder that matches is left out with everything in it.

Streams: "cairn backup --stdin --stdin-filename db.sql < dump.sql" or
"cairn backup --stdin-from-command --stdin-filename db.sql -- pg_dump mydb".

Plugins: "cairn backup /etc --source 'bpipe:file=/MYSQL/dump.sql:reader=mysqldump --all-databases:writer=mysql'"
stores the reader's output as /MYSQL/dump.sql (no shell; write \\: for a colon in a value); restore
feeds it to the writer. An incremental or differential without an earlier full backup of the same
sources runs as a full. "cairn plugins" lists the plugins and their options (docs/plugin-api.md).

Scripts (Bareos' RunScript): "cairn backup /srv --run-before 'systemctl stop app' --run-after
'systemctl start app'". No shell runs them (quote as in a shell; name one to use it: "sh -c '...'").
--run-before programs run one after another once the repository is open, before anything is read;
one that exits non-zero, is killed, cannot be started or runs out of time fails the backup (exit
45, with the end of its standard error), or is a warning with --run-before-on-error warn.
--run-after programs run after the snapshot is written, and also after a failure, with
CAIRN_RESULT=success|warning|failed, CAIRN_SNAPSHOT (when one was written), CAIRN_LEVEL and, after a
failure, CAIRN_MESSAGE; their failure is a warning (exit 3), or with --run-after-on-error fail
exit 45 (the snapshot stays). They see Cairn's environment without any CAIRN_* variable (no
password), plus CAIRN_LEVEL; their output is shown line by line.

Exit codes: 0 done, 3 done with warnings (files that could not be read, listed; a script's warning),
45 a --run-before or --run-after program failed, other codes per error (docs/errors.md).`,
    )
    .action(async (args: string[], flags: BackupFlags, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const stream = flags.stdin === true || flags.stdinFromCommand === true;
      const directives = (flags.source ?? []).filter(isDirective);
      const sourcePaths = (flags.source ?? []).filter((x) => !isDirective(x));
      const optionPlugins = flags.optionPlugin ?? [];
      const usesPlugins = directives.length > 0 || optionPlugins.length > 0;
      const level = flags.level?.toLowerCase();
      if (level !== undefined && !(LEVELS as readonly string[]).includes(level)) {
        throw new CairnError(
          'USAGE',
          `Cannot back up at level ${flags.level}: choose full, incremental or differential`,
        );
      }
      if (stream && (usesPlugins || sourcePaths.length > 0)) {
        throw new CairnError(
          'USAGE',
          'Cannot back up a stream and --source or --option-plugin in one snapshot',
        );
      }
      if (flags.stdin && flags.stdinFromCommand) {
        throw new CairnError('USAGE', 'Cannot back up: choose --stdin or --stdin-from-command, not both');
      }
      if (flags.stdinFromCommand && args.length === 0) {
        throw new CairnError('USAGE', "Cannot back up a command's output: give the command after --");
      }
      if (flags.stdin && (args.length > 0 || flags.filesFrom)) {
        throw new CairnError('USAGE', 'Cannot back up standard input and paths in one snapshot');
      }
      const paths = stream
        ? []
        : [
            ...args,
            ...sourcePaths,
            ...(flags.filesFrom ?? []).flatMap((f) => readListFile(f, '--files-from')),
          ];
      if (!stream && paths.length === 0 && directives.length === 0) {
        throw new CairnError(
          'USAGE',
          'Cannot back up: no paths given (as arguments or with --files-from) and no --source',
        );
      }
      const selection = selectionOf(flags);
      warnPatterns(g, flags, stream ? [] : normalisePaths(paths));
      const scripts = scriptsOf(flags);
      // Plugins are found and their directives checked before the repository is opened.
      let log = pluginLog(makeOutput(g));
      const registry: PluginRegistry | undefined = usesPlugins
        ? await openRegistry(flags, (p, l, m) => log(p, l, m))
        : undefined;
      const warningsBefore = outcome.warnings;
      const reached: Reached = {};
      let failure: Error | undefined;
      try {
        const commands: PluginUse[] = [];
        const optionUses: PluginUse[] = [];
        if (registry) {
          for (const d of directives) commands.push(await resolveUse(registry, d, 'command'));
          for (const d of optionPlugins) optionUses.push(await resolveUse(registry, d, 'option'));
        }
        // From here on the backup is attempted: --run-after runs whatever happens.
        try {
          await backupSession(g, flags, {
            args,
            stream,
            paths,
            selection,
            plugins: registry
              ? { commands, optionUses, ...(level ? { level: level as BackupSetup['level'] } : {}) }
              : undefined,
            level: level as BackupSetup['level'] | undefined,
            setLog: (fn) => (log = fn),
            runBefore: scripts.before,
            reached,
          });
        } catch (err) {
          failure = err instanceof Error ? err : new Error(reason(err));
        }
      } finally {
        await registry?.close();
      }
      if (scripts.after.length > 0) {
        const out = makeOutput(g);
        const result =
          failure !== undefined ? 'failed' : outcome.warnings > warningsBefore ? 'warning' : 'success';
        try {
          await withSignals(
            (signal) =>
              runScripts(
                'after',
                scripts.after,
                {
                  CAIRN_RESULT: result,
                  CAIRN_LEVEL: reached.level ?? level ?? 'incremental',
                  ...(reached.snapshot ? { CAIRN_SNAPSHOT: reached.snapshot } : {}),
                  ...(failure !== undefined ? { CAIRN_MESSAGE: reason(failure) } : {}),
                },
                scriptOutput(out),
                signal,
              ),
            { afterInterrupt: true },
          );
        } catch (err) {
          // The backup's own failure is what the command ends with; this one is said beside it.
          if (failure === undefined) failure = err instanceof Error ? err : new Error(reason(err));
          else out.warn(reason(err));
        }
      }
      if (failure !== undefined) throw failure;
    });
  addPluginFlags(command);
}

interface SessionPlan {
  readonly args: string[];
  readonly stream: boolean;
  readonly paths: string[];
  readonly selection: Selection;
  readonly plugins:
    | {
        readonly commands: readonly PluginUse[];
        readonly optionUses: readonly PluginUse[];
        readonly level?: BackupSetup['level'];
      }
    | undefined;
  readonly level: BackupSetup['level'] | undefined;
  readonly setLog: (fn: ReturnType<typeof pluginLog>) => void;
  readonly runBefore: readonly Script[];
  /** How far the backup got, for --run-after. */
  readonly reached: Reached;
}

interface Reached {
  /** The level the backup runs at, once known. */
  level?: BackupSetup['level'];
  /** The snapshot written. */
  snapshot?: string;
}

async function backupSession(g: GlobalOptions, flags: BackupFlags, plan: SessionPlan): Promise<void> {
  const { args, stream, paths, selection, plugins } = plan;
  const s = await openSession(g, { lock: 'shared', command: 'backup' });
  try {
    const { repo, out } = s;
    plan.setLog(pluginLog(out));
    const sources = normalisePaths(paths);
    const host = flags.host;
    // "--parent latest" and the parent chosen by default: the latest of this host and these paths.
    const sameSources = (x: SnapshotInfo) =>
      x.host === (host ?? hostname()) && JSON.stringify(x.paths) === JSON.stringify(sources);
    let parent: SnapshotInfo | undefined;
    let setup: BackupSetup | undefined;
    if (plugins) {
      const { snapshots } = await repo.listSnapshots();
      setup = prepareBackup(snapshots, {
        paths: sources,
        commands: plugins.commands,
        ...(plugins.level ? { level: plugins.level } : {}),
        ...(host ? { host } : {}),
      });
      if (setup.upgraded) {
        out.line(
          `no full backup of these sources yet: running a full backup (${plugins.level ?? 'incremental'} asked)`,
        );
      } else if (plugins.commands.length > 0) out.line(`level: ${setup.level}`);
      if (flags.parent) parent = await repo.findSnapshot(flags.parent, sameSources);
      else if (!flags.force) parent = setup.parent;
      const { parent: _computed, ...rest } = setup;
      setup = { ...rest, ...(parent ? { parent } : {}) };
    } else if (!flags.force && !stream && plan.level !== 'full') {
      if (flags.parent) parent = await repo.findSnapshot(flags.parent, sameSources);
      else {
        const { snapshots } = await repo.listSnapshots();
        const same = snapshots.filter(sameSources);
        parent = same[same.length - 1];
      }
    }
    if (parent) out.line(`using parent snapshot ${parent.id.slice(0, 12)}`);
    plan.reached.level = setup?.level ?? plan.level ?? 'incremental';
    if (plan.runBefore.length > 0) {
      const env = { CAIRN_LEVEL: plan.reached.level };
      await withSignals((signal) => runScripts('before', plan.runBefore, env, scriptOutput(out), signal));
    }
    const progress = newBackupProgress();
    // Counted beside the backup (as restic does) so the progress line can show how far it is.
    const totals: Totals = { files: 0, bytes: 0, done: false };
    const counting = new AbortController();
    if (!stream && process.stderr.isTTY && !out.json && !out.quiet) {
      void countTotals(sources, selection, totals, counting.signal);
    }
    const stop = out.progress((ms) => {
      const rate = ms > 0 ? (progress.bytesDone / ms) * 1000 : 0;
      let share = '';
      if (totals.done && totals.bytes > 0) {
        const left = Math.max(0, totals.bytes - progress.bytesDone);
        const eta = rate > 0 ? ` ETA ${formatDuration((left / rate) * 1000)}` : '';
        share = ` ${Math.min(100, (progress.bytesDone / totals.bytes) * 100).toFixed(1)}%${eta}`;
      }
      const files = totals.done ? `${progress.filesDone}/${totals.files}` : `${progress.filesDone}`;
      return `[${formatDuration(ms)}]${share} ${files} files ${formatBytes(progress.bytesDone)} ${formatBytes(rate)}/s ${progress.currentFile}`;
    });
    const started = Date.now();
    const status = out.json
      ? setInterval(() => {
          out.emit({
            message_type: 'status',
            seconds_elapsed: Math.round((Date.now() - started) / 1000),
            files_done: progress.filesDone,
            bytes_done: progress.bytesDone,
            bytes_read: progress.bytesRead,
            bytes_written: progress.bytesWritten,
            current_files: progress.currentFile ? [progress.currentFile] : [],
          });
        }, 1000)
      : undefined;
    status?.unref();
    let result;
    try {
      result = await withSignals((signal) => {
        const options = {
          ...(host ? { host } : {}),
          tags: flags.tag ?? [],
          ...(parent ? { parent } : {}),
          signal,
          progress,
          keepAlive: () => s.lock?.check(),
          selection,
          onWarning: (w: BackupWarning) => out.warn(`${w.path}: ${w.message}`, { path: w.path }),
        };
        const name = flags.stdinFilename ?? 'stdin';
        if (plugins && setup) {
          const { parent: _p, ...rest } = options;
          return backupWithPlugins(
            repo,
            {
              paths: sources,
              commands: plugins.commands,
              optionUses: plugins.optionUses,
              ...(host ? { host } : {}),
              onLog: pluginLog(out),
            },
            setup,
            {
              ...rest,
              force: flags.force === true || (parent === undefined && setup.parent === undefined),
            },
          );
        }
        if (flags.stdin) return backupStream(repo, stdinSource(name), options);
        if (flags.stdinFromCommand) {
          const [command = '', ...rest] = args;
          return backupStream(repo, commandSource(name, command, rest, signal), options);
        }
        return backup(repo, sources, options);
      });
    } finally {
      stop();
      counting.abort();
      if (status) clearInterval(status);
    }
    plan.reached.snapshot = result.id;
    const sum = result.snapshot.summary;
    const duration = (Date.now() - started) / 1000;
    if (sum) {
      out.line(
        `Files:       ${sum.filesNew} new, ${sum.filesChanged} changed, ${sum.filesUnmodified} unmodified`,
      );
      out.line(
        `Dirs:        ${sum.dirsNew} new, ${sum.dirsChanged} changed, ${sum.dirsUnmodified} unmodified`,
      );
      out.line(
        `Added to the repository: ${formatBytes(sum.dataAdded)} (${formatBytes(sum.dataAddedPacked)} stored)`,
      );
      out.line(
        `processed ${sum.totalFilesProcessed} files, ${formatBytes(sum.totalBytesProcessed)} in ${formatDuration(duration * 1000)}`,
      );
      out.line(loadLine(result));
      out.emit({
        message_type: 'summary',
        files_new: sum.filesNew,
        files_changed: sum.filesChanged,
        files_unmodified: sum.filesUnmodified,
        dirs_new: sum.dirsNew,
        dirs_changed: sum.dirsChanged,
        dirs_unmodified: sum.dirsUnmodified,
        data_blobs: sum.dataBlobs,
        tree_blobs: sum.treeBlobs,
        data_added: sum.dataAdded,
        data_added_packed: sum.dataAddedPacked,
        total_files_processed: sum.totalFilesProcessed,
        total_bytes_processed: sum.totalBytesProcessed,
        total_duration: duration,
        backup_start: sum.backupStart,
        backup_end: sum.backupEnd,
        warnings: result.warnings.length,
        snapshot_id: result.id,
        load: Object.fromEntries(BACKUP_STAGES.map((st) => [st, Math.round(result.load[st] * 1000) / 1000])),
        bottleneck: result.bottleneck,
      });
    }
    const n = result.warnings.length;
    // Not every warning means a file is missing (one that changed while read is kept as read).
    out.line(
      `snapshot ${result.id.slice(0, 12)} saved${n ? ` with ${n} ${n === 1 ? 'warning' : 'warnings'} (listed above)` : ''}`,
    );
    outcome.warnings += result.warnings.length;
  } finally {
    await s.close();
  }
}
