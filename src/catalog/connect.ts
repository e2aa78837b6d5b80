/**
 * Opening the catalog database: `node:sqlite` (a file, the default) or PostgreSQL (`postgres://`),
 * both behind Kysely so that one set of queries and migrations serves both.
 */
import { chmodSync, closeSync, mkdirSync, openSync } from 'node:fs';
import path from 'node:path';
import { DatabaseSync, type SQLInputValue } from 'node:sqlite';
import { Kysely, PostgresDialect, SqliteDialect, type SqliteDatabase } from 'kysely';
import { Migrator } from 'kysely/migration';
import pg from 'pg';
import { CairnError, reason } from '../errors.ts';
import { migrationProvider } from './migrations.ts';
import type { Database } from './schema.ts';

export type CatalogKind = 'sqlite' | 'postgres';

/**
 * The catalog holds password hashes, session and key hashes and the audit trail: only the server's
 * own user may read it, whatever the umask, also when the file was made earlier with a looser mode.
 * SQLite makes the -wal and -shm files with the database file's mode; they are set too in case an
 * older run left them.
 */
function restrictCatalogFiles(file: string): void {
  for (const f of [file, `${file}-wal`, `${file}-shm`]) {
    try {
      chmodSync(f, 0o600);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
}

/** node:sqlite's synchronous API in the shape Kysely's SQLite driver expects of better-sqlite3. */
function nodeSqlite(file: string): SqliteDatabase {
  // Created empty with mode 0600 before SQLite opens it, so it is never readable by others.
  closeSync(openSync(file, 'a', 0o600));
  restrictCatalogFiles(file);
  const db = new DatabaseSync(file);
  db.exec('PRAGMA journal_mode = WAL');
  restrictCatalogFiles(file);
  db.exec('PRAGMA synchronous = NORMAL');
  db.exec('PRAGMA foreign_keys = ON');
  db.exec('PRAGMA busy_timeout = 5000');
  return {
    close: () => db.close(),
    prepare(sql: string) {
      const stmt = db.prepare(sql);
      const args = (p: readonly unknown[]) => p as SQLInputValue[];
      return {
        reader: stmt.columns().length > 0,
        all: (p: readonly unknown[]) => stmt.all(...args(p)),
        run: (p: readonly unknown[]) => {
          const r = stmt.run(...args(p));
          return { changes: r.changes, lastInsertRowid: r.lastInsertRowid };
        },
        iterate: (p: readonly unknown[]) => stmt.iterate(...args(p)),
      };
    },
  };
}

/** A short form of a catalog URL without its password, for messages. */
export function describeCatalog(url: string): string {
  return url.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@');
}

export async function connectCatalog(
  url: string,
): Promise<{ db: Kysely<Database>; kind: CatalogKind; close: () => Promise<void> }> {
  let db: Kysely<Database>;
  let kind: CatalogKind;
  if (/^postgres(ql)?:\/\//.test(url)) {
    kind = 'postgres';
    const pool = new pg.Pool({ connectionString: url, max: 10 });
    pool.on('error', () => undefined); // an idle client's broken connection is replaced, not fatal
    db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  } else {
    kind = 'sqlite';
    const file = url.replace(/^sqlite:(\/\/)?/, '');
    try {
      mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
      db = new Kysely<Database>({ dialect: new SqliteDialect({ database: nodeSqlite(file) }) });
    } catch (err) {
      throw new CairnError('CATALOG_UNAVAILABLE', `Cannot open the catalog ${file}: ${reason(err)}`, {
        cause: err,
      });
    }
  }
  try {
    const { error, results } = await new Migrator({ db, provider: migrationProvider }).migrateToLatest();
    if (error) {
      const failed = results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
      throw new CairnError(
        'CATALOG_UNAVAILABLE',
        `Cannot migrate the catalog (step ${failed}): ${reason(error)}`,
        {
          cause: error,
        },
      );
    }
  } catch (err) {
    await db.destroy();
    if (err instanceof CairnError) throw err;
    throw new CairnError(
      'CATALOG_UNAVAILABLE',
      `Cannot open the catalog ${describeCatalog(url)}: ${reason(err)}`,
      {
        cause: err,
      },
    );
  }
  return { db, kind, close: () => db.destroy() };
}
