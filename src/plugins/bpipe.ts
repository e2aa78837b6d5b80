/**
 * bpipe (Bareos' bpipe-fd): `bpipe:file=/PSEUDO/PATH:reader=PROGRAM ARGS:writer=PROGRAM ARGS`.
 *
 * At backup the reader runs (no shell: the command line is split with quotes honoured) and what
 * it writes to standard output is stored as one file under the pseudo path. At restore the
 * writer runs in the target folder with those bytes on its standard input. Without a writer (in
 * the snapshot's directive or given by `--plugin-options bpipe:writer=...`) the file is restored
 * as a plain file under the target. A reader or writer that exits non-zero, is killed, or cannot
 * be started fails the entry, and the backup or restore, with the end of its standard error.
 *
 * Both programs see CAIRN_PSEUDO_PATH and CAIRN_LEVEL (full, incremental, differential); the
 * reader CAIRN_SINCE (the time of the run this one builds on, if any), the writer
 * CAIRN_RESTORE_TARGET and CAIRN_SNAPSHOT. No other CAIRN_* variable reaches them.
 */
import { once } from 'node:events';
import path from 'node:path';
import { CairnError } from '../errors.ts';
import type {
  BackupContext,
  BackupEntry,
  CommandPlugin,
  Options,
  RestoreContext,
  RestoreEntry,
  RestoreSession,
  RestoreStatus,
} from './api.ts';
import { PLUGIN_API_VERSION } from './api.ts';
import { ArgsError, showArgs, splitArgs } from './args.ts';
import { Program } from './program.ts';

function pseudoPath(file: string): string {
  const p = path.posix.normalize(`/${file}`).replace(/\/+$/, '');
  return p === '' ? '/' : p;
}

function commandOf(line: string, what: string): string[] {
  const words = splitArgs(line);
  if (words.length === 0) throw new ArgsError(`the ${what} names no program`, 1);
  return words;
}

async function* readerOutput(ctx: BackupContext, file: string, argv: string[]): AsyncGenerator<Buffer> {
  const program = new Program(argv, {
    stdin: 'ignore',
    stdout: 'pipe',
    env: {
      CAIRN_PSEUDO_PATH: file,
      CAIRN_LEVEL: ctx.level,
      ...(ctx.since ? { CAIRN_SINCE: ctx.since.time } : {}),
    },
    onStderr: (line) => ctx.log('info', `${file}: reader: ${line}`),
  });
  const stop = () => void program.stop();
  ctx.signal.addEventListener('abort', stop, { once: true });
  try {
    const stdout = program.child.stdout;
    if (stdout) for await (const chunk of stdout) yield chunk as Buffer;
    const exit = await program.exited;
    if (!Program.ok(exit)) {
      throw new CairnError(
        'PLUGIN_FAILED',
        `Cannot back up ${file}: the bpipe reader "${showArgs(argv)}" ${program.failure(exit)}`,
      );
    }
  } finally {
    ctx.signal.removeEventListener('abort', stop);
    // Stopped early (a failure elsewhere, a cancel): the reader must not outlive the backup.
    await program.stop();
  }
}

async function feedWriter(ctx: RestoreContext, entry: RestoreEntry, argv: string[]): Promise<void> {
  const program = new Program(argv, {
    stdin: 'pipe',
    stdout: 'lines',
    cwd: ctx.target,
    env: {
      CAIRN_PSEUDO_PATH: entry.path,
      CAIRN_LEVEL: ctx.level,
      CAIRN_RESTORE_TARGET: ctx.target,
      CAIRN_SNAPSHOT: ctx.snapshot.id,
    },
    onStderr: (line) => ctx.log('info', `${entry.path}: writer: ${line}`),
    onStdout: (line) => ctx.log('info', `${entry.path}: writer: ${line}`),
  });
  const stop = () => void program.stop();
  ctx.signal.addEventListener('abort', stop, { once: true });
  const stdin = program.child.stdin;
  let exitedEarly = false;
  const gone = program.exited.then(() => {
    exitedEarly = true;
  });
  try {
    if (stdin) {
      for await (const chunk of entry.data) {
        if (exitedEarly || stdin.destroyed) break;
        if (!stdin.write(chunk)) await Promise.race([once(stdin, 'drain').catch(() => undefined), gone]);
      }
      stdin.end();
    }
    const exit = await program.exited;
    if (!Program.ok(exit)) {
      throw new CairnError(
        'PLUGIN_FAILED',
        `Cannot restore ${entry.path}: the bpipe writer "${showArgs(argv)}" ${program.failure(exit)}`,
      );
    }
  } finally {
    ctx.signal.removeEventListener('abort', stop);
    await program.stop();
  }
}

export const bpipe: CommandPlugin = {
  name: 'bpipe',
  kind: 'command',
  apiVersion: PLUGIN_API_VERSION,
  version: '1.0.0',
  description:
    "stores a program's standard output under a pseudo path; feeds it to another program at restore",
  options: {
    file: {
      type: 'path',
      required: true,
      identity: true,
      description: 'the pseudo path of the stored file in the snapshot, e.g. /MYSQL/dump.sql',
    },
    reader: {
      type: 'string',
      required: true,
      description: 'program and arguments whose standard output is backed up (no shell)',
    },
    writer: {
      type: 'string',
      description:
        'program and arguments fed the stored bytes on standard input at restore (no shell); without it the file is restored as a plain file',
    },
  },
  check(options: Options, columnOf: (option: string) => number): void {
    const file = String(options.file);
    if (pseudoPath(file) === '/') {
      throw new CairnError(
        'PLUGIN_DIRECTIVE_INVALID',
        `Cannot use the bpipe directive: option file at column ${columnOf('file')}: expected a pseudo path below /, such as /MYSQL/dump.sql`,
      );
    }
    for (const what of ['reader', 'writer'] as const) {
      const line = options[what];
      if (line === undefined) continue;
      try {
        commandOf(String(line), what);
      } catch (err) {
        if (!(err instanceof ArgsError)) throw err;
        const at = columnOf(what) + err.column - 1;
        throw new CairnError(
          'PLUGIN_DIRECTIVE_INVALID',
          `Cannot use the bpipe directive: option ${what}, column ${at}: ${err.message}; expected a program and its arguments, quoted as in a shell (no shell runs them)`,
        );
      }
    }
  },

  *backup(ctx: BackupContext): Generator<BackupEntry> {
    const file = pseudoPath(String(ctx.options.file));
    const argv = commandOf(String(ctx.options.reader), 'reader');
    const entry: BackupEntry = {
      path: file,
      type: 'file',
      mode: 0o600,
      data: readerOutput(ctx, file, argv),
    };
    yield entry;
  },

  restore(ctx: RestoreContext): Promise<RestoreSession> {
    const writer = ctx.options.writer;
    const argv = writer === undefined ? undefined : commandOf(String(writer), 'writer');
    return Promise.resolve({
      async entry(entry: RestoreEntry): Promise<RestoreStatus> {
        if (entry.type !== 'file') return 'core';
        if (argv === undefined) {
          ctx.log('info', `${entry.path}: no writer given: restored as a plain file`);
          return 'core';
        }
        await feedWriter(ctx, entry, argv);
        return 'restored';
      },
      async end(): Promise<void> {},
    });
  },
};
