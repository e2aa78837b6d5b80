// A repository on read-only storage (a read-only bind mount, as a WORM copy or a read-only
// export would be): the commands that only read work with --no-lock, and without it the lock
// they cannot write is named with the way out.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  cairn,
  compareTrees,
  makeSourceTree,
  makeTemp,
  message,
  removeTemp,
  show,
  walkTree,
} from './cli.testing.ts';
import { makeRepo } from './repo.testing.ts';

const PASSWORD = 'read-only-e2e-password';
const isRoot = process.getuid?.() === 0;

function mount(...args: string[]): void {
  const r = spawnSync('mount', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`mount ${args.join(' ')}: ${r.stderr || r.error?.message}`);
}

describe(
  'a repository on read-only storage',
  { skip: isRoot ? false : 'needs root to make a read-only bind mount' },
  () => {
    let dir: string;
    let src: string;
    let ro: string;
    let mounted = false;
    let env: Record<string, string>;

    before(async () => {
      dir = await makeTemp();
      src = path.join(dir, 'src');
      await makeSourceTree(src);
      const repo = path.join(dir, 'repo');
      await makeRepo(repo, PASSWORD, [src]);
      ro = path.join(dir, 'ro');
      await fs.mkdir(ro);
      mount('--bind', repo, ro);
      mounted = true;
      mount('-o', 'remount,bind,ro', ro);
      env = { CAIRN_REPOSITORY: ro, CAIRN_PASSWORD: PASSWORD };
    });

    after(async () => {
      if (mounted) spawnSync('umount', [ro]);
      await removeTemp(dir);
    });

    it('restores byte for byte with --no-lock', async () => {
      const target = path.join(dir, 'restored');
      const r = await cairn(['--no-lock', 'restore', 'latest', '--target', target], { env });
      assert.equal(r.code, 0, show(r));
      assert.deepEqual(compareTrees(await walkTree(src), await walkTree(path.join(target, src))), []);
      assert.deepEqual(await fs.readdir(path.join(ro, 'locks')), []);
    });

    it('checks the structure and every byte with --no-lock', async () => {
      for (const args of [['check'], ['check', '--read-data']]) {
        const r = await cairn(['--no-lock', ...args, '--json'], { env });
        assert.equal(r.code, 0, show(r));
        const summary = message(r.stdout, 'summary');
        assert.equal(summary.ok, true, show(r));
        if (args.includes('--read-data')) assert.ok(Number(summary.packs_read) > 0, show(r));
      }
    });

    it('lists, browses and dumps with --no-lock', async () => {
      for (const args of [
        ['snapshots'],
        ['ls', 'latest'],
        ['find', 'hello.txt'],
        ['stats'],
        ['diff', 'latest', 'latest'],
        ['dump', 'latest', path.join(src, 'hello.txt')],
        ['key', 'list'],
      ]) {
        const r = await cairn(['--no-lock', ...args], { env });
        assert.equal(r.code, 0, `${args.join(' ')}: ${show(r)}`);
      }
    });

    it('says the storage is read-only and suggests --no-lock when a lock is needed', async () => {
      const r = await cairn(['restore', 'latest', '--target', path.join(dir, 'not-restored')], { env });
      assert.equal(r.code, 50, show(r));
      assert.match(
        r.stderr,
        /Cannot lock the repository at .*: its storage is read-only \(EROFS\); "restore" only reads, so --no-lock/,
      );
      const check = await cairn(['check'], { env });
      assert.equal(check.code, 50, show(check));
      assert.match(check.stderr, /--no-lock/);
    });

    it('refuses --no-lock for a command that writes', async () => {
      const r = await cairn(['--no-lock', 'backup', src], { env });
      assert.equal(r.code, 2, show(r));
      assert.match(r.stderr, /Cannot use --no-lock with "backup": it writes to the repository/);
    });

    it('copies from it with --from-no-lock', async () => {
      const dest = path.join(dir, 'dest');
      await makeRepo(dest, PASSWORD);
      const denv = { CAIRN_REPOSITORY: dest, CAIRN_PASSWORD: PASSWORD, CAIRN_FROM_PASSWORD: PASSWORD };
      const locked = await cairn(['copy', '--from-repo', ro], { env: denv });
      assert.equal(locked.code, 50, show(locked));
      assert.match(locked.stderr, /--from-no-lock/);
      const r = await cairn(['copy', '--from-repo', ro, '--from-no-lock', '--json'], { env: denv });
      assert.equal(r.code, 0, show(r));
      assert.equal(message(r.stdout, 'copy').snapshots_copied, 1);
    });
  },
);
