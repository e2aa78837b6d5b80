/**
 * A backup cancelled after the last read of a large file (issue 20): the file's last packs are
 * sealed and written after its bytes are read, and a cancel that came meanwhile was not seen —
 * the restore point was written and the run ended `success` although its cancel had been
 * accepted. Now no restore point is written; the packs stay, indexed, for the next backup.
 */
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { it } from 'node:test';
import { CairnError, isCairnError } from '../errors.ts';
import { backup } from './archiver.ts';
import { initRepo, MiB, openRepo, seededBytes, tempDir } from './fixtures.testing.ts';

it('a cancel that comes while the last packs of a file are written leaves no restore point', async (t) => {
  const dir = await tempDir(t);
  const source = path.join(dir, 'source');
  await mkdir(source);
  await writeFile(path.join(source, 'big.bin'), seededBytes('big', 2 * MiB));
  const repo = await initRepo(path.join(dir, 'repo'));
  try {
    const abort = new AbortController();
    // Every byte of the file has been read when the repository is flushed: the cancel comes then.
    const flush = repo.flush.bind(repo);
    repo.flush = async () => {
      abort.abort(new CairnError('INTERRUPTED', 'canceled by request'));
      await flush();
    };
    await assert.rejects(backup(repo, [source], { signal: abort.signal }), (err: unknown) => {
      assert.ok(isCairnError(err, 'INTERRUPTED'), String(err));
      assert.match(
        (err as Error).message,
        /^Backup cancelled: no snapshot was written; \d+ packs already written/,
      );
      return true;
    });
    assert.deepEqual((await repo.listSnapshots()).snapshots, []);
    repo.flush = flush;
  } finally {
    await repo.close();
  }
  const again = await openRepo(path.join(dir, 'repo'));
  try {
    await again.loadIndex();
    const r = await backup(again, [source]);
    assert.equal((await again.listSnapshots()).snapshots.length, 1);
    // What the cancelled backup wrote is kept and indexed: nothing of the file is stored again.
    assert.equal(r.snapshot.summary?.dataBlobs, 0, JSON.stringify(r.snapshot.summary));
  } finally {
    await again.close();
  }
});
