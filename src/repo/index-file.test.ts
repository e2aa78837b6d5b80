import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ENTRY_SIZE, type BlobEntry } from './format.ts';
import { decodeIndex, encodeIndex, type IndexContent } from './index-file.ts';

const hexId = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b).toString('hex'));
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const entry: fc.Arbitrary<BlobEntry> = fc.record(
  {
    type: fc.constantFrom(0 as const, 1 as const),
    codec: fc.constantFrom(0, 1, 2),
    id: fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b)),
    offset: u32,
    length: u32,
    rawLength: u32,
  },
  { noNullPrototype: true },
);
const content: fc.Arbitrary<IndexContent> = fc.record(
  {
    supersedes: fc.array(hexId, { maxLength: 4 }),
    packs: fc.array(
      fc.record({ id: hexId, entries: fc.array(entry, { maxLength: 12 }) }, { noNullPrototype: true }),
      { maxLength: 6 },
    ),
  },
  { noNullPrototype: true },
);

function sample(): IndexContent {
  const e = (n: number): BlobEntry => ({
    type: (n % 2) as 0 | 1,
    codec: n % 3,
    id: Buffer.alloc(32, n),
    offset: n * 100,
    length: 50 + n,
    rawLength: 70 + n,
  });
  return {
    supersedes: ['ab'.repeat(32)],
    packs: [
      { id: '01'.repeat(32), entries: [e(1), e(2)] },
      { id: '02'.repeat(32), entries: [] },
      { id: '03'.repeat(32), entries: [e(3)] },
    ],
  };
}

describe('index files', () => {
  it('decode to what was encoded, for any content', () => {
    fc.assert(
      fc.property(content, (c) => {
        const bytes = encodeIndex(c);
        let size = 1 + 4 + 32 * c.supersedes.length + 4;
        for (const p of c.packs) size += 36 + ENTRY_SIZE * p.entries.length;
        assert.equal(bytes.length, size);
        assert.deepEqual(decodeIndex(bytes), c);
      }),
      { numRuns: 200 },
    );
  });

  it('encode an empty index as version, two zero counts', () => {
    const bytes = encodeIndex({ supersedes: [], packs: [] });
    assert.deepEqual([...bytes], [1, 0, 0, 0, 0, 0, 0, 0, 0]);
    assert.deepEqual(decodeIndex(bytes), { supersedes: [], packs: [] });
  });

  it('reject every truncation of a valid index', () => {
    const bytes = encodeIndex(sample());
    for (let n = 0; n < bytes.length; n++) {
      assert.throws(
        () => decodeIndex(bytes.subarray(0, n)),
        /ends early|unknown index version/,
        `length ${n}`,
      );
    }
  });

  it('reject trailing bytes after a valid index', () => {
    const bytes = encodeIndex(sample());
    for (const extra of [Buffer.of(0), Buffer.alloc(ENTRY_SIZE), Buffer.alloc(36)]) {
      assert.throws(() => decodeIndex(Buffer.concat([bytes, extra])), /trailing bytes/);
    }
  });

  it('reject counts larger than the data, an unknown version and an unknown blob type', () => {
    const bytes = encodeIndex(sample());
    const huge = Buffer.from(bytes);
    huge.writeUInt32LE(0xffffffff, 1);
    assert.throws(() => decodeIndex(huge), /ends early/);
    const v2 = Buffer.from(bytes);
    v2[0] = 2;
    assert.throws(() => decodeIndex(v2), /unknown index version 2/);
    const badType = Buffer.from(bytes);
    // First entry of the first pack: after version, 1 superseded id, pack count, pack id and count.
    badType[1 + 4 + 32 + 4 + 36] = 9;
    assert.throws(() => decodeIndex(badType), /unknown blob type/);
    const badCodec = Buffer.from(bytes);
    badCodec[1 + 4 + 32 + 4 + 36 + 1] = 3;
    assert.throws(() => decodeIndex(badCodec), /unknown codec/);
  });

  it('reject a property-generated index with any suffix cut off', () => {
    fc.assert(
      fc.property(content, fc.nat(), (c, cut) => {
        const bytes = encodeIndex(c);
        const n = cut % bytes.length;
        assert.throws(() => decodeIndex(bytes.subarray(0, n)));
      }),
      { numRuns: 100 },
    );
  });
});
