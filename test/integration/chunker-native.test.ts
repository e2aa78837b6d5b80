/**
 * The addon's compiled cut loop (gearCut) against the chunker's JavaScript: the same cut for the
 * same bytes, parameters, resumption point and finality, since both are the repository format.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { chunkBuffer, DEFAULT_CHUNKER_PARAMS, FastCdcChunker, gearTable } from '../../src/chunker/index.ts';
import { smallParams, xorshiftBytes } from '../../src/chunker/random.testing.ts';
import { native } from '../../src/native/index.ts';

describe('compiled cut loop', () => {
  it('cuts where the JavaScript cuts, for any bytes, parameters, resumption and finality', (t) => {
    const gearCut = native?.gearCut;
    if (gearCut === undefined) return t.skip('the addon is not built (CAIRN_NATIVE=off)');
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        smallParams(12, 8),
        fc.integer({ min: 1, max: 2 ** 32 - 1 }),
        fc.nat(40000),
        fc.nat(40000),
        fc.boolean(),
        (secret, p, seed, n, k, final) => {
          const gear = gearTable(secret);
          const js = new FastCdcChunker(p, gear);
          const compiled = new FastCdcChunker(p, gear, gearCut);
          const data = xorshiftBytes(n, seed);
          // Resume only where the JavaScript found no cut in the prefix, as the stream does.
          const scanned = js.cut(data.subarray(0, Math.min(k, n)), false) === 0 ? Math.min(k, n) : 0;
          assert.equal(compiled.cut(data, final, scanned), js.cut(data, final, scanned));
          assert.deepEqual(
            chunkBuffer(data, compiled).map((c) => c.length),
            chunkBuffer(data, js).map((c) => c.length),
          );
        },
      ),
      { numRuns: 300 },
    );
  });

  it('cuts 64 MiB of varied content like the JavaScript at the default parameters', (t) => {
    const gearCut = native?.gearCut;
    if (gearCut === undefined) return t.skip('the addon is not built (CAIRN_NATIVE=off)');
    const gear = gearTable(Buffer.alloc(32, 7));
    const data = Buffer.concat([
      xorshiftBytes(40 * 1024 * 1024, 3),
      Buffer.alloc(8 * 1024 * 1024), // no cut point: maxSize cuts
      Buffer.from('text that repeats '.repeat(900_000)),
    ]);
    const js = chunkBuffer(data, new FastCdcChunker(DEFAULT_CHUNKER_PARAMS, gear)).map((c) => c.length);
    const compiled = chunkBuffer(data, new FastCdcChunker(DEFAULT_CHUNKER_PARAMS, gear, gearCut)).map(
      (c) => c.length,
    );
    assert.ok(js.length > 30, `${js.length} chunks`);
    assert.deepEqual(compiled, js);
  });

  it('refuses arguments that are not a byte array and a 256-entry table', (t) => {
    const gearCut = native?.gearCut;
    if (gearCut === undefined) return t.skip('the addon is not built (CAIRN_NATIVE=off)');
    const gear = new Int32Array(gearTable(Buffer.alloc(32, 1)));
    const strict = -1024;
    assert.throws(
      () => gearCut(new Uint8Array(10), new Int32Array(255), 0, 64, 256, 1024, strict, strict, true),
      TypeError,
    );
    assert.throws(
      () =>
        gearCut(new Uint16Array(10) as unknown as Uint8Array, gear, 0, 64, 256, 1024, strict, strict, true),
      TypeError,
    );
    assert.throws(
      () => gearCut(new Uint8Array(10), gear, 0, 16, 256, 1024, strict, strict, true),
      RangeError,
    );
  });
});
