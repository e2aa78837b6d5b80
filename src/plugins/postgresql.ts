/**
 * postgresql: online backup of a PostgreSQL cluster with its WAL, for point-in-time recovery
 * (Bareos' bareos-fd-postgresql, the options named as there).
 *
 * - full: `pg_backup_start` (non-exclusive; `pg_start_backup` before PostgreSQL 15) on one
 *   connection, the data directory read in place (less the folders PostgreSQL rebuilds), the
 *   tablespaces and a configuration folder outside it, `pg_backup_stop`, then the returned
 *   `backup_label` and `tablespace_map` inside the data directory, and the archived WAL from the
 *   backup's start on.
 * - incremental / differential: `pg_switch_wal()` when the LSN moved, a wait until that segment
 *   is archived, then only the WAL archived since the backup this one builds on. Everything else
 *   is kept from that backup without reading it, so each restore point is whole.
 * - restore: the files go to the target under their own paths (the restorer writes them, with
 *   owners and modes); the plugin then writes the recovery settings (`recovery.signal` and
 *   `restore_command` reading the restored WAL, or `recovery.conf` before 12) with the target
 *   given by `--plugin-options 'postgresql:recoveryTargetTime=...'`, and points tablespaces at
 *   their restored folders.
 *
 * The snapshot's state records the LSN and time ranges: the full's start and stop, and each run's
 * WAL range. Its entries have the real paths of the cluster (`/var/lib/postgresql/15/main/...`).
 */
import { constants, promises as fs, type Stats } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CairnError, errnoCode, reason } from '../errors.ts';
import type {
  BackupContext,
  BackupEntry,
  CommandPlugin,
  Options,
  RestoreContext,
  RestoreSession,
} from './api.ts';
import { PLUGIN_API_VERSION } from './api.ts';

/** What a backup keeps for the next one and for restore (the snapshot's plugin state). */
export interface PostgresState {
  readonly format: 1;
  /** server_version_num, e.g. 150010. */
  readonly serverVersion: number;
  readonly systemIdentifier?: string;
  readonly dataDir: string;
  readonly walArchive: string;
  /** A configuration folder outside the data directory (Debian's /etc/postgresql/15/main). */
  readonly configDir?: string;
  readonly tablespaces: readonly { readonly oid: string; readonly path: string }[];
  /** The full backup this restore point rests on. */
  readonly full: {
    readonly label: string;
    readonly timeline: number;
    readonly startLsn: string;
    readonly startWal: string;
    readonly stopLsn: string;
    readonly stopWal: string;
    readonly startTime: string;
    readonly stopTime: string;
  };
  /** What this run added: the WAL range it covers (for a full, the full's own). */
  readonly run: {
    readonly fromLsn: string;
    readonly toLsn: string;
    readonly fromTime: string;
    readonly toTime: string;
    readonly walFiles: number;
  };
  /** The LSN at the end of this run: the next incremental switches WAL only when it moved. */
  readonly lastLsn: string;
  /** Every WAL archive file in the snapshot. */
  readonly wal: readonly string[];
}

/** Folders whose contents PostgreSQL rebuilds at start (kept empty), and files never copied. */
const DATA_EXCLUDES = [
  'pg_wal/*',
  'pg_xlog/*',
  'pg_dynshmem/*',
  'pg_notify/*',
  'pg_replslot/*',
  'pg_serial/*',
  'pg_snapshots/*',
  'pg_stat_tmp/*',
  'pg_subtrans/*',
  'postmaster.pid',
  'postmaster.opts',
  'backup_label.old',
  'recovery.signal',
  'standby.signal',
  'pg_internal.init',
];

const SEGMENT = /^([0-9A-F]{8})([0-9A-F]{16})(\.partial)?$/;
const BACKUP_FILE = /^([0-9A-F]{8})([0-9A-F]{16})\.[0-9A-F]{8}\.backup$/;
const HISTORY = /^[0-9A-F]{8}\.history$/;

/** The position of a WAL archive file (log and segment number, timeline ignored), or undefined. */
function walPosition(name: string): string | undefined {
  return (SEGMENT.exec(name) ?? BACKUP_FILE.exec(name))?.[2];
}

/** Whether an archive file belongs to a restore point that starts at segment `start`. */
function needed(name: string, start: string): boolean {
  if (HISTORY.test(name)) return true;
  const at = walPosition(name);
  const from = walPosition(start);
  return at !== undefined && from !== undefined && at >= from;
}

/** A value for postgresql.conf: single-quoted, quotes doubled. */
function confValue(v: string): string {
  return `'${v.replaceAll('\\', '\\\\').replaceAll("'", "''")}'`;
}

/** A setting value that is a path, for a shell command in restore_command (%f and %p stay). */
function shellQuote(v: string): string {
  return `'${v.replaceAll("'", "'\\''")}'`;
}

interface Query {
  query<R extends Record<string, unknown>>(sql: string, params?: unknown[]): Promise<{ rows: R[] }>;
  end(): Promise<void>;
}

function failed(message: string, cause?: unknown): CairnError {
  return new CairnError('PLUGIN_FAILED', message, cause === undefined ? undefined : { cause });
}

async function connect(o: Options, signal: AbortSignal): Promise<Query> {
  const { default: pg } = await import('pg');
  let password: string | undefined;
  if (typeof o.dbPasswordFile === 'string') {
    try {
      password = (await fs.readFile(o.dbPasswordFile, 'utf8')).replace(/\r?\n$/, '');
    } catch (err) {
      throw failed(`Cannot read the PostgreSQL password file ${o.dbPasswordFile}: ${reason(err)}`, err);
    }
  }
  const client = new pg.Client({
    host: String(o.dbHost),
    port: Number(o.dbPort),
    user: String(o.dbuser),
    database: String(o.dbname),
    application_name: 'cairn',
    ...(password === undefined ? {} : { password }),
  });
  const where = `${String(o.dbuser)}@${String(o.dbHost)}:${String(o.dbPort)}/${String(o.dbname)}`;
  try {
    await client.connect();
  } catch (err) {
    throw failed(`Cannot connect to PostgreSQL as ${where}: ${reason(err)}`, err);
  }
  // The non-exclusive backup lives as long as this session: closing it on a cancel aborts it.
  const close = () => void client.end().catch(() => undefined);
  signal.addEventListener('abort', close, { once: true });
  return {
    async query<R extends Record<string, unknown>>(sql: string, params?: unknown[]) {
      try {
        return await client.query<R>(sql, params);
      } catch (err) {
        signal.throwIfAborted();
        throw failed(`PostgreSQL (${where}) refused "${sql.split('(')[0]}": ${reason(err)}`, err);
      }
    },
    async end() {
      signal.removeEventListener('abort', close);
      await client.end().catch(() => undefined);
    },
  };
}

async function one<R extends Record<string, unknown>>(
  db: Query,
  sql: string,
  params?: unknown[],
): Promise<R> {
  const { rows } = await db.query<R>(sql, params);
  const row = rows[0];
  if (row === undefined) throw failed(`PostgreSQL answered "${sql}" with no row`);
  return row;
}

/** `inner` is `outer` or lies inside it. */
function inside(inner: string, outer: string): boolean {
  return inner === outer || inner.startsWith(`${outer}/`);
}

interface Server {
  readonly version: number;
  readonly dataDir: string;
  readonly systemIdentifier?: string;
  readonly configDir?: string;
  readonly tablespaces: { oid: string; path: string }[];
}

/** The checks before a backup: each failure says what to change. */
async function preflight(db: Query, o: Options, walArchive: string, full: boolean): Promise<Server> {
  if (typeof o.role === 'string') await db.query(`SET ROLE "${o.role.replaceAll('"', '""')}"`);
  const s = await one<{ version: string; archive_mode: string; in_recovery: boolean }>(
    db,
    `SELECT current_setting('server_version_num') AS version, current_setting('archive_mode') AS archive_mode,
            pg_is_in_recovery() AS in_recovery`,
  );
  const version = Number(s.version);
  if (version < 100000) {
    throw failed(`Cannot back up PostgreSQL ${s.version}: Cairn backs up PostgreSQL 10 and later`);
  }
  if (s.in_recovery) {
    throw failed('Cannot back up this PostgreSQL: it is a standby; back up the primary');
  }
  if (s.archive_mode === 'off') {
    throw failed(
      'Cannot back up PostgreSQL for point-in-time recovery: archive_mode is off; set archive_mode = on and an archive_command that copies each segment into the walArchive folder, then restart PostgreSQL',
    );
  }
  const archiving = await one<{ command: string; library: string | null }>(
    db,
    version >= 150000
      ? `SELECT current_setting('archive_command') AS command, current_setting('archive_library') AS library`
      : `SELECT current_setting('archive_command') AS command, NULL AS library`,
  );
  if ((archiving.command === '' || archiving.command === '(disabled)') && !archiving.library) {
    throw failed(
      'Cannot back up PostgreSQL for point-in-time recovery: archive_command is empty; make it copy each segment into the walArchive folder',
    );
  }
  try {
    const st = await fs.stat(walArchive);
    if (!st.isDirectory()) throw failed(`Cannot use the WAL archive ${walArchive}: it is not a folder`);
    await fs.access(walArchive, constants.R_OK | constants.X_OK);
  } catch (err) {
    if (err instanceof CairnError) throw err;
    throw failed(`Cannot use the WAL archive ${walArchive}: ${reason(err)}`, err);
  }
  const fns =
    version >= 150000
      ? ['pg_backup_start(text, boolean)', 'pg_backup_stop(boolean)', 'pg_switch_wal()']
      : ['pg_start_backup(text, boolean, boolean)', 'pg_stop_backup(boolean, boolean)', 'pg_switch_wal()'];
  for (const fn of full ? fns : fns.slice(2)) {
    const { allowed } = await one<{ allowed: boolean }>(
      db,
      `SELECT has_function_privilege($1, 'EXECUTE') AS allowed`,
      [fn],
    );
    if (!allowed) {
      throw failed(
        `Cannot back up PostgreSQL as ${String(o.dbuser)}: it may not call ${fn}; connect as a superuser or GRANT EXECUTE ON FUNCTION ${fn} TO the user`,
      );
    }
  }
  let dataDir = typeof o.postgresDataDir === 'string' ? path.resolve(o.postgresDataDir) : undefined;
  let configFile: string | undefined;
  try {
    const d = await one<{ data: string; config: string }>(
      db,
      `SELECT current_setting('data_directory') AS data, current_setting('config_file') AS config`,
    );
    configFile = d.config;
    if (dataDir === undefined) dataDir = d.data;
    else if (
      (await fs.realpath(dataDir).catch(() => dataDir)) !== (await fs.realpath(d.data).catch(() => d.data))
    ) {
      throw failed(
        `Cannot back up PostgreSQL: postgresDataDir is ${dataDir} but the server at ${String(o.dbHost)}:${String(o.dbPort)} runs on ${d.data}`,
      );
    }
  } catch (err) {
    if (err instanceof CairnError && err.message.startsWith('Cannot back up PostgreSQL: postgresDataDir'))
      throw err;
    if (dataDir === undefined) {
      throw failed(
        `Cannot learn the data directory from PostgreSQL (${reason(err)}): give postgresDataDir`,
        err,
      );
    }
  }
  try {
    await fs.access(path.join(dataDir, 'PG_VERSION'), constants.R_OK);
  } catch (err) {
    throw failed(`Cannot back up the data directory ${dataDir}: ${reason(err)}`, err);
  }
  if (full) {
    // A backup_label in a running primary's data directory: an exclusive backup that was never
    // stopped (before PostgreSQL 15) or a leftover; a restart would take it for a restore.
    const stale = await fs.stat(path.join(dataDir, 'backup_label')).catch(() => undefined);
    if (stale !== undefined) {
      throw failed(
        `Cannot back up PostgreSQL: a stale backup_label lies in ${dataDir} (from ${stale.mtime.toISOString()}); if no exclusive backup is running, stop it with pg_stop_backup() or remove the file`,
      );
    }
  }
  let systemIdentifier: string | undefined;
  try {
    systemIdentifier = String(
      (await one<{ id: string }>(db, 'SELECT system_identifier::text AS id FROM pg_control_system()')).id,
    );
  } catch {
    systemIdentifier = undefined;
  }
  const { rows } = await db.query<{ oid: string; location: string }>(
    `SELECT oid::text AS oid, pg_tablespace_location(oid) AS location FROM pg_tablespace
      WHERE spcname NOT IN ('pg_default', 'pg_global') ORDER BY oid`,
  );
  const tablespaces = rows
    .filter((r) => r.location !== '' && !inside(path.resolve(dataDir, r.location), dataDir))
    .map((r) => ({ oid: r.oid, path: path.resolve(r.location) }));
  const configDir =
    configFile !== undefined && !inside(path.resolve(configFile), dataDir)
      ? path.dirname(configFile)
      : undefined;
  return {
    version,
    dataDir,
    tablespaces,
    ...(systemIdentifier === undefined ? {} : { systemIdentifier }),
    ...(configDir === undefined ? {} : { configDir }),
  };
}

/**
 * Waits until WAL segment `name` is wholly in the archive, backing off, for at most `seconds`:
 * PostgreSQL reports it or a later segment archived (pg_stat_archiver: archive_command returned
 * success), or the archive holds the file at the full segment size (the last file archived may
 * be a backup history file named after an earlier segment, or nothing was written since the
 * segment was archived long ago). Returns the segment up to which the archive is whole.
 */
async function awaitArchived(
  db: Query,
  walArchive: string,
  name: string,
  seconds: number,
  signal: AbortSignal,
): Promise<string> {
  const until = Date.now() + seconds * 1000;
  const { size } = await one<{ size: string }>(
    db,
    "SELECT pg_size_bytes(current_setting('wal_segment_size'))::text AS size",
  );
  let delay = 10;
  for (;;) {
    const { last, failed: failing } = await one<{ last: string | null; failed: string | null }>(
      db,
      'SELECT last_archived_wal AS last, last_failed_wal AS failed FROM pg_stat_archiver',
    );
    const reported = last !== null && SEGMENT.test(last) ? last.slice(0, 24) : undefined;
    const st = await fs.stat(path.join(walArchive, name)).catch((err: unknown) => {
      if (errnoCode(err) === 'ENOENT') return undefined;
      throw failed(`Cannot read the WAL archive ${walArchive}: ${reason(err)}`, err);
    });
    const reportedDone = reported !== undefined && reported >= name.slice(0, 24);
    if (st !== undefined && (reportedDone || st.size === Number(size))) {
      return reported !== undefined && reported > name ? reported : name.slice(0, 24);
    }
    if (st === undefined && reportedDone) {
      throw failed(
        `PostgreSQL archived WAL segment ${name}, but it is not in ${walArchive}: walArchive must be the folder archive_command copies into`,
      );
    }
    if (Date.now() >= until) {
      throw failed(
        `WAL segment ${name} was not archived within ${seconds} s (switchWalTimeout)${failing ? `; archiving ${failing} failed` : ''}: check archive_command and the server log`,
      );
    }
    await sleep(delay, undefined, { signal });
    delay = Math.min(1000, Math.ceil(delay * 1.5));
  }
}

/**
 * The archive files a restore point needs from segment `start` up to the last archived segment
 * `upTo` (later files may still be being copied), sorted, without those in `have`.
 */
async function archiveFiles(
  walArchive: string,
  start: string,
  upTo: string,
  have: ReadonlySet<string>,
): Promise<string[]> {
  let names: string[];
  try {
    names = await fs.readdir(walArchive);
  } catch (err) {
    throw failed(`Cannot list the WAL archive ${walArchive}: ${reason(err)}`, err);
  }
  return names
    .filter((n) => !have.has(n) && needed(n, start) && (HISTORY.test(n) || n.slice(0, 24) <= upTo))
    .sort();
}

function priorState(ctx: BackupContext): PostgresState {
  const state = ctx.since?.state as Partial<PostgresState> | undefined;
  if (state?.format !== 1 || state.full === undefined || !Array.isArray(state.wal)) {
    throw failed(
      `Cannot run a ${ctx.level} PostgreSQL backup: the backup it builds on (${ctx.since?.snapshot.slice(0, 8) ?? 'none'}) has no PostgreSQL state; run a full backup`,
    );
  }
  return state as PostgresState;
}

/** The folder entry for the WAL archive, with the real folder's metadata (after the files). */
function archiveEntry(walArchive: string, st: Stats): BackupEntry {
  return {
    path: walArchive,
    type: 'dir',
    mode: st.mode & 0o7777,
    uid: st.uid,
    gid: st.gid,
    mtimeMs: st.mtimeMs,
    plain: true,
  };
}

async function* backupFull(
  ctx: BackupContext,
  db: Query,
  server: Server,
  walArchive: string,
): AsyncGenerator<BackupEntry> {
  const o = ctx.options;
  const label = `Cairn.pgplugin.jobid.${ctx.run ?? new Date().toISOString().replace(/[-:.]/g, '')}`;
  const fast = o.startFast === true;
  const startTime = new Date();
  const modern = server.version >= 150000;
  const started = await one<{ lsn: string }>(
    db,
    modern
      ? 'SELECT pg_backup_start($1, $2)::text AS lsn'
      : 'SELECT pg_start_backup($1, $2, false)::text AS lsn',
    [label, fast],
  );
  const { name: startWal } = await one<{ name: string }>(db, 'SELECT pg_walfile_name($1::pg_lsn) AS name', [
    started.lsn,
  ]);
  const timeline = Number.parseInt(startWal.slice(0, 8), 16);
  ctx.log(
    'info',
    `backup ${label} started at ${started.lsn} (${startWal})${fast ? ', fast checkpoint' : ''}`,
  );
  const excludes = [
    ...DATA_EXCLUDES,
    ...String(o.ignoreSubdirs)
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  ];
  yield {
    path: server.dataDir,
    type: 'dir',
    source: server.dataDir,
    exclude: excludes,
    volatile: true,
    plain: true,
  };
  for (const ts of server.tablespaces) {
    yield {
      path: ts.path,
      type: 'dir',
      source: ts.path,
      exclude: ['pgsql_tmp*'],
      volatile: true,
      plain: true,
    };
  }
  if (server.configDir !== undefined) {
    yield { path: server.configDir, type: 'dir', source: server.configDir, plain: true };
  }
  const stopped = await one<{ lsn: string; labelfile: string; spcmapfile: string | null }>(
    db,
    modern
      ? 'SELECT lsn::text AS lsn, labelfile, spcmapfile FROM pg_backup_stop(true)'
      : 'SELECT lsn::text AS lsn, labelfile, spcmapfile FROM pg_stop_backup(false, true)',
  );
  const stopTime = new Date();
  const { name: stopWal } = await one<{ name: string }>(db, 'SELECT pg_walfile_name($1::pg_lsn) AS name', [
    stopped.lsn,
  ]);
  ctx.log('info', `backup ${label} stopped at ${stopped.lsn} (${stopWal})`);
  // backup_label and tablespace_map, owned like PG_VERSION, inside the data directory read above.
  const version = await fs.stat(path.join(server.dataDir, 'PG_VERSION'));
  const meta = { type: 'file' as const, mode: 0o600, uid: version.uid, gid: version.gid, plain: true };
  yield { ...meta, path: path.join(server.dataDir, 'backup_label'), data: [Buffer.from(stopped.labelfile)] };
  if (stopped.spcmapfile) {
    yield {
      ...meta,
      path: path.join(server.dataDir, 'tablespace_map'),
      data: [Buffer.from(stopped.spcmapfile)],
    };
  }
  const upTo = await awaitArchived(db, walArchive, stopWal, Number(o.switchWalTimeout), ctx.signal);
  const files = await archiveFiles(walArchive, startWal, upTo, new Set());
  for (const name of files) {
    yield {
      path: path.join(walArchive, name),
      type: 'file',
      source: path.join(walArchive, name),
      plain: true,
    };
  }
  yield archiveEntry(walArchive, await fs.stat(walArchive));
  const { lsn: lastLsn } = await one<{ lsn: string }>(db, 'SELECT pg_current_wal_lsn()::text AS lsn');
  const state: PostgresState = {
    format: 1,
    serverVersion: server.version,
    ...(server.systemIdentifier === undefined ? {} : { systemIdentifier: server.systemIdentifier }),
    dataDir: server.dataDir,
    walArchive,
    ...(server.configDir === undefined ? {} : { configDir: server.configDir }),
    tablespaces: server.tablespaces,
    full: {
      label,
      timeline,
      startLsn: started.lsn,
      startWal,
      stopLsn: stopped.lsn,
      stopWal,
      startTime: startTime.toISOString(),
      stopTime: stopTime.toISOString(),
    },
    run: {
      fromLsn: started.lsn,
      toLsn: stopped.lsn,
      fromTime: startTime.toISOString(),
      toTime: stopTime.toISOString(),
      walFiles: files.length,
    },
    lastLsn,
    wal: files,
  };
  ctx.setState(state);
  ctx.log(
    'info',
    `full backup of ${server.dataDir}: WAL ${startWal}..${stopWal}, ${files.length} archive files`,
  );
}

async function* backupWal(
  ctx: BackupContext,
  db: Query,
  server: Server,
  walArchive: string,
): AsyncGenerator<BackupEntry> {
  const o = ctx.options;
  const prior = priorState(ctx);
  if (prior.dataDir !== server.dataDir || prior.walArchive !== walArchive) {
    throw failed(
      `Cannot run a ${ctx.level} PostgreSQL backup: the full backup was of ${prior.dataDir} with the archive ${prior.walArchive}; run a full backup`,
    );
  }
  if (Math.floor(prior.serverVersion / 10000) !== Math.floor(server.version / 10000)) {
    throw failed(
      `Cannot run a ${ctx.level} PostgreSQL backup: the server is version ${server.version}, the full backup was of ${prior.serverVersion}; run a full backup`,
    );
  }
  if (
    prior.systemIdentifier &&
    server.systemIdentifier &&
    prior.systemIdentifier !== server.systemIdentifier
  ) {
    throw failed(
      `Cannot run a ${ctx.level} PostgreSQL backup: the cluster was created anew since the full backup (system identifier ${server.systemIdentifier}, was ${prior.systemIdentifier}); run a full backup`,
    );
  }
  const fromTime = ctx.since?.time ?? prior.full.stopTime;
  const { lsn: current } = await one<{ lsn: string }>(db, 'SELECT pg_current_wal_lsn()::text AS lsn');
  const { moved } = await one<{ moved: boolean }>(
    db,
    'SELECT pg_wal_lsn_diff($1::pg_lsn, $2::pg_lsn) > 0 AS moved',
    [current, prior.lastLsn],
  );
  let lastLsn = current;
  // Without a switch, the WAL archived so far (the segment being written is not in the archive).
  let upTo = prior.full.stopWal;
  if (moved && o.switchWal !== false) {
    const sw = await one<{ lsn: string; name: string }>(
      db,
      'SELECT lsn::text AS lsn, pg_walfile_name(lsn) AS name FROM pg_switch_wal() AS lsn',
    );
    ctx.log('info', `switched WAL at ${sw.lsn}: waiting for ${sw.name} to be archived`);
    upTo = await awaitArchived(db, walArchive, sw.name, Number(o.switchWalTimeout), ctx.signal);
    lastLsn = sw.lsn;
  } else if (!moved) {
    ctx.log('info', `no WAL written since the last backup (LSN ${current})`);
  }
  // The run builds on: everything of that backup, then the WAL archived since.
  yield { path: server.dataDir, type: 'dir', keep: true, plain: true };
  for (const ts of prior.tablespaces) yield { path: ts.path, type: 'dir', keep: true, plain: true };
  if (prior.configDir !== undefined) yield { path: prior.configDir, type: 'dir', keep: true, plain: true };
  yield { path: walArchive, type: 'dir', keep: true, plain: true };
  if (upTo === prior.full.stopWal) {
    const { last } = await one<{ last: string | null }>(
      db,
      'SELECT last_archived_wal AS last FROM pg_stat_archiver',
    );
    if (last !== null && SEGMENT.test(last) && last.slice(0, 24) > upTo) upTo = last.slice(0, 24);
  }
  const files = await archiveFiles(walArchive, prior.full.startWal, upTo, new Set(prior.wal));
  for (const name of files) {
    yield {
      path: path.join(walArchive, name),
      type: 'file',
      source: path.join(walArchive, name),
      plain: true,
    };
  }
  const toTime = new Date().toISOString();
  ctx.setState({
    ...prior,
    serverVersion: server.version,
    run: { fromLsn: prior.lastLsn, toLsn: lastLsn, fromTime, toTime, walFiles: files.length },
    lastLsn,
    wal: [...prior.wal, ...files].sort(),
  } satisfies PostgresState);
  ctx.log(
    'info',
    `${ctx.level} backup: ${files.length} WAL archive files (${prior.lastLsn}..${lastLsn}); recovery possible up to ${toTime}`,
  );
}

/** The recovery target settings the restore options ask for (name, value). */
function recoveryTarget(o: Options): [string, string][] {
  if (typeof o.recoveryTargetTime === 'string') return [['recovery_target_time', o.recoveryTargetTime]];
  if (typeof o.recoveryTargetLsn === 'string') return [['recovery_target_lsn', o.recoveryTargetLsn]];
  if (typeof o.recoveryTargetName === 'string') return [['recovery_target_name', o.recoveryTargetName]];
  if (typeof o.recoveryTargetXid === 'string') return [['recovery_target_xid', o.recoveryTargetXid]];
  if (o.immediate === true) return [['recovery_target', 'immediate']];
  return [];
}

function restoreSession(ctx: RestoreContext): Promise<RestoreSession> {
  return Promise.resolve({
    entry: () => Promise.resolve('core'),
    async end(failure?: unknown) {
      if (failure !== undefined) return;
      const state = ctx.state as PostgresState | undefined;
      if (state?.format !== 1) {
        ctx.log('warning', 'the snapshot has no PostgreSQL state: no recovery settings written');
        return;
      }
      const data = ctx.destinationOf(state.dataDir);
      const version =
        data === undefined ? undefined : await fs.stat(path.join(data, 'PG_VERSION')).catch(() => undefined);
      if (data === undefined || version === undefined) {
        ctx.log('info', `the data directory ${state.dataDir} was not restored: no recovery settings written`);
        return;
      }
      await writeRecovery(ctx, state, data, version);
    },
  });
}

async function writeRecovery(
  ctx: RestoreContext,
  state: PostgresState,
  data: string,
  owner: Stats,
): Promise<void> {
  const o = ctx.options;
  const own = async (file: string) => {
    if (process.getuid?.() === 0) await fs.chown(file, owner.uid, owner.gid);
  };
  // Tablespaces restored elsewhere than where they were: the links and the map follow them.
  const moved = state.tablespaces
    .map((ts) => ({ ...ts, to: ctx.destinationOf(ts.path) }))
    .filter((ts): ts is typeof ts & { to: string } => ts.to !== undefined && ts.to !== ts.path);
  for (const ts of moved) {
    const link = path.join(data, 'pg_tblspc', ts.oid);
    await fs.rm(link, { force: true });
    await fs.symlink(ts.to, link);
    if (process.getuid?.() === 0) await fs.lchown(link, owner.uid, owner.gid);
  }
  const map = path.join(data, 'tablespace_map');
  if (moved.length > 0) {
    const text = await fs.readFile(map, 'utf8').catch(() => undefined);
    if (text !== undefined) {
      const lines = text.split('\n').map((line) => {
        const oid = line.split(' ', 1)[0] ?? '';
        const ts = moved.find((m) => m.oid === oid);
        return ts === undefined ? line : `${oid} ${ts.to}`;
      });
      await fs.writeFile(map, lines.join('\n'));
      await own(map);
    }
  }
  if (o.writeRecovery === false) {
    ctx.log('info', `recovery settings not written (writeRecovery=no): the data directory is ${data}`);
    return;
  }
  const wal = ctx.destinationOf(state.walArchive) ?? state.walArchive;
  const restoreCommand =
    typeof o.restoreCommand === 'string' ? o.restoreCommand : `cp ${shellQuote(wal)}/%f "%p"`;
  const target = recoveryTarget(o);
  const settings: [string, string][] = [
    ['restore_command', restoreCommand],
    ...target,
    ...(target.length > 0
      ? ([['recovery_target_action', String(o.recoveryTargetAction)]] as [string, string][])
      : []),
  ];
  const stop = Date.parse(state.full.stopTime);
  if (typeof o.recoveryTargetTime === 'string') {
    const t = Date.parse(o.recoveryTargetTime.replace(' ', 'T'));
    if (Number.isFinite(t) && t < stop) {
      ctx.log(
        'warning',
        `the recovery target ${o.recoveryTargetTime} is before the end of the full backup (${state.full.stopTime}): PostgreSQL cannot stop there and will refuse to start; restore an earlier full backup`,
      );
    }
  }
  const header = `# Added by Cairn: restore of snapshot ${ctx.snapshot.id.slice(0, 8)} (${ctx.snapshot.time})`;
  const lines = settings.map(([k, v]) => `${k} = ${confValue(v)}`);
  const modern = state.serverVersion >= 120000;
  if (modern) {
    const signal = path.join(data, 'recovery.signal');
    await fs.writeFile(signal, '', { mode: 0o600 });
    await own(signal);
  } else {
    const conf = path.join(data, 'recovery.conf');
    await fs.writeFile(conf, [header, ...lines, ''].join('\n'), { mode: 0o600 });
    await own(conf);
  }
  const auto = path.join(data, 'postgresql.auto.conf');
  const extra = [...(modern ? lines : []), ...(o.archiveMode === 'off' ? ["archive_mode = 'off'"] : [])];
  if (extra.length > 0) {
    const before = await fs.readFile(auto, 'utf8').catch(() => '');
    await fs.writeFile(
      auto,
      `${before}${before === '' || before.endsWith('\n') ? '' : '\n'}${header}\n${extra.join('\n')}\n`,
      {
        mode: 0o600,
      },
    );
    await own(auto);
  }
  const what =
    target.length > 0 ? target.map(([k, v]) => `${k} = ${v}`).join(', ') : 'the end of the restored WAL';
  ctx.log(
    'info',
    `recovery settings written to ${modern ? 'recovery.signal and postgresql.auto.conf' : 'recovery.conf'} in ${data}: recovers to ${what} from ${wal}; start PostgreSQL on ${data}`,
  );
}

export const postgresql: CommandPlugin = {
  name: 'postgresql',
  kind: 'command',
  apiVersion: PLUGIN_API_VERSION,
  version: '1.0.0',
  description: 'PostgreSQL online backup with WAL, for point-in-time recovery',
  options: {
    postgresDataDir: {
      type: 'path',
      description: "the cluster's data directory (default: asked of the server)",
    },
    walArchive: {
      type: 'path',
      required: true,
      description: 'the folder archive_command copies WAL segments into',
    },
    dbuser: { type: 'string', default: 'postgres', description: 'the user to connect as' },
    dbname: { type: 'string', default: 'postgres', description: 'the database to connect to' },
    dbHost: {
      type: 'string',
      default: '/var/run/postgresql',
      description: 'host name, address, or socket folder (starting with /)',
    },
    dbPort: { type: 'integer', default: 5432, min: 1, max: 65535, description: 'the server port' },
    dbPasswordFile: {
      type: 'path',
      description: 'a file holding the password (else PGPASSWORD, ~/.pgpass, or none)',
    },
    role: { type: 'string', description: 'SET ROLE to this role after connecting' },
    ignoreSubdirs: {
      type: 'string',
      default: 'pgsql_tmp',
      description: 'comma-separated folders (names or paths in the data directory) left out',
    },
    startFast: {
      type: 'boolean',
      default: false,
      description: 'ask for an immediate checkpoint at the start of a full backup',
    },
    switchWal: {
      type: 'boolean',
      default: true,
      description: 'switch to a new WAL segment at an incremental when the LSN moved',
    },
    switchWalTimeout: {
      type: 'integer',
      default: 60,
      min: 1,
      max: 86400,
      description: 'seconds to wait for a WAL segment to reach the archive',
    },
    recoveryTargetTime: {
      type: 'string',
      description: 'restore: recover up to this time (e.g. 2026-11-22 09:15:00+00)',
    },
    recoveryTargetLsn: { type: 'string', description: 'restore: recover up to this LSN' },
    recoveryTargetName: { type: 'string', description: 'restore: recover up to this restore point' },
    recoveryTargetXid: { type: 'string', description: 'restore: recover up to this transaction' },
    immediate: {
      type: 'boolean',
      default: false,
      description: 'restore: stop as soon as the backup is consistent',
    },
    recoveryTargetAction: {
      type: 'enum',
      values: ['promote', 'pause', 'shutdown'],
      default: 'promote',
      description: 'restore: what PostgreSQL does at the target',
    },
    restoreCommand: {
      type: 'string',
      description: 'restore: the restore_command (default: cp from the restored WAL archive)',
    },
    archiveMode: {
      type: 'enum',
      values: ['preserve', 'off'],
      default: 'preserve',
      description: "restore: 'off' keeps the restored server from archiving into the live archive",
    },
    writeRecovery: {
      type: 'boolean',
      default: true,
      description: 'restore: write the recovery settings (no: restore the files only)',
    },
  },
  check(options: Options, columnOf: (option: string) => number): void {
    const targets = [
      'recoveryTargetTime',
      'recoveryTargetLsn',
      'recoveryTargetName',
      'recoveryTargetXid',
    ].filter((k) => options[k] !== undefined);
    if (options.immediate === true) targets.push('immediate');
    if (targets.length > 1) {
      throw new CairnError(
        'PLUGIN_DIRECTIVE_INVALID',
        `Cannot use the postgresql directive: ${targets.join(' and ')} at columns ${targets.map(columnOf).join(', ')} are different recovery targets; give one`,
      );
    }
    const lsn = options.recoveryTargetLsn;
    if (typeof lsn === 'string' && !/^[0-9A-Fa-f]{1,8}\/[0-9A-Fa-f]{1,8}$/.test(lsn)) {
      throw new CairnError(
        'PLUGIN_DIRECTIVE_INVALID',
        `Cannot use the postgresql directive: recoveryTargetLsn at column ${columnOf('recoveryTargetLsn')} must be an LSN such as 0/3000060, not "${lsn}"`,
      );
    }
    const time = options.recoveryTargetTime;
    if (
      typeof time === 'string' &&
      !/^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?\s*([+-]\d{2}(:?\d{2})?|Z|UTC|[A-Za-z_/]+)?$/.test(
        time,
      )
    ) {
      throw new CairnError(
        'PLUGIN_DIRECTIVE_INVALID',
        `Cannot use the postgresql directive: recoveryTargetTime at column ${columnOf('recoveryTargetTime')} must be a time such as 2026-11-22 09:15:00+00, not "${time}"`,
      );
    }
  },
  async *backup(ctx: BackupContext): AsyncGenerator<BackupEntry> {
    const walArchive = path.resolve(String(ctx.options.walArchive));
    const db = await connect(ctx.options, ctx.signal);
    try {
      const server = await preflight(db, ctx.options, walArchive, ctx.level === 'full');
      if (ctx.level === 'full') yield* backupFull(ctx, db, server, walArchive);
      else yield* backupWal(ctx, db, server, walArchive);
    } finally {
      // Ends the session: a backup started and not stopped (a failure, a cancel) is aborted by it.
      await db.end();
    }
  },
  restore: restoreSession,
};
