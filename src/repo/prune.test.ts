import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { FaultBackend } from '../backend/fault.ts';
import { LocalBackend, type Handle } from '../backend/index.ts';
import { isCairnError } from '../errors.ts';
import { backup } from './archiver.ts';
import { check } from './check.ts';
import { initRepo, openRepo, PASSWORD, seededBytes, tempDir } from './fixtures.testing.ts';
import { prune } from './prune.ts';
import { Repository } from './repository.ts';
import { restore } from './restorer.ts';

async function dirSize(dir: string): Promise<number> {
  let total = 0;
  for (const e of await fs.readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) total += (await fs.stat(path.join(e.parentPath, e.name))).size;
  }
  return total;
}

/** Three backups of a changing tree; the first two are then forgotten. */
async function history(t: Parameters<typeof tempDir>[0]) {
  const dir = await tempDir(t, 'cairn-prune-');
  const src = path.join(dir, 'src');
  const repoDir = path.join(dir, 'repo');
  await fs.mkdir(src);
  const repo = await initRepo(repoDir);
  const ids: string[] = [];
  for (let round = 0; round < 3; round++) {
    // Each round replaces most files, so old packs become mostly garbage.
    for (let i = 0; i < 12; i++) {
      const keep = i < 3;
      await fs.writeFile(
        path.join(src, `f${i}`),
        seededBytes(keep ? `stable-${i}` : `r${round}-${i}`, 200_000),
      );
    }
    ids.push((await backup(repo, [src])).id);
  }
  for (const id of ids.slice(0, 2)) await repo.backend.remove({ type: 'snapshots', name: id });
  return { dir, src, repoDir, last: ids[2]! };
}

describe('prune', () => {
  it('frees the space of forgotten snapshots, and what stays checks and restores', async (t) => {
    const { dir, src, repoDir, last } = await history(t);
    const before = await dirSize(path.join(repoDir, 'data'));
    const repo = await openRepo(repoDir);
    const dry = await prune(repo, { dryRun: true });
    assert.equal(dry.packsWritten, 0);
    assert.equal(await dirSize(path.join(repoDir, 'data')), before, 'a dry run changes nothing');
    const r = await prune(repo, { maxUnused: 0.05 });
    assert.ok(r.packsDeleted + r.packsRepacked > 0);
    // This file system cannot clone: every repacked byte is copied.
    assert.equal(r.bytesCloned, 0);
    assert.equal(r.bytesCopied, r.bytesWritten);
    const after = await dirSize(path.join(repoDir, 'data'));
    assert.ok(after < before * 0.6, `data went from ${before} to ${after} bytes`);
    const reopened = await openRepo(repoDir);
    const result = await check(reopened, { readData: true });
    assert.deepEqual(result.errors, []);
    assert.deepEqual(result.warnings, []);
    const target = path.join(dir, 'target');
    await restore(reopened, await reopened.findSnapshot(last), target);
    for (let i = 0; i < 12; i++) {
      assert.deepEqual(
        await fs.readFile(path.join(target, src, `f${i}`)),
        await fs.readFile(path.join(src, `f${i}`)),
      );
    }
    const again = await prune(await openRepo(repoDir));
    assert.equal(
      again.packsDeleted + again.packsRepacked + again.packsUnreferenced,
      0,
      `a second prune finds nothing: ${JSON.stringify(again)}`,
    );
  });

  it('where the backend can clone, repacks by composing packs from ranges of the old ones', async (t) => {
    const { dir, src, repoDir, last } = await history(t);
    // A backend that says it clones: prune takes the compose path, and LocalBackend, finding that
    // this file system cannot share blocks, copies each range in the kernel instead.
    class Cloning extends FaultBackend {
      override canClone(): Promise<boolean> {
        return Promise.resolve(true);
      }
    }
    const backend = new Cloning(new LocalBackend(repoDir));
    const repo = await Repository.open(backend, PASSWORD);
    await repo.loadIndex();
    const r = await prune(repo, { maxUnused: 0.05 });
    assert.ok(r.packsRepacked > 0, JSON.stringify(r));
    assert.ok(backend.calls.compose > 0);
    assert.equal(backend.calls.write, 2, 'two index files (flush, then the superseding one), no pack');
    assert.equal(r.bytesCloned + r.bytesCopied, r.bytesWritten);
    const reopened = await openRepo(repoDir);
    const result = await check(reopened, { readData: true });
    assert.deepEqual(result.errors, []);
    assert.deepEqual(result.warnings, []);
    const target = path.join(dir, 'target');
    await restore(reopened, await reopened.findSnapshot(last), target);
    for (let i = 0; i < 12; i++) {
      assert.deepEqual(
        await fs.readFile(path.join(target, src, `f${i}`)),
        await fs.readFile(path.join(src, `f${i}`)),
      );
    }
  });

  it('interrupted after its new index, it loses nothing, and running it again finishes the job', async (t) => {
    const { repoDir, last } = await history(t);
    const faulty = new FaultBackend(new LocalBackend(repoDir));
    const repo = await Repository.open(faulty, PASSWORD);
    await repo.loadIndex();
    // Every removal fails: the new index is written, nothing old is deleted.
    faulty.failNext('remove', 1000);
    await assert.rejects(prune(repo), (e: unknown) => isCairnError(e, 'BACKEND_IO'));
    const mid = await openRepo(repoDir);
    assert.deepEqual((await check(mid, { readData: true })).errors, []);
    await restore(mid, await mid.findSnapshot(last), path.join(repoDir, '..', 'mid-restore'));
    const finished = await prune(await openRepo(repoDir));
    assert.ok(finished.packsDeleted + finished.packsUnreferenced > 0);
    const end = await openRepo(repoDir);
    const result = await check(end, { readData: true });
    assert.deepEqual(result.errors, []);
    assert.deepEqual(result.warnings, []);
  });

  it('refuses to delete anything when a snapshot cannot be read', async (t) => {
    const { repoDir } = await history(t);
    const snaps = await fs.readdir(path.join(repoDir, 'snapshots'));
    await fs.writeFile(path.join(repoDir, 'snapshots', snaps[0]!), 'damaged');
    const before = await dirSize(path.join(repoDir, 'data'));
    await assert.rejects(
      prune(await openRepo(repoDir)),
      (e: unknown) => isCairnError(e, 'SNAPSHOT_CORRUPT') && /nothing was deleted/.test((e as Error).message),
    );
    assert.equal(await dirSize(path.join(repoDir, 'data')), before);
  });
});

/** A local backend whose packs named in `held` are retained (object lock) until `until`. */
class RetainingBackend extends LocalBackend {
  readonly held = new Set<string>();
  readonly until = new Date(Date.now() + 86_400_000);
  readonly removed: string[] = [];
  override async retainedUntil(h: Handle): Promise<Date | undefined> {
    await super.retainedUntil(h);
    return this.held.has(h.name) ? this.until : undefined;
  }
  override async remove(h: Handle): Promise<void> {
    if (this.held.has(h.name)) throw new Error(`prune tried to remove retained ${h.type}/${h.name}`);
    this.removed.push(h.name);
    await super.remove(h);
  }
}

describe('prune under retention', () => {
  it('never removes a retained pack or index file, keeps it indexed and says until when', async (t) => {
    const { repoDir, last } = await history(t);
    const backend = new RetainingBackend(repoDir);
    for await (const f of backend.list('data')) backend.held.add(f.name);
    for await (const f of backend.list('index')) backend.held.add(f.name);
    const repo = await Repository.open(backend, PASSWORD);
    const r = await prune(repo, { maxUnused: 0.05 });
    assert.ok(r.packsRetained > 0);
    assert.ok(r.bytesRetained > 0);
    assert.equal(r.retainedUntil?.getTime(), backend.until.getTime());
    assert.equal(r.packsDeleted + r.packsRepacked + r.packsUnreferenced, 0);
    assert.equal(r.bytesFreed, 0);
    assert.deepEqual(backend.removed, []);
    const reopened = await openRepo(repoDir);
    const result = await check(reopened, { readData: true });
    assert.deepEqual(result.errors, []);
    await reopened.findSnapshot(last);

    // Once the retention is over, the next prune frees them.
    backend.held.clear();
    const later = await prune(await Repository.open(backend, PASSWORD), { maxUnused: 0.05 });
    assert.equal(later.packsRetained, 0);
    assert.ok(later.packsDeleted + later.packsRepacked > 0);
    assert.deepEqual((await check(await openRepo(repoDir), { readData: true })).errors, []);
  });
});
