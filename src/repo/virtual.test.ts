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
});
