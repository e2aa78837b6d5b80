/**
 * Programs run around a backup (Bareos' client RunScript: `cairn backup --run-before/--run-after`,
 * a job's `runBefore`/`runAfter`) and for a job's event hooks. The one place the front ends start
 * such programs: without a shell, with a time limit (SIGTERM, then SIGKILL), their output passed
 * on line by line, and how they ended told in one sentence with the end of their standard error.
 *
 * A script's failure follows its policy: `fail` fails the backup (RUN_SCRIPT_FAILED), `warn` is a
 * warning. Hooks never fail anything: they use runProgram and only log.
 */
import { spawn } from 'node:child_process';
import { CairnError, errnoCode, isCairnError, reason } from '../errors.ts';
import { ArgsError, splitArgs } from './args.ts';

export type ScriptPolicy = 'fail' | 'warn';
export type ScriptPhase = 'before' | 'after';

/** A script's time limit when none is given (seconds). */
export const DEFAULT_SCRIPT_TIMEOUT_SECONDS = 3600;

/** Bytes of standard error kept for messages, and characters of it shown. */
const TAIL_BYTES = 4096;
const TAIL_SHOWN = 1500;
/** After SIGTERM, the time a program has before SIGKILL. */
const KILL_GRACE_MS = 3000;
/** After a program exits, how long its pipes may stay open (held by a child it left running). */
const PIPE_GRACE_MS = 1000;

/** One program to run before or after a backup. */
export interface Script {
  /** How messages name it: `--run-before`, `runBefore[0]`. */
  readonly label: string;
  /** Program and arguments. */
  readonly argv: readonly string[];
  readonly onError: ScriptPolicy;
  readonly timeoutSeconds: number;
}

/**
 * A command given as one line (split into words as a shell would: quotes, backslashes; nothing
 * expanded, no shell runs it, as bpipe's reader) or as its words. Throws ArgsError with a column.
 */
export function commandWords(command: string | readonly string[]): string[] {
  const words = typeof command === 'string' ? splitArgs(command) : [...command];
  if (words.length === 0 || words[0] === '') throw new ArgsError('it names no program', 1);
  return words;
}

/** A command line for messages: each word quoted when it needs to be. */
export function showCommand(argv: readonly string[]): string {
  return argv
    .map((w) => (/^[A-Za-z0-9_./=:,@%+-]+$/.test(w) ? w : `'${w.replace(/'/g, `'\\''`)}'`))
    .join(' ');
}

/**
 * The inherited environment without any CAIRN_* variable (CAIRN_PASSWORD and every other secret
 * of Cairn's, as for plugins), plus `extra` (the CAIRN_* variables the caller defines).
 */
export function scriptEnv(extra: Readonly<Record<string, string>> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('CAIRN_')) env[k] = v;
  return { ...env, ...extra };
}

export interface ProgramOptions {
  /** The whole environment of the program (see scriptEnv). */
  readonly env: NodeJS.ProcessEnv;
  readonly timeoutMs: number;
  /** Stops the program (SIGTERM, then SIGKILL). */
  readonly signal?: AbortSignal;
  readonly cwd?: string;
  /** Each non-blank line the program writes; without it standard output is not read. */
  readonly onLine?: (stream: 'stdout' | 'stderr', line: string) => void;
}

export interface ProgramEnd {
  /** Exit code 0. */
  readonly ok: boolean;
  /** "exited with code 3", "was killed by SIGKILL", "cannot be started: no such program"... */
  readonly how: string;
  /** The end of its standard error, trimmed ("" when it wrote none). */
  readonly stderrTail: string;
  readonly timedOut: boolean;
  /** Stopped because `signal` was aborted. */
  readonly stopped: boolean;
}

/** Calls `fn` for each complete, non-blank line of the chunks given; flush() for the rest. */
function lines(fn: ((line: string) => void) | undefined): { push(b: Buffer): void; flush(): void } {
  let partial = '';
  return {
    push(b) {
      if (fn === undefined) return;
      const all = (partial + b.toString('utf8')).split('\n');
      partial = all.pop() ?? '';
      for (const l of all) if (l.trim() !== '') fn(l.replace(/\r$/, ''));
    },
    flush() {
      if (fn !== undefined && partial.trim() !== '') fn(partial.replace(/\r$/, ''));
      partial = '';
    },
  };
}

function startFailure(err: Error): string {
  const code = errnoCode(err);
  if (code === 'ENOENT') return 'cannot be started: no such program';
  if (code === 'EACCES') return 'cannot be started: permission denied (not executable?)';
  return `cannot be started: ${err.message}`;
}

/** Runs a program to its end (never rejects): how it ended, and the end of its standard error. */
export function runProgram(argv: readonly string[], options: ProgramOptions): Promise<ProgramEnd> {
  return new Promise<ProgramEnd>((resolve) => {
    const [program = '', ...args] = argv;
    const onLine = options.onLine;
    let tail = Buffer.alloc(0);
    let timedOut = false;
    let stopped = false;
    let settled = false;
    let killTimer: NodeJS.Timeout | undefined;
    let pipeTimer: NodeJS.Timeout | undefined;
    const out = lines(onLine && ((l) => onLine('stdout', l)));
    const err = lines(onLine && ((l) => onLine('stderr', l)));
    const child = spawn(program, args, {
      stdio: ['ignore', onLine ? 'pipe' : 'ignore', 'pipe'],
      env: options.env,
      ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
    });
    const tailText = () => {
      const text = tail.toString('utf8').trim();
      return text.length > TAIL_SHOWN ? `…${text.slice(text.length - TAIL_SHOWN)}` : text;
    };
    const stop = () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      killTimer = setTimeout(() => child.kill('SIGKILL'), KILL_GRACE_MS);
    };
    const onAbort = () => {
      stopped = true;
      stop();
    };
    // Our own timer: spawn's `timeout` option outlives a program that never started.
    const timer = setTimeout(() => {
      timedOut = true;
      stop();
    }, options.timeoutMs);
    options.signal?.addEventListener('abort', onAbort, { once: true });
    if (options.signal?.aborted) onAbort();
    const settle = (how: string, ok: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (killTimer) clearTimeout(killTimer);
      if (pipeTimer) clearTimeout(pipeTimer);
      options.signal?.removeEventListener('abort', onAbort);
      out.flush();
      err.flush();
      for (const s of [child.stdout, child.stderr]) s?.destroy();
      resolve({ ok, how, stderrTail: tailText(), timedOut, stopped });
    };
    const ended = (code: number | null, signal: NodeJS.Signals | null) => {
      if (timedOut)
        settle(`was stopped after its time limit of ${Math.round(options.timeoutMs / 100) / 10} s`, false);
      else if (stopped) settle('was stopped (cancelled)', false);
      else if (signal) settle(`was killed by ${signal}`, false);
      else settle(`exited with code ${code}`, code === 0);
    };
    child.stdout?.on('data', (b: Buffer) => out.push(b));
    child.stderr?.on('data', (b: Buffer) => {
      tail = Buffer.concat([tail, b]);
      if (tail.length > TAIL_BYTES) tail = tail.subarray(tail.length - TAIL_BYTES);
      err.push(b);
    });
    child.on('error', (e) => settle(startFailure(e), false));
    child.on('close', ended);
    // A program that leaves a child holding its pipes (a daemon it started) has still ended.
    child.on('exit', (code, signal) => {
      pipeTimer = setTimeout(() => ended(code, signal), PIPE_GRACE_MS);
    });
  });
}

/** How a script's output and warnings reach the user: the CLI's output, or a run's log. */
export interface ScriptIO {
  line(script: Script, stream: 'stdout' | 'stderr', text: string): void;
  warn(message: string): void;
}

/** The message for a script that failed. */
function failureMessage(phase: ScriptPhase, script: Script, end: ProgramEnd): string {
  const what = `${script.label} "${showCommand(script.argv)}" ${end.how}`;
  const tail = end.stderrTail ? `; its standard error ends with:\n${end.stderrTail}` : '';
  if (script.onError === 'warn') {
    return phase === 'before'
      ? `${what}, the backup goes on (on error: warn)${tail}`
      : `After the backup, ${what} (on error: warn)${tail}`;
  }
  return phase === 'before' ? `Cannot back up: ${what}${tail}` : `After the backup, ${what}${tail}`;
}

/**
 * Runs scripts one after another with `env` (the CAIRN_* variables of the caller, added to the
 * cleaned environment). A script that fails with policy `warn` is a warning; with `fail`, before a
 * backup the rest do not run and RUN_SCRIPT_FAILED is thrown, after one the rest still run and the
 * first failure is thrown at the end. Returns the number of warnings.
 */
export async function runScripts(
  phase: ScriptPhase,
  scripts: readonly Script[],
  env: Readonly<Record<string, string>>,
  io: ScriptIO,
  signal?: AbortSignal,
): Promise<number> {
  let warnings = 0;
  let failure: CairnError | undefined;
  for (const script of scripts) {
    signal?.throwIfAborted();
    const end = await runProgram(script.argv, {
      env: scriptEnv(env),
      timeoutMs: script.timeoutSeconds * 1000,
      ...(signal ? { signal } : {}),
      onLine: (stream, line) => io.line(script, stream, line),
    });
    if (end.ok) continue;
    if (end.stopped && signal?.aborted) {
      const why: unknown = signal.reason;
      if (isCairnError(why)) throw why;
      throw new CairnError('INTERRUPTED', `${script.label} was stopped: ${reason(why)}`);
    }
    const message = failureMessage(phase, script, end);
    if (script.onError === 'warn') {
      warnings++;
      io.warn(message);
      continue;
    }
    const err = new CairnError('RUN_SCRIPT_FAILED', message);
    if (phase === 'before') throw err;
    failure ??= err;
  }
  if (failure) throw failure;
  return warnings;
}
