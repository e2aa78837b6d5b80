import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { generateMasterKey } from '../crypto/index.ts';
import { backup, newBackupProgress } from './archiver.ts';
import { KiB, initRepo, openRepo, seededBytes, tempDir, textBytes } from './fixtures.testing.ts';
import { SealPool } from './seal-pool.ts';
import { BLOB_TYPE } from './format.ts';
import { BACKUP_STAGES } from './stages.ts';

/** Small files (sealed whole on the workers) and large ones (chunked on the main thread). */
async function makeSource(src: string): Promise<number> {
  let total = 0;
  const write = async (rel: string, data: Buffer) => {
    await fs.mkdir(path.dirname(path.join(src, rel)), { recursive: true });
    await fs.writeFile(path.join(src, rel), data);
    total += data.length;
  };
  for (let i = 0; i < 40; i++) await write(`small/${i}.txt`, textBytes(i, 3 * KiB + i));
  for (let i = 0; i < 3; i++) await write(`large/${i}.bin`, seededBytes(`large ${i}`, 700 * KiB));
  await write('large/text.log', textBytes('log', 900 * KiB));
  return total;
}

/** Bytes of the files under the repository's data/ and index/ folders. */
async function storedBytes(repoDir: string): Promise<number> {
  let n = 0;
  for (const sub of ['data', 'index']) {
    const entries = await fs.readdir(path.join(repoDir, sub), { recursive: true, withFileTypes: true });
    for (const e of entries) if (e.isFile()) n += (await fs.stat(path.join(e.parentPath, e.name))).size;
  }
  return n;
}

describe('backup stages and live counters', () => {
  it('says how busy each stage was and which one limited the backup', async (t) => {
    const dir = await tempDir(t, 'cairn-stages-');
    const src = path.join(dir, 'src');
    await makeSource(src);
    const result = await backup(await initRepo(path.join(dir, 'repo')), [src]);
    assert.deepEqual(Object.keys(result.load), [...BACKUP_STAGES]);
    for (const stage of BACKUP_STAGES) {
      const share = result.load[stage];
      assert.ok(share > 0 && share <= 1, `${stage} ${share}`);
    }
    const top = Math.max(...BACKUP_STAGES.map((s) => result.load[s]));
    assert.equal(result.load[result.bottleneck], top);
    t.diagnostic(
      `load: ${BACKUP_STAGES.map((s) => `${s} ${Math.round(result.load[s] * 100)}%`).join(' > ')}, bottleneck ${result.bottleneck}`,
    );
  });

  it('counts bytes read from the sources and written to the repository as it goes', async (t) => {
    const dir = await tempDir(t, 'cairn-stages-');
    const src = path.join(dir, 'src');
    const repoDir = path.join(dir, 'repo');
    const total = await makeSource(src);
    const progress = newBackupProgress();
    const first = await backup(await initRepo(repoDir), [src], { progress });
    assert.equal(progress.bytesRead, total);
    assert.equal(progress.bytesDone, total);
    assert.equal(progress.bytesWritten, await storedBytes(repoDir), 'every pack and index file, as stored');

    // Unchanged files are done without being read; only changed folder listings are written.
    const repo = await openRepo(repoDir);
    await repo.loadIndex();
    const again = newBackupProgress();
    const before = await storedBytes(repoDir);
    await backup(repo, [src], { progress: again, parent: await repo.findSnapshot(first.id) });
    assert.equal(again.bytesRead, 0);
    assert.equal(again.bytesDone, total);
    assert.equal(again.bytesWritten, (await storedBytes(repoDir)) - before);
    assert.equal(repo.monitor, undefined, 'the backup leaves the repository unwatched');
  });
});

describe('seal pool timing', () => {
  it("tells when a worker read, named and sealed a file, in this thread's clock", async (t) => {
    const dir = await tempDir(t, 'cairn-stages-');
    const file = path.join(dir, 'f');
    await fs.writeFile(file, textBytes('f', 10 * KiB));
    const pool = new SealPool(generateMasterKey(), { codec: 'zstd' }, 1);
    try {
      const sent = performance.now();
      const r = await pool.sealFile(file, 10 * KiB, 16 * KiB);
      const received = performance.now();
      const tm = r?.timing;
      assert.ok(tm);
      assert.ok(sent <= tm.start && tm.start <= tm.read && tm.read <= tm.hashed, JSON.stringify(tm));
      assert.ok(tm.hashed <= tm.end && tm.end <= received, JSON.stringify(tm));
      const s = await pool.seal(BLOB_TYPE.data, Buffer.alloc(32), Buffer.alloc(100 * KiB, 7));
      assert.ok(s.timing && s.timing.hashed === s.timing.start && s.timing.end >= s.timing.hashed);
    } finally {
      await pool.close();
    }
  });
});
