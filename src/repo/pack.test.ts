import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { LocalBackend } from '../backend/index.ts';
import { isCairnError } from '../errors.ts';
import { generateMasterKey, open, seal, sha256, type MasterKey } from '../crypto/index.ts';
import {
  ALIGN_THRESHOLD,
  BLOB_TYPE,
  ENTRY_SIZE,
  blobAad,
  fileAad,
  writeEntry,
  type BlobEntry,
} from './format.ts';
import { tempDir } from './fixtures.testing.ts';
import { PACK_TAIL_SIZE, PackWriter, parseTrailer, trailerRange, type FinishedPack } from './pack.ts';

const key = generateMasterKey();

function id(n: number): Buffer {
  return sha256([Buffer.from(`blob ${n}`)]);
}

/** A sealed blob of exactly `length` bytes (28 bytes of it are nonce and tag). */
function sealedOfLength(length: number, n: number): Buffer[] {
  return seal(key.encKey, Buffer.alloc(length - 28, n & 0xff), blobAad(BLOB_TYPE.data, id(n)));
}

function bytesOf(pack: FinishedPack): Buffer {
  return Buffer.concat(pack.parts);
}

/** Reads the trailer of a pack's bytes the way check does: trailerRange, then parseTrailer. */
function readTrailer(bytes: Buffer, name = 'p', k: MasterKey = key): BlobEntry[] {
  const range = trailerRange(name, bytes.length, bytes.subarray(Math.max(0, bytes.length - 100)));
  return parseTrailer(k, name, bytes.length, bytes.subarray(range.offset, range.offset + range.length));
}

function packCorrupt(why: RegExp): (err: unknown) => boolean {
  return (err) => {
    assert.ok(isCairnError(err, 'PACK_CORRUPT'), `expected PACK_CORRUPT, got ${String(err)}`);
    assert.match(err.message, why);
    return true;
  };
}

/** A pack whose trailer is `plain`, sealed with the right key and additional data. */
function packWithTrailer(body: Buffer, plain: Buffer): Buffer {
  const trailer = Buffer.concat(seal(key.encKey, plain, fileAad('pack-trailer')));
  const tail = Buffer.alloc(PACK_TAIL_SIZE);
  tail.writeUInt32LE(trailer.length, 0);
  tail.write('CAIRNPK1', 4, 'ascii');
  return Buffer.concat([body, trailer, tail]);
}

function trailerPlain(entries: BlobEntry[], version = 1, count = entries.length): Buffer {
  const plain = Buffer.alloc(5 + entries.length * ENTRY_SIZE);
  plain[0] = version;
  plain.writeUInt32LE(count, 1);
  entries.forEach((e, i) => writeEntry(plain, 5 + i * ENTRY_SIZE, e));
  return plain;
}

describe('PackWriter', () => {
  it('starts large data blobs at the alignment and packs small ones densely after them', () => {
    const w = new PackWriter(BLOB_TYPE.data, 4096);
    const sizes = [1000, 70_000, 300, ALIGN_THRESHOLD, 5000, 100_001, ALIGN_THRESHOLD - 1];
    sizes.forEach((s, n) => w.add(0, id(n), sealedOfLength(s, n), s - 28));
    assert.equal(w.count, sizes.length);
    const pack = w.finish(key);
    const bytes = bytesOf(pack);
    const byId = new Map(pack.entries.map((e) => [e.id.toString('hex'), e]));
    const large = [1, 3, 5].map((n) => byId.get(id(n).toString('hex'))!);
    const small = [0, 2, 4, 6].map((n) => byId.get(id(n).toString('hex'))!);
    // Large blobs in the order added, each on a boundary; nothing before the first.
    assert.deepEqual(
      large.map((e) => e.offset),
      [0, 73_728, 139_264],
    );
    for (const e of large) assert.equal(e.offset % 4096, 0);
    // Padding between them is zeros.
    assert.ok(bytes.subarray(70_000, 73_728).equals(Buffer.alloc(73_728 - 70_000)));
    // Small blobs follow the last large one without gaps, in the order added.
    let at = 139_264 + 100_001;
    for (const e of small) {
      assert.equal(e.offset, at);
      at += e.length;
    }
    // Every blob opens where its entry says.
    for (const [n, s] of sizes.entries()) {
      const e = byId.get(id(n).toString('hex'))!;
      assert.equal(e.length, s);
      assert.equal(e.rawLength, s - 28);
      const plain = open(key.encKey, bytes.subarray(e.offset, e.offset + e.length), blobAad(0, id(n)));
      assert.ok(plain.equals(Buffer.alloc(s - 28, n)));
    }
  });

  it('never aligns tree blobs or a pack with alignment 1', () => {
    for (const [type, alignment] of [
      [BLOB_TYPE.tree, 4096],
      [BLOB_TYPE.data, 1],
    ] as const) {
      const w = new PackWriter(type, alignment);
      w.add(0, id(1), sealedOfLength(100, 1), 72);
      w.add(0, id(2), sealedOfLength(80_000, 2), 79_972);
      w.add(0, id(3), sealedOfLength(50, 3), 22);
      const pack = w.finish(key);
      assert.deepEqual(
        pack.entries.map((e) => e.offset),
        [0, 100, 80_100],
      );
    }
  });

  it('round-trips its trailer and is named by the SHA-256 of all its bytes', () => {
    const w = new PackWriter(BLOB_TYPE.data, 4096);
    for (let n = 0; n < 20; n++)
      w.add(n % 3, id(n), sealedOfLength(n % 2 ? 90_000 : 2000 + n, n), 12_345 + n);
    const pack = w.finish(key);
    const bytes = bytesOf(pack);
    assert.equal(bytes.length, pack.size);
    assert.equal(pack.id, sha256([bytes]).toString('hex'));
    assert.deepEqual(readTrailer(bytes), pack.entries);
    for (let n = 0; n < 20; n++) {
      const e = pack.entries.find((x) => x.id.equals(id(n)));
      assert.equal(e?.codec, n % 3);
      assert.equal(e.rawLength, 12_345 + n);
    }
    assert.ok(bytes.subarray(-8).equals(Buffer.from('CAIRNPK1')));
  });

  it('writes an empty trailer for a pack without blobs', () => {
    const pack = new PackWriter(BLOB_TYPE.tree, 4096).finish(key);
    assert.deepEqual(readTrailer(bytesOf(pack)), []);
  });

  it('keeps every blob inside the pack, apart from the others, for any sequence of sizes', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 28, max: 3 * ALIGN_THRESHOLD }), { maxLength: 24 }),
        fc.constantFrom(1, 512, 4096, 65536),
        (sizes, alignment) => {
          const w = new PackWriter(BLOB_TYPE.data, alignment);
          sizes.forEach((s, n) => w.add(0, id(n), [Buffer.alloc(s)], s));
          const pack = w.finish(key);
          const bytes = bytesOf(pack);
          const entries = readTrailer(bytes);
          assert.deepEqual(entries, pack.entries);
          const range = trailerRange('p', bytes.length, bytes);
          const sorted = [...entries].sort((a, b) => a.offset - b.offset);
          let end = 0;
          let seenSmall = false;
          for (const e of sorted) {
            assert.ok(e.offset >= end, 'blobs overlap');
            const large = alignment > 1 && e.length >= ALIGN_THRESHOLD;
            if (large) {
              assert.equal(e.offset % alignment, 0);
              assert.ok(!seenSmall, 'a large blob after a small one');
            } else {
              assert.equal(e.offset, end, 'a gap before a small blob');
              seenSmall = true;
            }
            end = e.offset + e.length;
          }
          assert.equal(end, range.offset, 'the trailer does not follow the last blob');
        },
      ),
      { numRuns: 60 },
    );
  });
});

describe('PackWriter memory', () => {
  it('copies small blobs into slabs, frees their own memory, and writes each run of them as one part', () => {
    const w = new PackWriter(BLOB_TYPE.data, 4096);
    const given: Buffer[] = [];
    const expected: Buffer[] = [];
    // 3,000 small blobs of 700 bytes span three 1 MiB slabs; one large blob keeps its memory.
    for (let n = 0; n < 3000; n++) {
      const sealed = Buffer.concat(sealedOfLength(700, n));
      const own = Buffer.allocUnsafeSlow(sealed.length);
      sealed.copy(own);
      expected.push(sealed);
      given.push(own);
      w.add(0, id(n), [own], 672);
    }
    const large = Buffer.concat(sealedOfLength(ALIGN_THRESHOLD + 100, 99999));
    w.add(0, id(99999), [large], ALIGN_THRESHOLD + 72);
    assert.ok(
      given.every((b) => b.length === 0),
      'each small blob was copied, and its memory freed',
    );
    assert.equal(large.length, ALIGN_THRESHOLD + 100, 'a large blob is not copied');
    const pack = w.finish(key);
    assert.equal(pack.slabs.length, 3);
    // The large blob, the small ones in one part per slab, the trailer's three parts and the tail.
    assert.equal(pack.parts.length, 1 + 3 + 3 + 1, `parts: ${pack.parts.map((p) => p.length).join(', ')}`);
    const bytes = bytesOf(pack);
    assert.equal(sha256([bytes]).toString('hex'), pack.id);
    const byId = new Map(expected.map((b, n) => [id(n).toString('hex'), b]));
    byId.set(id(99999).toString('hex'), large);
    const entries = readTrailer(bytes);
    assert.equal(entries.length, 3001);
    for (const e of entries) {
      assert.deepEqual(bytes.subarray(e.offset, e.offset + e.length), byId.get(e.id.toString('hex')));
    }
  });

  it('leaves memory it shares with others alone', () => {
    const w = new PackWriter(BLOB_TYPE.tree, 1);
    const backing = Buffer.concat(sealedOfLength(2000, 1));
    const view = backing.subarray(0, 1000);
    w.add(0, id(1), [view], 972);
    assert.equal(view.length, 1000);
    assert.equal(backing.length, 2000);
    const pack = w.finish(key);
    assert.deepEqual(bytesOf(pack).subarray(0, 1000), backing.subarray(0, 1000));
  });
});

describe('PackWriter.compose', () => {
  it('lays out blobs taken from another pack exactly as the pack written from their bytes', async (t) => {
    const sizes = [70_000, 300, ALIGN_THRESHOLD, 5000, 200_000, 4096 * 3, 1_000_000, 29];
    const original = new PackWriter(BLOB_TYPE.data, 4096);
    sizes.forEach((n, i) => original.add(0, id(i), sealedOfLength(n, i), n - 28));
    const written = original.finish(key);
    const backend = new LocalBackend(`${await tempDir(t, 'cairn-compose-')}/repo`);
    await backend.create();
    await backend.write({ type: 'data', name: written.id }, written.parts);

    const at = new Map(written.entries.map((e) => [e.id.toString('hex'), e]));
    const composer = new PackWriter(BLOB_TYPE.data, 4096);
    sizes.forEach((n, i) => {
      const e = at.get(id(i).toString('hex'))!;
      composer.addFrom(0, e.id, e.length, e.rawLength, { pack: written.id, offset: e.offset });
    });
    const composed = composer.compose(key);
    assert.deepEqual(composed.entries, written.entries);
    assert.equal(composed.size, written.size);
    assert.ok(
      composed.segments.some((s) => s.kind === 'zeros'),
      'the padding is a run of zeros',
    );
    const r = await backend.compose('data', composed.segments);
    const bytes = await backend.read({ type: 'data', name: r.name });
    assert.equal(r.name, sha256([bytes]).toString('hex'));
    assert.equal(bytes.length, written.size);
    // The same blob region, padding included; only the trailer's nonce differs.
    const region = written.entries.reduce((n, e) => Math.max(n, e.offset + e.length), 0);
    assert.ok(bytes.subarray(0, region).equals(bytesOf(written).subarray(0, region)));
    assert.deepEqual(readTrailer(bytes), written.entries);
    assert.equal(
      r.bytesCloned + r.bytesCopied,
      sizes.reduce((a, b) => a + b, 0),
    );
  });

  it('cannot finish in memory a pack that takes blobs from elsewhere', () => {
    const w = new PackWriter(BLOB_TYPE.tree, 4096);
    w.addFrom(0, id(1), 100, 72, { pack: 'ab'.repeat(32), offset: 0 });
    assert.throws(
      () => w.finish(key),
      (e: unknown) => isCairnError(e, 'INTERNAL'),
    );
  });
});

describe('trailerRange and parseTrailer', () => {
  const w = new PackWriter(BLOB_TYPE.data, 4096);
  for (let n = 0; n < 5; n++) w.add(0, id(n), sealedOfLength(n === 2 ? 70_000 : 500, n), 1);
  const good = bytesOf(w.finish(key));

  it('reject a pack shorter than its tail', () => {
    assert.throws(() => trailerRange('p', 11, good.subarray(-11)), packCorrupt(/too short/));
    assert.throws(() => trailerRange('p', 0, Buffer.alloc(0)), packCorrupt(/too short/));
  });

  it('reject a pack whose last bytes are not the magic', () => {
    for (let i = 1; i <= 8; i++) {
      const bad = Buffer.from(good);
      bad[bad.length - i]! ^= 0x01;
      assert.throws(() => readTrailer(bad), packCorrupt(/not a Cairn pack trailer/));
    }
  });

  it('reject a trailer length that exceeds the pack', () => {
    const bad = Buffer.from(good);
    bad.writeUInt32LE(bad.length, bad.length - 12);
    assert.throws(() => readTrailer(bad), packCorrupt(/exceeds the pack/));
    bad.writeUInt32LE(0xffffffff, bad.length - 12);
    assert.throws(() => readTrailer(bad), packCorrupt(/exceeds the pack/));
  });

  it('reject any changed byte of the trailer or its length', () => {
    const range = trailerRange('p', good.length, good);
    for (let at = range.offset; at < good.length - 8; at++) {
      for (const bit of [0x01, 0x80]) {
        const bad = Buffer.from(good);
        bad[at]! ^= bit;
        assert.throws(() => readTrailer(bad), packCorrupt(/trailer/));
      }
    }
  });

  it('reject a trailer sealed with another key', () => {
    assert.throws(() => readTrailer(good, 'p', generateMasterKey()), packCorrupt(/does not authenticate/));
  });

  it('reject a trailer of an unknown version or whose count disagrees with its length', () => {
    const e: BlobEntry = { type: 0, codec: 0, id: id(1), offset: 0, length: 10, rawLength: 1 };
    const body = Buffer.alloc(10);
    assert.throws(
      () => readTrailer(packWithTrailer(body, trailerPlain([e], 2))),
      packCorrupt(/unknown version/),
    );
    assert.throws(() => readTrailer(packWithTrailer(body, Buffer.of(1))), packCorrupt(/unknown version/));
    assert.throws(
      () => readTrailer(packWithTrailer(body, trailerPlain([e], 1, 2))),
      packCorrupt(/does not match its count/),
    );
    assert.deepEqual(readTrailer(packWithTrailer(body, trailerPlain([e]))), [e]);
  });

  it('reject an entry that lies outside the pack or has an unknown type', () => {
    const body = Buffer.alloc(10);
    const outside: BlobEntry = { type: 0, codec: 0, id: id(1), offset: 5, length: 6, rawLength: 1 };
    assert.throws(() => readTrailer(packWithTrailer(body, trailerPlain([outside]))), packCorrupt(/outside/));
    const plain = trailerPlain([{ ...outside, offset: 0 }]);
    plain[5] = 7;
    assert.throws(() => readTrailer(packWithTrailer(body, plain)), packCorrupt(/entry 0 is invalid/));
  });
});
