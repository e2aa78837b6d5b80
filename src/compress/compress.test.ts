import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { CODEC, compress, compressSync, decompress, decompressSync, parseCodec } from './index.ts';

describe('codecs', () => {
  it('keeps the frozen codec ids', () => {
    assert.deepEqual(CODEC, { none: 0, zstd: 1, gzip: 2 });
  });

  for (const codec of ['zstd', 'gzip', 'none'] as const) {
    it(`round-trips any data through ${codec}`, async () => {
      await fc.assert(
        fc.asyncProperty(fc.uint8Array({ maxLength: 20000 }), async (bytes) => {
          const data = Buffer.from(bytes);
          const c = await compress(data, { codec });
          assert.deepEqual(await decompress(c.codec, c.data, data.length), data);
          const s = compressSync(data, { codec });
          assert.deepEqual(decompressSync(s.codec, s.data), data);
        }),
        { numRuns: 50 },
      );
    });
  }

  it('stores data that does not shrink as none', async () => {
    const data = randomBytes(100000);
    const c = await compress(data, { codec: 'zstd' });
    assert.equal(c.codec, CODEC.none);
    assert.equal(c.data, data);
  });

  it('shrinks text with zstd', async () => {
    const data = Buffer.from('cairn '.repeat(100000));
    const c = await compress(data, { codec: 'zstd', level: 1 });
    assert.equal(c.codec, CODEC.zstd);
    assert.ok(c.data.length < data.length / 100);
  });

  it('refuses to expand a blob beyond its recorded raw length', async () => {
    const data = Buffer.alloc(1 << 20);
    const c = await compress(data, { codec: 'zstd' });
    await assert.rejects(decompress(c.codec, c.data, 1000));
  });

  it('parses codec options and rejects bad ones with the reason', () => {
    assert.deepEqual(parseCodec('zstd:7'), { codec: 'zstd', level: 7 });
    assert.deepEqual(parseCodec('none'), { codec: 'none' });
    assert.throws(() => parseCodec('lz4'), /unknown codec "lz4"/);
    assert.throws(() => parseCodec('zstd:40'), /from 1 to 19/);
  });
});
