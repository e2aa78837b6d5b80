import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { isCairnError } from '../errors.ts';
import { backup } from './archiver.ts';
import { check, parseSubset } from './check.ts';
import { KiB, initRepo, openRepo, seededBytes, tempDir } from './fixtures.testing.ts';

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
});
