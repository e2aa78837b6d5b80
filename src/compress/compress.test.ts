import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { CODEC, compressSync, decompressBlob, decompressSync, Inflating, parseCodec } from './index.ts';

const execFileP = promisify(execFile);

describe('codecs', () => {
  it('keeps the frozen codec ids', () => {
    assert.deepEqual(CODEC, { none: 0, zstd: 1, gzip: 2 });
  });

  for (const codec of ['zstd', 'gzip', 'none'] as const) {
    it(`round-trips any data through ${codec}`, async () => {
      await fc.assert(
        fc.asyncProperty(fc.uint8Array({ maxLength: 20000 }), async (bytes) => {
          const data = Buffer.from(bytes);
          const c = compressSync(data, { codec });
          assert.deepEqual(decompressBlob(c.codec, c.data, data.length), data);
          const s = compressSync(data, { codec });
          assert.deepEqual(decompressSync(s.codec, s.data), data);
        }),
        { numRuns: 50 },
      );
    });
  }

  it('stores data that does not shrink as none', async () => {
    const data = randomBytes(100000);
    const c = compressSync(data, { codec: 'zstd' });
    assert.equal(c.codec, CODEC.none);
    assert.equal(c.data, data);
  });

  it('shrinks text with zstd', async () => {
    const data = Buffer.from('cairn '.repeat(100000));
    const c = compressSync(data, { codec: 'zstd', level: 1 });
    assert.equal(c.codec, CODEC.zstd);
    assert.ok(c.data.length < data.length / 100);
  });

  it('refuses to expand a blob beyond its recorded raw length', async () => {
    const data = Buffer.alloc(1 << 20);
    const c = compressSync(data, { codec: 'zstd' });
    assert.throws(() => decompressSync(c.codec, c.data, 1000));
  });

  it('parses codec options and rejects bad ones with the reason', () => {
    assert.deepEqual(parseCodec('zstd:7'), { codec: 'zstd', level: 7 });
    assert.deepEqual(parseCodec('none'), { codec: 'none' });
    assert.throws(() => parseCodec('lz4'), /unknown codec "lz4"/);
    assert.throws(() => parseCodec('zstd:40'), /from 1 to 19/);
  });
});

describe('zstd implementations', () => {
  it('are interchangeable: what one compresses the other decompresses', async () => {
    const data = Buffer.from('interchangeable '.repeat(5000));
    const mine = compressSync(data, { codec: 'zstd', level: 3 });
    // A child process that uses node:zlib's zstd decompresses ours and compresses for us.
    const script = `
      import { compressSync, decompressBlob, zstdImplementation } from './src/compress/index.ts';
      const input = Buffer.from(process.argv[1], 'base64');
      const data = decompressBlob(1, input, Number(process.argv[2]));
      const back = compressSync(data, { codec: 'zstd', level: 3 });
      process.stdout.write(JSON.stringify({ impl: zstdImplementation, ok: data.toString().startsWith('interchangeable'), back: back.data.toString('base64') }));
    `;
    const { stdout } = await execFileP(
      process.execPath,
      ['--input-type=module', '-e', script, mine.data.toString('base64'), String(data.length)],
      { cwd: new URL('../..', import.meta.url), env: { ...process.env, CAIRN_ZSTD: 'zlib' } },
    );
    const child = JSON.parse(stdout) as { impl: string; ok: boolean; back: string };
    assert.equal(child.impl, 'node:zlib');
    assert.ok(child.ok);
    assert.deepEqual(decompressBlob(1, Buffer.from(child.back, 'base64'), data.length), data);
  });

  it('refuse a blob that does not decompress to its recorded length', () => {
    const data = Buffer.from('length '.repeat(1000));
    const c = compressSync(data, { codec: 'zstd' });
    assert.throws(() => decompressBlob(c.codec, c.data, data.length - 1));
  });
});

describe('decompressing in pieces', () => {
  /** Feeds `compressed` in pieces cut at `cuts`; the output, or the first error. */
  function inPieces(codec: number, compressed: Buffer, rawLength: number, cuts: number[]): Buffer | Error {
    const out: Buffer[] = [];
    try {
      const inflating = new Inflating(codec, rawLength, (raw) => out.push(Buffer.from(raw)));
      const at = [
        0,
        ...cuts.map((c) => c % (compressed.length + 1)).sort((a, b) => a - b),
        compressed.length,
      ];
      for (let i = 1; i < at.length; i++) inflating.update(compressed.subarray(at[i - 1], at[i]));
      inflating.end();
      return Buffer.concat(out);
    } catch (err) {
      return err as Error;
    }
  }
  /** Data that compresses (a few words repeated at random), up to 700 KB: output fills many pieces. */
  const compressible = fc
    .tuple(fc.array(fc.constantFrom('cairn ', 'pack ', 'blob\n', 'x'), { maxLength: 40 }), fc.nat(20000))
    .map(([words, times]) =>
      Buffer.from(words.join('').repeat(Math.min(times, 700000 / (words.join('').length + 1)))),
    );

  for (const codec of ['zstd', 'gzip', 'none'] as const) {
    it(`gives what ${codec} compressed, in any pieces, and refuses a wrong length or a cut stream`, () => {
      fc.assert(
        fc.property(
          fc.oneof(
            compressible,
            fc.uint8Array({ maxLength: 5000 }).map((u) => Buffer.from(u)),
          ),
          fc.array(fc.nat(), { maxLength: 5 }),
          (data, cuts) => {
            const c = codec === 'none' ? { codec: CODEC.none, data } : compressSync(data, { codec });
            assert.deepEqual(inPieces(c.codec, c.data, data.length, cuts), data);
            assert.ok(
              inPieces(c.codec, c.data, data.length + 1, cuts) instanceof Error,
              'one byte more expected',
            );
            if (data.length > 0) {
              assert.ok(inPieces(c.codec, c.data, data.length - 1, cuts) instanceof Error, 'one byte less');
              assert.ok(
                inPieces(c.codec, c.data.subarray(0, c.data.length - 1), data.length, cuts) instanceof Error,
                'the last byte cut off',
              );
            }
          },
        ),
        { numRuns: 60 },
      );
    });
  }

  it('keeps blobs decompressing side by side apart, and goes on after one that failed', () => {
    const texts = [0, 1, 2].map((i) => Buffer.from(randomBytes(300000).toString('base64') + ` ${i}`));
    const packed = texts.map((t) => compressSync(t, { codec: 'zstd' }).data);
    const outs: Buffer[][] = [[], [], []];
    const streams = texts.map(
      (t, i) => new Inflating(CODEC.zstd, t.length, (raw) => outs[i]!.push(Buffer.from(raw))),
    );
    // The first starts, the second fails half way, the third runs whole, then the first ends.
    const half = (b: Buffer) => Math.floor(b.length / 2);
    streams[0]!.update(packed[0]!.subarray(0, half(packed[0]!)));
    const broken = Buffer.from(packed[1]!);
    broken.fill(0xff, 20, 200);
    assert.throws(() => streams[1]!.update(broken));
    streams[2]!.update(packed[2]!);
    streams[2]!.end();
    streams[0]!.update(packed[0]!.subarray(half(packed[0]!)));
    streams[0]!.end();
    assert.deepEqual(Buffer.concat(outs[0]!), texts[0]);
    assert.deepEqual(Buffer.concat(outs[2]!), texts[2]);
    assert.throws(() => streams[1]!.end(), /already failed/);
  });

  it('refuses an unknown codec and bytes that are not zstd', () => {
    assert.throws(() => new Inflating(9, 1, () => undefined), /unknown codec id 9/);
    assert.ok(inPieces(CODEC.zstd, Buffer.from('not zstd at all'), 15, [3]) instanceof Error);
  });
});
