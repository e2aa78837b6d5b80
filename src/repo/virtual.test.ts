// Virtual entries (a plugin's pseudo paths), file hooks and diverted restores: the data and
// callbacks through which the plugin host drives the archiver and the restorer.
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { isCairnError } from '../errors.ts';
import { backupPlan, type VirtualEntry } from './archiver.ts';
import { findNode, walk } from './browse.ts';
import { initRepo, tempDir } from './fixtures.testing.ts';
import { restore } from './restorer.ts';

function bytes(data: Buffer): NonNullable<VirtualEntry['read']> {
  let at = 0;
  return (buf, offset, length) => {
    const n = Math.min(length, data.length - at);
    data.copy(buf, offset, at, at + n);
    at += n;
    return Promise.resolve(n);
  };
}

async function* list(entries: VirtualEntry[]): AsyncGenerator<VirtualEntry> {
  for (const e of entries) yield await Promise.resolve(e);
}

describe('virtual entries', () => {
  it('are saved under their pseudo paths beside walked paths, with the metadata given', async (t) => {
    const dir = await tempDir(t);
    const repo = await initRepo(path.join(dir, 'repo'));
    await repo.loadIndex();
    t.after(() => repo.close());
    const src = path.join(dir, 'src');
    await fs.mkdir(src);
    await fs.writeFile(path.join(src, 'a.txt'), 'walked');
    const dump = Buffer.alloc(300_000, 'd');
    const result = await backupPlan(repo, {
      paths: [src],
      entries: list([
        { path: '/db/dump.sql', type: 'file', mode: 0o640, mtimeMs: 1_700_000_000_000, read: bytes(dump) },
        { path: '/db/current', type: 'symlink', linkTarget: 'dump.sql' },
        { path: '/db', type: 'dir', mode: 0o750, uid: 123, gid: 456 },
        { path: '/empty', type: 'file' },
      ]),
      plugins: () => [
        {
          name: 'x',
          kind: 'command',
          directive: 'x:a=b',
          apiVersion: 1,
          level: 'full',
          paths: ['/db'],
          state: { n: 1 },
        },
      ],
    });
    const snap = { ...result.snapshot, id: result.id };
    assert.deepEqual(snap.paths, ['/db', '/empty', src].sort());
    assert.deepEqual(snap.plugins?.[0]?.state, { n: 1 });
    const db = await findNode(repo, snap, '/db');
    assert.deepEqual([db.type, db.mode, db.uid, db.gid], ['dir', 0o750, 123, 456]);
    const file = await findNode(repo, snap, '/db/dump.sql');
    assert.deepEqual([file.size, file.mode, file.mtimeNs], [dump.length, 0o640, '1700000000000000000']);
    assert.equal((await findNode(repo, snap, '/db/current')).linkTarget, 'dump.sql');
    assert.equal((await findNode(repo, snap, '/empty')).size, 0);

    // Diverted: the file and the symlink go to the caller; /db is not made, the rest is restored.
    const target = path.join(dir, 'target');
    const sum = await restore(repo, snap, target, { divert: (p) => p === '/db' || p.startsWith('/db/') });
    assert.deepEqual(
      sum.diverted.map((d) => d.path),
      ['/db', '/db/current', '/db/dump.sql'],
    );
    await assert.rejects(fs.stat(path.join(target, 'db')));
    assert.equal(await fs.readFile(path.join(target, src, 'a.txt'), 'utf8'), 'walked');
    assert.equal((await fs.stat(path.join(target, 'empty'))).size, 0);
    // Not diverted, they are plain files.
    const plain = path.join(dir, 'plain');
    await restore(repo, snap, plain);
    assert.ok((await fs.readFile(path.join(plain, 'db', 'dump.sql'))).equals(dump));
    assert.equal((await fs.stat(path.join(plain, 'db'))).mode & 0o777, 0o750);
  });

  it('refuses entries on or inside walked paths or other entries, and relative paths', async (t) => {
    const dir = await tempDir(t);
    const repo = await initRepo(path.join(dir, 'repo'));
    await repo.loadIndex();
    t.after(() => repo.close());
    const cases: [string[], VirtualEntry[], RegExp][] = [
      [[dir], [{ path: `${dir}/x`, type: 'file' }], /would lie inside the backed-up path/],
      [[dir], [{ path: dir, type: 'file' }], /a backed-up path has that path/],
      [
        [],
        [
          { path: '/a', type: 'file' },
          { path: '/a', type: 'file' },
        ],
        /another entry has that path/,
      ],
      [
        [],
        [
          { path: '/a', type: 'file' },
          { path: '/a/b', type: 'file' },
        ],
        /would lie inside the entry \/a/,
      ],
      [[], [{ path: 'rel', type: 'file' }], /give an absolute path/],
      [[], [{ path: '/', type: 'dir' }], /give an absolute path below/],
    ];
    for (const [paths, entries, pattern] of cases) {
      await assert.rejects(backupPlan(repo, { paths, entries: list(entries) }), (err: unknown) => {
        assert.ok(isCairnError(err, 'USAGE'), String(err));
        assert.match(err.message, pattern);
        return true;
      });
    }
  });

  it('file hooks see every entry of the walk and may leave entries out', async (t) => {
    const dir = await tempDir(t);
    const repo = await initRepo(path.join(dir, 'repo'));
    await repo.loadIndex();
    t.after(() => repo.close());
    const src = path.join(dir, 'src');
    await fs.mkdir(path.join(src, 'skipdir'), { recursive: true });
    await fs.writeFile(path.join(src, 'keep.txt'), 'k');
    await fs.writeFile(path.join(src, 'drop.log'), 'd');
    await fs.writeFile(path.join(src, 'skipdir', 'inner'), 'i');
    const before: string[] = [];
    const after: string[] = [];
    const result = await backupPlan(
      repo,
      { paths: [src] },
      {
        hooks: {
          before: (p) => {
            before.push(path.relative(src, p));
            return p.endsWith('.log') || p.endsWith('skipdir') ? 'skip' : undefined;
          },
          after: (p, node) => after.push(`${path.relative(src, p)}:${node.size}`),
        },
      },
    );
    const snap = { ...result.snapshot, id: result.id };
    const seen: string[] = [];
    for await (const v of walk(repo, await findNode(repo, snap, src), src))
      seen.push(path.relative(src, v.path));
    assert.deepEqual(seen.sort(), ['', 'keep.txt']);
    assert.deepEqual(before.sort(), ['', 'drop.log', 'keep.txt', 'skipdir']);
    assert.deepEqual(after, ['keep.txt:1']);
  });

  it('read a source folder in place of an entry, keep it from an earlier snapshot, and take entries inside', async (t) => {
    const dir = await tempDir(t);
    const repo = await initRepo(path.join(dir, 'repo'));
    await repo.loadIndex();
    t.after(() => repo.close());
    const data = path.join(dir, 'pgdata');
    await fs.mkdir(path.join(data, 'pg_wal', 'archive_status'), { recursive: true });
    await fs.mkdir(path.join(data, 'base', '1', 'pgsql_tmp'), { recursive: true });
    await fs.writeFile(path.join(data, 'PG_VERSION'), '15\n');
    await fs.writeFile(path.join(data, 'postmaster.pid'), '123');
    await fs.writeFile(path.join(data, 'pg_wal', '000000010000000000000001'), 'wal');
    await fs.writeFile(path.join(data, 'base', '1', '1259'), Buffer.alloc(200_000, 'r'));
    await fs.writeFile(path.join(data, 'base', '1', 'pgsql_tmp', 't1'), 'tmp');
    await fs.chmod(data, 0o700);
    const hooked: string[] = [];
    const first = await backupPlan(
      repo,
      {
        paths: [],
        entries: list([
          {
            path: '/pg/data',
            type: 'dir',
            source: data,
            exclude: ['pg_wal/*', 'postmaster.pid', 'pgsql_tmp'],
            volatile: true,
          },
          // Given after the folder was read: it lands inside it.
          { path: '/pg/data/backup_label', type: 'file', read: bytes(Buffer.from('START WAL LOCATION')) },
          { path: '/pg/wal/000000010000000000000002', type: 'file', source: path.join(data, 'PG_VERSION') },
        ]),
      },
      // Option plugins' hooks are not called for source entries.
      { hooks: { before: (p) => void hooked.push(p) } },
    );
    assert.deepEqual(hooked, []);
    const snap1 = { ...first.snapshot, id: first.id };
    const seen: string[] = [];
    for await (const v of walk(repo, await findNode(repo, snap1, '/pg'), '/pg')) seen.push(v.path);
    assert.deepEqual(seen.sort(), [
      '/pg',
      '/pg/data',
      '/pg/data/PG_VERSION',
      '/pg/data/backup_label',
      '/pg/data/base',
      '/pg/data/base/1',
      '/pg/data/base/1/1259',
      '/pg/data/pg_wal',
      '/pg/wal',
      '/pg/wal/000000010000000000000002',
    ]);
    const top = await findNode(repo, snap1, '/pg/data');
    assert.equal(top.mode, 0o700, 'the source folder keeps its own metadata');
    assert.equal((await findNode(repo, snap1, '/pg/data/base/1/1259')).size, 200_000);

    // An incremental: the data folder is kept as it was (the change on disk is not read), and a
    // new file lands in the kept WAL folder.
    await fs.writeFile(path.join(data, 'PG_VERSION'), '16\n');
    const second = await backupPlan(repo, {
      entries: list([
        { path: '/pg/data', type: 'dir', keepFrom: snap1.tree },
        { path: '/pg/wal', type: 'dir', keepFrom: snap1.tree },
        { path: '/pg/wal/000000010000000000000003', type: 'file', read: bytes(Buffer.from('w3')) },
      ]),
    });
    const snap2 = { ...second.snapshot, id: second.id };
    assert.equal((await findNode(repo, snap2, '/pg/data')).subtree, top.subtree);
    assert.equal((await findNode(repo, snap2, '/pg/data/PG_VERSION')).size, 3);
    const wal: string[] = [];
    for await (const v of walk(repo, await findNode(repo, snap2, '/pg/wal'), '/pg/wal')) wal.push(v.path);
    assert.deepEqual(wal.sort(), [
      '/pg/wal',
      '/pg/wal/000000010000000000000002',
      '/pg/wal/000000010000000000000003',
    ]);
    await assert.rejects(
      backupPlan(repo, { entries: list([{ path: '/pg/nothing', type: 'dir', keepFrom: snap1.tree }]) }),
      /Cannot keep the entry \/pg\/nothing: the earlier snapshot has no such path/,
    );
    await assert.rejects(
      backupPlan(repo, { entries: list([{ path: '/x', type: 'dir', source: path.join(dir, 'missing') }]) }),
      (err) => isCairnError(err) && err.code === 'SOURCE_NOT_FOUND' && err.message.includes('/x from'),
    );
  });
});
