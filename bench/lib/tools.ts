/**
 * The three tools under test, behind one interface: how to create a repository, back up, restore,
 * verify every byte, and where each keeps its state. Settings are chosen for a fair comparison and
 * recorded in the results (TOOL_SETTINGS).
 */
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { runQuiet, type Command } from './measure.ts';

export const TOOL_NAMES = ['cairn', 'restic', 'borg'] as const;
export type ToolName = (typeof TOOL_NAMES)[number];

export const ROOT = path.resolve(import.meta.dirname, '..', '..');
export const CAIRN_BIN = path.join(ROOT, 'bin', 'cairn');

/** One password for every benchmark repository (they live in a temporary directory). */
const PASSWORD = 'cairn-benchmark';

/** What each tool is run with, written next to the results. */
export const TOOL_SETTINGS: Record<ToolName, string> = {
  cairn:
    'defaults: zstd level 3, AES-256-GCM, FastCDC 512 KiB / 1 MiB / 8 MiB, 16 MiB packs (`cairn init`, `backup`, `restore latest`, `check --read-data`)',
  restic:
    'defaults: repository format 2 with compression "auto" (zstd, about level 3), AES-256-CTR + Poly1305, chunks 512 KiB–8 MiB; its local cache in the run directory (`restic init`, `backup`, `restore latest`, `check --read-data`)',
  borg: '`borg init --encryption repokey` (AES-256-CTR + HMAC-SHA-256), `borg create --compression zstd,3`, default chunker (buzhash 19,23,21,4095); cache, config and keys in the run directory (`extract`, `check --verify-data`)',
};

export interface Tool {
  readonly name: ToolName;
  /** Environment for every command on the repository at `repo`; `state` holds caches and keys. */
  env(repo: string, state: string): NodeJS.ProcessEnv;
  init(repo: string, env: NodeJS.ProcessEnv, options?: { chunker?: ChunkerSizes }): Command;
  backup(repo: string, env: NodeJS.ProcessEnv, paths: readonly string[], name: string): Command;
  /** Restores the latest snapshot so that each backed-up absolute path P lands at target + P. */
  restore(repo: string, env: NodeJS.ProcessEnv, target: string, name: string): Command;
  /** Verifies every stored byte. */
  checkData(repo: string, env: NodeJS.ProcessEnv): Command;
  /** Verifies the structure only (loads the index: its peak memory shows the index's cost). */
  checkStructure(repo: string, env: NodeJS.ProcessEnv): Command;
  /** Files new, changed and unmodified as the tool reports them (undefined where it does not). */
  parseBackup(stdout: string): BackupReport;
  version(): Promise<string>;
}

export interface ChunkerSizes {
  readonly min: number;
  readonly avg: number;
  readonly max: number;
}

export interface BackupReport {
  readonly filesNew?: number;
  readonly filesChanged?: number;
  readonly filesUnmodified?: number;
  /** Cairn only: the busy share of each pipeline stage and the busiest one. */
  readonly load?: Record<string, number>;
  readonly bottleneck?: string;
}

function baseEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^(CAIRN_|RESTIC_|BORG_)/.test(k) || k === 'NODE_OPTIONS' || k === 'NODE_TEST_CONTEXT') continue;
    env[k] = v;
  }
  return { ...env, ...extra };
}

function lastJson(stdout: string, accept: (o: Record<string, unknown>) => boolean): Record<string, unknown> {
  const lines = stdout.trim().split('\n');
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i]!.trim();
    if (!line.startsWith('{')) continue;
    try {
      const o = JSON.parse(line) as Record<string, unknown>;
      if (accept(o)) return o;
    } catch {
      // a partial or non-JSON line: keep looking
    }
  }
  return {};
}

function num(v: unknown): number | undefined {
  return typeof v === 'number' ? v : undefined;
}

function summaryReport(o: Record<string, unknown>): BackupReport {
  const r: {
    filesNew?: number;
    filesChanged?: number;
    filesUnmodified?: number;
    load?: Record<string, number>;
    bottleneck?: string;
  } = {};
  const n = num(o.files_new);
  const c = num(o.files_changed);
  const u = num(o.files_unmodified);
  if (n !== undefined) r.filesNew = n;
  if (c !== undefined) r.filesChanged = c;
  if (u !== undefined) r.filesUnmodified = u;
  if (typeof o.load === 'object' && o.load !== null) r.load = o.load as Record<string, number>;
  if (typeof o.bottleneck === 'string') r.bottleneck = o.bottleneck;
  return r;
}

export const cairn: Tool = {
  name: 'cairn',
  env: (repo) => baseEnv({ CAIRN_REPOSITORY: repo, CAIRN_PASSWORD: PASSWORD }),
  init: (_repo, env, options) => ({
    cmd: CAIRN_BIN,
    args: [
      'init',
      '--json',
      ...(options?.chunker
        ? [
            '--chunker-min',
            String(options.chunker.min),
            '--chunker-avg',
            String(options.chunker.avg),
            '--chunker-max',
            String(options.chunker.max),
          ]
        : []),
    ],
    env,
    okCodes: [0],
  }),
  backup: (_repo, env, paths) => ({
    cmd: CAIRN_BIN,
    args: ['backup', '--json', '--host', 'bench', ...paths],
    env,
    okCodes: [0, 3],
  }),
  restore: (_repo, env, target) => ({
    cmd: CAIRN_BIN,
    args: ['restore', 'latest', '--quiet', '--target', target],
    env,
    okCodes: [0, 3],
  }),
  checkData: (_repo, env) => ({
    cmd: CAIRN_BIN,
    args: ['check', '--read-data', '--quiet'],
    env,
    okCodes: [0],
  }),
  checkStructure: (_repo, env) => ({ cmd: CAIRN_BIN, args: ['check', '--quiet'], env, okCodes: [0] }),
  parseBackup: (stdout) => summaryReport(lastJson(stdout, (o) => o.message_type === 'summary')),
  version: async () => (await runQuiet(CAIRN_BIN, ['--version'])).trim(),
};

export const restic: Tool = {
  name: 'restic',
  env: (repo, state) =>
    baseEnv({
      RESTIC_REPOSITORY: repo,
      RESTIC_PASSWORD: PASSWORD,
      RESTIC_CACHE_DIR: path.join(state, 'restic-cache'),
    }),
  init: (_repo, env) => ({ cmd: 'restic', args: ['init', '--quiet'], env, okCodes: [0] }),
  backup: (_repo, env, paths) => ({
    cmd: 'restic',
    args: ['backup', '--json', '--host', 'bench', ...paths],
    env,
    okCodes: [0, 3],
  }),
  restore: (_repo, env, target) => ({
    cmd: 'restic',
    args: ['restore', 'latest', '--quiet', '--target', target],
    env,
    okCodes: [0],
  }),
  checkData: (_repo, env) => ({
    cmd: 'restic',
    args: ['check', '--read-data', '--quiet'],
    env,
    okCodes: [0],
  }),
  checkStructure: (_repo, env) => ({ cmd: 'restic', args: ['check', '--quiet'], env, okCodes: [0] }),
  parseBackup: (stdout) => summaryReport(lastJson(stdout, (o) => o.message_type === 'summary')),
  version: async () => (await runQuiet('restic', ['version'])).trim(),
};

export const borg: Tool = {
  name: 'borg',
  env: (repo, state) =>
    baseEnv({
      BORG_REPO: repo,
      BORG_PASSPHRASE: PASSWORD,
      // cache, config, security and keys directories all go below this one
      BORG_BASE_DIR: path.join(state, 'borg'),
      BORG_RELOCATED_REPO_ACCESS_IS_OK: 'yes',
    }),
  init: (_repo, env) => ({
    cmd: 'borg',
    args: ['init', '--encryption', 'repokey'],
    env,
    okCodes: [0],
  }),
  backup: (_repo, env, paths, name) => ({
    cmd: 'borg',
    args: ['create', '--json', '--compression', 'zstd,3', `::${name}`, ...paths],
    env,
    okCodes: [0, 1],
  }),
  // borg extract writes the paths (stored without their leading slash) under its working directory.
  restore: (_repo, env, target, name) => ({
    cmd: 'borg',
    args: ['extract', `::${name}`],
    cwd: target,
    env,
    okCodes: [0, 1],
  }),
  checkData: (_repo, env) => ({ cmd: 'borg', args: ['check', '--verify-data'], env, okCodes: [0] }),
  checkStructure: (_repo, env) => ({ cmd: 'borg', args: ['check'], env, okCodes: [0] }),
  // borg create --json reports totals of the archive, not which files were new or changed.
  parseBackup: () => ({}),
  version: async () => (await runQuiet('borg', ['--version'])).trim(),
};

export const TOOLS: Record<ToolName, Tool> = { cairn, restic, borg };

/** Debian packages that provide each external program. */
const PACKAGES: Record<string, string> = {
  restic: 'restic',
  borg: 'borgbackup',
  '/usr/bin/time': 'time',
};

function onPath(program: string): boolean {
  if (program.startsWith('/')) return existsSync(program);
  return (process.env.PATH ?? '').split(':').some((dir) => dir !== '' && existsSync(path.join(dir, program)));
}

/**
 * Installs the Debian packages of the programs that are missing (GNU time, restic, borgbackup),
 * with apt-get when running as root; otherwise throws with the command to run.
 */
export async function ensurePrograms(tools: readonly ToolName[], log: (line: string) => void): Promise<void> {
  const programs = ['/usr/bin/time', ...tools.filter((t) => t !== 'cairn')];
  const missing = programs.filter((p) => !onPath(p)).map((p) => PACKAGES[p]!);
  if (missing.length > 0) {
    if (process.getuid?.() !== 0) {
      throw new Error(
        `the benchmark needs ${missing.join(', ')}: install with "sudo apt-get install -y ${missing.join(' ')}" ` +
          '(or run it as root, and it installs them itself)',
      );
    }
    log(`installing ${missing.join(', ')} with apt-get`);
    await runQuiet('apt-get', ['update']);
    await runQuiet('apt-get', ['install', '-y', '--no-install-recommends', ...missing], {
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
  }
  if (tools.includes('cairn') && !existsSync(path.join(ROOT, 'dist', 'cli', 'main.js'))) {
    throw new Error('dist/cli/main.js is missing: build Cairn first with "npm run build"');
  }
}
