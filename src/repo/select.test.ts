import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { isCairnError } from '../errors.ts';
import { backup } from './archiver.ts';
import { initRepo, tempDir } from './fixtures.testing.ts';
import type { Repository } from './repository.ts';
import {
  CACHEDIR_SIGNATURE,
  countTotals,
  parsePatternFile,
  patternProblem,
  Selection,
  type Totals,
} from './select.ts';

describe('exclude patterns', () => {
  const sel = new Selection({
    excludes: ['*.log', 'node_modules', '/srv/data/tmp', 'cache/old', '**/build/*.o'],
    iexcludes: ['*.JPG'],
  });
  const cases: [string, boolean][] = [
    ['/var/log/syslog.log', true],
    ['/a/b/.hidden.log', true],
    ['/a/b/log', false],
    ['/home/me/project/node_modules', true],
    ['/home/me/project/node_modules_extra', false],
    ['/srv/data/tmp', true],
    ['/other/srv/data/tmp', false],
    ['/home/me/cache/old', true],
    ['/home/me/cache/older', false],
    ['/src/build/main.o', true],
    ['/src/build/sub/main.o', false],
    ['/photos/IMG_1.jpg', true],
    ['/photos/IMG_1.Jpg', true],
    ['/photos/IMG_1.png', false],
  ];
  for (const [p, want] of cases) {
    it(`${want ? 'leaves out' : 'keeps'} ${p}`, () => {
      assert.equal(sel.excluded(p), want);
    });
  }

  it('rejects an empty pattern and a bad marker with USAGE', () => {
    assert.throws(
      () => new Selection({ excludes: [''] }),
      (e: unknown) => isCairnError(e, 'USAGE'),
    );
    assert.throws(
      () => new Selection({ excludeIfPresent: [':x'] }),
      (e: unknown) => isCairnError(e, 'USAGE'),
    );
  });

  it('reads pattern files without blank lines and comments', () => {
    assert.deepEqual(parsePatternFile('# comment\n*.tmp\n\n  /srv/x  \r\n'), ['*.tmp', '/srv/x']);
  });
});

async function names(repo: Repository, tree: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for (const n of (await repo.loadTree(tree)).nodes) {
    const p = `${prefix}/${n.name}`;
    out.push(p);
    if (n.subtree) out.push(...(await names(repo, n.subtree, p)));
  }
  return out;
}

describe('backup with a selection', () => {
  it('leaves out matching paths, the contents of marked folders, and keeps the rest', async (t) => {
    const dir = await tempDir(t, 'cairn-select-');
    const src = path.join(dir, 'src');
    const write = async (rel: string, data = 'x') => {
      await fs.mkdir(path.dirname(path.join(src, rel)), { recursive: true });
      await fs.writeFile(path.join(src, rel), data);
    };
    await write('keep.txt');
    await write('debug.log');
    await write('app/node_modules/dep/index.js');
    await write('app/main.js');
    await write('cache/CACHEDIR.TAG', `${CACHEDIR_SIGNATURE}\n# a cache\n`);
    await write('cache/blob.bin');
    await write('fake-cache/CACHEDIR.TAG', 'not the signature');
    await write('fake-cache/kept.bin');
    await write('scratch/.nobackup');
    await write('scratch/big.iso');
    const repo = await initRepo(path.join(dir, 'repo'));
    const selection = new Selection({
      excludes: ['*.log', 'node_modules'],
      excludeCaches: true,
      excludeIfPresent: ['.nobackup'],
    });
    const r = await backup(repo, [src], { selection });
    const all = (await names(repo, r.snapshot.tree))
      .map((p) => p.slice(src.length))
      .filter((p) => p.length > 0);
    assert.deepEqual(all.sort(), [
      '/app',
      '/app/main.js',
      '/cache',
      '/cache/CACHEDIR.TAG',
      '/fake-cache',
      '/fake-cache/CACHEDIR.TAG',
      '/fake-cache/kept.bin',
      '/keep.txt',
      '/scratch',
      '/scratch/.nobackup',
    ]);
  });

  it('with one-file-system keeps a mount point as an empty folder', async (t) => {
    const dir = await tempDir(t, 'cairn-xdev-');
    const src = path.join(dir, 'src');
    const mnt = path.join(src, 'mnt');
    await fs.mkdir(mnt, { recursive: true });
    await fs.writeFile(path.join(src, 'here.txt'), 'here');
    const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'cairn-test', mnt]);
    if (mounted.status !== 0) {
      t.skip('cannot mount a tmpfs here (needs root)');
      return;
    }
    try {
      await fs.writeFile(path.join(mnt, 'elsewhere.txt'), 'other file system');
      const repo = await initRepo(path.join(dir, 'repo'));
      const crossing = await backup(repo, [src]);
      assert.ok((await names(repo, crossing.snapshot.tree)).some((p) => p.endsWith('/mnt/elsewhere.txt')));
      const staying = await backup(repo, [src], { selection: new Selection({ oneFileSystem: true }) });
      const got = await names(repo, staying.snapshot.tree);
      assert.ok(
        got.some((p) => p.endsWith('/src/mnt')),
        'the mount point is kept',
      );
      assert.ok(!got.some((p) => p.includes('/mnt/')), 'nothing below it is');
      assert.ok(got.some((p) => p.endsWith('/here.txt')));
    } finally {
      spawnSync('umount', [mnt]);
    }
  });
});

describe('counting what a backup will see', () => {
  it('counts files and bytes with the same selection as the backup', async (t) => {
    const dir = await tempDir(t, 'cairn-count-');
    await fs.mkdir(path.join(dir, 'a', 'b'), { recursive: true });
    await fs.writeFile(path.join(dir, 'a', 'one'), 'x'.repeat(100));
    await fs.writeFile(path.join(dir, 'a', 'b', 'two'), 'y'.repeat(50));
    await fs.writeFile(path.join(dir, 'a', 'skip.log'), 'z'.repeat(1000));
    await fs.symlink('one', path.join(dir, 'a', 'link'));
    const totals: Totals = { files: 0, bytes: 0, done: false };
    await countTotals([path.join(dir, 'a')], new Selection({ excludes: ['*.log'] }), totals);
    assert.deepEqual(totals, { files: 2, bytes: 150, done: true });
  });
});

describe('pattern problems', () => {
  it('names unclosed brackets and braces, and patterns outside every path', () => {
    assert.match(patternProblem('[bad') ?? '', /unclosed "\["/);
    assert.match(patternProblem('*.{jpg,png') ?? '', /unclosed "\{"/);
    assert.equal(patternProblem('\\[literal'), undefined, 'an escaped bracket is meant');
    assert.equal(patternProblem('[ab]*.c'), undefined);
    assert.match(patternProblem('/etc/*.conf', ['/home']) ?? '', /can never match.*\/home/);
    assert.equal(patternProblem('/home/*/cache', ['/home']), undefined, 'below a path');
    assert.equal(patternProblem('/home', ['/home/alice']), undefined, 'above a path');
    assert.equal(patternProblem('/h*/x', ['/home']), undefined, 'a glob in the first folder may match');
    assert.equal(patternProblem('/anything', ['/']), undefined);
    assert.equal(patternProblem('*.tmp', ['/home']), undefined, 'relative patterns match anywhere');
    assert.equal(patternProblem('/etc/x', []), undefined, 'no paths known: nothing to say');
  });
});
