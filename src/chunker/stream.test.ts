import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isCairnError } from '../errors.ts';
import {
  type Chunker,
  type ChunkerParams,
  chunkBuffer,
  chunkStream,
  FastCdcChunker,
  FixedChunker,
  gearTable,
  type ReadFn,
} from './index.ts';
import { smallParams, xorshiftBytes } from './random.testing.ts';

const GEAR = gearTable(new Uint8Array(32).fill(0x01));
const SMALL: ChunkerParams = { minSize: 64, avgSize: 256, maxSize: 1024 };

/** A reader over data that returns at most `step(request)` bytes per call, like a slow pipe. */
function reader(
  data: Uint8Array,
  step: (length: number) => number = (n) => n,
): ReadFn & { position: number } {
  const read = async (buf: Buffer, offset: number, length: number): Promise<number> => {
    const n = Math.min(Math.max(1, step(length)), length, data.length - read.position);
    buf.set(data.subarray(read.position, read.position + n), offset);
    read.position += n;
    return n;
  };
  read.position = 0;
  return read;
}

async function collect(read: ReadFn, chunker: Chunker, readSize?: number): Promise<Buffer[]> {
  const chunks: Buffer[] = [];
  for await (const chunk of chunkStream(read, chunker, readSize === undefined ? {} : { readSize })) {
    chunks.push(chunk);
  }
  return chunks;
}

describe('chunkStream', () => {
  it('yields chunks whose concatenation is the input, whatever the read sizes', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ maxLength: 20000, size: 'max' }),
        smallParams(),
        fc.integer({ min: 1, max: 5000 }),
        fc.integer({ min: 1, max: 5000 }),
        async (data, params, readSize, short) => {
          const chunks = await collect(
            reader(data, (n) => (n > short ? short : n)),
            new FastCdcChunker(params, GEAR),
            readSize,
          );
          assert.deepEqual(new Uint8Array(Buffer.concat(chunks)), data);
        },
      ),
      { numRuns: 150 },
    );
  });

  it('finds the same boundaries as chunkBuffer, whatever the read sizes and the window', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 2 ** 32 - 1 }),
        fc.nat(30000),
        smallParams(),
        fc.integer({ min: 1, max: 3000 }),
        fc.integer({ min: 1, max: 3000 }),
        // A window given, smaller than a chunk may need (it then grows), or none.
        fc.option(fc.integer({ min: 0, max: 5000 })),
        async (seed, n, params, readSize, short, extra) => {
          const data = xorshiftBytes(n, seed);
          const chunker = new FastCdcChunker(params, GEAR);
          const window =
            extra === null ? {} : { window: Buffer.alloc(readSize + Math.min(extra, params.maxSize)) };
          const streamed: number[] = [];
          const read = reader(data, (k) => (k > short ? short : k));
          for await (const c of chunkStream(read, chunker, { readSize, ...window })) streamed.push(c.length);
          assert.deepEqual(
            streamed,
            chunkBuffer(data, chunker).map((c) => c.length),
          );
        },
      ),
      { numRuns: 200 },
    );
  });

  it('hands the chunker each byte once, resuming its search after each read', async () => {
    const data = xorshiftBytes(300000, 17);
    const inner = new FastCdcChunker(SMALL, GEAR);
    let presented = 0;
    let calls = 0;
    const counting: Chunker = {
      maxSize: inner.maxSize,
      cut: (buf, final, scanned = 0) => {
        calls++;
        presented += buf.length - scanned;
        return inner.cut(buf, final, scanned);
      },
    };
    const chunks = await collect(reader(data), counting, 100);
    // Bytes after a cut are handed again for the next chunk, at most one read's worth.
    assert.ok(
      presented <= data.length + chunks.length * 100,
      `${presented} bytes presented for ${data.length} (${chunks.length} chunks, ${calls} calls)`,
    );
  });

  it('yields chunks that own their memory and survive the window moving on', async () => {
    const data = xorshiftBytes(50000, 99);
    const chunks = await collect(reader(data), new FastCdcChunker(SMALL, GEAR), 100);
    let at = 0;
    for (const chunk of chunks) {
      assert.equal(chunk.byteOffset, 0);
      assert.equal(chunk.buffer.byteLength, chunk.length);
      assert.deepEqual(new Uint8Array(chunk), data.subarray(at, at + chunk.length));
      at += chunk.length;
    }
    assert.equal(at, data.length);
  });

  it('buffers at most maxSize + readSize bytes beyond what it has yielded', async () => {
    const data = xorshiftBytes(200000, 5);
    const read = reader(data);
    let requestedMax = 0;
    const spy: ReadFn = (buf, offset, length) => {
      requestedMax = Math.max(requestedMax, length);
      assert.ok(offset + length <= buf.length);
      return read(buf, offset, length);
    };
    let yielded = 0;
    for await (const chunk of chunkStream(spy, new FastCdcChunker(SMALL, GEAR), { readSize: 300 })) {
      yielded += chunk.length;
      assert.ok(read.position - yielded <= SMALL.maxSize + 300, `${read.position - yielded} bytes ahead`);
    }
    assert.equal(requestedMax, 300);
    assert.equal(yielded, data.length);
  });

  it('yields nothing for an empty stream', async () => {
    assert.deepEqual(await collect(reader(new Uint8Array(0)), new FastCdcChunker(SMALL, GEAR)), []);
  });

  it('stops with an INTERRUPTED error once the signal is aborted', async () => {
    const controller = new AbortController();
    const chunks: Buffer[] = [];
    await assert.rejects(
      async () => {
        const stream = chunkStream(reader(xorshiftBytes(100000, 3)), new FastCdcChunker(SMALL, GEAR), {
          readSize: 1000,
          signal: controller.signal,
        });
        for await (const chunk of stream) {
          chunks.push(chunk);
          if (chunks.length === 3) controller.abort();
        }
      },
      (err) => isCairnError(err, 'INTERRUPTED'),
    );
    assert.equal(chunks.length, 3);
  });

  it('rejects a readSize that is not a positive integer with a USAGE error', async () => {
    for (const readSize of [0, -1, 1.5]) {
      await assert.rejects(collect(reader(new Uint8Array(10)), new FixedChunker(4), readSize), (err) =>
        isCairnError(err, 'USAGE'),
      );
    }
  });

  it('fails with an INTERNAL error when read reports more bytes than it was asked for', async () => {
    const lying: ReadFn = async (_buf, _offset, length) => length + 1;
    await assert.rejects(collect(lying, new FixedChunker(4), 8), (err) => isCairnError(err, 'INTERNAL'));
  });
});

describe('FixedChunker', () => {
  it('yields chunks of the given size and a short last chunk', async () => {
    const data = xorshiftBytes(10 * 4096 + 123, 11);
    const chunks = await collect(
      reader(data, () => 1000),
      new FixedChunker(4096),
      777,
    );
    assert.deepEqual(
      chunks.map((c) => c.length),
      [...Array<number>(10).fill(4096), 123],
    );
    assert.deepEqual(new Uint8Array(Buffer.concat(chunks)), data);
    assert.deepEqual(
      chunkBuffer(data, new FixedChunker(4096)).map((c) => c.length),
      chunks.map((c) => c.length),
    );
  });

  it('yields no short chunk when the input is a multiple of the size', () => {
    assert.deepEqual(
      chunkBuffer(new Uint8Array(300), new FixedChunker(100)).map((c) => c.length),
      [100, 100, 100],
    );
  });

  it('asks for more data when it has less than one chunk and the stream goes on', () => {
    const chunker = new FixedChunker(100);
    assert.equal(chunker.cut(new Uint8Array(99), false), 0);
    assert.equal(chunker.cut(new Uint8Array(99), true), 99);
    assert.equal(chunker.cut(new Uint8Array(250), false), 100);
  });

  it('rejects a size that is not an integer from 1 to 64 MiB with a USAGE error', () => {
    for (const size of [0, -4, 1.5, 64 * 1024 * 1024 + 1, Number.NaN]) {
      assert.throws(
        () => new FixedChunker(size),
        (err) => isCairnError(err, 'USAGE'),
      );
    }
  });
});

describe('chunkBuffer', () => {
  it('returns views into the input without copying', () => {
    const data = xorshiftBytes(5000, 8);
    const chunks = chunkBuffer(data, new FastCdcChunker(SMALL, GEAR));
    assert.ok(chunks.length > 1);
    for (const chunk of chunks) assert.equal(chunk.buffer, data.buffer);
  });
});
