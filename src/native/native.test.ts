import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs, constants } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { major, minor, native, splitNs } from './index.ts';

describe('native addon', () => {
  it('is built by the install', () => {
    assert.ok(native, 'build/Release/cairn_native.node is missing: run npm ci');
  });

  it('splits nanosecond times, also before 1970', () => {
    assert.deepEqual(splitNs('1700000000123456789'), [1700000000, 123456789]);
    assert.deepEqual(splitNs('-1'), [-1, 999999999]);
  });

  it('decodes device numbers as glibc does', () => {
    // /dev/null is 1:3; an extended number exercises the high bits.
    assert.deepEqual([major(0x103), minor(0x103)], [1, 3]);
    // glibc's makedev: minor bits 0-7 and 20-31, major bits 8-19 (and above 32 for large ones).
    const makedev = (ma: number, mi: number) => ((ma & 0xfff) << 8) | (mi & 0xff) | ((mi & ~0xff) << 12);
    const dev = makedev(259, 0x1207);
    assert.equal(major(dev), 259);
    assert.equal(minor(dev), 0x1207);
  });

  it('makes a FIFO, sets and reads extended attributes, and sets times to the nanosecond', async (t) => {
    const n = native;
    if (!n) return t.skip('addon not built');
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'cairn-native-'));
    try {
      const fifo = path.join(dir, 'fifo');
      n.mknod(fifo, constants.S_IFIFO | 0o640, 0, 0);
      const st = await fs.lstat(fifo);
      assert.ok(st.isFIFO());
      const file = path.join(dir, 'file');
      await fs.writeFile(file, 'x');
      n.lsetxattr(file, 'user.cairn', Buffer.from('value'));
      assert.deepEqual(
        n.lgetxattrs(file).map(([k, v]) => [k, v.toString()]),
        [['user.cairn', 'value']],
      );
      n.lutimesNs(file, 1700000000, 1, 1600000000, 123456789);
      const big = await fs.lstat(file, { bigint: true });
      assert.equal(big.mtimeNs, 1600000000123456789n);
      assert.equal(big.atimeNs, 1700000000000000001n);
      assert.throws(
        () => n.lgetxattrs(path.join(dir, 'missing')),
        (e: unknown) => (e as { code?: string }).code === 'ENOENT' && /missing/.test((e as Error).message),
      );
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  it('scans a folder: every entry with the lstat Node gives, and which have extended attributes', async (t) => {
    assert.ok(native);
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'cairn-scan-'));
    t.after(() => fs.rm(dir, { recursive: true, force: true }));
    await fs.writeFile(path.join(dir, 'a'), 'hello');
    await fs.mkdir(path.join(dir, 'sub'));
    await fs.symlink('a', path.join(dir, 'link'));
    let xattrs = true;
    try {
      native.lsetxattr(path.join(dir, 'a'), 'user.cairn', Buffer.from('x'));
    } catch {
      xattrs = false; // tmpfs without user xattrs
    }
    const scan = await native.scanDir(dir);
    assert.deepEqual([...scan.names].sort(), ['a', 'link', 'sub']);
    for (const [i, name] of scan.names.entries()) {
      const st = await fs.lstat(path.join(dir, name), { bigint: true });
      const f = scan.stats.subarray(i * 14, i * 14 + 14);
      assert.deepEqual(
        [f[0], f[1], f[2], f[3], f[4], f[5], f[6], f[7]],
        [st.mode, st.uid, st.gid, st.nlink, st.ino, st.dev, st.rdev, st.size],
        name,
      );
      assert.equal((f[10] ?? 0n) * 1_000_000_000n + (f[11] ?? 0n), st.mtimeNs, `${name} mtime`);
      assert.equal((f[12] ?? 0n) * 1_000_000_000n + (f[13] ?? 0n), st.ctimeNs, `${name} ctime`);
      assert.equal(scan.errors[i], 0);
      assert.equal(scan.xattrs[i], name === 'a' && xattrs ? 1 : 0, `${name} xattrs`);
    }
    await assert.rejects(native.scanDir(path.join(dir, 'missing')), (err: NodeJS.ErrnoException) => {
      assert.equal(err.code, 'ENOENT');
      assert.match(err.message, /scandir '.*missing'/);
      return true;
    });
    await assert.rejects(native.scanDir(path.join(dir, 'a')), { code: 'ENOTDIR' });
  });
});
