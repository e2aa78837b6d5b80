// The backend conformance suite on file systems that share blocks (XFS with reflink, Btrfs),
// loop-mounted by the test as root: there compose clones, where the default temp directory's
// file system copies.
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { LocalBackend, RetryBackend } from '../../src/backend/index.ts';
import { backendConformance } from '../../src/backend/conformance.testing.ts';
import { mountLoopFs } from './loopfs.testing.ts';

for (const kind of ['xfs', 'btrfs'] as const) {
  const loop = mountLoopFs(kind, 300);
  after(() => loop.cleanup());
  if (!loop.mounted) {
    it(`backend conformance on ${kind}`, (t) => t.skip(loop.why));
    continue;
  }
  let count = 0;
  const fixture = async (retry: boolean) => {
    const dir = path.join(loop.mnt, `backend-${++count}`);
    await fs.mkdir(dir);
    const local = new LocalBackend(path.join(dir, 'repo'));
    return {
      backend: retry ? new RetryBackend(local, { sleep: async () => {} }) : local,
      cleanup: () => fs.rm(dir, { recursive: true }),
    };
  };
  backendConformance(`LocalBackend on ${kind}`, () => fixture(false));
  backendConformance(`RetryBackend(LocalBackend) on ${kind}`, () => fixture(true));

  describe(`LocalBackend on ${kind}`, () => {
    it('clones within one file system, not from another; repacks by cloning only where that frees space', async () => {
      const a = (await fixture(false)).backend;
      const b = (await fixture(false)).backend;
      await a.create();
      await b.create();
      assert.equal(await a.canClone(), true);
      assert.equal(await a.canClone(b), true);
      assert.equal(await a.canClone(undefined, 'repack'), kind === 'xfs', 'Btrfs keeps whole extents');
      const elsewhere = await fs.mkdtemp(path.join(loop.dir, 'plain-'));
      const plain = new LocalBackend(path.join(elsewhere, 'repo'));
      await plain.create();
      assert.equal(await a.canClone(plain), false, 'the default temp file system is another one');
      const { type } = await fs.statfs(elsewhere);
      const shares = type === 0x58465342 || type === 0x9123683e; // XFS, Btrfs
      if (!shares) assert.equal(await plain.canClone(), false, 'ext4 and tmpfs cannot clone');
    });
  });
}
