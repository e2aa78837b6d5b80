/**
 * A PostgreSQL cluster for the PostgreSQL benchmark (bench/pg.ts): initdb into a folder, started
 * with pg_ctl on a free port on 127.0.0.1 and a Unix socket folder, psql and pgbench against it,
 * and a restored data directory started on another port to prove a restore. As root every
 * PostgreSQL program runs as the `postgres` user (initdb and postgres refuse root).
 */
import { existsSync, readdirSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { freePort } from '../../src/catalog/postgres.testing.ts';
import { runQuiet } from './measure.ts';

export { freePort };

/** Whether this process is root, so that PostgreSQL's programs must run as `postgres`. */
export const IS_ROOT = process.getuid?.() === 0;

/** The operating-system user PostgreSQL runs as (and the database superuser's name). */
export const PG_USER = 'postgres';

/** `argv` as the postgres user: through runuser when root, as it is otherwise. */
export function asPostgres(argv: readonly string[]): string[] {
  return IS_ROOT ? ['runuser', '-u', PG_USER, '--', ...argv] : [...argv];
}

/** Runs `argv` as the postgres user; resolves to its standard output, throws on failure. */
export async function runAsPostgres(
  argv: readonly string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<string> {
  const [cmd, ...args] = asPostgres(argv);
  return runQuiet(cmd!, args, { cwd: options.cwd ?? '/', ...(options.env ? { env: options.env } : {}) });
}

/** The bin folder of PostgreSQL 15 if installed, otherwise of the newest installed version. */
export function pgBinDir(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (existsSync(path.join(root, '15', 'bin', 'pg_ctl'))) return path.join(root, '15', 'bin');
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root)
    .filter((v) => existsSync(path.join(root, v, 'bin', 'pg_ctl')))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] ? path.join(root, versions[0], 'bin') : undefined;
}

/** Makes `dir` (and its parents) and gives it to the postgres user when root. */
export async function mkdirForPostgres(dir: string, mode = 0o700): Promise<void> {
  await fs.mkdir(dir, { recursive: true });
  await fs.chmod(dir, mode);
  if (IS_ROOT) await runQuiet('chown', [`${PG_USER}:${PG_USER}`, dir]);
}

export interface Counts {
  /** count(*) of pgbench_accounts. */
  readonly accounts: number;
  /** sum(abalance) of pgbench_accounts: changes with every pgbench transaction. */
  readonly balanceSum: number;
  /** count(*) of pgbench_history: one row per pgbench transaction. */
  readonly history: number;
}

const COUNTS_SQL =
  'SELECT (SELECT count(*) FROM pgbench_accounts), (SELECT coalesce(sum(abalance), 0) FROM pgbench_accounts), ' +
  '(SELECT count(*) FROM pgbench_history)';

/** One PostgreSQL server: a data directory, a port on 127.0.0.1 and a socket folder. */
export class Server {
  readonly bin: string;
  readonly dataDir: string;
  readonly port: number;
  readonly socketDir: string;
  readonly logFile: string;

  constructor(bin: string, dataDir: string, port: number, socketDir: string, logFile: string) {
    this.bin = bin;
    this.dataDir = dataDir;
    this.port = port;
    this.socketDir = socketDir;
    this.logFile = logFile;
  }

  /**
   * Starts the server and waits until it accepts connections (after any recovery: up to an
   * hour). `settings` are extra `-c name=value` (no spaces in values).
   */
  async start(settings: readonly string[] = []): Promise<void> {
    const opts = [
      `-p ${this.port}`,
      `-k ${this.socketDir}`,
      '-c listen_addresses=127.0.0.1',
      ...settings.map((s) => `-c ${s}`),
    ].join(' ');
    await runAsPostgres([
      path.join(this.bin, 'pg_ctl'),
      '-D',
      this.dataDir,
      '-l',
      this.logFile,
      '-w',
      '-t',
      '3600',
      '-o',
      opts,
      'start',
    ]);
  }

  /**
   * Waits until recovery has ended (`pg_is_in_recovery()` false), for at most `seconds`. With
   * hot_standby (the default) pg_ctl -w returns once the server accepts read-only connections at
   * the consistent point, while it may still replay WAL for a long time.
   */
  async recovered(seconds = 3600): Promise<void> {
    const started = Date.now();
    while ((await this.sql('SELECT pg_is_in_recovery()')) !== 'f') {
      if (Date.now() - started > seconds * 1000) {
        throw new Error(`still in recovery after ${seconds} s: see ${this.logFile}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  async stop(mode: 'fast' | 'immediate' = 'fast'): Promise<void> {
    await runAsPostgres([path.join(this.bin, 'pg_ctl'), '-D', this.dataDir, '-m', mode, '-w', 'stop']);
  }

  /** Whether a postmaster runs on the data directory. */
  async running(): Promise<boolean> {
    try {
      await runAsPostgres([path.join(this.bin, 'pg_ctl'), '-D', this.dataDir, 'status']);
      return true;
    } catch {
      return false;
    }
  }

  /** Runs SQL through psql (unaligned, tuples only) and returns its output, trimmed. */
  async sql(query: string, database = 'postgres'): Promise<string> {
    const out = await runAsPostgres([
      path.join(this.bin, 'psql'),
      '-X',
      '-q',
      '-A',
      '-t',
      '-v',
      'ON_ERROR_STOP=1',
      ...this.connection(),
      '-d',
      database,
      '-c',
      query,
    ]);
    return out.trim();
  }

  /** How psql and pgbench reach this cluster: its socket folder, port and user. */
  private connection(): string[] {
    return ['-h', this.socketDir, '-p', String(this.port), '-U', PG_USER];
  }

  /** The pgbench tables' row counts and the balance sum, compared between a source and a restore. */
  async counts(): Promise<Counts> {
    const [accounts, balanceSum, history] = (await this.sql(COUNTS_SQL)).split('|').map(Number);
    return { accounts: accounts!, balanceSum: balanceSum!, history: history! };
  }

  /**
   * Waits until the archiver has no segment or backup history file left to archive (no `.ready`
   * file in pg_wal/archive_status), for at most `seconds`; resolves to the seconds waited.
   */
  async archiverIdle(seconds = 300): Promise<number> {
    const started = Date.now();
    for (;;) {
      const ready = Number(
        await this.sql("SELECT count(*) FROM pg_ls_archive_statusdir() WHERE name LIKE '%.ready'"),
      );
      if (ready === 0) return (Date.now() - started) / 1000;
      if (Date.now() - started > seconds * 1000) {
        throw new Error(
          `${ready} WAL files still waiting to be archived after ${seconds} s: see ${this.logFile}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /** Runs pgbench with `args` (after the connection options); resolves to its output. */
  async pgbench(args: readonly string[]): Promise<string> {
    return runAsPostgres([path.join(this.bin, 'pgbench'), ...this.connection(), ...args, 'postgres']);
  }

  async version(): Promise<string> {
    return (await runAsPostgres([path.join(this.bin, 'postgres'), '--version'])).trim();
  }
}

/**
 * Creates a cluster in `dataDir` (initdb as postgres, trust authentication, superuser
 * `postgres`) with `settings` appended to its postgresql.conf.
 */
export async function initCluster(
  bin: string,
  dataDir: string,
  settings: Record<string, string>,
): Promise<void> {
  await mkdirForPostgres(path.dirname(dataDir), 0o755);
  await runAsPostgres([
    path.join(bin, 'initdb'),
    '-D',
    dataDir,
    '-U',
    PG_USER,
    '--auth=trust',
    '-E',
    'UTF8',
    '--locale=C',
  ]);
  await appendSettings(dataDir, settings);
}

/** Appends `name = 'value'` lines to the data directory's postgresql.conf (the last one wins). */
export async function appendSettings(dataDir: string, settings: Record<string, string>): Promise<void> {
  const lines = Object.entries(settings).map(([k, v]) => `${k} = '${v.replaceAll("'", "''")}'`);
  await fs.appendFile(path.join(dataDir, 'postgresql.conf'), `\n# bench/pg.ts\n${lines.join('\n')}\n`);
}

/** What a `pgbench` run reported: transactions processed and transactions per second. */
export function parsePgbench(output: string): { transactions: number; tps: number } {
  const tx = /number of transactions actually processed:\s*(\d+)/.exec(output);
  const tps = /tps = ([\d.]+)/.exec(output);
  return { transactions: tx ? Number(tx[1]) : NaN, tps: tps ? Number(tps[1]) : NaN };
}
