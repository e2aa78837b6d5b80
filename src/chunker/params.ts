import { CairnError } from '../errors.ts';

const KiB = 1024;
const MiB = 1024 * KiB;

/** Smallest allowed minSize. Also guarantees the 32-byte fingerprint warm-up fits before minSize. */
export const MIN_CHUNK_SIZE_LIMIT = 64;
/** Largest allowed maxSize (and FixedChunker size). */
export const MAX_CHUNK_SIZE_LIMIT = 64 * MiB;

/**
 * Content-defined chunking parameters, in bytes. Part of the repository format: changing any of
 * them moves every boundary and defeats deduplication against existing snapshots.
 */
export interface ChunkerParams {
  /** No chunk but the last of a stream is shorter. */
  readonly minSize: number;
  /** The target mean; a power of two, since it selects the masks. */
  readonly avgSize: number;
  /** No chunk is longer. */
  readonly maxSize: number;
}

export const DEFAULT_CHUNKER_PARAMS: ChunkerParams = Object.freeze({
  minSize: 512 * KiB,
  avgSize: 1 * MiB,
  maxSize: 8 * MiB,
});

/**
 * Throws CairnError USAGE, naming the offending field, unless all fields are integers,
 * avgSize is a power of two and 64 <= minSize < avgSize < maxSize <= 64 MiB.
 */
export function validateChunkerParams(p: ChunkerParams): void {
  for (const field of ['minSize', 'avgSize', 'maxSize'] as const) {
    const v: unknown = p[field];
    if (typeof v !== 'number' || !Number.isSafeInteger(v)) {
      throw usage(`${field} must be an integer, got ${String(v)}`);
    }
  }
  const { minSize, avgSize, maxSize } = p;
  if (minSize < MIN_CHUNK_SIZE_LIMIT) {
    throw usage(`minSize must be at least ${MIN_CHUNK_SIZE_LIMIT}, got ${minSize}`);
  }
  if (!isPowerOfTwo(avgSize)) {
    throw usage(`avgSize must be a power of two, got ${avgSize}`);
  }
  if (minSize >= avgSize) {
    throw usage(`minSize (${minSize}) must be less than avgSize (${avgSize})`);
  }
  if (maxSize <= avgSize) {
    throw usage(`maxSize (${maxSize}) must be greater than avgSize (${avgSize})`);
  }
  if (maxSize > MAX_CHUNK_SIZE_LIMIT) {
    throw usage(`maxSize must be at most ${MAX_CHUNK_SIZE_LIMIT}, got ${maxSize}`);
  }
}

export function isPowerOfTwo(n: number): boolean {
  return Number.isSafeInteger(n) && n > 0 && 2 ** Math.round(Math.log2(n)) === n;
}

function usage(detail: string): CairnError {
  return new CairnError('USAGE', `Cannot use chunker parameters: ${detail}`);
}
