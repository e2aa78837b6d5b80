import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import type { TestContext } from 'node:test';
import { isCairnError } from '../errors.ts';
import { blobId } from '../crypto/index.ts';
import { backup } from './archiver.ts';
import { check, parseSubset, type CheckResult } from './check.ts';
import { KiB, initRepo, openRepo, seededBytes, tempDir, textBytes } from './fixtures.testing.ts';

/**
 * A repository of one snapshot of 160 files of 12 KiB, each one blob (smaller than the minimum
 * chunk), random and text alternately, in several packs; and which file each data blob is.
 */
async function smallFiles(t: TestContext) {
  const dir = await tempDir(t, 'cairn-check-');
  const src = path.join(dir, 'src');
  await fs.mkdir(path.join(src, 'sub'), { recursive: true });
  const repoDir = path.join(dir, 'repo');
  const repo = await initRepo(repoDir);
  const fileOf = new Map<string, string>();
  for (let i = 0; i < 160; i++) {
    const name = path.join(src, i % 3 === 0 ? 'sub' : '', `f${i}`);
    const content = i % 2 === 0 ? seededBytes(`f${i}`, 12 * KiB) : textBytes(`f${i}`, 12 * KiB);
    await fs.writeFile(name, content);
    fileOf.set(blobId(repo.key, content).toString('hex'), name);
  }
  await backup(repo, [src]);
  const reader = await openRepo(repoDir);
  await reader.loadIndex();
  const data = [...reader.index.entries()].filter((e) => e.type === 0);
  const packFile = (pack: string) => path.join(repoDir, 'data', pack.slice(0, 2), pack);
  return { repoDir, fileOf, data, packFile };
}

function paths(r: CheckResult, pack: string): string[] {
  const f = r.errors.find((e) => e.pack === pack);
  return (f?.affected ?? []).map((a) => a.path).sort();
}

describe('check', () => {
  it('parseSubset reads a percentage or an n/m part and refuses anything else', () => {
    assert.deepEqual(parseSubset('10%'), { percent: 10 });
    assert.deepEqual(parseSubset('2.5%'), { percent: 2.5 });
    assert.deepEqual(parseSubset('100%'), { percent: 100 });
    assert.deepEqual(parseSubset('2/5'), { part: 2, of: 5 });
    assert.deepEqual(parseSubset('1/1'), { part: 1, of: 1 });
    for (const bad of ['0%', '101%', '0/3', '4/3', '1/0', '10', '%', 'a/b', '-1%', '1/2/3']) {
      assert.throws(
        () => parseSubset(bad),
        (err) => isCairnError(err, 'USAGE'),
        bad,
      );
    }
  });

  it('reads each pack in exactly one of the n/m parts, and a percentage of the packs rounded up', async (t) => {
    const dir = await tempDir(t, 'cairn-check-');
    const src = path.join(dir, 'src');
    await fs.mkdir(src);
    for (let i = 0; i < 12; i++) await fs.writeFile(path.join(src, `f${i}`), seededBytes(`f${i}`, 100 * KiB));
    const repo = await initRepo(path.join(dir, 'repo'));
    await backup(repo, [src]);
    const run = async (options: Parameters<typeof check>[1]) => {
      const r = await check(await openRepo(path.join(dir, 'repo')), options);
      assert.deepEqual(r.errors, []);
      return r;
    };
    const all = await run({ readData: true });
    assert.ok(all.packs >= 4, `${all.packs} packs`);
    assert.equal(all.packsRead, all.packs);
    let total = 0;
    for (let part = 1; part <= 3; part++) {
      total += (await run({ readData: true, subset: { part, of: 3 } })).packsRead;
    }
    assert.equal(total, all.packs);
    for (const random of [() => 0, (max: number) => max - 1]) {
      const half = await run({ readData: true, subset: { percent: 50 }, random });
      assert.equal(half.packsRead, Math.ceil(all.packs / 2));
    }
    assert.equal(
      (await run({ readData: true, subset: { percent: 1 } })).packsRead,
      1,
      'a small share still reads one pack',
    );
    assert.equal((await run({})).packsRead, 0);
  });

  it('finds and names a damaged blob in each of several packs verified in parallel', async (t) => {
    const { repoDir, fileOf, data, packFile } = await smallFiles(t);
    const packs = [...new Set(data.map((e) => e.pack))];
    assert.ok(packs.length >= 4, `${packs.length} data packs`);
    // One blob flipped in each of two packs, and the last byte of a third (its trailer's tail).
    const victims = [packs[0]!, packs[packs.length - 1]!].map((pack) => data.find((e) => e.pack === pack)!);
    for (const v of victims) {
      const bytes = await fs.readFile(packFile(v.pack));
      bytes[v.offset + (v.length >> 1)]! ^= 0x40;
      await fs.writeFile(packFile(v.pack), bytes);
    }
    const tailPack = packs[1]!;
    const bytes = await fs.readFile(packFile(tailPack));
    bytes[bytes.length - 1]! ^= 1;
    await fs.writeFile(packFile(tailPack), bytes);

    const quick = await check(await openRepo(repoDir), {});
    assert.deepEqual(
      quick.errors.map((e) => e.pack),
      [tailPack],
      'without reading, only the pack whose trailer is damaged is found',
    );
    const progress: number[] = [];
    const r = await check(await openRepo(repoDir), {
      readData: true,
      onProgress: (done, total, what) => {
        if (what === 'read') progress.push(done, total);
      },
    });
    assert.equal(r.packsRead, r.packs - 1, 'every pack but the one whose trailer is unreadable');
    assert.equal(progress.length / 2, r.packsRead);
    assert.deepEqual(progress.slice(-2), [r.packsRead, r.packsRead]);
    assert.deepEqual(r.errors.map((e) => e.pack).sort(), [...victims.map((v) => v.pack), tailPack].sort());
    for (const v of victims) {
      const f = r.errors.find((e) => e.pack === v.pack)!;
      assert.equal(f.code, 'PACK_CORRUPT');
      const count = data.filter((e) => e.pack === v.pack).length;
      assert.match(
        f.message,
        new RegExp(
          `^pack ${v.pack} is damaged: its content does not match its name \\(SHA-256\\); 1 of its ${count} blobs fail verification; it affects 1 file or folder in 1 snapshot$`,
        ),
      );
      assert.deepEqual(paths(r, v.pack), [fileOf.get(v.id.toString('hex'))]);
    }
    // The files of the pack whose trailer is damaged all need it.
    const inTail = data.filter((e) => e.pack === tailPack).map((e) => fileOf.get(e.id.toString('hex')));
    assert.deepEqual(paths(r, tailPack), inTail.sort());
  });

  it('names a missing pack and the files that need it, and reads every other pack', async (t) => {
    const { repoDir, fileOf, data, packFile } = await smallFiles(t);
    const gone = data[0]!.pack;
    await fs.rm(packFile(gone));
    const r = await check(await openRepo(repoDir), { readData: true });
    assert.equal(r.errors.length, 1, JSON.stringify(r.errors));
    const f = r.errors[0]!;
    assert.equal(f.code, 'BACKEND_NOT_FOUND');
    assert.equal(f.pack, gone);
    assert.match(f.message, new RegExp(`^pack ${gone} is named by the index but missing from storage`));
    const want = data.filter((e) => e.pack === gone).map((e) => fileOf.get(e.id.toString('hex')));
    assert.deepEqual(paths(r, gone), want.sort());
    assert.equal(r.packsRead, r.packs - 1);
  });
});
