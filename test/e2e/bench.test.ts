/**
 * The benchmark harness (bench/run.ts), run as a smoke test: on a small generated tree, Cairn only,
 * one round. Nothing here compares or asserts times: it checks that every scenario ran and was
 * measured, that the tool saw the changes the harness says it made, and that the restore was
 * compared with the source byte for byte. The tree comparison itself is checked against trees
 * that differ, so a comparison that passes everything would fail here.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { chooseFiles, compareTrees, listFiles } from '../../bench/lib/data.ts';
import { parseTimeReport } from '../../bench/lib/measure.ts';
import { run, ROOT, show, tempDir } from './cli.testing.ts';

interface Sample {
  tool: string;
  scenario: string;
  wallS: number;
  cpuS: number;
  maxRssBytes: number;
  repoBytes?: number;
  backup?: { filesNew?: number; filesChanged?: number; filesUnmodified?: number; bottleneck?: string };
  verified?: { files: number; bytes: number; differences: number; symlinks: number };
}

interface Results {
  dataset: { files: number; bytes: number; changedFiles: number };
  medians: { tool: string; scenario: string }[];
  samples: Sample[];
  versions: Record<string, string>;
  machine: { cores: number; memoryBytes: number; cpuModel: string };
}

/** A tree of a few MB: small and multi-chunk files, an empty file, a symlink, nested folders. */
async function makeTree(root: string): Promise<{ files: number; bytes: number }> {
  let files = 0;
  let bytes = 0;
  for (let d = 0; d < 5; d++) {
    const dir = path.join(root, `dir${d}`, 'sub');
    await fs.mkdir(dir, { recursive: true });
    for (let i = 0; i < 40; i++) {
      const size = i === 0 ? 0 : (i * 7919 + d * 104729) % 20000;
      await fs.writeFile(path.join(dir, `f${i}.bin`), randomBytes(size));
      files++;
      bytes += size;
    }
  }
  // two files of several chunks (Cairn's chunks are 512 KiB to 8 MiB), one compressible
  await fs.writeFile(path.join(root, 'big.bin'), randomBytes(3 * 1024 * 1024));
  await fs.writeFile(path.join(root, 'text.txt'), 'benchmark '.repeat(200_000));
  files += 2;
  bytes += 3 * 1024 * 1024 + 2_000_000;
  await fs.symlink('dir0/sub/f1.bin', path.join(root, 'link'));
  return { files, bytes };
}

describe('benchmark harness', () => {
  it('runs every scenario, measures it, and verifies the restore', { timeout: 180_000 }, async (t) => {
    const tmp = await tempDir(t, 'cairn-bench-test-');
    const data = path.join(tmp, 'data');
    const { files, bytes } = await makeTree(data);
    const out = path.join(tmp, 'result.json');
    const r = await run(
      process.execPath,
      [
        path.join(ROOT, 'bench', 'run.ts'),
        '--quick',
        '--tools',
        'cairn',
        '--rounds',
        '1',
        '--data',
        data,
        '--out',
        out,
        '--work',
        path.join(tmp, 'work'),
      ],
      { timeoutMs: 170_000 },
    );
    assert.equal(r.code, 0, show(r));
    const res = JSON.parse(await fs.readFile(out, 'utf8')) as Results;

    assert.equal(res.dataset.files, files);
    assert.equal(res.dataset.bytes, bytes);
    assert.equal(res.dataset.changedFiles, Math.ceil(files / 100));
    assert.match(res.versions.cairn ?? '', /\d+\.\d+\.\d+/);
    assert.ok(res.machine.cores > 0 && res.machine.memoryBytes > 0 && res.machine.cpuModel !== '');

    const sample = (scenario: string): Sample => {
      const s = res.samples.filter((x) => x.tool === 'cairn' && x.scenario === scenario);
      assert.equal(s.length, 1, `one sample of ${scenario}`);
      const one = s[0]!;
      assert.ok(
        one.wallS > 0 && one.cpuS > 0 && one.maxRssBytes > 1024 * 1024,
        `${scenario}: ${JSON.stringify(one)}`,
      );
      return one;
    };
    for (const s of ['first', 'unchanged', 'changed', 'restore', 'check']) {
      sample(s);
      assert.ok(
        res.medians.some((m) => m.tool === 'cairn' && m.scenario === s),
        `a median of ${s}`,
      );
    }
    // what Cairn itself reports shows that the harness changed what it says it changed
    const first = sample('first');
    assert.equal(first.backup?.filesNew, files);
    assert.ok((first.repoBytes ?? 0) > 0);
    assert.ok(first.backup?.bottleneck);
    const unchanged = sample('unchanged');
    assert.equal(unchanged.backup?.filesUnmodified, files);
    assert.equal(unchanged.backup?.filesNew, 0);
    const changed = sample('changed');
    assert.equal(changed.backup?.filesChanged, res.dataset.changedFiles);
    assert.ok((changed.repoBytes ?? 0) > (first.repoBytes ?? 0) - 1);
    const restore = sample('restore');
    assert.deepEqual(
      {
        files: restore.verified?.files,
        bytes: restore.verified?.bytes,
        differences: restore.verified?.differences,
      },
      { files, bytes, differences: 0 },
    );
    assert.equal(restore.verified?.symlinks, 1);

    // the data copy, repositories and restores are gone; the changed files were put back
    assert.deepEqual(await fs.readdir(path.join(tmp, 'work')), []);
  });

  it('finds every kind of difference between a source and its restore', async (t) => {
    const tmp = await tempDir(t, 'cairn-bench-cmp-');
    const a = path.join(tmp, 'a');
    await makeTree(a);
    const copy = async (name: string): Promise<string> => {
      const b = path.join(tmp, name);
      await fs.cp(a, b, { recursive: true, preserveTimestamps: true, verbatimSymlinks: true });
      return b;
    };
    assert.deepEqual((await compareTrees(a, await copy('same'))).differences, []);

    // one byte changed, same size and time
    const flipped = await copy('flipped');
    const victim = path.join(flipped, 'big.bin');
    const st = await fs.stat(victim);
    const h = await fs.open(victim, 'r+');
    const b = Buffer.alloc(1);
    await h.read(b, 0, 1, 2_000_000);
    b[0] = b[0]! ^ 1;
    await h.write(b, 0, 1, 2_000_000);
    await h.close();
    await fs.utimes(victim, st.atime, st.mtime);
    assert.deepEqual((await compareTrees(a, flipped)).differences, ['big.bin: content differs']);

    const missing = await copy('missing');
    await fs.rm(path.join(missing, 'dir3', 'sub', 'f7.bin'));
    assert.deepEqual((await compareTrees(a, missing)).differences, [
      'dir3/sub/f7.bin: missing from the restore',
    ]);

    const extra = await copy('extra');
    await fs.writeFile(path.join(extra, 'dir1', 'new'), 'x');
    assert.equal((await compareTrees(a, extra)).differenceCount, 1);

    const mode = await copy('mode');
    await fs.chmod(
      path.join(mode, 'text.txt'),
      ((await fs.stat(path.join(a, 'text.txt'))).mode & 0o777) ^ 0o100,
    );
    assert.match((await compareTrees(a, mode)).differences.join(), /^text\.txt: mode \d+ restored as \d+$/);

    const link = await copy('link');
    await fs.rm(path.join(link, 'link'));
    await fs.symlink('dir0/sub/f2.bin', path.join(link, 'link'));
    assert.match((await compareTrees(a, link)).differences.join(), /link: symlink to/);

    const time = await copy('time');
    await fs.utimes(path.join(time, 'dir2', 'sub', 'f3.bin'), new Date(0), new Date(0));
    assert.match((await compareTrees(a, time)).differences.join(), /f3\.bin: mtime/);
  });

  it('chooses the files to change by their relative paths, wherever the tree is', async (t) => {
    const tmp = await tempDir(t, 'cairn-bench-choose-');
    await makeTree(path.join(tmp, 'x', 'data'));
    await makeTree(path.join(tmp, 'y', 'elsewhere', 'data'));
    const pick = async (base: string): Promise<string[]> =>
      chooseFiles(await listFiles([path.join(base, 'data')]), base, 1).map((f) => path.relative(base, f));
    const x = await pick(path.join(tmp, 'x'));
    assert.equal(x.length, Math.ceil(202 / 100));
    assert.deepEqual(await pick(path.join(tmp, 'y', 'elsewhere')), x);
  });

  it('reads the report of GNU time, after a line about a failing exit', () => {
    assert.deepEqual(parseTimeReport('1.50 2.25 0.50 123456\n'), {
      userS: 2.25,
      sysS: 0.5,
      maxRssKiB: 123456,
    });
    assert.deepEqual(parseTimeReport('Command exited with non-zero status 3\n0.1 0.2 0.3 4\n'), {
      userS: 0.2,
      sysS: 0.3,
      maxRssKiB: 4,
    });
    assert.throws(() => parseTimeReport('garbage'));
  });
});
