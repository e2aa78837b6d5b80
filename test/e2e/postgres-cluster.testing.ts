/**
 * A real PostgreSQL cluster that archives its WAL, for the postgresql plugin's tests: initdb into
 * a temporary folder, archive_command copying each segment into an archive folder beside it,
 * started with pg_ctl on a free port and a socket folder of its own. As root it runs as the
 * `postgres` user (initdb refuses root). Undefined when PostgreSQL is not installed.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs/promises';
import path from 'node:path';
import { binDir, freePort } from '../../src/catalog/postgres.testing.ts';

/** The newest installed PostgreSQL's bin folder, or undefined. */
export const postgresBin = binDir;

const asRoot = process.getuid?.() === 0;

/** Runs a PostgreSQL program (as postgres when we are root); its standard output. */
export function pgRun(argv: readonly string[]): string {
  const [cmd, ...args] = asRoot ? ['runuser', '-u', 'postgres', '--', ...argv] : argv;
  return execFileSync(cmd as string, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Gives a folder to the postgres user (when we are root). */
export async function givePostgres(dir: string): Promise<void> {
  if (asRoot) execFileSync('chown', ['-R', 'postgres:postgres', dir]);
}

export interface Cluster {
  readonly bin: string;
  readonly data: string;
  readonly archive: string;
  readonly socket: string;
  readonly port: number;
  /** One SQL statement's result, unaligned, tuples only. */
  sql(statement: string): string;
  stop(): void;
}

/** Starts a cluster on `data` (already made); `-c` settings given as name → value. */
export async function startCluster(
  bin: string,
  data: string,
  socket: string,
  settings: Readonly<Record<string, string>> = {},
): Promise<{ port: number; sql: (s: string) => string; stop: () => void }> {
  const port = await freePort();
  const options = [`-p ${port}`, `-k ${socket}`, '-c listen_addresses=127.0.0.1'];
  for (const [k, v] of Object.entries(settings)) options.push(`-c ${k}=${v}`);
  pgRun([
    path.join(bin, 'pg_ctl'),
    '-D',
    data,
    '-l',
    path.join(path.dirname(socket), `log-${port}`),
    '-w',
    '-t',
    '120',
    '-o',
    options.join(' '),
    'start',
  ]);
  let stopped = false;
  return {
    port,
    sql: (statement) =>
      pgRun([
        path.join(bin, 'psql'),
        '-X',
        '-h',
        socket,
        '-p',
        String(port),
        '-U',
        'postgres',
        '-d',
        'postgres',
        '-v',
        'ON_ERROR_STOP=1',
        '-Atc',
        statement,
      ]).trim(),
    stop() {
      if (stopped) return;
      stopped = true;
      pgRun([path.join(bin, 'pg_ctl'), '-D', data, '-m', 'fast', '-w', 'stop']);
    },
  };
}

/** A new archiving cluster in `dir` (which it gives to postgres). */
export async function archivingCluster(dir: string): Promise<Cluster | undefined> {
  const bin = postgresBin();
  if (bin === undefined) return undefined;
  const data = path.join(dir, 'data');
  const archive = path.join(dir, 'wal_archive');
  const socket = path.join(dir, 'sock');
  await fs.mkdir(archive, { recursive: true });
  await fs.mkdir(socket, { recursive: true });
  await fs.chmod(dir, 0o755);
  await givePostgres(dir);
  pgRun([path.join(bin, 'initdb'), '-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync']);
  await fs.appendFile(
    path.join(data, 'postgresql.conf'),
    [
      '',
      'wal_level = replica',
      'archive_mode = on',
      `archive_command = 'test ! -f ${archive}/%f && cp %p ${archive}/%f'`,
      'max_wal_senders = 0',
      '',
    ].join('\n'),
  );
  const server = await startCluster(bin, data, socket);
  return { bin, data, archive, socket, ...server };
}
