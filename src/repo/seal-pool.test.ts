import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { decompressSync } from '../compress/index.ts';
import { blobId, generateMasterKey, open } from '../crypto/index.ts';
import { BLOB_TYPE, blobAad } from './format.ts';
import { FileReadError, SealPool, sealInline } from './seal-pool.ts';

describe('seal pool', () => {
  const key = generateMasterKey();

  it('compresses and seals on worker threads, moving the chunk there', async () => {
    const pool = new SealPool(key, { codec: 'zstd', level: 3 }, 2);
    try {
      const inputs = Array.from({ length: 12 }, (_, i) =>
        i % 2 === 0 ? Buffer.from(`text ${i} `.repeat(50000)) : randomBytes(300000),
      );
      const copies = inputs.map((b) => Buffer.from(b));
      const ids = copies.map((b) => blobId(key, b));
      const sealed = await Promise.all(inputs.map((b, i) => pool.seal(BLOB_TYPE.data, ids[i]!, b)));
      for (const [i, s] of sealed.entries()) {
        assert.equal(inputs[i]!.length, 0, 'an owned chunk is transferred, not copied');
        const plain = open(key.encKey, s.sealed, blobAad(BLOB_TYPE.data, ids[i]!));
        assert.deepEqual(decompressSync(s.codec, plain), copies[i]);
      }
      assert.equal(sealed[0]!.codec, 1, 'text is stored zstd-compressed');
      assert.equal(sealed[1]!.codec, 0, 'random data is stored raw');
    } finally {
      await pool.close();
    }
  });

  it('copies a chunk that shares its memory instead of moving it', async () => {
    const pool = new SealPool(key, { codec: 'zstd' }, 1);
    try {
      const backing = Buffer.from('shared memory '.repeat(10000));
      const view = backing.subarray(10, 100000);
      const id = blobId(key, view);
      const s = await pool.seal(BLOB_TYPE.tree, id, view);
      assert.equal(view.length, 100000 - 10);
      assert.deepEqual(
        decompressSync(s.codec, open(key.encKey, s.sealed, blobAad(BLOB_TYPE.tree, id))),
        view,
      );
    } finally {
      await pool.close();
    }
  });

  it('seals small blobs inline with the same result format', () => {
    const data = Buffer.from('small');
    const id = blobId(key, data);
    const s = sealInline(key, { codec: 'zstd' }, BLOB_TYPE.data, id, data);
    assert.deepEqual(decompressSync(s.codec, open(key.encKey, s.sealed, blobAad(BLOB_TYPE.data, id))), data);
  });

  it('refuses work after close', async () => {
    const pool = new SealPool(key, { codec: 'none' }, 1);
    await pool.close();
    await assert.rejects(pool.seal(BLOB_TYPE.data, Buffer.alloc(32), Buffer.alloc(10)), /closed/);
  });
});

describe('seal pool on small files', () => {
  const key = generateMasterKey();

  it('reads, names, compresses and seals a whole file on a worker', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'cairn-seal-'));
    const pool = new SealPool(key, { codec: 'zstd' }, 1);
    try {
      const content = Buffer.from('a small file\n'.repeat(100));
      await writeFile(path.join(dir, 'f'), content);
      const r = await pool.sealFile(path.join(dir, 'f'), content.length, 4096);
      assert.ok(r);
      assert.deepEqual(r.id, blobId(key, content));
      assert.equal(r.rawLength, content.length);
      assert.deepEqual(
        decompressSync(r.codec, open(key.encKey, r.sealed, blobAad(BLOB_TYPE.data, r.id))),
        content,
      );
    } finally {
      await pool.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('says when a file has grown past the small-file limit, and names a file it cannot read', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'cairn-seal-'));
    const pool = new SealPool(key, { codec: 'zstd' }, 1);
    try {
      await writeFile(path.join(dir, 'big'), Buffer.alloc(10000, 1));
      assert.equal(await pool.sealFile(path.join(dir, 'big'), 100, 4096), undefined);
      await assert.rejects(
        pool.sealFile(path.join(dir, 'missing'), 10, 4096),
        (err: unknown) => err instanceof FileReadError && err.errno === 'ENOENT',
      );
    } finally {
      await pool.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
