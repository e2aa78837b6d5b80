import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { FaultBackend } from '../backend/fault.ts';
import { LocalBackend } from '../backend/index.ts';
import { backup } from './archiver.ts';
import { findNode } from './browse.ts';
import { flipBlob, initRepo, KiB, openRepo, PASSWORD, seededBytes, tempDir } from './fixtures.testing.ts';
import { Repository } from './repository.ts';
import { makeFolders, restore } from './restorer.ts';
import type { SnapshotInfo } from './snapshot.ts';
import type { TreeNode } from './tree.ts';

const FILE: Omit<TreeNode, 'name'> = {
  type: 'file',
  mode: 0o644,
  uid: 0,
  gid: 0,
  size: 0,
  mtimeNs: '0',
  atimeNs: '0',
  ctimeNs: '0',
  inode: 0,
  device: 0,
  links: 1,
  content: [],
};
const { content: _content, ...NO_CONTENT } = FILE;
const DIR: Omit<TreeNode, 'name'> = { ...NO_CONTENT, type: 'dir', mode: 0o755 };

/** A snapshot of hand-made trees (the root tree given by id). */
function snapshotOf(tree: Buffer): SnapshotInfo {
  return {
    version: 1,
    time: new Date().toISOString(),
    host: 'h',
    username: 'u',
    paths: ['/x'],
    tags: [],
    tree: tree.toString('hex'),
    programVersion: 'test',
    id: 'f'.repeat(64),
  };
}

/** Flips one byte in the middle of a stored blob, in its pack file. */
async function flipByteOf(repo: Repository, repoDir: string, id: string): Promise<void> {
  const loc = repo.lookup(Buffer.from(id, 'hex'));
  assert.ok(loc, `blob ${id} is in no index`);
  await flipBlob(repoDir, loc);
}

async function setup(t: TestContext): Promise<{ repoDir: string; target: string; src: string; dir: string }> {
  const dir = await tempDir(t);
  return {
    dir,
    repoDir: path.join(dir, 'repo'),
    target: path.join(dir, 'target'),
    src: path.join(dir, 'src'),
  };
}

describe('restore of damaged snapshots', () => {
  it('a folder whose tree is in no index is left out, named with its tree; its siblings are restored', async (t) => {
    const { repoDir, target } = await setup(t);
    const repo = await initRepo(repoDir);
    const gone = randomBytes(32).toString('hex');
    const inner = await repo.saveTree({ nodes: [{ ...FILE, name: 'inside.txt' }] });
    const x = await repo.saveTree({
      nodes: [
        { ...DIR, name: 'gone', subtree: gone },
        { ...DIR, name: 'kept', subtree: inner.id.toString('hex') },
        { ...FILE, name: 'top.txt' },
      ],
    });
    const root = await repo.saveTree({ nodes: [{ ...DIR, name: 'x', subtree: x.id.toString('hex') }] });
    await repo.flush();
    const sum = await restore(repo, snapshotOf(root.id), target);
    assert.deepEqual(
      sum.notRestored.map(({ reason: _r, ...n }) => n),
      [
        {
          path: '/x/gone',
          dest: path.join(target, 'x', 'gone'),
          kind: 'folder',
          code: 'BLOB_MISSING',
          tree: gone,
        },
      ],
    );
    assert.match(sum.notRestored[0]!.reason, /in no index/);
    // The lost folder was made on the way down and is taken away again: nothing looks restored.
    assert.deepEqual((await fs.readdir(path.join(target, 'x'))).sort(), ['kept', 'top.txt']);
    assert.deepEqual(await fs.readdir(path.join(target, 'x', 'kept')), ['inside.txt']);
    assert.equal(sum.files, 2);
    // A dry run finds the same.
    const dry = await restore(repo, snapshotOf(root.id), path.join(target, '..', 'dry'), { dryRun: true });
    assert.deepEqual(
      dry.notRestored.map((n) => n.path),
      ['/x/gone'],
    );
    await repo.close();
  });

  it('a folder whose tree cannot be read from storage is left out with the storage error', async (t) => {
    const { repoDir, target, src } = await setup(t);
    await fs.mkdir(path.join(src, 'unread'), { recursive: true });
    await fs.writeFile(path.join(src, 'unread', 'in.txt'), 'in\n');
    await fs.writeFile(path.join(src, 'beside.txt'), 'beside\n');
    const made = await initRepo(repoDir);
    await backup(made, [src]);
    await made.close();
    const fault = new FaultBackend(new LocalBackend(repoDir));
    const repo = await Repository.open(fault, PASSWORD);
    await repo.loadIndex();
    const snap = await repo.findSnapshot('latest');
    const unread = (await findNode(repo, snap, path.join(src, 'unread'))).subtree!;
    const pack = repo.lookup(Buffer.from(unread, 'hex'))!.pack;
    // Reads of that pack fail from now on, but only once the walk is inside src.
    let walked = 0;
    fault.failNext(
      'read',
      Infinity,
      'BACKEND_IO',
      (h) => h.name === pack && ++walked > src.split('/').length,
    );
    const sum = await restore(repo, snap, target);
    assert.deepEqual(
      sum.notRestored.map((n) => [n.path, n.kind, n.code, n.tree, n.pack]),
      [[path.join(src, 'unread'), 'folder', 'BACKEND_IO', unread, pack]],
    );
    assert.deepEqual(await fs.readdir(path.join(target, src)), ['beside.txt']);
    await repo.close();
  });

  it('a tree entry whose name would leave the target loses its folder, and nothing is written', async (t) => {
    const { repoDir, target } = await setup(t);
    const repo = await initRepo(repoDir);
    for (const name of ['..', '.', '', '../escape', 'a/b']) {
      const bad = await repo.saveTree({
        nodes: [
          { ...FILE, name: 'fine' },
          { ...FILE, name },
        ],
      });
      const root = await repo.saveTree({ nodes: [{ ...DIR, name: 'x', subtree: bad.id.toString('hex') }] });
      await repo.flush();
      const sum = await restore(repo, snapshotOf(root.id), target);
      assert.equal(sum.notRestored.length, 1, name);
      const [lost] = sum.notRestored;
      assert.equal(lost!.path, '/x');
      assert.equal(lost!.code, 'BLOB_CORRUPT');
      assert.match(lost!.reason, /unsafe entry name/);
      assert.deepEqual(await fs.readdir(target), [], name);
    }
    await repo.close();
  });

  it('a file whose blob is in no index is never created, even with keepPartial', async (t) => {
    const { repoDir, target } = await setup(t);
    const repo = await initRepo(repoDir);
    const missing = randomBytes(32).toString('hex');
    const x = await repo.saveTree({
      nodes: [
        { ...FILE, name: 'gone.bin', size: 10, content: [missing] },
        { ...FILE, name: 'empty' },
      ],
    });
    const root = await repo.saveTree({ nodes: [{ ...DIR, name: 'x', subtree: x.id.toString('hex') }] });
    await repo.flush();
    for (const keepPartial of [false, true]) {
      const sum = await restore(repo, snapshotOf(root.id), target, { keepPartial });
      assert.deepEqual(
        sum.notRestored.map((n) => [n.path, n.kind, n.code, n.partial]),
        [['/x/gone.bin', 'file', 'BLOB_MISSING', undefined]],
      );
      assert.match(sum.notRestored[0]!.reason, new RegExp(`data blob ${missing} is in no index`));
      assert.deepEqual(await fs.readdir(path.join(target, 'x')), ['empty']);
    }
    await repo.close();
  });

  it('a file with one damaged blob of several is removed, or with keepPartial kept with a hole there', async (t) => {
    const { repoDir, target, src } = await setup(t);
    await fs.mkdir(src);
    const content = seededBytes('several blobs', 600 * KiB);
    await fs.writeFile(path.join(src, 'big.bin'), content);
    await fs.writeFile(path.join(src, 'other.txt'), 'other\n');
    // An older file under the same name in the target goes too: it is not the snapshot's.
    const dest = path.join(target, src, 'big.bin');
    await fs.mkdir(path.dirname(dest), { recursive: true });
    await fs.writeFile(dest, 'an older version');
    const repo = await initRepo(repoDir);
    await backup(repo, [src]);
    await repo.close();
    const r = await openRepo(repoDir);
    await r.loadIndex();
    const snap = await r.findSnapshot('latest');
    const ids = (await findNode(r, snap, path.join(src, 'big.bin'))).content ?? [];
    assert.ok(ids.length >= 3, `${ids.length} blobs`);
    await flipByteOf(r, repoDir, ids[1]!);
    const start = r.lookup(Buffer.from(ids[0]!, 'hex'))!.rawLength;
    const end = start + r.lookup(Buffer.from(ids[1]!, 'hex'))!.rawLength;

    const sum = await restore(r, snap, target);
    assert.deepEqual(
      sum.notRestored.map((n) => [n.path, n.kind, n.code]),
      [[path.join(src, 'big.bin'), 'file', 'BLOB_CORRUPT']],
    );
    assert.equal(existsSync(dest), false);
    assert.equal(await fs.readFile(path.join(target, src, 'other.txt'), 'utf8'), 'other\n');

    const kept = await restore(r, snap, target, { keepPartial: true });
    assert.equal(kept.notRestored[0]!.partial, `${dest}.cairn-partial`);
    assert.equal(existsSync(dest), false);
    const partial = await fs.readFile(`${dest}.cairn-partial`);
    assert.equal(partial.length, content.length);
    assert.ok(partial.subarray(0, start).equals(content.subarray(0, start)), 'the bytes before differ');
    assert.ok(partial.subarray(end).equals(content.subarray(end)), 'the bytes after differ');
    assert.ok(
      partial.subarray(start, end).equals(Buffer.alloc(end - start)),
      'the damaged range is not a hole',
    );
    await r.close();
  });
});

describe('makeFolders', () => {
  it('makes the missing folders of a path, and names the one it cannot make', async (t) => {
    const dir = await tempDir(t);
    makeFolders(path.join(dir, 'a', 'b', 'c'));
    assert.ok((await fs.stat(path.join(dir, 'a', 'b', 'c'))).isDirectory());
    makeFolders(path.join(dir, 'a', 'b', 'c'));
    await fs.writeFile(path.join(dir, 'file'), '');
    assert.throws(() => makeFolders(path.join(dir, 'file', 'below')), {
      code: 'TARGET_UNWRITABLE',
      message: new RegExp(
        `^Cannot restore ${path.join(dir, 'file', 'below')} \\(at ${path.join(dir, 'file')}\\): .*not a folder`,
      ),
    });
  });

  it('fails at once where mkdir keeps answering ENOENT (under /proc), instead of looping', () => {
    assert.throws(() => makeFolders('/proc/cairn-x/y'), {
      code: 'TARGET_UNWRITABLE',
      message:
        /^Cannot restore \/proc\/cairn-x\/y \(at \/proc\/cairn-x\): no such file or folder \(mkdir \/proc\/cairn-x\)$/,
    });
  });
});

describe('restore into a target in the way', () => {
  it('a FIFO under a file name is replaced, not waited on for a reader', { timeout: 20_000 }, async (t) => {
    const { repoDir, target, src } = await setup(t);
    await fs.mkdir(src);
    await fs.writeFile(path.join(src, 'a.txt'), 'alpha\n');
    await fs.writeFile(path.join(src, 'empty'), '');
    const repo = await initRepo(repoDir);
    await backup(repo, [src]);
    await fs.mkdir(path.join(target, src), { recursive: true });
    for (const name of ['a.txt', 'empty']) {
      const made = spawnSync('mkfifo', [path.join(target, src, name)]);
      assert.equal(made.status, 0, String(made.stderr));
    }
    const sum = await restore(repo, await repo.findSnapshot('latest'), target);
    assert.deepEqual(sum.notRestored, []);
    assert.equal(await fs.readFile(path.join(target, src, 'a.txt'), 'utf8'), 'alpha\n');
    assert.ok((await fs.lstat(path.join(target, src, 'empty'))).isFile());
    await repo.close();
  });
});
