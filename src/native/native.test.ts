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
});
