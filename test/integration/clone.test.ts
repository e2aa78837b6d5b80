// cairn clone on a real XFS with reflink, loop-mounted by the test (as root), and its refusals on
// a file system that cannot share blocks and across two file systems.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cloneFile, cloneRange } from '../../src/clone/index.ts';
import { isCairnError } from '../../src/errors.ts';
import { native } from '../../src/native/index.ts';
import { mountLoopFs, type LoopFs } from './loopfs.testing.ts';

const ROOT = path.resolve(import.meta.dirname, '..', '..');

function cairn(args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(path.join(ROOT, 'bin', 'cairn'), args, { encoding: 'utf8' });
  return { code: r.status ?? 1, stdout: r.stdout, stderr: r.stderr };
}

describe('cairn clone', () => {
  let xfs: LoopFs;
  let dir: string;
  let mnt: string;
  let mounted = false;

  before(() => {
    xfs = mountLoopFs('xfs');
    ({ dir, mnt, mounted } = xfs);
  });

  after(() => xfs.cleanup());

  const needXfs = (t: { skip: (m: string) => void }) => {
    if (!mounted) t.skip('cannot loop-mount XFS here (needs root and xfsprogs)');
    return !mounted;
  };

  it('shares the blocks of a 64 MiB file: equal content, no space used, metadata copied', (t) => {
    if (needXfs(t)) return;
    const src = path.join(mnt, 'big.bin');
    fs.writeFileSync(src, randomBytes(64 * 1024 * 1024));
    fs.chmodSync(src, 0o640);
    native?.lsetxattr(src, 'user.note', Buffer.from('kept'));
    native?.lutimesNs(src, 1600000000, 1, 1500000000, 7);
    const before = fs.statfsSync(mnt);
    const r = cairn(['clone', src, path.join(mnt, 'copy.bin'), '--verify', '--step', '16MiB', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const sum = JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, unknown>;
    assert.equal(sum.bytes_cloned, 64 * 1024 * 1024);
    assert.equal(sum.bytes_copied, 0);
    assert.equal(sum.verified, true);
    const after = fs.statfsSync(mnt);
    const usedMiB = ((before.bfree - after.bfree) * before.bsize) / 2 ** 20;
    assert.ok(usedMiB < 2, `the clone used ${usedMiB.toFixed(1)} MiB`);
    const st = fs.statSync(path.join(mnt, 'copy.bin'), { bigint: true });
    assert.equal(Number(st.mode) & 0o7777, 0o640);
    assert.equal(st.mtimeNs, 1500000000000000007n);
    assert.deepEqual(
      native?.lgetxattrs(path.join(mnt, 'copy.bin')).map(([k, v]) => [k, v.toString()]),
      [['user.note', 'kept']],
    );
    const filefrag = spawnSync('filefrag', ['-v', path.join(mnt, 'copy.bin')], { encoding: 'utf8' });
    if (filefrag.status === 0) assert.match(filefrag.stdout, /shared/);
  });

  it('keeps the holes of a sparse file', (t) => {
    if (needXfs(t)) return;
    const src = path.join(mnt, 'sparse.img');
    const fd = fs.openSync(src, 'w');
    fs.writeSync(fd, randomBytes(1 << 20), 0, 1 << 20, 0);
    fs.writeSync(fd, randomBytes(1 << 20), 0, 1 << 20, 100 << 20);
    fs.ftruncateSync(fd, 200 << 20);
    fs.closeSync(fd);
    const r = cloneFile(src, path.join(mnt, 'sparse-copy.img'), { verify: true });
    assert.equal(r.size, 200 << 20);
    assert.ok(r.bytesSparse >= 190 << 20, `holes: ${r.bytesSparse}`);
    const st = fs.statSync(path.join(mnt, 'sparse-copy.img'));
    assert.ok(st.blocks * 512 < 8 << 20, `the copy allocates ${st.blocks * 512} bytes`);
  });

  it('refuses an existing destination unless --force, each refusal with its own exit code', (t) => {
    if (needXfs(t)) return;
    const src = path.join(mnt, 'small.txt');
    fs.writeFileSync(src, 'ten bytes!');
    const dst = path.join(mnt, 'small-copy.txt');
    fs.writeFileSync(dst, 'old');
    const refused = cairn(['clone', src, dst]);
    assert.equal(refused.code, 60, refused.stderr);
    assert.match(refused.stderr, /exists; use --force/);
    const forced = cairn(['clone', src, dst, '--force']);
    assert.equal(forced.code, 0, forced.stderr);
    assert.equal(
      fs.readFileSync(dst, 'utf8'),
      'ten bytes!',
      'a 10-byte file clones: its range ends at the end of the source',
    );
  });

  it('explains an unaligned range with the block size', (t) => {
    if (needXfs(t)) return;
    const src = path.join(mnt, 'range.bin');
    fs.writeFileSync(src, randomBytes(3 * 4096));
    const a = fs.openSync(src, 'r');
    const b = fs.openSync(path.join(mnt, 'range-copy.bin'), 'w');
    try {
      const bs = fs.statfsSync(mnt).bsize;
      assert.throws(
        () => cloneRange(a, 10, bs, b, 0, bs, 3 * 4096),
        (e: unknown) =>
          isCairnError(e, 'CLONE_UNALIGNED') &&
          new RegExp(`source offset 10 is not a multiple of the file system block size ${bs}`).test(
            (e as Error).message,
          ),
      );
    } finally {
      fs.closeSync(a);
      fs.closeSync(b);
    }
  });

  it('across two file systems: exit 61, and --fallback copy copies', (t) => {
    if (needXfs(t)) return;
    const src = path.join(mnt, 'cross.bin');
    fs.writeFileSync(src, randomBytes(100000));
    const dst = path.join(dir, 'cross-copy.bin');
    const r = cairn(['clone', src, dst]);
    assert.equal(r.code, 61, r.stderr);
    assert.match(r.stderr, /different file systems/);
    assert.equal(fs.existsSync(dst), false);
    const copied = cairn(['clone', src, dst, '--fallback', 'copy', '--verify']);
    assert.equal(copied.code, 0, copied.stderr);
    assert.match(copied.stdout, /0 B cloned, 97.7 KiB copied/);
  });

  it('on a file system that cannot clone: exit 62 with the hint, and --fallback copy copies', () => {
    // The temporary directory's file system (ext4 or tmpfs here) shares no blocks.
    const plain = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-noclone-'));
    try {
      const fsType = execFileSync('stat', ['-f', '-c', '%T', plain], { encoding: 'utf8' }).trim();
      if (fsType === 'xfs' || fsType === 'btrfs') return; // this machine's /tmp can clone
      const src = path.join(plain, 'a.bin');
      fs.writeFileSync(src, randomBytes(50000));
      const r = cairn(['clone', src, path.join(plain, 'b.bin')]);
      assert.equal(r.code, 62, r.stderr);
      assert.match(r.stderr, /use XFS with reflink \(mkfs.xfs -m reflink=1\) or Btrfs, or --fallback copy/);
      assert.equal(fs.existsSync(path.join(plain, 'b.bin')), false, 'a failed clone leaves no file');
      const c = cairn(['clone', src, path.join(plain, 'b.bin'), '--fallback', 'copy', '--verify']);
      assert.equal(c.code, 0, c.stderr);
    } finally {
      fs.rmSync(plain, { recursive: true, force: true });
    }
  });
});
