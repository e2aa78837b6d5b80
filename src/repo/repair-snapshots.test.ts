import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import type { TestContext } from 'node:test';
import { blobId } from '../crypto/index.ts';
import { backup } from './archiver.ts';
import { check } from './check.ts';
import { type BlobEntry } from './format.ts';
import {
  KiB,
  assertSameTree,
  initRepo,
  openRepo,
  readTree,
  seededBytes,
  tempDir,
  textBytes,
  type EntryState,
} from './fixtures.testing.ts';
import { REPAIR_CUT_LIMIT, repairSnapshots } from './repair-snapshots.ts';
import { restore } from './restorer.ts';
import type { SnapshotInfo } from './snapshot.ts';

const FIXED = new Date('2026-12-07T22:00:00.000Z');

/**
 * A source of 91 files of 12 KiB (each one data blob) in the top folder, `sub`, `sub/deep` and `other`,
 * backed up twice (the second time with one file changed): two snapshots sharing most trees.
 */
async function twoSnapshots(t: TestContext) {
  const dir = await tempDir(t, 'cairn-repair-');
  const src = path.join(dir, 'src');
  await fs.mkdir(path.join(src, 'sub', 'deep'), { recursive: true });
  const repoDir = path.join(dir, 'repo');
  const repo = await initRepo(repoDir);
  /** Source path of each data blob. */
  const fileOf = new Map<string, string>();
  const write = async (i: number, seed: string) => {
    const name = path.join(src, ['', 'sub', 'sub/deep'][i % 3]!, `f${i}`);
    const content = i % 2 === 0 ? seededBytes(seed, 12 * KiB) : textBytes(seed, 12 * KiB);
    await fs.writeFile(name, content);
    fileOf.set(blobId(repo.key, content).toString('hex'), name);
  };
  for (let i = 0; i < 90; i++) await write(i, `f${i}`);
  await fs.mkdir(path.join(src, 'other'));
  const other = textBytes('other', 12 * KiB);
  await fs.writeFile(path.join(src, 'other', 'o'), other);
  fileOf.set(blobId(repo.key, other).toString('hex'), path.join(src, 'other', 'o'));
  await backup(repo, [src]);
  await write(4, 'f4 changed');
  await backup(repo, [src]);
  await repo.close();
  return { dir, src, repoDir, fileOf };
}

/** The repository's snapshots, oldest first. */
async function snapshotsOf(repoDir: string): Promise<SnapshotInfo[]> {
  return (await (await openRepo(repoDir)).listSnapshots()).snapshots;
}

/** Every file of the repository with a hash of its bytes: what a repair may have written. */
async function repoFiles(repoDir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const [rel, e] of await readTree(repoDir))
    if (e.type === 'file' && !rel.startsWith('locks')) out.set(rel, e.sha256!);
  return out;
}

/**
 * What `repair index` will do, done by hand: one index naming only the blobs `keep` accepts,
 * superseding every earlier index file, which are then removed.
 */
async function rewriteIndex(repoDir: string, keep: (pack: string, e: BlobEntry) => boolean): Promise<void> {
  const repo = await openRepo(repoDir);
  await repo.loadIndex();
  const old = repo.indexFileNames();
  const packs = [...repo.index.byPack()]
    .map(([id, entries]) => ({ id, entries: entries.filter((e) => keep(id, e)) }))
    .filter((p) => p.entries.length > 0);
  await repo.writeIndexFile({ supersedes: old, packs });
  for (const name of old) await repo.backend.remove({ type: 'index', name });
}

/** Removes one data pack that holds several files' blobs, and its index entries; the blobs it held. */
async function losePack(repoDir: string): Promise<Set<string>> {
  const repo = await openRepo(repoDir);
  await repo.loadIndex();
  const data = [...repo.index.byPack()].filter(([, entries]) => entries.every((e) => e.type === 0));
  const [pack, entries] = data.sort((a, b) => b[1].length - a[1].length)[0]!;
  assert.ok(entries.length >= 3, `pack ${pack} holds ${entries.length} blobs`);
  await repo.backend.remove({ type: 'data', name: pack });
  await rewriteIndex(repoDir, (p) => p !== pack);
  return new Set(entries.map((e) => e.id.toString('hex')));
}

/** Restores a snapshot and reads back what it holds under the source path. */
async function restored(repoDir: string, snap: SnapshotInfo, target: string, src: string) {
  const repo = await openRepo(repoDir);
  await repo.loadIndex();
  const sum = await restore(repo, snap, target);
  await repo.close();
  assert.deepEqual(sum.warnings, []);
  return readTree(path.join(target, src));
}

/** The source's state without the given files (paths absolute). */
async function sourceWithout(src: string, cut: Iterable<string>): Promise<Map<string, EntryState>> {
  const want = await readTree(src);
  for (const p of cut) assert.ok(want.delete(path.relative(src, p)), p);
  return want;
}

describe('repair snapshots', () => {
  it('replaces each damaged snapshot by one that restores every undamaged file and lacks exactly the damaged ones', async (t) => {
    const { dir, src, repoDir, fileOf } = await twoSnapshots(t);
    const [first, second] = await snapshotsOf(repoDir);
    const lost = await losePack(repoDir);
    const damaged = [...lost].map((b) => fileOf.get(b)!);
    assert.ok(damaged.every((p) => p !== undefined));

    const repo = await openRepo(repoDir);
    await repo.loadIndex();
    const r = await repairSnapshots(repo, { now: () => FIXED });
    await repo.close();
    assert.equal(r.snapshots, 2);
    assert.equal(r.repaired.length, 2);
    assert.deepEqual(r.unreadable, []);
    assert.ok(r.treesWritten > 0);

    const after = await snapshotsOf(repoDir);
    assert.equal(after.length, 4, 'originals are kept without forget');
    for (const old of [first!, second!]) {
      const rep = r.repaired.find((x) => x.original === old.id)!;
      const snap = after.find((s) => s.id === rep.replacement)!;
      assert.deepEqual(snap.tags, [...old.tags, 'repaired']);
      assert.equal(snap.time, old.time);
      assert.equal(snap.host, old.host);
      assert.deepEqual(snap.paths, old.paths);
      assert.equal(snap.username, old.username);
      assert.deepEqual(snap.summary, old.summary);
      assert.notEqual(snap.tree, old.tree);
      // The second snapshot's f4 is the changed one: which files are cut depends on the snapshot.
      const f4 = path.join(src, 'sub', 'f4');
      const cutHere = new Set(
        damaged.filter((p) => p !== f4 || lost.has(blobOfF4(fileOf, f4, old === second))),
      );
      const want = [...cutHere].sort();
      assert.ok(want.length >= 3, `${want.length} files cut`);
      assert.deepEqual(
        snap.repaired!.cut.map((c) => c.path).sort(),
        want,
        'the manifest lists the files cut, by their path in the snapshot',
      );
      assert.ok(
        snap.repaired!.cut.every(
          (c) => c.kind === 'file' && /^blob [0-9a-f]{64} is in no index$/.test(c.reason),
        ),
      );
      assert.deepEqual(
        { from: snap.repaired!.from, time: snap.repaired!.time, count: snap.repaired!.count },
        { from: old.id, time: FIXED.toISOString(), count: want.length },
      );
      const target = path.join(dir, `restore-${old.id.slice(0, 8)}`);
      const got = await restored(repoDir, snap, target, src);
      if (old === second) assertSameTree(got, await sourceWithout(src, cutHere));
      else {
        // The first snapshot has f4's first content: compare everything else, and f4's hash.
        const want1 = await sourceWithout(src, cutHere);
        const f4rel = path.relative(src, f4);
        if (!cutHere.has(f4)) {
          const g = got.get(f4rel)!;
          assert.equal(
            g.sha256,
            createHash('sha256')
              .update(seededBytes('f4', 12 * KiB))
              .digest('hex'),
          );
          got.delete(f4rel);
          want1.delete(f4rel);
        }
        assertSameTree(got, want1);
      }
    }

    // The originals still fail check; the replacements alone do not.
    const checked = await check(await openRepo(repoDir));
    assert.ok(checked.errors.length > 0);
    assert.ok(
      checked.errors.every((e) =>
        e.affected?.every((a) => a.snapshot === first!.id || a.snapshot === second!.id),
      ),
    );
  });

  it('counts the blobs of a pack the index names but the storage lacks as missing', async (t) => {
    const { src, repoDir, fileOf } = await twoSnapshots(t);
    const repo = await openRepo(repoDir);
    await repo.loadIndex();
    const [pack, entries] = [...repo.index.byPack()]
      .filter(([, e]) => e[0]?.type === 0)
      .sort((a, b) => b[1].length - a[1].length)[0]!;
    await repo.backend.remove({ type: 'data', name: pack });
    const r = await repairSnapshots(repo, { dryRun: true });
    await repo.close();
    assert.deepEqual(r.missingPacks, [pack]);
    const last = r.repaired.at(-1)!;
    // The last snapshot has f4's second content only.
    const oldF4 = blobOfF4(fileOf, path.join(src, 'sub', 'f4'), false);
    const want = entries
      .filter((e) => e.id.toString('hex') !== oldF4)
      .map((e) => fileOf.get(e.id.toString('hex'))!);
    assert.deepEqual(last.cut.map((c) => c.path).sort(), [...new Set(want)].sort());
    for (const c of last.cut)
      assert.match(c.reason, new RegExp(`is in pack ${pack}, which is missing from storage$`));
  });

  it('with forget removes the originals once replaced, and check is clean afterwards', async (t) => {
    const { repoDir } = await twoSnapshots(t);
    const originals = (await snapshotsOf(repoDir)).map((s) => s.id);
    await losePack(repoDir);
    assert.ok((await check(await openRepo(repoDir))).errors.length > 0);
    const repo = await openRepo(repoDir);
    await repo.loadIndex();
    const r = await repairSnapshots(repo, { forget: true });
    await repo.close();
    assert.deepEqual(
      r.repaired.map((x) => x.forgotten),
      [true, true],
    );
    const after = await snapshotsOf(repoDir);
    assert.equal(after.length, 2);
    assert.ok(after.every((s) => !originals.includes(s.id) && s.tags.includes('repaired')));
    const c = await check(await openRepo(repoDir));
    assert.deepEqual(c.errors, []);
  });

  it('running again changes nothing, and forget later removes the originals an earlier run replaced', async (t) => {
    const { repoDir } = await twoSnapshots(t);
    await losePack(repoDir);
    const run = async (forget: boolean) => {
      const repo = await openRepo(repoDir);
      await repo.loadIndex();
      const r = await repairSnapshots(repo, { forget });
      await repo.close();
      return r;
    };
    const first = await run(false);
    assert.equal(first.repaired.length, 2);
    const files = await repoFiles(repoDir);
    const again = await run(false);
    assert.deepEqual(again.repaired, []);
    assert.equal(again.intact, 2, 'the replacements need nothing missing');
    assert.deepEqual(
      again.alreadyRepaired.map((a) => [a.original, a.replacement, a.forgotten]).sort(),
      first.repaired.map((a) => [a.original, a.replacement, false]).sort(),
    );
    assert.deepEqual(await repoFiles(repoDir), files, 'nothing was written');

    const forgetting = await run(true);
    assert.deepEqual(forgetting.repaired, []);
    assert.ok(forgetting.alreadyRepaired.every((a) => a.forgotten));
    const left = await snapshotsOf(repoDir);
    assert.deepEqual(left.map((s) => s.id).sort(), first.repaired.map((a) => a.replacement!).sort());
    const files2 = await repoFiles(repoDir);
    const last = await run(true);
    assert.deepEqual([last.repaired, last.alreadyRepaired, last.intact], [[], [], 2]);
    assert.deepEqual(await repoFiles(repoDir), files2);
  });

  it('a dry run writes nothing and says what would be cut', async (t) => {
    const { repoDir } = await twoSnapshots(t);
    const lost = await losePack(repoDir);
    const files = await repoFiles(repoDir);
    const repo = await openRepo(repoDir);
    await repo.loadIndex();
    const r = await repairSnapshots(repo, { dryRun: true, forget: true });
    await repo.close();
    assert.equal(r.dryRun, true);
    assert.equal(r.repaired.length, 2);
    assert.ok(r.repaired.every((x) => x.replacement === undefined && !x.forgotten));
    assert.ok(r.repaired.every((x) => x.cut.length >= lost.size - 1 && x.cut.length <= lost.size));
    assert.equal(r.treesWritten, 0);
    assert.deepEqual(await repoFiles(repoDir), files);
  });

  it('a folder whose tree is in no index becomes an empty folder with the metadata its parent records', async (t) => {
    const { dir, src, repoDir } = await twoSnapshots(t);
    const [, second] = await snapshotsOf(repoDir);
    // The tree of sub/deep: found by walking down from the root.
    const repo = await openRepo(repoDir);
    await repo.loadIndex();
    let tree = await repo.loadTree(second!.tree);
    for (const name of [...src.split('/').filter(Boolean), 'sub']) {
      tree = await repo.loadTree(tree.nodes.find((n) => n.name === name)!.subtree!);
    }
    const deep = tree.nodes.find((n) => n.name === 'deep')!.subtree!;
    await rewriteIndex(repoDir, (_p, e) => e.id.toString('hex') !== deep);

    const repo2 = await openRepo(repoDir);
    await repo2.loadIndex();
    const r = await repairSnapshots(repo2, { forget: true, snapshots: [second!.id.slice(0, 10)] });
    await repo2.close();
    assert.equal(r.snapshots, 1, 'only the snapshot named');
    assert.deepEqual(r.repaired[0]!.cut, [
      { path: path.join(src, 'sub', 'deep'), kind: 'folder', reason: `tree ${deep} is in no index` },
    ]);
    const snap = (await snapshotsOf(repoDir)).find((s) => s.id === r.repaired[0]!.replacement)!;
    // In the source folder only the node of sub changed (its subtree); other keeps its tree id.
    const repo3 = await openRepo(repoDir);
    await repo3.loadIndex();
    const srcTree = async (root: string) => {
      let tree = await repo3.loadTree(root);
      for (const name of src.split('/').filter(Boolean))
        tree = await repo3.loadTree(tree.nodes.find((n) => n.name === name)!.subtree!);
      return tree;
    };
    const [was, now] = [await srcTree(second!.tree), await srcTree(snap.tree)];
    await repo3.close();
    assert.deepEqual(
      now.nodes.filter((n) => n.name !== 'sub'),
      was.nodes.filter((n) => n.name !== 'sub'),
    );
    const [subWas, subNow] = [was, now].map((t) => t.nodes.find((n) => n.name === 'sub')!);
    assert.notEqual(subNow!.subtree, subWas!.subtree);
    assert.deepEqual({ ...subNow, subtree: '' }, { ...subWas, subtree: '' });
    assert.ok(was.nodes.some((n) => n.name === 'other' && n.subtree !== undefined));
    const got = await restored(repoDir, snap, path.join(dir, 'restore'), src);
    const want = await readTree(src);
    for (const k of [...want.keys()]) if (k.startsWith('sub/deep/')) want.delete(k);
    assertSameTree(got, want);
  });

  it('a root tree that does not authenticate leaves a snapshot with its manifest and nothing in it', async (t) => {
    const { dir, repoDir } = await twoSnapshots(t);
    const repo = await openRepo(repoDir);
    await repo.loadIndex();
    const [snap] = (await repo.listSnapshots()).snapshots;
    // Every byte of every tree pack's blobs flipped: no tree reads, not even the root.
    for (const [pack, entries] of repo.index.byPack()) {
      if (entries[0]?.type !== 1) continue;
      const file = path.join(repoDir, 'data', pack.slice(0, 2), pack);
      const bytes = await fs.readFile(file);
      for (const e of entries) bytes[e.offset + (e.length >> 1)]! ^= 0x10;
      await fs.writeFile(file, bytes);
    }
    const r = await repairSnapshots(repo, { snapshots: [snap!.id] });
    await repo.close();
    const [rep] = r.repaired;
    assert.equal(rep!.cut.length, 1);
    assert.deepEqual({ path: rep!.cut[0]!.path, kind: rep!.cut[0]!.kind }, { path: '/', kind: 'folder' });
    assert.match(rep!.cut[0]!.reason, /^tree [0-9a-f]{64} cannot be read: .*fails authentication/);
    const replacement = (await snapshotsOf(repoDir)).find((s) => s.id === rep!.replacement)!;
    const target = path.join(dir, 'restore');
    const repo2 = await openRepo(repoDir);
    await repo2.loadIndex();
    await restore(repo2, replacement, target);
    await repo2.close();
    assert.deepEqual(await fs.readdir(target), []);
  });

  it('reports a snapshot file that cannot be read and leaves it in place', async (t) => {
    const { repoDir } = await twoSnapshots(t);
    const repo = await openRepo(repoDir);
    await repo.loadIndex();
    const bytes = seededBytes('not a snapshot', 200);
    const name = createHash('sha256').update(bytes).digest('hex');
    await repo.backend.write({ type: 'snapshots', name }, [bytes]);
    const r = await repairSnapshots(repo, { forget: true });
    await repo.close();
    assert.deepEqual(
      r.unreadable.map((u) => u.id),
      [name],
    );
    assert.match(r.unreadable[0]!.message, /does not authenticate/);
    assert.deepEqual([r.repaired, r.intact], [[], 2]);
    await fs.access(path.join(repoDir, 'snapshots', name));
  });

  it('lists at most REPAIR_CUT_LIMIT cuts in the manifest and counts them all', async (t) => {
    const dir = await tempDir(t, 'cairn-repair-');
    const src = path.join(dir, 'src');
    await fs.mkdir(src);
    const n = REPAIR_CUT_LIMIT + 20;
    for (let i = 0; i < n; i++) await fs.writeFile(path.join(src, `f${i}`), `file ${i}\n`);
    const repoDir = path.join(dir, 'repo');
    const repo = await initRepo(repoDir);
    await backup(repo, [src]);
    await repo.close();
    await rewriteIndex(repoDir, (_p, e) => e.type !== 0);
    const repo2 = await openRepo(repoDir);
    await repo2.loadIndex();
    const r = await repairSnapshots(repo2, {});
    await repo2.close();
    assert.equal(r.repaired[0]!.cut.length, n);
    const snap = (await snapshotsOf(repoDir)).find((s) => s.id === r.repaired[0]!.replacement)!;
    assert.equal(snap.repaired!.count, n);
    assert.equal(snap.repaired!.cut.length, REPAIR_CUT_LIMIT);
  });
});

/** The blob id of f4's content in the first (seed "f4") or second ("f4 changed") snapshot. */
function blobOfF4(fileOf: ReadonlyMap<string, string>, f4: string, changed: boolean): string {
  const ids = [...fileOf].filter(([, p]) => p === f4).map(([id]) => id);
  // Written first with seed "f4", then again: the map keeps insertion order.
  return ids[changed ? 1 : 0]!;
}
