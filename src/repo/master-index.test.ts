import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { BlobEntry } from './format.ts';
import { MasterIndex, type Location } from './master-index.ts';
import { prng, randInt } from './fixtures.testing.ts';

function entryFor(id: Buffer, n: number): BlobEntry {
  return {
    type: (n % 2) as 0 | 1,
    codec: n % 3,
    id,
    offset: n * 7,
    length: (n * 13) % 100_000,
    rawLength: 0xffffffff - n,
  };
}

/** `count` ids from a seeded generator: uniformly random, like the HMAC ids of a repository. */
function randomIds(seed: number, count: number): Buffer[] {
  const rng = prng(seed);
  const ids: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const id = Buffer.alloc(32);
    for (let k = 0; k < 32; k += 4) id.writeUInt32LE(randInt(rng, 2 ** 32), k);
    ids.push(id);
  }
  return ids;
}

describe('MasterIndex', () => {
  it('behaves like a Map from id to first location, through many resizes', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 2 ** 31 }),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 0, max: 700 })), {
          minLength: 1,
          maxLength: 14,
        }),
        (seed, packs) => {
          // A pool smaller than the number of adds, so that ids repeat within and across packs.
          const pool = randomIds(seed, 2500);
          const rng = prng(seed ^ 0x5eed);
          const index = new MasterIndex();
          const model = new Map<string, Location>();
          const order: string[] = [];
          let n = 0;
          for (const [packNo, count] of packs) {
            const pack = `pack-${packNo}`;
            const entries: BlobEntry[] = [];
            for (let i = 0; i < count; i++) entries.push(entryFor(pool[randInt(rng, pool.length)]!, n++));
            index.addPack(pack, entries);
            for (const e of entries) {
              const hex = e.id.toString('hex');
              if (model.has(hex)) continue;
              order.push(hex);
              const { id: _id, ...loc } = e;
              model.set(hex, { pack, ...loc });
            }
          }
          assert.equal(index.size, model.size);
          for (const id of pool) {
            const want = model.get(id.toString('hex'));
            assert.equal(index.has(id), want !== undefined);
            assert.deepEqual(index.get(id), want);
          }
          assert.deepEqual(
            [...index.entries()].map((e) => e.id.toString('hex')),
            order,
          );
          assert.deepEqual(
            [...index.entries()].map(({ id, ...loc }) => [id.toString('hex'), loc]),
            order.map((hex) => [hex, model.get(hex)]),
          );
          assert.equal(index.packCount, new Set(packs.map(([p]) => p)).size);
        },
      ),
      { numRuns: 25 },
    );
  });

  it('finds every one of 50 000 random ids and none of 50 000 others after growing from empty', () => {
    const ids = randomIds(1, 100_000);
    const index = new MasterIndex();
    for (let p = 0; p < 500; p++) {
      index.addPack(
        `p${p}`,
        ids.slice(p * 100, p * 100 + 100).map((id, i) => entryFor(id, p * 100 + i)),
      );
    }
    assert.equal(index.size, 50_000);
    for (let i = 0; i < 50_000; i++) assert.equal(index.get(ids[i]!)?.offset, i * 7);
    for (let i = 50_000; i < 100_000; i++) assert.equal(index.has(ids[i]!), false);
  });

  it('answers hasHex as has, and no for anything that is not 64 hex digits', () => {
    const ids = randomIds(2, 2_000);
    const index = new MasterIndex();
    index.addPack(
      'p',
      ids.slice(0, 1_000).map((id, i) => entryFor(id, i)),
    );
    for (const [i, id] of ids.entries()) assert.equal(index.hasHex(id.toString('hex')), i < 1_000);
    const known = ids[0]!.toString('hex');
    assert.equal(index.hasHex(known.slice(0, 62)), false);
    assert.equal(index.hasHex(known + '00'), false);
    assert.equal(index.hasHex(known.slice(0, 63) + 'g'), false);
    assert.equal(index.hasHex(''), false);
  });

  it('tells apart ids that share their first four bytes (the hash)', () => {
    const index = new MasterIndex();
    const ids = Array.from({ length: 1500 }, (_, i) => {
      const id = Buffer.alloc(32, 0xee);
      id.writeUInt32LE(i, 28);
      return id;
    });
    index.addPack('a', ids.map(entryFor));
    assert.equal(index.size, 1500);
    ids.forEach((id, i) => assert.equal(index.get(id)?.offset, i * 7));
    const absent = Buffer.alloc(32, 0xee);
    absent.writeUInt32LE(5000, 28);
    assert.equal(index.has(absent), false);
  });

  it('keeps the first location of a blob that a later pack holds again', () => {
    const index = new MasterIndex();
    const [a, b] = randomIds(2, 2) as [Buffer, Buffer];
    index.addPack('first', [entryFor(a, 1)]);
    index.addPack('second', [entryFor(a, 2), entryFor(b, 3)]);
    index.addPack('first', [entryFor(b, 4)]);
    assert.equal(index.get(a)?.pack, 'first');
    assert.equal(index.get(a)?.offset, 7);
    assert.equal(index.get(b)?.pack, 'second');
    assert.equal(index.size, 2);
    assert.deepEqual(index.packNames(), ['first', 'second']);
    assert.equal(index.hasPack('second'), true);
    assert.equal(index.hasPack('third'), false);
  });

  it('lists the entries of each pack by number, as byPack does by object', () => {
    const index = new MasterIndex();
    const ids = randomIds(4, 6);
    index.addPack('first', [entryFor(ids[0]!, 1), entryFor(ids[1]!, 2)]);
    index.addPack('second', [entryFor(ids[2]!, 3), entryFor(ids[0]!, 9)]);
    index.addPack('first', [entryFor(ids[3]!, 4), entryFor(ids[4]!, 5)]);
    const members = index.packMembers();
    assert.deepEqual([...members.keys()], ['first', 'second']);
    assert.deepEqual(members.get('first'), [0, 1, 3, 4]);
    const rebuilt = new Map([...members].map(([pack, list]) => [pack, list.map((i) => index.entryAt(i))]));
    assert.deepEqual(rebuilt, index.byPack());
    assert.throws(() => index.entryAt(index.size), RangeError);
    assert.throws(() => index.entryAt(-1), RangeError);
  });

  it('keeps type, codec and full 32-bit lengths of each entry', () => {
    const index = new MasterIndex();
    const [id] = randomIds(3, 1) as [Buffer];
    index.addPack('p', [{ type: 1, codec: 2, id, offset: 0xfffffff0, length: 0xffffffff, rawLength: 0 }]);
    assert.deepEqual(index.get(id), {
      pack: 'p',
      type: 1,
      codec: 2,
      offset: 0xfffffff0,
      length: 0xffffffff,
      rawLength: 0,
    });
  });

  it('holds 100 000 loaded blobs in under 70 bytes each', (t) => {
    const ids = randomIds(4, 100_000);
    const index = new MasterIndex();
    index.reserve(ids.length);
    for (let p = 0; p < 1000; p++) {
      index.addPack(
        `p${p}`,
        ids.slice(p * 100, p * 100 + 100).map((id, i) => entryFor(id, i)),
      );
    }
    assert.equal(index.size, 100_000);
    const perBlob = index.byteSize / index.size;
    t.diagnostic(`${perBlob.toFixed(1)} bytes per blob`);
    assert.ok(perBlob < 70, `${perBlob} bytes per blob`);
    // Reserving did not change what it finds.
    for (let i = 0; i < 100_000; i += 997) assert.equal(index.has(ids[i]!), true);
  });

  it('stays within twice its entry size plus its slots while growing one pack at a time', () => {
    const ids = randomIds(5, 40_000);
    const index = new MasterIndex();
    for (let p = 0; p < 400; p++) {
      index.addPack(
        `p${p}`,
        ids.slice(p * 100, p * 100 + 100).map((id, i) => entryFor(id, i)),
      );
      if (index.size >= 1024) assert.ok(index.byteSize / index.size <= 2 * 49 + 16);
    }
  });
});
