/**
 * The two tools of the PostgreSQL benchmark (bench/pg.ts) behind one interface: Cairn with its
 * `postgresql:` plugin, and pgBackRest (the Debian package) at its defaults, once more with
 * `--process-max=2` on its own repository (both repositories of one stanza receive the WAL).
 */
import { existsSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { runQuiet, type Command } from './measure.ts';
import { asPostgres, IS_ROOT, mkdirForPostgres, PG_USER, runAsPostgres } from './pg.ts';
import { CAIRN_BIN, cairn as cairnFiles, type BackupReport } from './tools.ts';

export const PG_TOOL_NAMES = ['cairn', 'pgbackrest', 'pgbackrest-p2'] as const;
export type PgToolName = (typeof PG_TOOL_NAMES)[number];

export const PG_TOOL_LABELS: Record<PgToolName, string> = {
  cairn: 'Cairn',
  pgbackrest: 'pgBackRest',
  'pgbackrest-p2': 'pgBackRest p2',
};

/** The pgBackRest stanza of the benchmark. */
export const STANZA = 'bench';

export type Level = 'full' | 'incremental';

/** Where things are: the source cluster, Cairn's WAL folder, pgBackRest's configuration. */
export interface PgLayout {
  /** The source cluster's data directory (an absolute path). */
  readonly dataDir: string;
  readonly port: number;
  readonly socketDir: string;
  /** The plain WAL archive that archive_command fills for Cairn. */
  readonly walArchive: string;
  /** pgBackRest's configuration file and its folder (repositories, logs, locks, spool). */
  readonly pgbrConfig: string;
  readonly pgbrDir: string;
  /** Cairn's repository. */
  readonly cairnRepo: string;
  /** Whether Cairn's plugin has the `archiveMode` option (then the restore turns archiving off). */
  readonly cairnArchiveModeOption: boolean;
  /** Whether Cairn's plugin has the `startFast` option (then full backups ask for it, as pgBackRest's start-fast=y). */
  readonly cairnStartFastOption: boolean;
}

export interface PgTool {
  readonly name: PgToolName;
  readonly label: string;
  /** The folder whose size is the tool's repository size. */
  readonly repo: string;
  backup(level: Level): Command;
  /** Makes `target` ready for the restore (an empty folder the tool may write). */
  prepareTarget(target: string): Promise<void>;
  restore(target: string): Command;
  /** The restored data directory, after restore(target). */
  restoredDataDir(target: string): string;
  /** What the tool reports about its latest backup. */
  report(stdout: string): Promise<PgBackupReport>;
}

export interface PgBackupReport extends BackupReport {
  /** Bytes the backup read (Cairn: processed; pgBackRest: the backup's own size). */
  readonly bytesRead?: number;
  /** Bytes added to the repository (Cairn: after compression; pgBackRest: repository delta). */
  readonly bytesStored?: number;
  /** The snapshot id (Cairn) or backup label (pgBackRest). */
  readonly snapshot?: string;
}

/** The `postgresql:` directive of the source cluster. */
export function cairnDirective(l: PgLayout): string {
  return (
    `postgresql:postgresDataDir=${l.dataDir}:walArchive=${l.walArchive}` +
    `:dbHost=${l.socketDir}:dbPort=${l.port}:dbuser=${PG_USER}` +
    (l.cairnStartFastOption ? ':startFast=yes' : '')
  );
}

/**
 * The archive_command that feeds both tools: copy the segment into Cairn's plain WAL folder
 * (through a temporary name, and skipped when a complete copy is already there, so a retry after
 * the second half failed does not fail forever), then pgBackRest's archive-push to every
 * repository of the stanza.
 */
export function archiveCommand(l: PgLayout): string {
  const a = l.walArchive;
  return (
    `(test -f ${a}/%f || (cp %p ${a}/%f.part && mv ${a}/%f.part ${a}/%f))` +
    ` && pgbackrest --config=${l.pgbrConfig} --stanza=${STANZA} archive-push %p`
  );
}

/** pgBackRest's configuration: paths and connection only; `start-fast` as Cairn's plugin does. */
export function pgbackrestConfig(l: PgLayout, repos: number): string {
  const lines = [
    '[global]',
    ...Array.from({ length: repos }, (_, i) => `repo${i + 1}-path=${path.join(l.pgbrDir, `repo${i + 1}`)}`),
    `log-path=${path.join(l.pgbrDir, 'log')}`,
    `lock-path=${path.join(l.pgbrDir, 'lock')}`,
    `spool-path=${path.join(l.pgbrDir, 'spool')}`,
    'log-level-console=warn',
    // an immediate checkpoint at backup start instead of waiting for the next one (up to
    // checkpoint_timeout, 5 min): what pg_backup_start(fast => true) does
    'start-fast=y',
    '',
    `[${STANZA}]`,
    `pg1-path=${l.dataDir}`,
    `pg1-port=${l.port}`,
    `pg1-socket-path=${l.socketDir}`,
    `pg1-user=${PG_USER}`,
    '',
  ];
  return lines.join('\n');
}

/** Recorded next to the results. */
export const PG_TOOL_SETTINGS: Record<PgToolName, string> = {
  cairn:
    'Cairn defaults (zstd level 3, AES-256-GCM, FastCDC 512 KiB / 1 MiB / 8 MiB, 16 MiB packs); ' +
    '`backup --source postgresql:...:startFast=yes --level full|incremental`, `restore latest --plugin-options postgresql:archiveMode=off`; ' +
    'its worker threads use every core',
  pgbackrest:
    'pgBackRest defaults (compress-type gz, compress-level 6, process-max 1, no encryption, no bundling), ' +
    'start-fast=y; `backup --type=full|incr`, `restore`; repository 1',
  'pgbackrest-p2':
    'as pgBackRest, with --process-max=2 on backup and restore (both cores); repository 2 of the same stanza',
};

function pgbr(l: PgLayout, args: readonly string[]): Command {
  const [cmd, ...rest] = asPostgres([
    'pgbackrest',
    `--config=${l.pgbrConfig}`,
    `--stanza=${STANZA}`,
    ...args,
  ]);
  return { cmd: cmd!, args: rest, cwd: '/', env: process.env, okCodes: [0] };
}

/** Runs a pgBackRest command (as postgres) without measuring it. */
export async function pgbackrest(l: PgLayout, args: readonly string[]): Promise<string> {
  const c = pgbr(l, args);
  return runQuiet(c.cmd, c.args, { cwd: '/' });
}

interface PgbrInfoBackup {
  label?: string;
  type?: string;
  database?: { 'repo-key'?: number };
  info?: { size?: number; delta?: number; repository?: { size?: number; delta?: number } };
}

/** The latest backup of repository `repoKey` as `pgbackrest info --output=json` reports it. */
async function latestPgbrBackup(l: PgLayout, repoKey: number): Promise<PgbrInfoBackup | undefined> {
  const out = await pgbackrest(l, ['info', '--output=json']);
  const stanzas = JSON.parse(out) as { backup?: PgbrInfoBackup[] }[];
  const backups = (stanzas[0]?.backup ?? []).filter((b) => (b.database?.['repo-key'] ?? 1) === repoKey);
  return backups[backups.length - 1];
}

function pgbackrestTool(l: PgLayout, name: 'pgbackrest' | 'pgbackrest-p2'): PgTool {
  const repoKey = name === 'pgbackrest' ? 1 : 2;
  const extra = name === 'pgbackrest' ? [] : [`--repo=${repoKey}`, '--process-max=2'];
  return {
    name,
    label: PG_TOOL_LABELS[name],
    repo: path.join(l.pgbrDir, `repo${repoKey}`),
    backup: (level) => pgbr(l, [...extra, `--type=${level === 'full' ? 'full' : 'incr'}`, 'backup']),
    prepareTarget: async (target) => {
      await fs.rm(target, { recursive: true, force: true });
      await mkdirForPostgres(target, 0o755);
      await mkdirForPostgres(path.join(target, 'data'));
    },
    restore: (target) => pgbr(l, [...extra, `--pg1-path=${path.join(target, 'data')}`, 'restore']),
    restoredDataDir: (target) => path.join(target, 'data'),
    report: async () => {
      const b = await latestPgbrBackup(l, repoKey);
      const r: { bytesRead?: number; bytesStored?: number; snapshot?: string } = {};
      if (b?.info?.delta !== undefined) r.bytesRead = b.info.delta;
      if (b?.info?.repository?.delta !== undefined) r.bytesStored = b.info.repository.delta;
      if (b?.label !== undefined) r.snapshot = b.label;
      return r;
    },
  };
}

function cairnTool(l: PgLayout): PgTool {
  const env = cairnFiles.env(l.cairnRepo, '');
  return {
    name: 'cairn',
    label: PG_TOOL_LABELS.cairn,
    repo: l.cairnRepo,
    backup: (level) => ({
      cmd: CAIRN_BIN,
      args: [
        'backup',
        '-r',
        l.cairnRepo,
        '--json',
        '--host',
        'bench',
        '--source',
        cairnDirective(l),
        '--level',
        level,
      ],
      cwd: '/',
      env,
      okCodes: [0],
    }),
    prepareTarget: async (target) => {
      await fs.rm(target, { recursive: true, force: true });
      await fs.mkdir(target, { recursive: true, mode: 0o755 });
      await fs.chmod(target, 0o755);
    },
    restore: (target) => ({
      cmd: CAIRN_BIN,
      args: [
        'restore',
        'latest',
        '-r',
        l.cairnRepo,
        '--quiet',
        '--target',
        target,
        ...(l.cairnArchiveModeOption ? ['--plugin-options', 'postgresql:archiveMode=off'] : []),
      ],
      cwd: '/',
      env,
      okCodes: [0],
    }),
    restoredDataDir: (target) => path.join(target, l.dataDir),
    report: (stdout) => {
      const summary = lastSummary(stdout);
      const base = cairnFiles.parseBackup(stdout);
      const r: { bytesRead?: number; bytesStored?: number; snapshot?: string } = {};
      if (typeof summary.total_bytes_processed === 'number') r.bytesRead = summary.total_bytes_processed;
      if (typeof summary.data_added_packed === 'number') r.bytesStored = summary.data_added_packed;
      if (typeof summary.snapshot_id === 'string') r.snapshot = summary.snapshot_id;
      return Promise.resolve({ ...base, ...r });
    },
  };
}

function lastSummary(stdout: string): Record<string, unknown> {
  for (const line of stdout.trim().split('\n').reverse()) {
    if (!line.startsWith('{')) continue;
    try {
      const o = JSON.parse(line) as Record<string, unknown>;
      if (o.message_type === 'summary') return o;
    } catch {
      // not JSON: keep looking
    }
  }
  return {};
}

export function pgTools(l: PgLayout, names: readonly PgToolName[]): PgTool[] {
  return names.map((n) => (n === 'cairn' ? cairnTool(l) : pgbackrestTool(l, n)));
}

/** Whether the built Cairn has the `postgresql` plugin, and the names of its options. */
export async function cairnPlugin(): Promise<{ present: boolean; options: Set<string> }> {
  const none = { present: false, options: new Set<string>() };
  if (!existsSync(CAIRN_BIN)) return none;
  let out: string;
  try {
    out = await runQuiet(CAIRN_BIN, ['plugins']);
  } catch {
    return none;
  }
  const lines = out.split('\n');
  const start = lines.findIndex((l) => l.startsWith('postgresql ('));
  if (start < 0) return none;
  const options = new Set<string>();
  for (const line of lines.slice(start + 1)) {
    if (/^\S/.test(line)) break;
    const m = /^ {4}(\w+)=/.exec(line);
    if (m) options.add(m[1]!);
  }
  return { present: true, options };
}

/** pgBackRest's version line, e.g. "pgBackRest 2.45". */
export async function pgbackrestVersion(): Promise<string> {
  return (await runQuiet('pgbackrest', ['version'])).trim();
}

/** Installs pgBackRest (Debian package) when it is missing; as root only. */
export async function ensurePgbackrest(log: (line: string) => void): Promise<void> {
  const onPath = (process.env.PATH ?? '/usr/bin')
    .split(':')
    .some((d) => d !== '' && existsSync(path.join(d, 'pgbackrest')));
  if (onPath) return;
  if (!IS_ROOT) {
    throw new Error(
      'the PostgreSQL benchmark needs pgBackRest: "sudo apt-get install -y pgbackrest" (or run it as root)',
    );
  }
  log('installing pgbackrest with apt-get');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  try {
    await runQuiet('apt-get', ['install', '-y', '--no-install-recommends', 'pgbackrest'], { env });
  } catch {
    await runQuiet('apt-get', ['update'], { env });
    await runQuiet('apt-get', ['install', '-y', '--no-install-recommends', 'pgbackrest'], { env });
  }
}

export { runAsPostgres };
