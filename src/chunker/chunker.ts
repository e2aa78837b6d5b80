import { CairnError } from '../errors.ts';
import { MAX_CHUNK_SIZE_LIMIT } from './params.ts';

/**
 * Splits a byte stream into chunks. Implementations are stateless between calls, so one instance
 * may serve any number of streams at once.
 */
export interface Chunker {
  /** No chunk is longer. Given at least this many bytes, cut never asks for more. */
  readonly maxSize: number;
  /**
   * Given buf whose byte 0 is the start of a chunk, returns the length of the next chunk.
   * When final is false and no cut is found before buf.length (and buf.length < maxSize),
   * returns 0 meaning "give me more data". When final is true, returns at most buf.length
   * (the rest is one chunk if no cut), and 0 only for an empty buf. Never returns more than
   * maxSize. The result depends only on the bytes of buf, never on how the stream was read.
   *
   * `scanned` (default 0) says that a call with final false on the first `scanned` bytes of this
   * same buf returned 0: an implementation may resume its search there instead of scanning those
   * bytes again. The result is the same with or without it.
   */
  cut(buf: Uint8Array, final: boolean, scanned?: number): number;
}

/** Chunks of exactly `size` bytes, the last one possibly shorter. For disk images and similar. */
export class FixedChunker implements Chunker {
  readonly maxSize: number;

  /** Throws CairnError USAGE unless size is an integer in [1, 64 MiB]. */
  constructor(size: number) {
    if (!Number.isSafeInteger(size) || size < 1 || size > MAX_CHUNK_SIZE_LIMIT) {
      throw new CairnError(
        'USAGE',
        `Cannot create fixed-size chunker: size must be an integer from 1 to ${MAX_CHUNK_SIZE_LIMIT}, got ${size}`,
      );
    }
    this.maxSize = size;
  }

  cut(buf: Uint8Array, final: boolean): number {
    if (buf.length >= this.maxSize) return this.maxSize;
    return final ? buf.length : 0;
  }
}
