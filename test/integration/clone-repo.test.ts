// Prune and copy by block cloning, through the built CLI, on a real XFS with reflink and a real
// Btrfs that the test loop-mounts (as root), and copy onto the default temp file system, which
// cannot clone. Prune clones on XFS only: on Btrfs a clone of part of a pack would keep all of it.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { LocalBackend } from '../../src/backend/index.ts';
import { backup, Repository, type SnapshotInfo } from '../../src/repo/index.ts';
import { assertSameTree, readTree } from '../../src/repo/fixtures.testing.ts';
import { assertBuilt, cairn, cliEnv } from './run-cli.testing.ts';
import { mountLoopFs, type LoopFs, type LoopFsKind } from './loopfs.testing.ts';

const MiB = 1024 * 1024;
const PASSWORD = 'source password';
const CHEAP_SCRYPT = { N: 1024, r: 8, p: 1 };

/** The JSON line of `message_type` in a command's output. */
function message(stdout: string, type: string): Record<string, unknown> {
  const line = stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .find((m) => m.message_type === type);
  assert.ok(line, `no ${type} message in ${stdout}`);
  return line;
}

/** Free bytes once the file system has settled (XFS frees the blocks of unlinked files in the background). */
async function settledFree(fsys: LoopFs): Promise<number> {
  let last = -1;
  for (let i = 0; i < 30; i++) {
    spawnSync('sync', ['-f', fsys.mnt]);
    const now = fsys.free();
    if (now === last) return now;
    last = now;
    await delay(100);
  }
  return last;
}

/**
 * Six backups of one folder whose files interleave two halves: "a" files change every round,
 * "b" files every other round. Forgetting the even rounds leaves their packs half used: the "b"
 * half lives on in the next (odd, kept) snapshot.
 */
async function history(repoDir: string, src: string): Promise<string[]> {
  fs.mkdirSync(src, { recursive: true });
  const repo = await Repository.init(
    new LocalBackend(repoDir),
    { password: PASSWORD },
    {
      scrypt: CHEAP_SCRYPT,
      packSize: 4 * MiB,
    },
  );
  const ids: string[] = [];
  let parent: SnapshotInfo | undefined;
  for (let round = 0; round < 6; round++) {
    for (const half of round % 2 === 0 ? ['a', 'b'] : ['a']) {
      for (let i = 0; i < 2; i++)
        fs.writeFileSync(path.join(src, `f${i}${half}`), randomBytes(2 * MiB + i * 1234));
      for (let i = 0; i < 8; i++) fs.writeFileSync(path.join(src, `s${i}${half}`), randomBytes(3000 + i));
    }
    const r = await backup(repo, [src], {
      now: () => new Date(Date.UTC(2026, 0, 1 + round)),
      ...(parent ? { parent } : {}),
    });
    parent = { ...r.snapshot, id: r.id };
    ids.push(r.id);
  }
  await repo.close();
  return ids;
}

for (const kind of ['xfs', 'btrfs'] as const satisfies LoopFsKind[])
  describe(`prune and copy on ${kind}`, () => {
    let xfs: LoopFs;
    let plain: string;
    let src: string;
    let r1: string;
    let ids: string[] = [];
    const env = (repo: string, extra: Record<string, string> = {}) => ({
      ...cliEnv(repo, PASSWORD),
      ...extra,
    });

    before(async () => {
      await assertBuilt();
      xfs = mountLoopFs(kind, 400);
      plain = fs.mkdtempSync(path.join(xfs.dir, 'plain-'));
      if (!xfs.mounted) return;
      src = path.join(xfs.mnt, 'src');
      r1 = path.join(xfs.mnt, 'r1');
      ids = await history(r1, src);
    });

    after(() => xfs.cleanup());

    const needXfs = (t: { skip: (m: string) => void }) => {
      if (!xfs.mounted) t.skip(xfs.why);
      return !xfs.mounted;
    };

    const title =
      kind === 'xfs'
        ? 'prune clones the live aligned blobs, copies only the small ones, and frees the space'
        : 'prune copies (a partial clone would keep whole extents), and frees the space';
    it(title, async (t) => {
      if (needXfs(t)) return;
      const packsBefore = new Set(fs.readdirSync(path.join(r1, 'data'), { recursive: true }).map(String));
      const freeBefore = await settledFree(xfs);
      const forgotten = ids.filter((_, i) => i % 2 === 0);
      const r = await cairn(['forget', ...forgotten, '--prune', '--json'], env(r1));
      assert.equal(r.code, 0, r.stderr);
      const p = message(r.stdout, 'prune');
      assert.ok(Number(p.packs_repacked) > 0, JSON.stringify(p));
      const cloned = Number(p.bytes_cloned);
      const copied = Number(p.bytes_copied);
      assert.equal(cloned + copied, p.bytes_written);

      // The small blobs (and trees) of the new packs are what was copied, give or take the last
      // partial block of an aligned blob that small ones follow (at most one block per pack).
      const repo = await Repository.open(new LocalBackend(r1), { password: PASSWORD });
      await repo.loadIndex();
      let small = 0;
      let large = 0;
      for (const [pack, entries] of repo.index.byPack()) {
        if (packsBefore.has(path.join(pack.slice(0, 2), pack))) continue;
        for (const e of entries) {
          if (e.length < 64 * 1024) small += e.length;
          else large += e.length;
        }
      }
      assert.ok(large > 4 * MiB, `live large blobs repacked: ${large}`);
      if (kind === 'xfs') {
        const slack = 4096 * (Number(p.packs_written) + Number(p.packs_repacked));
        assert.ok(copied >= small && copied <= small + slack, `copied ${copied}, small blobs ${small}`);
        assert.ok(cloned >= large - slack, `cloned ${cloned} of ${large} bytes of large blobs`);
      } else {
        assert.equal(cloned, 0);
        assert.equal(copied, small + large);
      }

      // The blocks of the dead halves came free; the live ones are shared, not duplicated.
      const gained = (await settledFree(xfs)) - freeBefore;
      const freed = Number(p.bytes_freed);
      t.diagnostic(
        `cloned ${cloned}, copied ${copied} (small blobs ${small}), freed ${freed}, statfs +${gained}`,
      );
      assert.ok(freed > 8 * MiB, JSON.stringify(p));
      assert.ok(
        Math.abs(gained - freed) < freed * 0.1 + MiB,
        `statfs gained ${gained} bytes, prune freed ${freed}`,
      );

      const check = await cairn(['check', '--read-data'], env(r1));
      assert.equal(check.code, 0, check.stdout + check.stderr);
      assert.match(check.stdout, /no errors/);
    });

    it(`copy between repositories sharing keys on one ${kind} clones the packs, and the copy restores`, async (t) => {
      if (needXfs(t)) return;
      const r2 = path.join(xfs.mnt, 'r2');
      const passFile = path.join(xfs.dir, 'source-password');
      fs.writeFileSync(passFile, `${PASSWORD}\n`);
      const init = await cairn(
        ['init', '--from-repo', r1, '--copy-keys', '--from-password-file', passFile, '--json'],
        env(r2, { CAIRN_PASSWORD: 'copy password' }),
      );
      assert.equal(init.code, 0, init.stderr);
      assert.equal(message(init.stdout, 'initialized').copied_keys, true);

      const freeBefore = await settledFree(xfs);
      const copyEnv = env(r2, { CAIRN_PASSWORD: 'copy password', CAIRN_FROM_PASSWORD: PASSWORD });
      const r = await cairn(['copy', '--from-repo', r1, '--json'], copyEnv);
      assert.equal(r.code, 0, r.stderr);
      const c = message(r.stdout, 'copy');
      assert.equal(c.mode, 'clone');
      assert.equal(c.snapshots_copied, 3);
      const cloned = Number(c.bytes_cloned);
      const copied = Number(c.bytes_copied);
      assert.ok(cloned > 10 * MiB && copied < cloned / 20, JSON.stringify(c));
      const used = freeBefore - (await settledFree(xfs));
      t.diagnostic(`cloned ${cloned}, copied ${copied}, statfs -${used}`);
      assert.ok(used < copied + 2 * MiB, `the copy took ${used} bytes of ${cloned + copied}`);

      const target = path.join(xfs.dir, 'restore-r2');
      const restored = await cairn(['restore', 'latest', '--target', target], copyEnv);
      assert.equal(restored.code, 0, restored.stderr);
      assertSameTree(await readTree(path.join(target, src)), await readTree(src));
      const check = await cairn(['check', '--read-data'], copyEnv);
      assert.equal(check.code, 0, check.stdout + check.stderr);

      const again = await cairn(['copy', '--from-repo', r1, '--json'], copyEnv);
      assert.equal(again.code, 0, again.stderr);
      assert.deepEqual(
        [message(again.stdout, 'copy').snapshots_copied, message(again.stdout, 'copy').snapshots_skipped],
        [0, 3],
      );
    });

    it('the same copy onto a file system that cannot clone copies the sealed blobs', async (t) => {
      if (kind !== 'xfs') return t.skip('once is enough: on XFS');
      if (needXfs(t)) return;
      const r3 = path.join(plain, 'r3');
      const e = env(r3, { CAIRN_PASSWORD: 'plain password', CAIRN_FROM_PASSWORD: PASSWORD });
      const init = await cairn(['init', '--from-repo', r1, '--copy-keys'], e);
      assert.equal(init.code, 0, init.stderr);
      const r = await cairn(['copy', '--from-repo', r1, '--json'], e);
      assert.equal(r.code, 0, r.stderr);
      const c = message(r.stdout, 'copy');
      assert.equal(c.mode, 'raw');
      assert.equal(c.bytes_cloned, 0);
      assert.ok(Number(c.bytes_copied) > 10 * MiB, JSON.stringify(c));
      const target = path.join(plain, 'restore-r3');
      const restored = await cairn(['restore', 'latest', '--target', target], e);
      assert.equal(restored.code, 0, restored.stderr);
      assertSameTree(await readTree(path.join(target, src)), await readTree(src));
      const check = await cairn(['check', '--read-data'], e);
      assert.equal(check.code, 0, check.stdout + check.stderr);
    });

    it('a wrong source password fails naming the source, and never shows the password', async (t) => {
      if (kind !== 'xfs') return t.skip('once is enough: on XFS');
      if (needXfs(t)) return;
      const r4 = path.join(plain, 'r4');
      const r = await cairn(
        ['init', '--from-repo', r1],
        env(r4, { CAIRN_PASSWORD: 'new', CAIRN_FROM_PASSWORD: 'not the password' }),
      );
      assert.equal(r.code, 12, r.stderr);
      assert.match(r.stderr, /source repository/);
      assert.doesNotMatch(r.stderr + r.stdout, /not the password/);
      assert.equal(fs.existsSync(path.join(r4, 'config')), false);
    });
  });
