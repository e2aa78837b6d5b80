// The postgresql plugin against a real PostgreSQL started here: a full and an incremental online
// backup with WAL, then point-in-time recovery to a time between two batches of rows, proven by
// starting PostgreSQL on the restored data directory; a table in a tablespace outside the data
// directory comes back from the restored tablespace; preflight failures are clear.
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { cairn, jsonLines, message, removeTemp, show } from './cli.testing.ts';
import {
  archivingCluster,
  givePostgres,
  pgRun,
  postgresBin,
  startCluster,
  type Cluster,
} from './postgres-cluster.testing.ts';
import { tempRepo } from './repo.testing.ts';

const PASSWORD = 'postgresql-e2e-password';
const skip = postgresBin() === undefined ? 'PostgreSQL is not installed (/usr/lib/postgresql)' : false;

interface PgState {
  dataDir: string;
  walArchive: string;
  full: { startLsn: string; stopLsn: string; stopWal: string };
  run: { fromLsn: string; toLsn: string; walFiles: number };
  wal: string[];
  lastLsn: string;
  tablespaces: { oid: string; path: string }[];
}

describe('postgresql plugin', { skip }, () => {
  let dir: string;
  let env: Record<string, string>;
  let pg: Cluster;
  let directive: string;
  let fullState: PgState | undefined;
  let incState: PgState | undefined;

  before(async () => {
    ({ dir, env } = await tempRepo(PASSWORD));
    // PostgreSQL runs as its own user: it must reach its folders through this one.
    await fs.chmod(dir, 0o711);
    const cluster = await archivingCluster(path.join(dir, 'pg'));
    assert.ok(cluster);
    pg = cluster;
    directive = `postgresql:walArchive=${pg.archive}:dbHost=${pg.socket}:dbPort=${pg.port}:startFast=yes`;
  });

  after(async () => {
    try {
      pg?.stop();
    } finally {
      await removeTemp(dir);
    }
  });

  async function backup(level: string): Promise<{ id: string; state: PgState; level: string }> {
    const r = await cairn(['backup', '--json', '--source', directive, '--level', level], { env });
    assert.equal(r.code, 0, show(r));
    const id = String(message(r.stdout, 'summary').snapshot_id);
    const snaps = await cairn(['snapshots', '--json'], { env });
    const snap = (
      JSON.parse(snaps.stdout) as { id: string; plugins: { state: PgState; level: string }[] }[]
    ).find((s) => s.id === id);
    assert.ok(snap?.plugins[0]);
    return { id, state: snap.plugins[0].state, level: snap.plugins[0].level };
  }

  function insert(batch: number, rows: number): void {
    pg.sql(`INSERT INTO t SELECT g, ${batch} FROM generate_series(1, ${rows}) g`);
  }

  it('recovers to a point in time from a full and an incremental backup', async () => {
    const ts = path.join(dir, 'pg', 'tablespace');
    await fs.mkdir(ts);
    await givePostgres(ts);
    pg.sql(`CREATE TABLESPACE outside LOCATION '${ts}'`);
    pg.sql('CREATE TABLE t (id int, batch int)');
    pg.sql('CREATE TABLE far (v text) TABLESPACE outside');
    pg.sql("INSERT INTO far SELECT 'row ' || g FROM generate_series(1, 500) g");
    insert(1, 1000);

    const full = await backup('full');
    assert.equal(full.level, 'full');
    assert.equal(full.state.dataDir, pg.data);
    assert.deepEqual(
      full.state.tablespaces.map((x) => x.path),
      [ts],
    );
    assert.ok(full.state.wal.includes(full.state.full.stopWal), 'the WAL up to the backup stop is stored');
    const ls = await cairn(['ls', full.id, path.join(pg.data)], { env });
    assert.equal(ls.code, 0, show(ls));
    assert.match(ls.stdout, /backup_label/);
    assert.doesNotMatch(ls.stdout, /postmaster\.pid/);

    insert(2, 1000);
    const t = pg.sql('SELECT now()');
    await sleep(1100);
    insert(3, 1000);

    const inc = await backup('incremental');
    assert.equal(inc.level, 'incremental');
    assert.ok(inc.state.run.walFiles >= 1, 'the incremental stores the WAL written since the full');
    assert.equal(inc.state.run.fromLsn, full.state.lastLsn, 'the incremental starts where the full ended');
    assert.ok(inc.state.wal.length > full.state.wal.length);
    pg.sql('DROP TABLE t');
    fullState = full.state;
    incState = inc.state;

    // Point in time: everything before T, nothing after, the table not dropped.
    const target = path.join(dir, 'pitr');
    const r = await cairn(
      [
        'restore',
        inc.id,
        '--target',
        target,
        '--plugin-options',
        `postgresql:recoveryTargetTime=${t.replaceAll(':', '\\:')}:archiveMode=off`,
      ],
      { env },
    );
    assert.equal(r.code, 0, show(r));
    assert.match(r.stdout + r.stderr, /recovery settings written/);
    const restoredData = path.join(target, pg.data);
    const restoredTs = path.join(target, ts);
    const tsLinks = await fs.readdir(path.join(restoredData, 'pg_tblspc'));
    assert.equal(tsLinks.length, 1);
    assert.equal(await fs.readlink(path.join(restoredData, 'pg_tblspc', tsLinks[0] as string)), restoredTs);
    const auto = await fs.readFile(path.join(restoredData, 'postgresql.auto.conf'), 'utf8');
    assert.match(auto, /recovery_target_time = '/);
    await fs.access(path.join(restoredData, 'recovery.signal'));

    const restored = await startCluster(pg.bin, restoredData, pg.socket, { archive_mode: 'off' });
    try {
      await promoted(restored.sql);
      assert.equal(restored.sql('SELECT count(*) FROM t'), '2000');
      assert.equal(
        restored.sql("SELECT string_agg(DISTINCT batch::text, ',' ORDER BY batch::text) FROM t"),
        '1,2',
      );
      assert.equal(restored.sql('SELECT count(*) FROM far'), '500');
      assert.equal(
        restored.sql("SELECT pg_tablespace_location(oid) FROM pg_tablespace WHERE spcname = 'outside'"),
        restoredTs,
      );
    } finally {
      restored.stop();
    }

    // Without a target the same restore point recovers to the end of its WAL: all three batches.
    const latest = path.join(dir, 'latest');
    const r2 = await cairn(
      ['restore', inc.id, '--target', latest, '--plugin-options', 'postgresql:archiveMode=off'],
      { env },
    );
    assert.equal(r2.code, 0, show(r2));
    const again = await startCluster(pg.bin, path.join(latest, pg.data), pg.socket, { archive_mode: 'off' });
    try {
      await promoted(again.sql);
      assert.equal(again.sql('SELECT count(*) FROM t'), '3000');
    } finally {
      again.stop();
    }
  });

  it('a differential builds on the full: it holds all WAL since the full, the incremental too', async () => {
    assert.ok(fullState && incState, 'runs after the point-in-time test');
    pg.sql('CREATE TABLE IF NOT EXISTS d (v int)');
    pg.sql('INSERT INTO d SELECT generate_series(1, 100)');
    // Another tool's backup just before (pgBackRest's, say), spanning a segment switch: when its
    // history file (named after its start segment) is the last file archived, the segment the
    // plugin then waits for lies after the last archived name. Which of the two PostgreSQL
    // archives last varies: a few tries give that order.
    let historyLast = false;
    for (let i = 0; i < 10 && !historyLast; i++) {
      pgRun([
        path.join(pg.bin, 'psql'),
        '-X',
        '-h',
        pg.socket,
        '-p',
        String(pg.port),
        '-U',
        'postgres',
        '-v',
        'ON_ERROR_STOP=1',
        '-c',
        "SELECT pg_backup_start('another tool', true)",
        '-c',
        'SELECT pg_switch_wal()',
        '-c',
        'SELECT * FROM pg_backup_stop(true)',
      ]);
      historyLast = /\.backup$/.test(pg.sql('SELECT last_archived_wal FROM pg_stat_archiver'));
    }
    console.log(`# the other tool's history file was ${historyLast ? '' : 'never '}the last file archived`);
    const diff = await backup('differential');
    assert.equal(diff.level, 'differential');
    assert.equal(diff.state.run.fromLsn, fullState.lastLsn, 'the differential starts where the full ended');
    for (const name of incState.wal)
      assert.ok(diff.state.wal.includes(name), `${name} is in the differential`);
    const inc = await cairn(['backup', '--json', '--source', directive, '--level', 'incremental'], { env });
    assert.equal(inc.code, 0, show(inc));
    const logs = jsonLines(inc.stdout)
      .filter((m) => m.message_type === 'plugin_log')
      .map((m) => String(m.message));
    assert.ok(
      logs.some((m) => /WAL archive files/.test(m)),
      logs.join('\n'),
    );
  });

  it('refuses clearly: a missing WAL archive, a bad recovery target, two targets', async () => {
    const bad = await cairn(
      [
        'backup',
        '--source',
        `postgresql:walArchive=${path.join(dir, 'nowhere')}:dbHost=${pg.socket}:dbPort=${pg.port}`,
      ],
      { env },
    );
    assert.equal(bad.code, 82, show(bad));
    assert.match(bad.stderr, /Cannot use the WAL archive .*nowhere/);
    const noServer = await cairn(
      ['backup', '--source', `postgresql:walArchive=${pg.archive}:dbHost=${pg.socket}:dbPort=1`],
      {
        env,
      },
    );
    assert.equal(noServer.code, 82, show(noServer));
    assert.match(noServer.stderr, /Cannot connect to PostgreSQL as postgres@/);
    const target = await cairn(
      [
        'restore',
        'latest',
        '--target',
        path.join(dir, 'x'),
        '--plugin-options',
        'postgresql:recoveryTargetLsn=yesterday',
      ],
      { env },
    );
    assert.equal(target.code, 80, show(target));
    assert.match(target.stderr, /recoveryTargetLsn at column \d+ must be an LSN/);
    const two = await cairn(
      [
        'restore',
        'latest',
        '--target',
        path.join(dir, 'x'),
        '--plugin-options',
        'postgresql:recoveryTargetName=a:immediate=yes',
      ],
      { env },
    );
    assert.equal(two.code, 80, show(two));
    assert.match(two.stderr, /recoveryTargetName and immediate .* are different recovery targets/);
  });
});

/** Waits until a restored server has finished recovery and been promoted. */
async function promoted(sql: (s: string) => string): Promise<void> {
  for (let i = 0; i < 600; i++) {
    try {
      if (sql('SELECT pg_is_in_recovery()') === 'f') return;
    } catch {
      // Not accepting connections yet.
    }
    await sleep(100);
  }
  throw new Error('the restored server did not finish recovery within 60 s');
}
