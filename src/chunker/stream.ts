import { Buffer } from 'node:buffer';
import { CairnError } from '../errors.ts';
import type { Chunker } from './chunker.ts';

export const DEFAULT_READ_SIZE = 4 * 1024 * 1024;

/** Reads up to `length` bytes into buf at offset; resolves to the count read, 0 at the end. */
export type ReadFn = (buf: Buffer, offset: number, length: number) => Promise<number>;

export interface ChunkStreamOptions {
  /** Bytes asked of `read` per call; default 4 MiB. */
  readonly readSize?: number;
  /** Aborting makes the generator throw CairnError INTERRUPTED at its next read or yield. */
  readonly signal?: AbortSignal;
  /**
   * A window to reuse (at least maxSize + readSize bytes), so that reading many files does not
   * allocate and collect a large buffer per file. The caller must not share it between streams
   * running at the same time.
   */
  readonly window?: Buffer;
}

/**
 * Yields the chunks of the stream `read` produces, in order, with the same boundaries as
 * chunkBuffer on the whole input whatever `read` returns per call. Each chunk owns its memory
 * (byteOffset 0, buffer.byteLength === length, not from the shared pool), so it may be kept or
 * transferred to a worker. Memory held is one window of maxSize + readSize bytes plus the chunk
 * being yielded, whatever the input size. An empty stream yields nothing.
 */
export async function* chunkStream(
  read: ReadFn,
  chunker: Chunker,
  options: ChunkStreamOptions = {},
): AsyncGenerator<Buffer, void, undefined> {
  const readSize = options.readSize ?? DEFAULT_READ_SIZE;
  if (!Number.isSafeInteger(readSize) || readSize < 1) {
    throw new CairnError(
      'USAGE',
      `Cannot chunk stream: readSize must be a positive integer, got ${readSize}`,
    );
  }
  const signal = options.signal;
  const maxSize = chunker.maxSize;
  const window = options.window ?? Buffer.allocUnsafeSlow(maxSize + readSize);
  if (window.length < maxSize + readSize) {
    throw new CairnError(
      'USAGE',
      `Cannot chunk stream: the window of ${window.length} bytes is smaller than maxSize + readSize`,
    );
  }
  let start = 0;
  let end = 0;
  let eof = false;

  for (;;) {
    // Fill until a whole maxSize is buffered: then cut never asks for more, so no byte is scanned
    // twice.
    while (!eof && end - start < maxSize) {
      checkAborted(signal);
      if (window.length - end < readSize) {
        window.copyWithin(0, start, end);
        end -= start;
        start = 0;
      }
      const n = await read(window, end, readSize);
      if (!Number.isSafeInteger(n) || n < 0 || n > readSize) {
        throw new CairnError('INTERNAL', `Cannot chunk stream: read returned ${n} for ${readSize} bytes`);
      }
      if (n === 0) eof = true;
      end += n;
    }
    if (start === end) return;

    // After the fill, either maxSize bytes are buffered or the stream has ended, so each cut below
    // is final for its chunk.
    while (end - start >= maxSize || (eof && start < end)) {
      const length = chunker.cut(window.subarray(start, end), eof);
      if (!Number.isSafeInteger(length) || length < 1 || length > end - start) {
        throw new CairnError(
          'INTERNAL',
          `Cannot chunk stream: chunker returned ${length} for ${end - start} bytes`,
        );
      }
      const chunk = Buffer.allocUnsafeSlow(length);
      window.copy(chunk, 0, start, start + length);
      start += length;
      checkAborted(signal);
      yield chunk;
    }
  }
}

/**
 * Splits data in memory, with the same boundaries as chunkStream. The chunks are views into data
 * (subarrays, no copy): meant for tests and small inputs.
 */
export function chunkBuffer(data: Uint8Array, chunker: Chunker): Buffer[] {
  const all = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const chunks: Buffer[] = [];
  let start = 0;
  while (start < all.length) {
    const length = chunker.cut(all.subarray(start), true);
    if (!Number.isSafeInteger(length) || length < 1 || start + length > all.length) {
      throw new CairnError(
        'INTERNAL',
        `Cannot chunk buffer: chunker returned ${length} for ${all.length - start} bytes`,
      );
    }
    chunks.push(all.subarray(start, start + length));
    start += length;
  }
  return chunks;
}

function checkAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted === true) {
    throw new CairnError('INTERRUPTED', 'Cannot chunk stream: the operation was cancelled', {
      cause: signal.reason,
    });
  }
}
