import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { FaultBackend } from '../backend/fault.ts';
import { LocalBackend } from '../backend/index.ts';
import { isCairnError } from '../errors.ts';
import { backup } from './archiver.ts';
import { check } from './check.ts';
import { copySnapshots } from './copy.ts';
import {
  assertSameTree,
  FAST_SCRYPT,
  initRepo,
  openRepo,
  PASSWORD,
  readTree,
  seededBytes,
  SMALL,
  tempDir,
  textBytes,
} from './fixtures.testing.ts';
import { Repository } from './repository.ts';
import { restore } from './restorer.ts';
import type { SnapshotInfo } from './snapshot.ts';

/** A source repository with three snapshots of a changing tree (large, small and empty files). */
async function source(t: TestContext) {
  const dir = await tempDir(t, 'cairn-copy-');
  const src = path.join(dir, 'src');
  await fs.mkdir(path.join(src, 'sub'), { recursive: true });
  const repo = await initRepo(path.join(dir, 'a'));
  const ids: string[] = [];
  let parent: SnapshotInfo | undefined;
  for (let round = 0; round < 3; round++) {
    await fs.writeFile(path.join(src, 'stable'), seededBytes('stable', 300_000));
    await fs.writeFile(path.join(src, `r${round}`), seededBytes(`r${round}`, 150_000 + round));
    await fs.writeFile(path.join(src, 'sub', 'text'), textBytes(round, 40_000));
    await fs.writeFile(path.join(src, 'sub', 'small'), `round ${round}\n`);
    await fs.writeFile(path.join(src, 'empty'), '');
    const r = await backup(repo, [src], {
      now: () => new Date(Date.UTC(2026, 0, 1 + round)),
      tags: [`r${round}`],
      ...(parent ? { parent } : {}),
    });
    parent = { ...r.snapshot, id: r.id };
    ids.push(r.id);
  }
  await repo.close();
  return { dir, src, ids, a: path.join(dir, 'a') };
}

/** Restores `snapshot` of `repoDir` and compares it with the tree `src` now holds. */
async function restoresLike(repoDir: string, snapshot: string, src: string, target: string): Promise<void> {
  const repo = await openRepo(repoDir);
  await repo.loadIndex();
  await restore(repo, await repo.findSnapshot(snapshot), target);
  assertSameTree(await readTree(path.join(target, src)), await readTree(src));
}

async function checksClean(repoDir: string): Promise<void> {
  const repo = await openRepo(repoDir);
  const result = await check(repo, { readData: true });
  assert.deepEqual(result.errors, []);
  assert.deepEqual(result.warnings, []);
}

/** A destination made like `init --from-repo`: the source's chunker, and its key if `shareKey`. */
async function like(from: Repository, dir: string, shareKey: boolean): Promise<Repository> {
  return Repository.init(new LocalBackend(dir), PASSWORD, {
    ...SMALL,
    chunker: from.config.chunker,
    chunkerSecret: from.config.chunker.secret,
    ...(shareKey ? { masterKey: from.key } : {}),
  });
}

describe('copySnapshots', () => {
  it('with a shared key: sealed blobs as they are, originals recorded, a second copy skips all', async (t) => {
    const { dir, src, ids, a } = await source(t);
    const from = await openRepo(a);
    const to = await like(from, path.join(dir, 'b'), true);
    const r = await copySnapshots(from, to);
    assert.equal(r.mode, 'raw');
    assert.deepEqual(
      r.copied.map((c) => c.source),
      ids,
    );
    assert.ok(r.blobs > 0 && r.bytesCopied > 0);
    assert.equal(r.bytesCloned, 0);
    const { snapshots } = await to.listSnapshots();
    assert.deepEqual(
      snapshots.map((s) => s.original),
      ids,
    );
    // Same key: the same trees, so the copies name the same root trees; parents follow the copies.
    const { snapshots: originals } = await from.listSnapshots();
    assert.deepEqual(
      snapshots.map((s) => s.tree),
      originals.map((s) => s.tree),
    );
    assert.deepEqual(
      snapshots.map((s) => s.tags),
      [['r0'], ['r1'], ['r2']],
    );
    assert.equal(snapshots[2]!.parent, snapshots[1]!.id);
    await to.close();
    await checksClean(path.join(dir, 'b'));
    await restoresLike(path.join(dir, 'b'), 'latest', src, path.join(dir, 'restored'));

    const again = await copySnapshots(await openRepo(a), await openRepo(path.join(dir, 'b')));
    assert.deepEqual(again.copied, []);
    assert.deepEqual(again.skipped, ids);
    assert.equal(again.blobs, 0);
  });

  it('with other keys: blobs sealed again under new ids, and the copy restores the same files', async (t) => {
    const { dir, src, ids, a } = await source(t);
    const from = await openRepo(a);
    const to = await like(from, path.join(dir, 'b'), false);
    const r = await copySnapshots(from, to, { snapshots: [ids[2]!.slice(0, 10)] });
    assert.equal(r.mode, 'reencrypt');
    assert.equal(r.copied.length, 1);
    const copy = await to.findSnapshot('latest');
    assert.notEqual(copy.tree, (await from.findSnapshot(ids[2]!)).tree);
    assert.equal(copy.parent, undefined, 'the parent was not copied');
    await to.close();
    await checksClean(path.join(dir, 'b'));
    await restoresLike(path.join(dir, 'b'), 'latest', src, path.join(dir, 'restored'));
    // Chained: a copy of the copy is recognised as the original.
    const c = await Repository.init(new LocalBackend(path.join(dir, 'c')), PASSWORD, { ...SMALL });
    await copySnapshots(await openRepo(path.join(dir, 'b')), c);
    const r2 = await copySnapshots(await openRepo(a), c);
    assert.deepEqual(r2.skipped, [ids[2]]);
    assert.equal(r2.copied.length, 2);
  });

  it('with another chunker: files are cut again and deduplicate with later backups there', async (t) => {
    const { dir, src, a } = await source(t);
    const from = await openRepo(a);
    const to = await Repository.init(new LocalBackend(path.join(dir, 'b')), PASSWORD, {
      scrypt: FAST_SCRYPT,
      packSize: 256 * 1024,
      chunker: { minSize: 8 * 1024, avgSize: 16 * 1024, maxSize: 64 * 1024 },
    });
    const r = await copySnapshots(from, to);
    assert.equal(r.mode, 'rechunk');
    assert.equal(r.copied.length, 3);
    // A backup of the same tree into the destination finds every chunk there already.
    const b = await backup(to, [src]);
    assert.equal(b.snapshot.summary?.dataBlobs, 0, JSON.stringify(b.snapshot.summary));
    await to.close();
    await checksClean(path.join(dir, 'b'));
    await restoresLike(path.join(dir, 'b'), r.copied[2]!.copy, src, path.join(dir, 'restored'));
  });

  it('where the destination can clone, composes packs from ranges of the source packs', async (t) => {
    const { dir, src, a } = await source(t);
    class Cloning extends FaultBackend {
      override canClone(): Promise<boolean> {
        return Promise.resolve(true);
      }
    }
    const from = await openRepo(a);
    const to = await like(from, path.join(dir, 'b'), true);
    const backend = new Cloning(new LocalBackend(path.join(dir, 'b')));
    const reopened = await Repository.open(backend, PASSWORD);
    const r = await copySnapshots(from, reopened);
    assert.equal(r.mode, 'clone');
    assert.ok(backend.calls.compose > 0);
    // This file system shares no blocks: the backend copied every range.
    assert.equal(r.bytesCloned, 0);
    assert.ok(r.bytesCopied > 0);
    await to.close();
    await checksClean(path.join(dir, 'b'));
    await restoresLike(path.join(dir, 'b'), 'latest', src, path.join(dir, 'restored'));
  });

  it('refuses to start when a source snapshot cannot be read, and copies nothing', async (t) => {
    const { dir, a } = await source(t);
    const names = await fs.readdir(path.join(a, 'snapshots'));
    await fs.writeFile(path.join(a, 'snapshots', names[0]!), 'damaged');
    const from = await openRepo(a);
    const to = await like(from, path.join(dir, 'b'), true);
    await assert.rejects(
      copySnapshots(from, to),
      (e: unknown) => isCairnError(e, 'SNAPSHOT_CORRUPT') && /nothing was copied/.test((e as Error).message),
    );
    assert.deepEqual((await to.listSnapshots()).snapshots, []);
  });
});
