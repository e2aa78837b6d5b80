import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { isCairnError } from '../errors.ts';
import { backup, normalisePaths, type BackupProgress } from './archiver.ts';
import {
  assertSameTree,
  KiB,
  MiB,
  SMALL,
  initRepo,
  openRepo,
  readTree,
  seededBytes,
  setMtime,
  tempDir,
  textBytes,
} from './fixtures.testing.ts';
import type { Repository } from './repository.ts';
import { restore } from './restorer.ts';

const { minSize, avgSize, maxSize } = SMALL.chunker as { minSize: number; avgSize: number; maxSize: number };

/** Unicode and awkward names, all valid on Linux. */
const ODD_NAMES = [
  'naïve café.txt',
  '🪨 cairn.md',
  'line\nbreak',
  'back\\slash',
  ' leading space',
  '-dash',
  'Ω',
];

/**
 * A source tree with every kind of thing a backup must keep: nested and empty folders, empty and
 * boundary-sized files, a large multi-chunk file with repeats, a sparse file, symlinks (one
 * dangling), odd names, unusual modes and chosen times. Returns its regular files' paths.
 */
async function makeTree(root: string): Promise<string[]> {
  const files: string[] = [];
  const file = async (rel: string, data: Buffer | string, mode = 0o644) => {
    const p = path.join(root, rel);
    await fs.mkdir(path.dirname(p), { recursive: true });
    await fs.writeFile(p, data);
    await fs.chmod(p, mode);
    files.push(p);
  };
  await fs.mkdir(root, { recursive: true });
  await file('empty', '');
  await file('tiny.txt', 'hello\n');
  for (const size of [
    minSize - 1,
    minSize,
    minSize + 1,
    avgSize,
    maxSize - 1,
    maxSize,
    maxSize + 1,
    2 * maxSize + 7,
  ]) {
    await file(`boundary/${size}.bin`, seededBytes(`b${size}`, size));
  }
  const segment = seededBytes('segment', 200 * KiB);
  await file(
    'large.bin',
    Buffer.concat([seededBytes('large', 700 * KiB), segment, textBytes('large', 300 * KiB), segment]),
  );
  await file('nested/a/b/c/deep.txt', textBytes('deep', 50 * KiB));
  await fs.mkdir(path.join(root, 'empty-dir'));
  await fs.mkdir(path.join(root, 'nested/empty'), { recursive: true });
  // Modes.
  await file('modes/private', 'secret', 0o600);
  await file('modes/setuid', '#!/bin/sh\n', 0o4755);
  await file('modes/readonly', 'ro', 0o444);
  await file('modes/group/inside', 'g', 0o640);
  await fs.chmod(path.join(root, 'modes/group'), 0o750);
  await fs.mkdir(path.join(root, 'modes/sticky'));
  await fs.chmod(path.join(root, 'modes/sticky'), 0o1777);
  await fs.chmod(path.join(root, 'modes'), 0o755);
  // Odd names.
  for (const [i, name] of ODD_NAMES.entries()) await file(`names/${name}`, `name ${i}`);
  await file('names/日本語/ファイル.txt', 'にほんご');
  // Symlinks.
  await fs.symlink('tiny.txt', path.join(root, 'link-rel'));
  await fs.symlink('does/not/exist', path.join(root, 'link-dangling'));
  await fs.symlink('/etc/hostname', path.join(root, 'link-abs'));
  await fs.symlink('nested/a', path.join(root, 'link-dir'));
  // A sparse file: 6 MiB with three islands of data.
  const sparse = path.join(root, 'sparse.img');
  const fh = await fs.open(sparse, 'w');
  await fh.write(seededBytes('s0', 10 * KiB), 0, 10 * KiB, 0);
  await fh.write(seededBytes('s1', 64 * KiB), 0, 64 * KiB, 3 * MiB + 123);
  await fh.write(Buffer.from('end'), 0, 3, 6 * MiB - 3);
  await fh.close();
  files.push(sparse);
  // Times, deepest first so that setting a folder's is not undone: distinct, with sub-ms parts.
  const all = [...(await readTree(root)).keys()].sort((a, b) => b.split('/').length - a.split('/').length);
  for (const [i, rel] of all.entries())
    await setMtime(path.join(root, rel), 1_600_000_000 + i * 1001 + 0.123456);
  return files;
}

/** Every tree blob reachable from a snapshot. */
async function treesOf(repo: Repository, root: string, out = new Set<string>()): Promise<Set<string>> {
  if (out.has(root)) return out;
  out.add(root);
  for (const n of (await repo.loadTree(root)).nodes) if (n.subtree) await treesOf(repo, n.subtree, out);
  return out;
}

/** A progress object that records (and may act on) every file whose content the archiver reads. */
function readTrap(onRead: (file: string) => void = () => undefined): {
  progress: BackupProgress;
  read: string[];
} {
  const read: string[] = [];
  let current = '';
  const progress = {
    filesDone: 0,
    dirsDone: 0,
    bytesDone: 0,
    bytesRead: 0,
    bytesWritten: 0,
    get currentFile() {
      return current;
    },
    set currentFile(file: string) {
      current = file;
      read.push(file);
      onRead(file);
    },
  };
  return { progress, read };
}

async function setup(t: TestContext): Promise<{ dir: string; src: string; repoDir: string; target: string }> {
  const dir = await tempDir(t, 'cairn-br-');
  return {
    dir,
    src: path.join(dir, 'src'),
    repoDir: path.join(dir, 'repo'),
    target: path.join(dir, 'target'),
  };
}

describe('backup and restore', () => {
  it('restore re-creates a varied tree byte for byte, with modes, times, symlinks and holes', async (t) => {
    const { src, repoDir, target } = await setup(t);
    const files = await makeTree(src);
    const sparseSource = await fs.stat(path.join(src, 'sparse.img'));
    assert.ok(sparseSource.blocks * 512 < sparseSource.size, 'the file system keeps holes');
    const repo = await initRepo(repoDir);
    const warnings: unknown[] = [];
    const result = await backup(repo, [src], { onWarning: (w) => warnings.push(w) });
    assert.deepEqual(warnings, []);
    const sum = result.snapshot.summary!;
    assert.equal(sum.filesNew, files.length);
    assert.equal(sum.totalFilesProcessed, files.length);
    assert.equal(sum.warnings, 0);
    assert.deepEqual(result.snapshot.paths, [src]);

    const reader = await openRepo(repoDir);
    await reader.loadIndex();
    const snap = await reader.findSnapshot(result.id.slice(0, 8));
    const summary = await restore(reader, snap, target);
    assert.deepEqual(summary.warnings, []);
    assert.equal(summary.files, files.length);
    assert.equal(summary.symlinks, 4);
    const restored = path.join(target, src);
    assertSameTree(await readTree(restored), await readTree(src));
    // The source folder itself keeps its metadata too.
    const [a, b] = await Promise.all([fs.stat(restored), fs.stat(src)]);
    assert.equal(a.mode, b.mode);
    const sparse = await fs.stat(path.join(restored, 'sparse.img'));
    assert.equal(sparse.size, 6 * MiB);
    assert.ok(
      sparse.blocks * 512 < sparse.size / 2,
      `restored sparse file uses ${sparse.blocks * 512} bytes`,
    );

    // Restoring again over the first restore gives the same tree.
    await restore(reader, snap, target);
    assertSameTree(await readTree(restored), await readTree(src));
  });

  it('an incremental backup reads no unchanged file and adds no file data, then picks up a changed file', async (t) => {
    const { src, repoDir } = await setup(t);
    const files = await makeTree(src);
    await initRepo(repoDir);
    const first = await backup(await openRepo(repoDir), [src]);

    // Second run, as the CLI does it: a fresh open, the index, the parent snapshot.
    const repo2 = await openRepo(repoDir);
    await repo2.loadIndex();
    const parent1 = await repo2.findSnapshot(first.id);
    const trap2 = readTrap();
    const second = await backup(repo2, [src], { parent: parent1, progress: trap2.progress });
    assert.deepEqual(trap2.read, [], 'no file is read');
    const s2 = second.snapshot.summary!;
    assert.equal(s2.filesUnmodified, files.length);
    assert.equal(s2.filesNew + s2.filesChanged, 0);
    assert.equal(s2.dataBlobs, 0);
    // Only folder listings whose metadata changed may be new (the first run's reads moved folder
    // access times; other processes change the times of the temp dir above the source): what
    // was added is exactly their size.
    const check = await openRepo(repoDir);
    await check.loadIndex();
    const before = await treesOf(check, first.snapshot.tree);
    let treeBytes = 0;
    for (const id of await treesOf(check, second.snapshot.tree)) {
      if (!before.has(id)) treeBytes += check.lookup(Buffer.from(id, 'hex'))!.rawLength;
    }
    t.diagnostic(
      `second run: ${s2.dataAdded} bytes added, ${s2.treeBlobs} trees, ${s2.dirsChanged} dirs changed`,
    );
    assert.equal(s2.dataAdded, treeBytes);
    assert.equal(
      s2.treeBlobs,
      [...(await treesOf(check, second.snapshot.tree))].filter((x) => !before.has(x)).length,
    );
    assert.equal(parent1.id, second.snapshot.parent);

    // Change one file, keeping its size: only it is read, and only its new chunks are stored.
    const changed = path.join(src, 'boundary', `${maxSize + 1}.bin`);
    const fh = await fs.open(changed, 'r+');
    await fh.write(Buffer.from('changed'), 0, 7, 100);
    await fh.close();
    const repo3 = await openRepo(repoDir);
    await repo3.loadIndex();
    const trap3 = readTrap();
    const third = await backup(repo3, [src], {
      parent: await repo3.findSnapshot(second.id),
      progress: trap3.progress,
    });
    assert.deepEqual(trap3.read, [changed]);
    const s3 = third.snapshot.summary!;
    assert.equal(s3.filesChanged, 1);
    assert.equal(s3.filesUnmodified, files.length - 1);
    assert.ok(s3.dataBlobs >= 1 && s3.dataBlobs <= 2, `${s3.dataBlobs} data blobs`);

    const reader = await openRepo(repoDir);
    await reader.loadIndex();
    const target = path.join(path.dirname(src), 'target');
    await restore(reader, await reader.findSnapshot('latest'), target);
    assertSameTree(await readTree(path.join(target, src)), await readTree(src));
  });

  it('a second backup through the same repository object reports only what it added', async (t) => {
    const { src, repoDir } = await setup(t);
    await fs.mkdir(src);
    await fs.writeFile(path.join(src, 'a'), seededBytes('a', 100 * KiB));
    const repo = await initRepo(repoDir);
    const first = await backup(repo, [src]);
    assert.ok(first.snapshot.summary!.dataAdded >= 100 * KiB);
    await fs.writeFile(path.join(src, 'b'), 'tiny');
    const second = await backup(repo, [src], { parent: { ...first.snapshot, id: first.id } });
    const s = second.snapshot.summary!;
    assert.equal(s.filesNew, 1);
    assert.equal(s.dataBlobs, 1);
    assert.ok(s.dataAdded < 10 * KiB, `dataAdded ${s.dataAdded}`);
    assert.ok(s.dataAddedPacked < 10 * KiB, `dataAddedPacked ${s.dataAddedPacked}`);
  });

  it('a backup of several paths re-creates each under the restore target', async (t) => {
    const { dir, repoDir, target } = await setup(t);
    const a = path.join(dir, 'one', 'docs');
    const b = path.join(dir, 'two', 'notes.txt');
    const c = path.join(dir, 'two', 'deeper', 'pics');
    await fs.mkdir(a, { recursive: true });
    await fs.mkdir(c, { recursive: true });
    await fs.writeFile(path.join(a, 'x.txt'), 'x');
    await fs.writeFile(b, textBytes('notes', 70 * KiB));
    await fs.writeFile(path.join(c, 'p.bin'), seededBytes('p', 300 * KiB));
    const repo = await initRepo(repoDir);
    // A path inside another given path, and a repeated one, are folded away.
    const result = await backup(repo, [c, b, a, path.join(a, 'x.txt'), a + '/']);
    assert.deepEqual(result.snapshot.paths, [a, c, b].sort());
    await restore(repo, { ...result.snapshot, id: result.id }, target);
    for (const p of [a, b, c]) {
      const st = await fs.lstat(path.join(target, p));
      assert.ok(st.isDirectory() || st.isFile(), p);
    }
    assert.equal(await fs.readFile(path.join(target, a, 'x.txt'), 'utf8'), 'x');
    assert.deepEqual(await fs.readFile(path.join(target, b)), textBytes('notes', 70 * KiB));
    assert.deepEqual(await fs.readFile(path.join(target, c, 'p.bin')), seededBytes('p', 300 * KiB));
    // Nothing else of the parent folders was taken.
    assert.deepEqual(await fs.readdir(path.join(target, dir, 'two')), ['deeper', 'notes.txt']);
  });

  it('normalisePaths makes paths absolute and drops repeats and paths inside others', () => {
    assert.deepEqual(normalisePaths(['/a/b', '/a', '/a/', '/ab', '/a/b/../c']), ['/a', '/ab']);
    assert.deepEqual(normalisePaths(['/x', '/']), ['/']);
    assert.deepEqual(normalisePaths(['rel']), [path.resolve('rel')]);
  });

  it('a file that vanishes during the backup is a warning, not a failure', async (t) => {
    const { src, repoDir, target } = await setup(t);
    await fs.mkdir(src);
    for (const name of ['a', 'b', 'c']) await fs.writeFile(path.join(src, name), seededBytes(name, 40 * KiB));
    const victim = path.join(src, 'b');
    // The file is removed after the folder was listed and stat'ed, just before it is opened.
    const { progress } = readTrap((file) => {
      if (file === victim) spawnSync('rm', [victim]);
    });
    const warnings: { path: string; message: string }[] = [];
    const repo = await initRepo(repoDir);
    const result = await backup(repo, [src], { progress, onWarning: (w) => warnings.push(w) });
    assert.equal(warnings.length, 1);
    assert.equal(warnings[0]?.path, victim);
    assert.match(warnings[0].message, /cannot open.*no such file or folder/);
    assert.deepEqual(result.warnings, warnings);
    assert.equal(result.snapshot.summary?.warnings, 1);
    await restore(repo, { ...result.snapshot, id: result.id }, target);
    assert.deepEqual(await fs.readdir(path.join(target, src)), ['a', 'c']);
  });

  it('a file that shrinks while it is read keeps the bytes read, with a warning', async (t) => {
    const { src, repoDir, target } = await setup(t);
    await fs.mkdir(src);
    const file = path.join(src, 'log');
    await fs.writeFile(file, seededBytes('log', 300 * KiB));
    const { progress } = readTrap((f) => {
      if (f === file) spawnSync('truncate', ['-s', String(100 * KiB), file]);
    });
    const warnings: { path: string; message: string }[] = [];
    const repo = await initRepo(repoDir);
    const result = await backup(repo, [src], { progress, onWarning: (w) => warnings.push(w) });
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!.message, /changed while being read \(size 307200 became 102400\)/);
    await restore(repo, { ...result.snapshot, id: result.id }, target);
    assert.deepEqual(await fs.readFile(path.join(target, file)), seededBytes('log', 100 * KiB));
  });

  it('a backup whose keep-alive fails (a lost lock) stops without a snapshot and leaves the repository whole', async (t) => {
    const { src, repoDir } = await setup(t);
    await makeTree(src);
    const repo = await initRepo(repoDir);
    let calls = 0;
    const lost = new Error('lock lost');
    await assert.rejects(
      backup(repo, [src], {
        keepAlive: () => {
          if (++calls > 3) throw lost;
        },
      }),
      (err: unknown) => err === lost,
    );
    const { snapshots } = await repo.listSnapshots();
    assert.equal(snapshots.length, 0);
    const reopened = await openRepo(repoDir);
    const { check } = await import('./check.ts');
    assert.deepEqual((await check(reopened)).errors, []);
  });

  it('a path that does not exist fails the backup with SOURCE_NOT_FOUND', async (t) => {
    const { dir, repoDir } = await setup(t);
    const repo = await initRepo(repoDir);
    await assert.rejects(backup(repo, [path.join(dir, 'nope')]), (err) =>
      isCairnError(err, 'SOURCE_NOT_FOUND'),
    );
    await assert.rejects(backup(repo, []), (err) => isCairnError(err, 'USAGE'));
  });

  it('a fifo is recorded and re-created; a socket is recorded and restore warns that it skips it', async (t) => {
    const { src, repoDir, target } = await setup(t);
    await fs.mkdir(src);
    assert.equal(spawnSync('mkfifo', [path.join(src, 'pipe')]).status, 0);
    await fs.writeFile(path.join(src, 'f'), 'f');
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(path.join(src, 'sock'), resolve));
    try {
      const repo = await initRepo(repoDir);
      const result = await backup(repo, [src]);
      assert.deepEqual(result.warnings, []);
      const summary = await restore(repo, { ...result.snapshot, id: result.id }, target);
      assert.equal(summary.warnings.length, 1);
      assert.match(summary.warnings[0]!.message, /socket is recorded but not re-created/);
      assert.deepEqual((await fs.readdir(path.join(target, src))).sort(), ['f', 'pipe']);
      assert.ok((await fs.lstat(path.join(target, src, 'pipe'))).isFIFO());
    } finally {
      server.close();
    }
  });

  it(
    'an unprivileged restore sets the mode of folders inside a folder it may not search',
    {
      skip: process.getuid?.() !== 0 && 'it needs root, to run the restore as another user',
    },
    async (t) => {
      const { dir, src, repoDir, target } = await setup(t);
      // locked/ may not be searched by its owner: its children's metadata must be set before it is.
      await fs.mkdir(path.join(src, 'locked', 'sub'), { recursive: true });
      await fs.writeFile(path.join(src, 'locked', 'sub', 'f'), 'f');
      await fs.chmod(path.join(src, 'locked', 'sub'), 0o751);
      await setMtime(path.join(src, 'locked', 'sub'), 1_500_000_000);
      await fs.chmod(path.join(src, 'locked'), 0o600);
      const repo = await initRepo(repoDir);
      await backup(repo, [src]);
      // Run the restore as nobody, in a process of its own, on the real files.
      await fs.mkdir(target);
      for (const p of [dir, repoDir, target]) await promisify(execFile)('chown', ['-R', '65534:65534', p]);
      const script = path.join(dir, 'restore.mjs');
      await fs.writeFile(
        script,
        `const [repoDir, target, repoUrl, backendUrl] = process.argv.slice(2);
const { Repository, restore } = await import(repoUrl);
const { LocalBackend } = await import(backendUrl);
const repo = await Repository.open(new LocalBackend(repoDir), { password: 'x' });
await repo.loadIndex();
const summary = await restore(repo, await repo.findSnapshot('latest'), target);
process.stdout.write(JSON.stringify(summary.warnings));
`,
      );
      const here = path.dirname(fileURLToPath(import.meta.url));
      const out = await promisify(execFile)(
        process.execPath,
        [
          script,
          repoDir,
          target,
          new URL('./index.ts', import.meta.url).href,
          new URL('../backend/index.ts', import.meta.url).href,
        ],
        { uid: 65534, gid: 65534, cwd: here },
      );
      assert.deepEqual(JSON.parse(out.stdout), []);
      const sub = await fs.stat(path.join(target, src, 'locked', 'sub'));
      assert.equal(sub.mode & 0o7777, 0o751);
      assert.equal(sub.mtimeMs, 1_500_000_000_000);
      assert.equal((await fs.stat(path.join(target, src, 'locked'))).mode & 0o7777, 0o600);
      assert.equal(sub.uid, 65534);
    },
  );
});
