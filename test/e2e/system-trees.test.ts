/**
 * The main job on real data: back up two system trees in one snapshot, restore it, and find every
 * file, folder and symlink as it was: type, mode, owner, size, mtime (to the millisecond), link
 * target and content.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import {
  cairn,
  compareTrees,
  makeTemp,
  message,
  removeTemp,
  run,
  show,
  startCairn,
  walkTree,
} from './cli.testing.ts';

const SOURCES = ['/usr/share/doc', '/usr/include'];
const missing = SOURCES.filter((s) => !existsSync(s));
const skip = missing.length > 0 ? `missing on this machine: ${missing.join(', ')}` : false;

describe('backing up real system trees', { skip }, () => {
  let dir: string;
  let env: Record<string, string>;
  let filesBackedUp: number;

  before(async () => {
    dir = await makeTemp();
    env = { CAIRN_REPOSITORY: path.join(dir, 'repo'), CAIRN_PASSWORD: 'system-trees-e2e' };
    const init = await cairn(['init'], { env });
    assert.equal(init.code, 0, show(init));
    const backup = await cairn(['backup', '--json', ...SOURCES], { env });
    assert.equal(backup.code, 0, show(backup));
    const sum = message(backup.stdout, 'summary');
    assert.equal(sum.warnings, 0, show(backup));
    filesBackedUp = sum.files_new as number;
    assert.ok(filesBackedUp > 1000, `only ${filesBackedUp} files were backed up`);
  });

  after(() => removeTemp(dir));

  it('restores /usr/share/doc and /usr/include byte-identical, with modes, owners, mtimes and symlinks', async () => {
    const target = path.join(dir, 'restore');
    const restore = await cairn(['restore', 'latest', '--target', target, '--json'], { env });
    assert.equal(restore.code, 0, show(restore));
    const restored = message(restore.stdout, 'summary');
    assert.equal(restored.warnings, 0, show(restore));
    assert.equal(restored.files_restored, filesBackedUp);

    let symlinks = 0;
    for (const src of SOURCES) {
      const [want, got] = await Promise.all([walkTree(src), walkTree(path.join(target, src))]);
      const diffs = compareTrees(want, got);
      assert.deepEqual(diffs.slice(0, 20), [], `${diffs.length} differences under ${src}`);
      for (const e of want.values()) if (e.type === 'symlink') symlinks++;
    }
    // The trees do hold symlinks, so the comparison above covered them.
    assert.ok(symlinks > 0, 'the system trees hold no symlinks');
    assert.equal(restored.symlinks_restored, symlinks);

    // The folders above the backed-up paths are re-created with their own metadata too.
    for (const above of ['/usr', '/usr/share']) {
      const [a, b] = await Promise.all([fs.lstat(above), fs.lstat(path.join(target, above))]);
      assert.equal(b.mode, a.mode, `mode of ${above}`);
      assert.equal(Math.floor(b.mtimeMs), Math.floor(a.mtimeMs), `mtime of ${above}`);
    }

    // And an independent opinion, if diffutils is installed.
    for (const src of SOURCES) {
      const diff = await run('diff', ['-r', '--no-dereference', src, path.join(target, src)]).catch(
        () => undefined,
      );
      if (diff === undefined) break;
      assert.equal(diff.code, 0, `diff -r --no-dereference ${src}:\n${diff.stdout}${diff.stderr}`);
    }
  });

  it('SIGINT during a restore exits 130 with a message, and leaves no lock behind', async () => {
    const target = path.join(dir, 'restore-interrupted');
    const r = startCairn(['restore', 'latest', '--target', target], { env, timeoutMs: 60_000 });
    // The target appears once restoring has begun (the repository is open and locked by then).
    const exited = r.done.then(() => true);
    while (!existsSync(target)) {
      if (await Promise.race([exited, sleep(20).then(() => false)])) break;
    }
    r.child.kill('SIGINT');
    const res = await r.done;
    assert.equal(res.code, 130, show(res));
    assert.match(res.stderr, /^error: Restore cancelled after \d+ files: .* is incomplete \[INTERRUPTED\]$/m);
    assert.doesNotMatch(res.stderr, /unexpected failure/);
    assert.deepEqual(await fs.readdir(path.join(env.CAIRN_REPOSITORY!, 'locks')), []);
  });
});
