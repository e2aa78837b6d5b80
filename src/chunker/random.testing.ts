import fc from 'fast-check';
import type { ChunkerParams } from './params.ts';

/**
 * Deterministic pseudo-random bytes for tests: xorshift32 (Marsaglia 2003, shifts 13/17/5) from a
 * nonzero seed; each step's new state contributes 4 bytes, least significant first. Not secure;
 * reproducible by any program, which the known-answer tests rely on.
 */
export function xorshiftBytes(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < length; i += 4) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    out[i] = s & 0xff;
    if (i + 1 < length) out[i + 1] = (s >>> 8) & 0xff;
    if (i + 2 < length) out[i + 2] = (s >>> 16) & 0xff;
    if (i + 3 < length) out[i + 3] = s >>> 24;
  }
  return out;
}

/** The offsets where chunks end, from their lengths. */
export function cutOffsets(lengths: readonly number[]): number[] {
  const offsets: number[] = [];
  let at = 0;
  for (const length of lengths) {
    at += length;
    offsets.push(at);
  }
  return offsets;
}

/**
 * Valid chunker parameters for property tests: avgSize 2^7 up to 2^maxBits, minSize in
 * [64, avgSize), maxSize in (avgSize, maxFactor × avgSize].
 */
export function smallParams(maxBits = 10, maxFactor = 4): fc.Arbitrary<ChunkerParams> {
  return fc.integer({ min: 7, max: maxBits }).chain((bits) => {
    const avgSize = 2 ** bits;
    return fc.record({
      minSize: fc.integer({ min: 64, max: avgSize - 1 }),
      avgSize: fc.constant(avgSize),
      maxSize: fc.integer({ min: avgSize + 1, max: maxFactor * avgSize }),
    });
  });
}
