/**
 * Programs that plugins run (bpipe's reader and writer, out-of-process plugins): started without a
 * shell, with an environment cleaned of Cairn's own variables (CAIRN_PASSWORD never reaches a
 * plugin), their standard error kept as a tail for messages and passed on line by line to the
 * log. How a program ended (exit code, signal, missing) is one sentence.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { errnoCode } from '../errors.ts';

/** Bytes of standard error kept for messages. */
const TAIL_BYTES = 4096;
/** Characters of that tail shown in a message. */
const TAIL_SHOWN = 1500;

/** The inherited environment without any CAIRN_* variable (secrets), plus `extra`. */
export function childEnv(extra: Readonly<Record<string, string>> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('CAIRN_')) env[k] = v;
  return { ...env, ...extra };
}

export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** Set when the program could not be started (not found, not executable). */
  readonly error?: Error;
}

export interface StartOptions {
  readonly env?: Readonly<Record<string, string>>;
  readonly cwd?: string;
  readonly stdin: 'pipe' | 'ignore';
  /** 'lines': standard output is read and passed to onStdout line by line. */
  readonly stdout: 'pipe' | 'ignore' | 'lines';
  /** Each line the program writes to standard error. */
  readonly onStderr?: (line: string) => void;
  readonly onStdout?: (line: string) => void;
}

/** Calls `fn` for each complete, non-blank line of the chunks given; flush() for the rest. */
function lineSplitter(fn: ((line: string) => void) | undefined): {
  push(b: Buffer): void;
  flush(): void;
} {
  let partial = '';
  return {
    push(b) {
      if (fn === undefined) return;
      const lines = (partial + b.toString('utf8')).split('\n');
      partial = lines.pop() ?? '';
      for (const l of lines) if (l.trim() !== '') fn(l.replace(/\r$/, ''));
    },
    flush() {
      if (fn !== undefined && partial.trim() !== '') fn(partial);
      partial = '';
    },
  };
}

export class Program {
  readonly child: ChildProcess;
  readonly argv: readonly string[];
  /** Resolves once the program has exited and its pipes are closed (never rejects). */
  readonly exited: Promise<Exit>;
  #tail = Buffer.alloc(0);
  #exit: Exit | undefined;

  constructor(argv: readonly string[], options: StartOptions) {
    const [command = '', ...args] = argv;
    this.argv = argv;
    this.child = spawn(command, args, {
      stdio: [options.stdin, options.stdout === 'ignore' ? 'ignore' : 'pipe', 'pipe'],
      env: childEnv(options.env),
      ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
    });
    const err = lineSplitter(options.onStderr);
    const out = lineSplitter(options.onStdout);
    this.child.stderr?.on('data', (b: Buffer) => {
      this.#tail = Buffer.concat([this.#tail, b]);
      if (this.#tail.length > TAIL_BYTES) this.#tail = this.#tail.subarray(this.#tail.length - TAIL_BYTES);
      err.push(b);
    });
    if (options.stdout === 'lines') this.child.stdout?.on('data', (b: Buffer) => out.push(b));
    this.child.stdin?.on('error', () => undefined);
    this.exited = new Promise<Exit>((resolve) => {
      this.child.on('error', (error) => {
        this.#exit = { code: null, signal: null, error };
        resolve(this.#exit);
      });
      this.child.on('close', (code, signal) => {
        err.flush();
        out.flush();
        this.#exit ??= { code, signal };
        resolve(this.#exit);
      });
    });
  }

  /** The end of what the program wrote to standard error, trimmed. */
  stderrTail(): string {
    const text = this.#tail.toString('utf8').trim();
    return text.length > TAIL_SHOWN ? `…${text.slice(text.length - TAIL_SHOWN)}` : text;
  }

  /** "exited with code 3", "was killed by SIGKILL", "cannot be started: no such program". */
  static describe(exit: Exit): string {
    if (exit.error) {
      const code = errnoCode(exit.error);
      if (code === 'ENOENT') return 'cannot be started: no such program';
      if (code === 'EACCES') return 'cannot be started: permission denied (not executable?)';
      return `cannot be started: ${exit.error.message}`;
    }
    if (exit.signal) return `was killed by ${exit.signal}`;
    return `exited with code ${exit.code}`;
  }

  /** Whether the program ended well (exit code 0). */
  static ok(exit: Exit): boolean {
    return exit.error === undefined && exit.signal === null && exit.code === 0;
  }

  /** "exited with code 3; its standard error ends with: …" */
  failure(exit: Exit): string {
    const tail = this.stderrTail();
    return `${Program.describe(exit)}${tail ? `; its standard error ends with:\n${tail}` : ' (nothing on its standard error)'}`;
  }

  /** Stops the program: SIGTERM, then SIGKILL after `graceMs`. */
  async stop(graceMs = 3000): Promise<void> {
    if (this.#exit !== undefined || this.child.exitCode !== null || this.child.signalCode !== null) return;
    // Waits for the process to end, not for its pipes to close: a child it started (a shell's)
    // may hold them open longer. The pipes are let go, so they keep nothing waiting.
    const ended = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    try {
      await Promise.race([ended, this.exited]);
    } finally {
      clearTimeout(timer);
      for (const s of [this.child.stdin, this.child.stdout, this.child.stderr]) s?.destroy();
    }
  }
}
