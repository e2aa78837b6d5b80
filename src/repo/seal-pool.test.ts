import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { decompressSync } from '../compress/index.ts';
import { blobId, generateMasterKey, open, sha256 } from '../crypto/index.ts';
import { BLOB_TYPE, blobAad } from './format.ts';
import { PackWriter } from './pack.ts';
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

  it('does not keep the process alive with idle threads, started early or after work', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'cairn-seal-'));
    try {
      const script = path.join(dir, 'idle.mjs');
      const url = (p: string) => JSON.stringify(new URL(p, import.meta.url).href);
      await writeFile(
        script,
        `const { SealPool } = await import(${url('./seal-pool.ts')});
        const { generateMasterKey } = await import(${url('../crypto/index.ts')});
        new SealPool(generateMasterKey(), { codec: 'zstd' }, 2).warm();
        const used = new SealPool(generateMasterKey(), { codec: 'zstd' }, 1);
        await used.seal(0, Buffer.alloc(32), Buffer.alloc(100000));
        console.log('done');`,
      );
      const r = spawnSync(process.execPath, [script], { encoding: 'utf8', timeout: 60_000 });
      assert.equal(r.signal, null, 'the process had to be killed: an idle thread kept it alive');
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout.trim(), 'done');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
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

describe('seal pool verifying packs', () => {
  const key = generateMasterKey();

  /** A data pack of large (aligned) and small blobs, text and random; `forge` seals one under a wrong id. */
  function makePack(seed: number, forge = false) {
    const writer = new PackWriter(BLOB_TYPE.data, 4096);
    const contents = [
      Buffer.from(`text of pack ${seed} `.repeat(20000)),
      randomBytes(100000),
      Buffer.from(`small ${seed}`),
      randomBytes(3000),
      Buffer.from(`more text ${seed} `.repeat(9000)),
    ];
    for (const [i, c] of contents.entries()) {
      const id = forge && i === 3 ? blobId(key, Buffer.from('something else')) : blobId(key, c);
      const s = sealInline(key, { codec: 'zstd' }, BLOB_TYPE.data, id, c);
      writer.add(s.codec, id, [s.sealed], s.rawLength);
    }
    const pack = writer.finish(key);
    return { name: pack.id, bytes: Buffer.concat(pack.parts), entries: pack.entries };
  }

  it('hashes whole packs and verifies their blobs on several threads, naming each blob that fails', async () => {
    const pool = new SealPool(key, { codec: 'zstd' }, 2);
    try {
      const intact = makePack(1);
      const flipped = makePack(2);
      const victim = flipped.entries.findIndex((e) => e.length >= 100000);
      const at = flipped.entries[victim]!.offset + 5000;
      flipped.bytes[at]! ^= 0x20;
      const tail = makePack(3);
      tail.bytes[tail.bytes.length - 1]! ^= 1;
      const forged = makePack(4, true);
      const [a, b, c, d] = await Promise.all(
        [intact, flipped, tail, forged].map((p) => pool.verifyPack(p.name, p.bytes, p.entries)),
      );
      assert.equal(intact.bytes.length, 0, 'a pack that owns its memory is moved, not copied');

      assert.equal(a!.sha256, intact.name);
      assert.deepEqual(a!.bad, []);

      assert.notEqual(b!.sha256, flipped.name);
      assert.equal(b!.bad.length, 1);
      assert.equal(b!.bad[0]!.index, victim);
      const id = flipped.entries[victim]!.id.toString('hex');
      assert.match(
        b!.bad[0]!.message,
        new RegExp(`blob ${id} in pack ${flipped.name}: it fails authentication`),
      );

      assert.notEqual(c!.sha256, tail.name, 'a changed trailer shows in the hash');
      assert.deepEqual(c!.bad, [], 'while every blob still verifies');

      assert.equal(d!.sha256, forged.name);
      assert.deepEqual(
        d!.bad.map((x) => x.index),
        [forged.entries.findIndex((e) => e.rawLength === 3000)],
      );
      assert.match(d!.bad[0]!.message, /its content does not match its id/);
    } finally {
      await pool.close();
    }
  });

  it('reads packs from their files on the threads, with the verdict of packs sent whole', async (t) => {
    const dir = await mkdtemp(path.join(tmpdir(), 'cairn-verify-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const pool = new SealPool(key, { codec: 'zstd' }, 1);
    try {
      // Packs of growing then shrinking size through one thread: its buffer grows and is reused.
      const packs = [makePack(6), makePack(7, true), makePack(8), makePack(9)];
      const small = packs[3]!;
      small.bytes = small.bytes.subarray(0, small.bytes.length - 1);
      const broken = small.bytes.length;
      for (const p of packs) await writeFile(path.join(dir, p.name), p.bytes);
      const fromFiles = [];
      for (const p of packs)
        fromFiles.push(await pool.verifyPackFile(p.name, path.join(dir, p.name), p.entries));
      for (const [i, p] of packs.entries()) {
        const sent = await pool.verifyPack(p.name, Buffer.from(p.bytes), p.entries);
        assert.deepEqual(fromFiles[i], sent, `pack ${i}`);
        assert.equal(fromFiles[i].size, p.bytes.length);
      }
      assert.equal(fromFiles[0]!.sha256, packs[0]!.name);
      assert.equal(fromFiles[1]!.bad.length, 1, 'the forged blob is named');
      assert.notEqual(fromFiles[3]!.sha256, small.name, 'a truncated pack does not hash to its name');
      assert.equal(fromFiles[3]!.size, broken);

      await assert.rejects(
        pool.verifyPackFile('ab'.repeat(32), path.join(dir, 'gone'), []),
        (err: unknown) => {
          assert.ok(err instanceof FileReadError);
          assert.equal(err.errno, 'ENOENT');
          assert.match(err.message, /cannot read pack (ab)+: no such file or folder/);
          return true;
        },
      );
    } finally {
      await pool.close();
    }
  });

  it('verifies blobs larger than its window and many small ones, and names blobs a cut pack lacks', async (t) => {
    const dir = await mkdtemp(path.join(tmpdir(), 'cairn-verify-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const pool = new SealPool(key, { codec: 'zstd' }, 1);
    try {
      // The worker reads a pack through a 4 MiB window, and decompresses blobs above 2 MiB in
      // pieces: blobs stored and compressed below and above both, and a run of tiny ones.
      const mb = 1024 * 1024;
      const contents = [
        randomBytes(300000),
        Buffer.from(randomBytes(1.8 * mb).toString('base64')), // 2.4 MiB, compressed to about 1.8
        randomBytes(4.6 * mb), // stored, larger than the window
        ...Array.from({ length: 300 }, (_, j) => Buffer.from(`small ${j} `.repeat(j % 7))),
        Buffer.from(randomBytes(4.5 * mb).toString('base64')), // 6 MiB, compressed to about 4.5
        Buffer.from(`line\n`.repeat(200000)),
      ];
      const writer = new PackWriter(BLOB_TYPE.data, 4096);
      for (const c of contents) {
        const id = blobId(key, c);
        const sealed = sealInline(key, { codec: 'zstd' }, BLOB_TYPE.data, id, c);
        writer.add(sealed.codec, id, [sealed.sealed], sealed.rawLength);
      }
      const finished = writer.finish(key);
      const bytes = Buffer.concat(finished.parts);
      // A damaged index may name a place twice: the second time, the worker reads it again.
      const big = finished.entries.findIndex((e) => e.codec === 1 && e.length > 4 * mb);
      assert.ok(big >= 0, 'a compressed blob larger than the window');
      const entries = [...finished.entries, finished.entries[2]!];
      const spanning = big;
      const flipped = Buffer.from(bytes);
      flipped[entries[spanning]!.offset + entries[spanning]!.length - 20]! ^= 4;
      const last = entries.reduce((a, e) => (e.offset > a.offset ? e : a));
      const cut = bytes.subarray(0, last.offset + Math.floor(last.length / 2));
      const results = [];
      for (const [name, b] of [
        ['whole', bytes],
        ['flipped', flipped],
        ['cut', cut],
      ] as const) {
        await writeFile(path.join(dir, name), b);
        const fromFile = await pool.verifyPackFile(finished.id, path.join(dir, name), entries);
        assert.deepEqual(await pool.verifyPack(finished.id, Buffer.from(b), entries), fromFile, name);
        results.push(fromFile);
      }
      const [whole, bad, short] = results;
      assert.equal(whole!.sha256, finished.id);
      assert.deepEqual(whole!.bad, []);
      assert.deepEqual(
        bad!.bad.map((x) => x.index),
        [spanning],
      );
      assert.match(bad!.bad[0]!.message, /it fails authentication/);
      assert.equal(bad!.size, bytes.length);
      assert.equal(short!.size, cut.length);
      assert.deepEqual(
        short!.bad.map((x) => x.index),
        [entries.indexOf(last)],
      );
      assert.match(short!.bad[0]!.message, /it fails authentication/);
    } finally {
      await pool.close();
    }
  });

  it('copies a pack that shares its memory, and names a blob that does not decompress', async () => {
    const pool = new SealPool(key, { codec: 'zstd' }, 1);
    try {
      const p = makePack(5);
      const backing = Buffer.concat([Buffer.alloc(100), p.bytes]);
      const view = backing.subarray(100);
      const text = p.entries.findIndex((e) => e.codec === 1);
      const entries = p.entries.map((e, i) => (i === text ? { ...e, rawLength: e.rawLength + 1 } : e));
      const v = await pool.verifyPack(p.name, view, entries);
      assert.equal(view.length, p.bytes.length, 'the view is left as it was');
      assert.equal(v.sha256, sha256(view).toString('hex'));
      assert.equal(v.sha256, p.name);
      assert.deepEqual(
        v.bad.map((x) => x.index),
        [text],
      );
      assert.match(v.bad[0]!.message, /does not decompress/);
    } finally {
      await pool.close();
    }
  });
});
