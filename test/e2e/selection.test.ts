// Choosing what a backup takes from the command line: exclude patterns and pattern files,
// markers, and lists of paths.
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cairn, message, removeTemp, show } from './cli.testing.ts';
import { tempRepo } from './repo.testing.ts';

const PASSWORD = 'selection-e2e-password';

describe('backup selection flags', () => {
  let dir: string;
  let src: string;
  let env: Record<string, string>;

  before(async () => {
    ({ dir, env } = await tempRepo(PASSWORD));
    src = path.join(dir, 'src');
    for (const rel of [
      'a/keep.txt',
      'a/skip.tmp',
      'b/notes.md',
      'b/build/out.o',
      'c/data.bin',
      'Cache/x.TMP',
    ]) {
      await fs.mkdir(path.dirname(path.join(src, rel)), { recursive: true });
      await fs.writeFile(path.join(src, rel), rel);
    }
    await fs.writeFile(path.join(src, 'c/.nobackup'), '');
  });

  after(() => removeTemp(dir));

  async function listed(id: string): Promise<string[]> {
    const target = path.join(dir, `restore-${id}`);
    const r = await cairn(['restore', id, '--target', target], { env });
    assert.equal(r.code, 0, show(r));
    const out: string[] = [];
    const walk = async (p: string, rel: string) => {
      for (const e of await fs.readdir(p, { withFileTypes: true })) {
        const r2 = `${rel}/${e.name}`;
        if (e.isDirectory()) await walk(path.join(p, e.name), r2);
        else out.push(r2);
      }
    };
    await walk(path.join(target, src), '');
    return out.sort();
  }

  it('takes patterns from flags and files, case-insensitive ones too, and marker files', async () => {
    const patterns = path.join(dir, 'excludes.txt');
    await fs.writeFile(patterns, '# build output\nbuild\n\n');
    const r = await cairn(
      [
        'backup',
        src,
        '--json',
        '--exclude',
        '*.tmp',
        '--exclude-file',
        patterns,
        '--iexclude',
        '*.tmp',
        '--exclude-if-present',
        '.nobackup',
      ],
      { env },
    );
    assert.equal(r.code, 0, show(r));
    const id = String(message(r.stdout, 'summary').snapshot_id);
    assert.deepEqual(await listed(id), ['/a/keep.txt', '/b/notes.md', '/c/.nobackup']);
  });

  it('backs up the paths a --files-from list names', async () => {
    const list = path.join(dir, 'paths.txt');
    await fs.writeFile(list, `# what to keep\n${path.join(src, 'a')}\n${path.join(src, 'b/notes.md')}\n`);
    const r = await cairn(['backup', '--files-from', list, '--json'], { env });
    assert.equal(r.code, 0, show(r));
    const id = String(message(r.stdout, 'summary').snapshot_id);
    assert.deepEqual(await listed(id), ['/a/keep.txt', '/a/skip.tmp', '/b/notes.md']);
  });

  it('refuses a missing pattern file and an empty path list with usage errors naming them', async () => {
    const missing = path.join(dir, 'no-such-file.txt');
    const r = await cairn(['backup', src, '--exclude-file', missing], { env });
    assert.equal(r.code, 2, show(r));
    assert.match(
      r.stderr,
      new RegExp(`Cannot read the exclude file ${missing.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}`),
    );
    const none = await cairn(['backup'], { env });
    assert.equal(none.code, 2, show(none));
    assert.match(none.stderr, /no paths given/);
  });
});
