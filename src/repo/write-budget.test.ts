/**
 * A write budget (a tenant's quota, in the server) stops a backup at the pack that would go past
 * it, before any snapshot: the repository stays whole, and what was written serves the next
 * backup.
 */
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { isCairnError } from '../errors.ts';
import { backup } from './archiver.ts';
import { check } from './check.ts';
import { initRepo, MiB, openRepo, seededBytes, tempDir } from './fixtures.testing.ts';
import { prune } from './prune.ts';
import type { Repository, WriteBudget } from './repository.ts';

/** A budget of `limit` bytes that records what it was asked. */
function budget(limit: number) {
  const b = {
    taken: 0,
    refused: [] as number[],
    reserve(bytes: number) {
      if (b.taken + bytes > limit) {
        b.refused.push(bytes);
        return false;
      }
      b.taken += bytes;
      return true;
    },
    charge(bytes: number) {
      b.taken += bytes;
    },
    refusal: (bytes: number) => `test budget of ${limit} bytes: ${b.taken} taken, ${bytes} more asked`,
  };
  return b satisfies WriteBudget;
}

/** Bytes of the repository's packs, index files and snapshots, as the storage lists them. */
async function stored(repo: Repository): Promise<{ bytes: number; packs: number; snapshots: number }> {
  let bytes = 0;
  let packs = 0;
  let snapshots = 0;
  for (const type of ['data', 'index', 'snapshots'] as const)
    for await (const f of repo.backend.list(type)) {
      bytes += f.size;
      if (type === 'data') packs++;
      if (type === 'snapshots') snapshots++;
    }
  return { bytes, packs, snapshots };
}

describe('write budget', () => {
  it('refuses the pack past the budget, writes no snapshot, and leaves a repository check finds whole', async (t) => {
    const dir = await tempDir(t);
    const src = path.join(dir, 'src');
    await fs.mkdir(src);
    // 6 MiB that do not compress, in 1 MiB files: about 24 packs of 256 KiB.
    for (let i = 0; i < 6; i++) await fs.writeFile(path.join(src, `f${i}`), seededBytes(`budget ${i}`, MiB));
    const repoDir = path.join(dir, 'repo');
    const repo = await initRepo(repoDir);
    const limit = 2 * MiB;
    const b = budget(limit);
    repo.budget = b;
    await assert.rejects(
      () => backup(repo, [src]),
      (err) => isCairnError(err, 'QUOTA_EXCEEDED') && /test budget of 2097152 bytes/.test(err.message),
    );
    await repo.close();
    assert.equal(b.refused.length, 1, 'one pack refused, then nothing more was tried');
    const after = await stored(repo);
    assert.equal(after.snapshots, 0);
    assert.ok(after.packs > 0, 'the packs that fitted were written');
    // Everything written (packs and index files) is what the budget allowed, and close to it.
    assert.ok(after.bytes <= b.taken, `${after.bytes} stored, ${b.taken} taken`);
    assert.ok(after.bytes <= limit + 64 * 1024, `${after.bytes} stored, budget ${limit}`);
    assert.ok(after.bytes > limit - 2 * 300 * 1024, `${after.bytes} stored: the budget was used`);

    // check: no errors, and not even a warning: the packs are indexed (salvaged), only unused.
    const checked = await openRepo(repoDir);
    const result = await check(checked, { readData: true });
    await checked.close();
    assert.deepEqual(result.errors, []);
    assert.deepEqual(result.warnings, []);
    assert.equal(result.snapshots, 0);

    // Without a budget the next backup succeeds and uploads only what was not stored yet.
    const again = await openRepo(repoDir);
    await again.loadIndex();
    const ok = await backup(again, [src]);
    await again.close();
    const added = ok.snapshot.summary?.dataAddedPacked ?? 0;
    assert.ok(added < 6 * MiB - (after.bytes - 64 * 1024), `${added} bytes added again`);
    assert.ok(added > 6 * MiB - after.bytes - 512 * 1024, `${added} bytes added`);
    const final = await stored(again);
    assert.equal(final.snapshots, 1);
    assert.ok(final.bytes < 6 * MiB + 512 * 1024, `${final.bytes}: nothing stored twice`);
  });

  it('packs left by a refused backup are garbage that prune removes', async (t) => {
    const dir = await tempDir(t);
    const src = path.join(dir, 'src');
    await fs.mkdir(src);
    await fs.writeFile(path.join(src, 'big'), seededBytes('garbage', 3 * MiB));
    const repoDir = path.join(dir, 'repo');
    const repo = await initRepo(repoDir);
    repo.budget = budget(MiB);
    await assert.rejects(
      () => backup(repo, [src]),
      (err) => isCairnError(err, 'QUOTA_EXCEEDED'),
    );
    await repo.close();
    const left = await stored(repo);
    assert.ok(left.packs > 0);
    const again = await openRepo(repoDir);
    const r = await prune(again, {});
    await again.close();
    assert.ok(r.bytesFreed > 0.7 * MiB, `prune freed ${r.bytesFreed}`);
    assert.equal((await stored(again)).packs, 0);
  });
});
