/**
 * Runs one command under GNU time (`/usr/bin/time -f`), which reports the child's user and system
 * CPU time and its peak resident set size (ru_maxrss of the waited-for child). Wall time is taken
 * here with a monotonic clock around the whole child, start-up included.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';

export const GNU_TIME = '/usr/bin/time';

export interface Measurement {
  /** Seconds from spawn to exit. */
  readonly wallS: number;
  readonly userS: number;
  readonly sysS: number;
  /** userS + sysS. */
  readonly cpuS: number;
  /** Peak resident set size of the child in bytes. */
  readonly maxRssBytes: number;
  readonly exitCode: number;
}

export interface Command {
  readonly cmd: string;
  readonly args: readonly string[];
  readonly cwd?: string;
  readonly env: NodeJS.ProcessEnv;
  /** Exit codes that count as success (e.g. Borg's 1 and Cairn's 3 mean "done with warnings"). */
  readonly okCodes: readonly number[];
}

export interface MeasuredRun extends Measurement {
  /** Standard output of the child (kept in a file while it runs, so a chatty tool costs no memory). */
  readonly stdout: string;
}

/** The last line of GNU time's report: "%e %U %S %M" (wall, user, sys, max RSS in KiB). */
export function parseTimeReport(text: string): { userS: number; sysS: number; maxRssKiB: number } {
  const lines = text.trim().split('\n');
  const last = lines[lines.length - 1] ?? '';
  const parts = last.trim().split(/\s+/).map(Number);
  if (parts.length !== 4 || parts.some((n) => !Number.isFinite(n))) {
    throw new Error(`cannot parse the report of ${GNU_TIME}: ${JSON.stringify(text)}`);
  }
  return { userS: parts[1]!, sysS: parts[2]!, maxRssKiB: parts[3]! };
}

/**
 * Runs the command in `scratch` (a directory for its output files) and returns what it cost.
 * Throws, with the tail of its standard error, when it exits with a code not in okCodes.
 */
export async function measure(c: Command, scratch: string, label: string): Promise<MeasuredRun> {
  await fs.mkdir(scratch, { recursive: true });
  const base = path.join(scratch, label.replace(/[^\w.-]+/g, '_'));
  const timeFile = `${base}.time`;
  const outFile = `${base}.out`;
  const errFile = `${base}.err`;
  const out = await fs.open(outFile, 'w');
  const err = await fs.open(errFile, 'w');
  const started = process.hrtime.bigint();
  let exitCode: number;
  try {
    exitCode = await new Promise<number>((resolve, reject) => {
      const child = spawn(GNU_TIME, ['-f', '%e %U %S %M', '-o', timeFile, c.cmd, ...c.args], {
        cwd: c.cwd ?? scratch,
        env: c.env,
        stdio: ['ignore', out.fd, err.fd],
      });
      child.on('error', reject);
      child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
    });
  } finally {
    await out.close();
    await err.close();
  }
  const wallS = Number(process.hrtime.bigint() - started) / 1e9;
  const stdout = await fs.readFile(outFile, 'utf8');
  if (!c.okCodes.includes(exitCode)) {
    const stderr = await fs.readFile(errFile, 'utf8');
    throw new Error(
      `${label}: ${path.basename(c.cmd)} ${c.args.join(' ')} exited with ${exitCode}\n${tail(stderr)}\n${tail(stdout)}`,
    );
  }
  const t = parseTimeReport(await fs.readFile(timeFile, 'utf8'));
  await Promise.all([timeFile, outFile, errFile].map((f) => fs.rm(f, { force: true })));
  return {
    wallS,
    userS: t.userS,
    sysS: t.sysS,
    cpuS: t.userS + t.sysS,
    maxRssBytes: t.maxRssKiB * 1024,
    exitCode,
    stdout,
  };
}

/** Runs a command without measuring it; resolves to its standard output, throws on failure. */
export async function runQuiet(
  cmd: string,
  args: readonly string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; okCodes?: readonly number[] } = {},
): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', reject);
    child.on('close', (code) => {
      const stdout = Buffer.concat(out).toString('utf8');
      if ((options.okCodes ?? [0]).includes(code ?? -1)) resolve(stdout);
      else
        reject(
          new Error(`${cmd} ${args.join(' ')} exited with ${code}\n${tail(Buffer.concat(err).toString())}`),
        );
    });
  });
}

function tail(text: string, lines = 15): string {
  return text.trim().split('\n').slice(-lines).join('\n');
}

/** Size of a directory tree: `du -s` (blocks allocated on disk) and `du -sb` (apparent bytes). */
export async function duBytes(dir: string): Promise<{ allocated: number; apparent: number }> {
  const [allocated, apparent] = await Promise.all([
    runQuiet('du', ['-sB1', dir]),
    runQuiet('du', ['-sb', dir]),
  ]);
  return { allocated: Number(allocated.split(/\s/)[0]), apparent: Number(apparent.split(/\s/)[0]) };
}
