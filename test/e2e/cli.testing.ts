/**
 * Helpers for the end-to-end tests: run the built `bin/cairn` as a child process with an explicit
 * environment, make and remove temp directories, and compare directory trees without following
 * symlinks.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import type { TestContext } from 'node:test';

export const ROOT = path.resolve(import.meta.dirname, '..', '..');
export const CAIRN = path.join(ROOT, 'bin', 'cairn');

export interface Run {
  readonly code: number;
  readonly stdout: string;
  /** The raw bytes of standard output (for binary output). */
  readonly stdoutBytes?: Buffer;
  readonly stderr: string;
}

export interface RunOptions {
  /** Variables added to the cleaned environment; `undefined` leaves one out. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly cwd?: string;
  /** Written to the child's standard input (a pipe, so never a terminal), then closed. */
  readonly input?: string | Buffer;
  /** Leaves standard input open, and nothing written to it, until the process ends (no `input`). */
  readonly stdinOpen?: boolean;
  readonly timeoutMs?: number;
}

/** The inherited environment without any CAIRN_* variable (nor the test runner's own), plus `extra`. */
export function cleanEnv(extra: Readonly<Record<string, string | undefined>> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k.startsWith('CAIRN_') || k === 'NODE_TEST_CONTEXT' || k === 'NODE_OPTIONS') continue;
    env[k] = v;
  }
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

let built = false;

function assertBuilt(): void {
  if (built) return;
  if (!existsSync(path.join(ROOT, 'dist', 'cli', 'main.js'))) {
    throw new Error(`dist/cli/main.js is missing: build the CLI first (cd ${ROOT} && npm run build)`);
  }
  built = true;
}

export interface Started {
  readonly child: ChildProcessWithoutNullStreams;
  /** Resolves when the process has exited and its output is complete. */
  readonly done: Promise<Run>;
  /** Resolves with the first line of stdout that matches `pattern`. */
  lineMatching(pattern: RegExp): Promise<string>;
}

/** Starts `cmd args` (no shell) and lets the test talk to it while it runs. */
export function start(cmd: string, args: readonly string[], options: RunOptions = {}): Started {
  const child = spawn(cmd, args, {
    cwd: options.cwd ?? os.tmpdir(),
    env: cleanEnv(options.env),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on('data', (b: Buffer) => out.push(b));
  child.stderr.on('data', (b: Buffer) => err.push(b));
  const done = new Promise<Run>((resolve, reject) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 120_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({
        code: code ?? 128 + (signal ? (os.constants.signals[signal] ?? 0) : 0),
        stdout: Buffer.concat(out).toString('utf8'),
        stdoutBytes: Buffer.concat(out),
        stderr: Buffer.concat(err).toString('utf8'),
      });
    });
  });
  child.stdin.on('error', () => undefined);
  if (!options.stdinOpen) child.stdin.end(options.input ?? '');
  return {
    child,
    done,
    lineMatching(pattern) {
      return new Promise((resolve, reject) => {
        let seen = '';
        const onData = (b: Buffer) => {
          seen += b.toString('utf8');
          const line = seen.split('\n').find((l) => pattern.test(l));
          if (line !== undefined) {
            child.stdout.off('data', onData);
            resolve(line);
          }
        };
        child.stdout.on('data', onData);
        done.then(
          (r) =>
            reject(new Error(`the process ended before printing a line matching ${pattern}: ${show(r)}`)),
          reject,
        );
      });
    },
  };
}

/** Runs `cmd args` (no shell) and resolves with its exit code and output; never rejects on exit codes. */
export function run(cmd: string, args: readonly string[], options: RunOptions = {}): Promise<Run> {
  return start(cmd, args, options).done;
}

/** Starts the built `bin/cairn`. */
export function startCairn(args: readonly string[], options: RunOptions = {}): Started {
  assertBuilt();
  return start(CAIRN, args, options);
}

/** Runs the built `bin/cairn`. */
export function cairn(args: readonly string[], options: RunOptions = {}): Promise<Run> {
  assertBuilt();
  return run(CAIRN, args, options);
}

/** Formats a run for assertion messages. */
export function show(r: Run): string {
  return `exit ${r.code}\n--- stdout\n${r.stdout}--- stderr\n${r.stderr}`;
}

/** The JSON values of the lines of `stdout` (a --json run prints one per line). */
export function jsonLines(stdout: string): Record<string, unknown>[] {
  return stdout
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** The one line of `stdout` with the given message_type. */
export function message(stdout: string, type: string): Record<string, unknown> {
  const found = jsonLines(stdout).filter((m) => m.message_type === type);
  if (found.length !== 1)
    throw new Error(`expected one "${type}" line, found ${found.length} in:\n${stdout}`);
  return found[0]!;
}

/** A new temp directory; remove it with removeTemp. */
export function makeTemp(prefix = 'cairn-e2e-'): Promise<string> {
  return fs.mkdtemp(path.join(os.tmpdir(), prefix));
}

export async function removeTemp(dir: string | undefined): Promise<void> {
  if (dir !== undefined) await fs.rm(dir, { recursive: true, force: true });
}

/** A new temp directory, removed when the test `t` ends. */
export async function tempDir(t: TestContext, prefix?: string): Promise<string> {
  const dir = await makeTemp(prefix);
  t.after(() => removeTemp(dir));
  return dir;
}

export interface Entry {
  readonly type: 'file' | 'dir' | 'symlink' | 'other';
  /** Permission bits with setuid, setgid and sticky (st_mode & 07777). */
  readonly mode: number;
  readonly size: number;
  readonly mtimeNs: bigint;
  readonly uid: number;
  readonly gid: number;
  readonly linkTarget?: string;
  readonly sha256?: string;
}

async function hashFile(p: string): Promise<string> {
  return createHash('sha256')
    .update(await fs.readFile(p))
    .digest('hex');
}

/**
 * Every entry under `root` (the root itself as ""), by path relative to it. Symlinks are recorded
 * with their target and never followed; regular files with the SHA-256 of their content.
 */
export async function walkTree(root: string): Promise<Map<string, Entry>> {
  const entries = new Map<string, Entry>();
  const files: { rel: string; full: string }[] = [];
  const visit = async (rel: string): Promise<void> => {
    const full = rel === '' ? root : path.join(root, rel);
    const st = await fs.lstat(full, { bigint: true });
    const type = st.isFile() ? 'file' : st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : 'other';
    entries.set(rel, {
      type,
      mode: Number(st.mode & 0o7777n),
      size: type === 'dir' ? 0 : Number(st.size),
      mtimeNs: st.mtimeNs,
      uid: Number(st.uid),
      gid: Number(st.gid),
      ...(type === 'symlink' ? { linkTarget: await fs.readlink(full) } : {}),
    });
    if (type === 'file') files.push({ rel, full });
    if (type === 'dir') {
      for (const name of (await fs.readdir(full)).sort()) await visit(rel === '' ? name : `${rel}/${name}`);
    }
  };
  await visit('');
  // Hash with a few reads in flight: the system trees have thousands of small files.
  let next = 0;
  const worker = async () => {
    while (next < files.length) {
      const f = files[next++]!;
      entries.set(f.rel, { ...entries.get(f.rel)!, sha256: await hashFile(f.full) });
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  return entries;
}

/**
 * The differences between two trees, one line each: missing or extra entries, and type, mode,
 * size, owner, symlink target, content and mtime (to the millisecond) of entries in both.
 */
export function compareTrees(want: Map<string, Entry>, got: Map<string, Entry>): string[] {
  const diffs: string[] = [];
  for (const [rel, a] of want) {
    const name = rel === '' ? '.' : rel;
    const b = got.get(rel);
    if (b === undefined) {
      diffs.push(`${name}: missing from the restore`);
      continue;
    }
    const fields: (keyof Entry)[] = ['type', 'mode', 'size', 'uid', 'gid', 'linkTarget', 'sha256'];
    for (const f of fields) {
      const fmt = (v: Entry[typeof f]) => (f === 'mode' ? `0${(v as number).toString(8)}` : String(v));
      if (a[f] !== b[f]) diffs.push(`${name}: ${f} ${fmt(a[f])} became ${fmt(b[f])}`);
    }
    // Symlink times are set too (lutimes), so they are compared like the rest.
    const delta = a.mtimeNs > b.mtimeNs ? a.mtimeNs - b.mtimeNs : b.mtimeNs - a.mtimeNs;
    if (delta >= 1_000_000n) diffs.push(`${name}: mtime ${a.mtimeNs} ns became ${b.mtimeNs} ns`);
  }
  for (const rel of got.keys()) if (!want.has(rel)) diffs.push(`${rel}: extra in the restore`);
  return diffs;
}

/** Regular files a source tree made by makeSourceTree holds (all of them, any depth). */
export async function countFiles(root: string): Promise<{ files: number; bytes: number }> {
  let files = 0;
  let bytes = 0;
  for (const e of (await walkTree(root)).values()) {
    if (e.type === 'file') {
      files++;
      bytes += e.size;
    }
  }
  return { files, bytes };
}

/**
 * A small tree with what a backup must keep: nested folders, an empty file, a file of several
 * chunks, a sparse file, odd names, relative, absolute and dangling symlinks, special modes
 * (setuid, sticky, read-only folder), a foreign owner (when root) and mtimes with nanoseconds.
 */
export async function makeSourceTree(root: string): Promise<void> {
  const file = async (rel: string, data: string | Buffer, mode = 0o644) => {
    const p = path.join(root, rel);
    await fs.mkdir(path.dirname(p), { recursive: true });
    await fs.writeFile(p, data);
    await fs.chmod(p, mode);
  };
  await fs.mkdir(root, { recursive: true });
  await file('hello.txt', 'hello, cairn\n');
  await file('empty', '', 0o600);
  await file('run.sh', '#!/bin/sh\necho run\n', 0o755);
  await file('setuid-tool', 'not really a tool\n', 0o4755);
  await file('name with spaces & ünïcödé.txt', 'odd names are fine\n');
  await file('deep/a/b/c/d/leaf.txt', 'deep\n', 0o640);
  // Over the chunker's 512 KiB minimum several times: more than one chunk.
  await file('big.bin', randomBytes(3 * 1024 * 1024 + 123));
  // Mostly zeros with data in the middle: restored with holes, same bytes.
  const sparse = Buffer.alloc(2 * 1024 * 1024);
  randomBytes(5000).copy(sparse, 1024 * 1024 + 17);
  await file('sparse.bin', sparse);
  await file('read-only/inside.txt', 'in a read-only folder\n');
  await fs.chmod(path.join(root, 'read-only'), 0o555);
  await fs.mkdir(path.join(root, 'sticky'));
  await fs.chmod(path.join(root, 'sticky'), 0o1777);
  await fs.mkdir(path.join(root, 'links'));
  await fs.symlink('../hello.txt', path.join(root, 'links', 'relative'));
  await fs.symlink('/etc/hostname', path.join(root, 'links', 'absolute'));
  await fs.symlink('nowhere/at/all', path.join(root, 'links', 'dangling'));
  await fs.symlink('../deep', path.join(root, 'links', 'to-folder'));
  if (process.getuid?.() === 0) await fs.lchown(path.join(root, 'hello.txt'), 4321, 8765);
  // Times with nanoseconds and from long ago; folders last, as writing inside changes them.
  await fs.utimes(path.join(root, 'hello.txt'), 1_600_000_000.123456, 1_500_000_000.987654);
  await fs.utimes(path.join(root, 'empty'), 0, 315_532_800.5);
  await fs.lutimes(path.join(root, 'links', 'relative'), 1_400_000_000, 1_400_000_000.25);
  await fs.utimes(path.join(root, 'deep', 'a'), 1_300_000_000, 1_300_000_000.75);
}

/** `s` with the characters that mean something in a RegExp escaped, to match it literally. */
export function esc(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
