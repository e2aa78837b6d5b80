import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { LocalBackend } from '../backend/index.ts';
import { isCairnError } from '../errors.ts';
import { backup } from './archiver.ts';
import { openStoredBlob } from './blob.ts';
import { check } from './check.ts';
import {
  initRepo,
  openRepo,
  PASSWORD,
  prng,
  randInt,
  readTree,
  assertSameTree,
  flipByte,
  seededBytes,
  tempDir,
} from './fixtures.testing.ts';
import type { BlobEntry } from './format.ts';
import { Lock } from './lock.ts';
import { prune, walkNeeded } from './prune.ts';
import { repairIndex } from './repair-index.ts';
import { Repository } from './repository.ts';
import { restore } from './restorer.ts';
import { readPackTrailer } from './trailer.ts';

type Ctx = Parameters<typeof tempDir>[0];

async function files(dir: string, sub: string): Promise<string[]> {
  try {
    return (await fs.readdir(path.join(dir, sub), { recursive: true, withFileTypes: true }))
      .filter((e) => e.isFile())
      .map((e) => path.join(e.parentPath, e.name));
  } catch {
    return [];
  }
}

/**
 * Three backups of a changing tree, the first two forgotten: the repository holds packs that
 * only the forgotten snapshots needed, packs both need, and packs only the last one needs.
 */
async function history(t: Ctx, rounds = 3) {
  const dir = await tempDir(t, 'cairn-prune-safety-');
  const src = path.join(dir, 'src');
  const repoDir = path.join(dir, 'repo');
  await fs.mkdir(path.join(src, 'sub'), { recursive: true });
  const repo = await initRepo(repoDir);
  const ids: string[] = [];
  for (let round = 0; round < rounds; round++) {
    for (let i = 0; i < 10; i++) {
      const where = i % 2 === 0 ? src : path.join(src, 'sub');
      await fs.writeFile(
        path.join(where, `f${i}`),
        seededBytes(i < 3 ? `stable-${i}` : `r${round}-${i}`, 150_000),
      );
    }
    ids.push((await backup(repo, [src])).id);
  }
  await repo.close();
  const want = await readTree(src);
  return { dir, src, repoDir, ids, want };
}

async function restoredTree(repoDir: string, id: string, target: string, src: string) {
  const repo = await openRepo(repoDir);
  await repo.loadIndex();
  await restore(repo, await repo.findSnapshot(id), target);
  await repo.close();
  return readTree(path.join(target, src));
}

async function assertClean(repoDir: string): Promise<void> {
  const repo = await openRepo(repoDir);
  const r = await check(repo, { readData: true });
  await repo.close();
  assert.deepEqual(r.errors, []);
  assert.deepEqual(
    r.warnings.map((w) => w.message),
    [],
  );
}

describe('prune never deletes a byte a snapshot needs', () => {
  it('with an index file lost, indexes the packs it named from their trailers and deletes none of them', async (t) => {
    const { dir, src, repoDir, ids, want } = await history(t);
    for (const id of ids.slice(0, 2)) await fs.rm(path.join(repoDir, 'snapshots', id));
    const indexFiles = await files(repoDir, 'index');
    assert.ok(indexFiles.length >= 3);
    // The last backup's index file: the packs only the kept snapshot needs.
    const names = indexFiles.map((f) => path.basename(f));
    const repo = await openRepo(repoDir);
    let lastIndex = '';
    for (const n of names) {
      const c = repo.decodeIndexFile(n, await fs.readFile(path.join(repoDir, 'index', n)));
      const tree = await repo.findSnapshot(ids[2]!);
      if (c.packs.some((p) => p.entries.some((e) => e.id.toString('hex') === tree.tree))) lastIndex = n;
    }
    assert.notEqual(lastIndex, '');
    await fs.rm(path.join(repoDir, 'index', lastIndex));

    const r = await prune(await openRepo(repoDir));
    assert.ok(r.packsRecovered > 0, JSON.stringify(r));
    assert.ok(r.packsDeleted + r.packsRepacked + r.packsUnreferenced > 0, 'the forgotten data still goes');
    assertSameTree(await restoredTree(repoDir, ids[2]!, path.join(dir, 'out'), src), want);
    await assertClean(repoDir);
  });

  it('refuses, deleting nothing, when an index file cannot be read; repair index makes it whole', async (t) => {
    const { dir, src, repoDir, ids, want } = await history(t);
    for (const id of ids.slice(0, 2)) await fs.rm(path.join(repoDir, 'snapshots', id));
    const [victim] = await files(repoDir, 'index');
    await flipByte(victim!);
    const before = (await files(repoDir, 'data')).sort();
    await assert.rejects(prune(await openRepo(repoDir)), (e: unknown) => {
      assert.ok(isCairnError(e, 'PRUNE_UNSAFE'), String(e));
      assert.match(e.message, /nothing was deleted/);
      assert.match(e.message, new RegExp(path.basename(victim!)));
      assert.match(e.message, /repair index/);
      return true;
    });
    assert.deepEqual((await files(repoDir, 'data')).sort(), before);

    const fixed = await repairIndex(await openRepo(repoDir));
    assert.equal(fixed.indexFilesDamaged.length, 1);
    assert.equal(fixed.packsIndexed, before.length);
    assert.deepEqual(fixed.packsUnreadable, []);
    const r = await prune(await openRepo(repoDir));
    assert.ok(r.packsDeleted + r.packsRepacked > 0);
    assertSameTree(await restoredTree(repoDir, ids[2]!, path.join(dir, 'out'), src), want);
    await assertClean(repoDir);
  });

  it('stops before deleting anything when a needed blob is gone, naming the blob, the file and the snapshot', async (t) => {
    const { repoDir, ids } = await history(t);
    await fs.rm(path.join(repoDir, 'snapshots', ids[0]!));
    // A pack the newest snapshot needs goes missing, and with it its index entries.
    const repo = await openRepo(repoDir);
    await repo.loadIndex();
    let pack = '';
    for (const e of repo.index.entries()) {
      if (e.type === 0) {
        pack = e.pack;
        break;
      }
    }
    await fs.rm(path.join(repoDir, 'data', pack.slice(0, 2), pack));
    await repairIndex(await openRepo(repoDir));
    const before = (await files(repoDir, 'data')).sort();
    await assert.rejects(prune(await openRepo(repoDir)), (e: unknown) => {
      assert.ok(isCairnError(e, 'PRUNE_UNSAFE'), String(e));
      assert.match(e.message, /data blob [0-9a-f]{64} \(file \/.+\/f\d of snapshot [0-9a-f]{8}\)/);
      assert.match(e.message, /nothing was deleted/);
      assert.match(e.message, /repair snapshots/);
      return true;
    });
    assert.deepEqual((await files(repoDir, 'data')).sort(), before);
  });

  it('keeps an unindexed pack whose trailer cannot be read, and says so', async (t) => {
    const { repoDir, ids } = await history(t);
    for (const id of ids.slice(0, 2)) await fs.rm(path.join(repoDir, 'snapshots', id));
    const repo = await openRepo(repoDir);
    await repo.loadIndex();
    const used = new Set<string>();
    await walkNeeded(
      repo,
      (id) => repo.lookup(id),
      (await repo.listSnapshots()).snapshots,
      used,
      () => assert.fail('a whole repository'),
    );
    // A pack only forgotten snapshots need loses its index file and its trailer.
    let victim: { file: string; pack: string } | undefined;
    for (const file of await files(repoDir, 'index')) {
      const c = repo.decodeIndexFile(path.basename(file), await fs.readFile(file));
      const unused = c.packs.find((p) => p.entries.every((e) => !used.has(e.id.toString('hex'))));
      if (unused !== undefined) victim = { file, pack: unused.id };
    }
    assert.ok(victim !== undefined);
    await fs.rm(victim.file);
    const packFile = path.join(repoDir, 'data', victim.pack.slice(0, 2), victim.pack);
    await flipByte(packFile, (await fs.stat(packFile)).size - 20);
    const r = await prune(await openRepo(repoDir));
    assert.deepEqual(r.packsUnreadable, [victim.pack]);
    assert.ok((await files(repoDir, 'data')).includes(packFile), 'the unreadable pack stays');
    const c = await check(await openRepo(repoDir), { readData: true });
    assert.deepEqual(c.errors, []);
  });

  it('a dry run predicts within 5% what a prune frees', async (t) => {
    const { repoDir, ids } = await history(t, 4);
    for (const id of ids.slice(0, 2)) await fs.rm(path.join(repoDir, 'snapshots', id));
    const dry = await prune(await openRepo(repoDir), { dryRun: true, maxUnused: 0.1 });
    const real = await prune(await openRepo(repoDir), { maxUnused: 0.1 });
    assert.ok(real.packsRepacked > 0, 'some packs are repacked, whose new packs a dry run must estimate');
    assert.ok(real.bytesFreed > 0);
    const error = Math.abs(dry.bytesFreed - real.bytesFreed) / real.bytesFreed;
    assert.ok(
      error <= 0.05,
      `dry run ${dry.bytesFreed}, real ${real.bytesFreed}: ${(error * 100).toFixed(1)}% apart`,
    );
  });

  it('removes old temp files and lock files of dead processes of this host, and nothing younger', async (t) => {
    const { repoDir } = await history(t, 1);
    const oldTemp = path.join(repoDir, 'data', '.tmp-old');
    const newTemp = path.join(repoDir, 'index', '.tmp-new');
    await fs.writeFile(oldTemp, 'x');
    await fs.writeFile(newTemp, 'x');
    const hour = new Date(Date.now() - 2 * 3600_000);
    await fs.utimes(oldTemp, hour, hour);
    const repo = await openRepo(repoDir);
    const env = { now: () => new Date(), host: 'here', pid: 1, alive: (pid: number) => pid !== 4242 };
    const dead = await Lock.acquire(repo, {
      exclusive: false,
      command: 'backup',
      env: { ...env, pid: 4242 },
      refresh: false,
    });
    const alive = await Lock.acquire(repo, {
      exclusive: false,
      command: 'backup',
      env: { ...env, pid: 7 },
      refresh: false,
    });
    const r = await prune(await openRepo(repoDir), { lockEnv: env, lockName: alive.name });
    assert.equal(r.tempFilesRemoved, 1);
    assert.equal(r.locksRemoved, 1);
    await assert.rejects(fs.stat(oldTemp));
    await fs.stat(newTemp);
    const left = (await files(repoDir, 'locks')).map((f) => path.basename(f));
    assert.deepEqual(left, [alive.name]);
    assert.ok(!left.includes(dead.name));
  });
});

describe('prune beside backups', () => {
  it("a collector's lock coexists with backups' and excludes other collectors and exclusive locks", async (t) => {
    const { repoDir } = await history(t, 1);
    const repo = await openRepo(repoDir);
    const b = await Lock.acquire(repo, { exclusive: false, command: 'backup' });
    const p = await Lock.acquire(repo, { exclusive: false, gc: true, command: 'prune' });
    await assert.rejects(
      Lock.acquire(repo, { exclusive: false, gc: true, command: 'forget' }),
      (e: unknown) =>
        isCairnError(e, 'REPO_LOCKED') && /collector's lock held by "prune"/.test((e as Error).message),
    );
    await assert.rejects(Lock.acquire(repo, { exclusive: true, command: 'repair index' }), (e: unknown) =>
      isCairnError(e, 'REPO_LOCKED'),
    );
    const b2 = await Lock.acquire(repo, { exclusive: false, command: 'backup' });
    for (const l of [b, p, b2]) await l.release();
  });

  it('waits for a backup that began before the new index, and keeps the packs its snapshot needs', async (t) => {
    const { dir, src, repoDir, ids } = await history(t);
    for (const id of ids.slice(0, 2)) await fs.rm(path.join(repoDir, 'snapshots', id));
    // The source goes back to the first round: its blobs are in packs only forgotten snapshots need.
    for (let i = 3; i < 10; i++) {
      const where = i % 2 === 0 ? src : path.join(src, 'sub');
      await fs.writeFile(path.join(where, `f${i}`), seededBytes(`r0-${i}`, 150_000));
    }
    const want = await readTree(src);
    // The backup opens and loads the index before prune changes it.
    const writer = await openRepo(repoDir);
    const lock = await Lock.acquire(writer, { exclusive: false, command: 'backup' });
    await writer.loadIndex();
    let backupId = '';
    let backupDone: Promise<void> | undefined;
    const r = await prune(await openRepo(repoDir), {
      pollMs: 20,
      afterMark: async () => {
        // The old packs are out of the index now, but not deleted: the backup counts on them.
        backupDone = (async () => {
          const b = await backup(writer, [src]);
          backupId = b.id;
          // Only trees are new: every file's blobs were in the index it loaded.
          assert.ok((b.snapshot.summary?.dataAdded ?? 0) < 100_000, 'the backup wrote its files again');
          await writer.close();
          await lock.release();
        })();
        await Promise.resolve();
      },
    });
    await backupDone;
    assert.equal(r.waitedFor, 1);
    assert.ok(r.packsRescued > 0, JSON.stringify(r));
    assert.equal(r.packsDeferred, 0);
    assertSameTree(await restoredTree(repoDir, backupId, path.join(dir, 'out'), src), want);
    // The packs kept hold blobs that repacking also copied: the next prune frees the copies.
    await prune(await openRepo(repoDir));
    assertSameTree(await restoredTree(repoDir, backupId, path.join(dir, 'out2'), src), want);
    await assertClean(repoDir);
  });

  it('leaves the garbage for the next prune when an earlier operation outlasts --max-wait', async (t) => {
    const { repoDir, ids } = await history(t);
    for (const id of ids.slice(0, 2)) await fs.rm(path.join(repoDir, 'snapshots', id));
    const other = await openRepo(repoDir);
    const held = await Lock.acquire(other, { exclusive: false, command: 'restore', refresh: false });
    const before = (await files(repoDir, 'data')).length;
    const r = await prune(await openRepo(repoDir), { maxWaitMs: 50, pollMs: 10 });
    assert.ok(r.packsDeferred > 0);
    assert.match(r.deferredBecause ?? '', /still running/);
    assert.ok((await files(repoDir, 'data')).length >= before, 'nothing deleted');
    await held.release();
    const next = await prune(await openRepo(repoDir));
    assert.ok(next.packsUnreferenced >= r.packsDeferred - r.packsRepacked, JSON.stringify(next));
    await assertClean(repoDir);
  });
});

/** Where every blob rests, by the trailers of every pack (whatever the index says). */
async function locations(
  repoDir: string,
  repo: Repository,
): Promise<Map<string, { pack: string; e: BlobEntry }[]>> {
  const out = new Map<string, { pack: string; e: BlobEntry }[]>();
  const backend = new LocalBackend(repoDir);
  for await (const f of backend.list('data')) {
    let entries: BlobEntry[];
    try {
      entries = await readPackTrailer(backend, repo.key, f.name, f.size);
    } catch {
      continue;
    }
    for (const e of entries) {
      const id = e.id.toString('hex');
      const list = out.get(id) ?? [];
      list.push({ pack: f.name, e });
      out.set(id, list);
    }
  }
  return out;
}

/** The blobs of `needed` that can be read and verified from some pack in storage. */
async function readable(
  repoDir: string,
  repo: Repository,
  needed: ReadonlySet<string>,
  known: Map<string, { pack: string; e: BlobEntry }[]>,
): Promise<Set<string>> {
  const now = await locations(repoDir, repo);
  const out = new Set<string>();
  for (const id of needed) {
    for (const { pack, e } of [...(known.get(id) ?? []), ...(now.get(id) ?? [])]) {
      const file = path.join(repoDir, 'data', pack.slice(0, 2), pack);
      try {
        const fh = await fs.open(file, 'r');
        try {
          const buf = Buffer.alloc(e.length);
          await fh.read(buf, 0, e.length, e.offset);
          openStoredBlob(repo.key, e.id, { ...e, pack }, buf);
        } finally {
          await fh.close();
        }
        out.add(id);
        break;
      } catch {
        // Not here: try the next place.
      }
    }
  }
  return out;
}

describe('prune, property', () => {
  it('over random repositories with random damage, deletes no blob a remaining snapshot needs', async (t) => {
    const damages = [
      'none',
      'rm-index',
      'flip-index',
      'rm-pack',
      'flip-pack',
      'flip-trailer',
      'flip-snapshot',
    ] as const;
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 1 << 30 }),
        fc.integer({ min: 2, max: 4 }),
        fc.constantFrom(...damages),
        fc.constantFrom(...damages),
        async (seed, rounds, d1, d2) => {
          const rng = prng(seed);
          const dir = await tempDir(t, 'cairn-prune-prop-');
          const src = path.join(dir, 'src');
          const repoDir = path.join(dir, 'repo');
          await fs.mkdir(src);
          const repo = await initRepo(repoDir);
          const ids: string[] = [];
          for (let r = 0; r < rounds; r++) {
            const n = 2 + randInt(rng, 5);
            for (let i = 0; i < n; i++) {
              await fs.writeFile(
                path.join(src, `f${i}`),
                seededBytes(`${seed}-${randInt(rng, 6)}-${i}`, 20_000 + randInt(rng, 150_000)),
              );
            }
            ids.push((await backup(repo, [src])).id);
          }
          await repo.close();
          // Forget some snapshots; know what the rest need, and where every blob rests, before damage.
          const forgotten = ids.filter(() => rng() < 0.4);
          for (const id of forgotten) await fs.rm(path.join(repoDir, 'snapshots', id));
          const clean = await openRepo(repoDir);
          await clean.loadIndex();
          const needed = new Set<string>();
          const { snapshots } = await clean.listSnapshots();
          await walkNeeded(
            clean,
            (id) => clean.lookup(id),
            snapshots,
            needed,
            () => assert.fail('clean repository'),
          );
          const known = await locations(repoDir, clean);

          for (const d of [d1, d2]) {
            const pick = async (sub: string) => {
              const list = (await files(repoDir, sub)).sort();
              return list[randInt(rng, list.length)];
            };
            const sub = d.endsWith('index') ? 'index' : d.endsWith('snapshot') ? 'snapshots' : 'data';
            const f = d === 'none' ? undefined : await pick(sub);
            if (f === undefined) continue;
            if (d.startsWith('rm-')) await fs.rm(f);
            else if (d === 'flip-trailer') await flipByte(f, (await fs.stat(f)).size - 20);
            else await flipByte(f, randInt(rng, (await fs.stat(f)).size));
          }
          const before = await readable(repoDir, clean, needed, known);
          try {
            await prune(await Repository.open(new LocalBackend(repoDir), PASSWORD), { maxUnused: rng() });
          } catch (err) {
            if (!(err instanceof Error && 'code' in err)) throw err;
          }
          const after = await readable(repoDir, clean, needed, known);
          const lost = [...before].filter((id) => !after.has(id));
          assert.deepEqual(lost, [], `damage ${d1}, ${d2}: prune deleted ${lost.length} needed blob(s)`);
          await fs.rm(dir, { recursive: true, force: true });
        },
      ),
      { numRuns: 16, seed: 18 },
    );
  });
});
