/**
 * A real PostgreSQL for tests: initdb into a temporary folder, pg_ctl start on a free port on
 * 127.0.0.1, stopped and removed after. As root the server runs as the `postgres` user (initdb
 * refuses root). Returns undefined when PostgreSQL is not installed, so callers can say why they
 * skip.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

export interface TestPostgres {
  readonly url: string;
  /** A new empty database on the server, as a URL. */
  database(name: string): string;
  stop(): void;
}

/** The newest installed PostgreSQL's bin folder (Debian's layout), or undefined. */
export function binDir(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root)
    .filter((v) => existsSync(path.join(root, v, 'bin', 'pg_ctl')))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] ? path.join(root, versions[0], 'bin') : undefined;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

export async function startPostgres(): Promise<TestPostgres | undefined> {
  const bin = binDir();
  if (!bin) return undefined;
  const root = process.getuid?.() === 0;
  const dir = mkdtempSync(path.join(tmpdir(), 'cairn-pg-'));
  const data = path.join(dir, 'data');
  const port = await freePort();
  const as = (argv: string[]) => (root ? ['runuser', '-u', 'postgres', '--', ...argv] : argv);
  const run = (argv: string[]) => {
    const [cmd, ...args] = as(argv);
    execFileSync(cmd!, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  };
  if (root) execFileSync('chown', ['postgres:postgres', dir]);
  run([path.join(bin, 'initdb'), '-D', data, '-U', 'cairn', '--auth=trust', '-E', 'UTF8', '--no-sync']);
  run([
    path.join(bin, 'pg_ctl'),
    '-D',
    data,
    '-l',
    path.join(dir, 'log'),
    '-w',
    '-o',
    `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off`,
    'start',
  ]);
  const base = `postgres://cairn@127.0.0.1:${port}`;
  let stopped = false;
  return {
    url: `${base}/postgres`,
    database(name: string) {
      run([path.join(bin, 'createdb'), '-h', '127.0.0.1', '-p', String(port), '-U', 'cairn', name]);
      return `${base}/${name}`;
    },
    stop() {
      if (stopped) return;
      stopped = true;
      try {
        run([path.join(bin, 'pg_ctl'), '-D', data, '-m', 'immediate', 'stop']);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}
