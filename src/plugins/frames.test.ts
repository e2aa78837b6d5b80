import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { encodeData, encodeJson, FrameError, FrameReader, MAX_PAYLOAD, type Frame } from './frames.ts';

/** A stream giving `bytes` in pieces cut at `cuts`. */
function piecewise(bytes: Buffer, cuts: number[]): Readable {
  const at = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const pieces: Buffer[] = [];
  let last = 0;
  for (const c of [...at, bytes.length]) {
    if (c > last) pieces.push(bytes.subarray(last, c));
    last = c;
  }
  return Readable.from(pieces);
}

async function readAll(stream: Readable): Promise<Frame[]> {
  const r = new FrameReader(stream);
  const frames: Frame[] = [];
  for (;;) {
    const f = await r.next();
    if (f === undefined) return frames;
    frames.push(f);
  }
}

describe('frames', () => {
  it('carry JSON messages and data of several streams, however the pipe cuts them (fuzzed)', async () => {
    const message = fc.oneof(
      fc.record({ kind: fc.constant('json' as const), value: fc.jsonValue() }),
      fc.record({
        kind: fc.constant('data' as const),
        stream: fc.integer({ min: 0, max: 2 ** 32 - 1 }),
        bytes: fc.uint8Array({ maxLength: 300 }),
      }),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.array(message, { maxLength: 12 }),
        fc.array(fc.nat(), { maxLength: 20 }),
        async (msgs, cuts) => {
          const wire = Buffer.concat(
            msgs.map((m) => (m.kind === 'json' ? encodeJson(m.value) : encodeData(m.stream, m.bytes))),
          );
          const frames = await readAll(piecewise(wire, cuts));
          assert.equal(frames.length, msgs.length);
          frames.forEach((f, i) => {
            const m = msgs[i]!;
            if (m.kind === 'json') {
              assert.equal(f.type, 'json');
              assert.deepEqual(
                f.type === 'json' ? f.message : undefined,
                JSON.parse(JSON.stringify(m.value)),
              );
            } else {
              assert.ok(f.type === 'data');
              assert.equal(f.stream, m.stream);
              assert.deepEqual(new Uint8Array(f.bytes), m.bytes);
            }
          });
        },
      ),
      { numRuns: 300 },
    );
  });

  it('carry a megabyte of data in one frame', async () => {
    const data = randomBytes(1024 * 1024);
    const [f] = await readAll(Readable.from([encodeData(7, data)]));
    assert.ok(f?.type === 'data' && f.stream === 7 && f.bytes.equals(data));
  });

  it('refuse text, a truncated frame, an oversized frame and bad JSON', async () => {
    const refuses = async (bytes: Buffer, pattern: RegExp) =>
      assert.rejects(readAll(Readable.from([bytes])), (err: unknown) => {
        assert.ok(err instanceof FrameError, String(err));
        assert.match(err.message, pattern);
        return true;
      });
    await refuses(Buffer.from('hello world\n'), /unknown type "h".*printing text/);
    await refuses(encodeJson({ a: 1 }).subarray(0, 8), /ends inside a frame of/);
    await refuses(encodeJson({ a: 1 }).subarray(0, 3), /ends inside a frame header/);
    const big = Buffer.from([0x4a, 0, 0, 0, 0]);
    big.writeUInt32BE(MAX_PAYLOAD + 1, 1);
    await refuses(big, /at most/);
    await refuses(Buffer.concat([Buffer.from([0x4a, 0, 0, 0, 3]), Buffer.from('{x}')]), /does not parse/);
    await refuses(Buffer.from([0x44, 0, 0, 0, 2, 1, 2]), /without a stream number/);
  });
});
