/**
 * Issue 18's reproduction, from the command line: with an index file removed, `check` reports
 * blobs in no index, `prune` deletes nothing a snapshot needs, and `repair index` makes
 * `check --read-data` clean and the restore byte-identical. Then a damaged index file: prune
 * refuses with exit 28 and deletes nothing; repair index mends it.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { ERRORS } from '../../src/errors.ts';
import { flipByte, seededBytes } from '../../src/repo/fixtures.testing.ts';
import { cairn, message, show, tempDir, walkTree, type Run } from './cli.testing.ts';

const PASSWORD = 'prune-safety-e2e';

async function listFiles(dir: string): Promise<string[]> {
  return (await fs.readdir(dir, { recursive: true, withFileTypes: true }))
    .filter((e) => e.isFile())
    .map((e) => path.join(e.parentPath, e.name))
    .sort();
}

describe('prune after damage, from the command line', () => {
  it('deletes nothing a snapshot needs when an index file is gone; repair index makes the repository whole', async (t) => {
    const dir = await tempDir(t);
    const src = path.join(dir, 'src');
    for (let d = 0; d < 4; d++) {
      await fs.mkdir(path.join(src, `d${d}`), { recursive: true });
      for (let i = 0; i < 30; i++) {
        await fs.writeFile(
          path.join(src, `d${d}`, `f${i}`),
          seededBytes(`${d}-${i}`, 5_000 + ((d * 31 + i * 7919) % 90_000)),
        );
      }
    }
    const repoDir = path.join(dir, 'repo');
    const env = { CAIRN_REPOSITORY: repoDir, CAIRN_PASSWORD: PASSWORD };
    const run = (args: string[]) => cairn(args, { env, timeoutMs: 300_000 });
    const ok = (r: Run, code = 0) => {
      assert.equal(r.code, code, show(r));
      return r;
    };
    ok(await run(['init', '--pack-size', '256KiB']));
    ok(await run(['backup', src]));
    const want = await walkTree(src);
    const indexDir = path.join(repoDir, 'index');
    const [lost] = await listFiles(indexDir);
    await fs.rm(lost!);

    const c = ok(await run(['check', '--json']), ERRORS.CHECK_FAILED.exit);
    assert.match(c.stdout, /in no index/);
    const packs = await listFiles(path.join(repoDir, 'data'));
    const p = ok(await run(['prune', '--json']));
    const pr = message(p.stdout, 'prune');
    assert.ok((pr.packs_recovered as number) > 0, show(p));
    assert.equal(pr.packs_unreferenced, 0);
    assert.deepEqual(await listFiles(path.join(repoDir, 'data')), packs, 'prune deleted no pack');

    ok(await run(['repair', 'index']));
    ok(await run(['check', '--read-data']));
    const target = path.join(dir, 'restore');
    ok(await run(['restore', 'latest', '--target', target]));
    assert.deepEqual(await walkTree(path.join(target, src)), want);

    // A damaged index file: prune refuses, deleting nothing.
    const [victim] = await listFiles(indexDir);
    await flipByte(victim!, 40, 1);
    const refused = ok(await run(['prune']), ERRORS.PRUNE_UNSAFE.exit);
    assert.match(refused.stderr, /nothing was deleted/);
    assert.match(refused.stderr, /repair index/);
    assert.deepEqual(await listFiles(path.join(repoDir, 'data')), packs);
    const repaired = message(ok(await run(['repair', 'index', '--json'])).stdout, 'summary');
    assert.equal((repaired.index_files_damaged as unknown[]).length, 1);
    ok(await run(['check', '--read-data']));
    ok(await run(['prune']));
    const again = path.join(dir, 'restore-again');
    ok(await run(['restore', 'latest', '--target', again]));
    assert.deepEqual(await walkTree(path.join(again, src)), want);
  });
});
