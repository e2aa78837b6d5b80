import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { isCairnError } from '../errors.ts';
import { backup } from './archiver.ts';
import { initRepo, openRepo, seededBytes, tempDir } from './fixtures.testing.ts';
import { exclusiveBytes, purgeSnapshots } from './recycle.ts';

describe('recycle bin arithmetic', () => {
  it('counts the stored bytes only the bin needs: shared blobs are not counted, unshared ones are', async (t) => {
    const dir = await tempDir(t);
    const repoDir = path.join(dir, 'repo');
    const src = path.join(dir, 'src');
    await fs.mkdir(src);
    await fs.writeFile(path.join(src, 'shared'), seededBytes('shared', 300_000));
    await initRepo(repoDir);
    const first = await backup(await openRepo(repoDir), [src]);
    await fs.writeFile(path.join(src, 'only-second'), seededBytes('second', 500_000));
    const second = await backup(await openRepo(repoDir), [src]);
    const repo = await openRepo(repoDir);
    await repo.loadIndex();
    const { snapshots } = await repo.listSnapshots();
    const a = snapshots.find((s) => s.id === first.id)!;
    const b = snapshots.find((s) => s.id === second.id)!;

    const onlyB = await exclusiveBytes(repo, [a], [b]);
    // The second file's sealed blobs and the second snapshot's own trees: more than its 500 kB of
    // incompressible content, much less than both files.
    assert.ok(onlyB > 500_000 && onlyB < 700_000, `${onlyB}`);
    const onlyA = await exclusiveBytes(repo, [b], [a]);
    // Every data blob of the first is in the second: only its root tree differs.
    assert.ok(onlyA > 0 && onlyA < 10_000, `${onlyA}`);
    assert.equal(
      await exclusiveBytes(repo, [a, b], [b]),
      0,
      'a point also kept outside the bin costs nothing',
    );
    assert.equal(await exclusiveBytes(repo, [a], []), 0);
  });

  it('refuses to guess when a blob the bin needs is gone', async (t) => {
    const dir = await tempDir(t);
    const repoDir = path.join(dir, 'repo');
    const src = path.join(dir, 'src');
    await fs.mkdir(src);
    await fs.writeFile(path.join(src, 'f'), seededBytes('f', 100_000));
    const repo0 = await initRepo(repoDir);
    const r = await backup(repo0, [src]);
    for (const f of await fs.readdir(path.join(repoDir, 'index')))
      await fs.rm(path.join(repoDir, 'index', f));
    const repo = await openRepo(repoDir);
    await repo.loadIndex();
    const snap = await repo.findSnapshot(r.id);
    await assert.rejects(
      () => exclusiveBytes(repo, [], [snap]),
      (e) => isCairnError(e, 'BLOB_MISSING') && /recycle bin/.test(e.message),
    );
  });

  it('purges snapshot files, counting one already gone as purged', async (t) => {
    const dir = await tempDir(t);
    const repoDir = path.join(dir, 'repo');
    const src = path.join(dir, 'src');
    await fs.mkdir(src);
    await fs.writeFile(path.join(src, 'f'), 'x');
    const r = await backup(await initRepo(repoDir), [src]);
    const repo = await openRepo(repoDir);
    const gone = 'ab'.repeat(32);
    assert.deepEqual(await purgeSnapshots(repo, [r.id, gone]), [r.id, gone]);
    assert.deepEqual((await repo.listSnapshots()).snapshots, []);
  });
});
