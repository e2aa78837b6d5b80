import { CairnError } from '../errors.ts';
import type { Native } from '../native/index.ts';
import type { Chunker } from './chunker.ts';
import { type ChunkerParams, isPowerOfTwo, validateChunkerParams } from './params.ts';

/** Bytes hashed before minSize so the first candidate already sees a full 32-byte window. */
const WARMUP = 32;

/** The two masks of normalized chunking, as unsigned 32-bit values. */
export interface ChunkerMasks {
  /** log2(avgSize) + 2 one-bits; tested for chunk lengths up to avgSize. */
  readonly strict: number;
  /** log2(avgSize) - 2 one-bits; tested for chunk lengths above avgSize. */
  readonly loose: number;
}

/**
 * The masks for an avgSize (a power of two from 128 to 32 MiB). Part of the repository format:
 * with b = log2(avgSize),
 *
 *   strict = the top (b + 2) bits of a 32-bit word set, the rest clear = 0xFFFFFFFF << (30 - b)
 *   loose  = the top (b - 2) bits set                                   = 0xFFFFFFFF << (34 - b)
 *
 * e.g. avgSize 1 MiB (b = 20): strict 0xFFFFFC00 (22 bits), loose 0xFFFFC000 (18 bits).
 * Throws CairnError USAGE for any other avgSize.
 */
export function chunkerMasks(avgSize: number): ChunkerMasks {
  if (!isPowerOfTwo(avgSize) || avgSize < 128 || avgSize > 32 * 1024 * 1024) {
    throw new CairnError(
      'USAGE',
      `Cannot compute chunker masks: avgSize must be a power of two from 128 to 33554432, got ${avgSize}`,
    );
  }
  const bits = Math.log2(avgSize);
  // Bit k of the gear fingerprint depends on the last k + 1 bytes only (each step shifts left by
  // one), so the top bits are the ones that see the most content. FastCDC's "enhanced hash
  // judgment" pads zero bits into a 64-bit mask for the same reason (Xia et al., ATC 2016); with a
  // 32-bit fingerprint, taking the topmost bits gives every mask the full 32-byte window.
  return { strict: topBits(bits + 2), loose: topBits(bits - 2) };
}

function topBits(n: number): number {
  return (0xffffffff << (32 - n)) >>> 0;
}

/**
 * The cut loop compiled (the addon's gearCut), given to the chunker by whoever has it: the same
 * result as cut() for the same arguments, at about three times the speed of the JavaScript loop.
 */
export type GearCut = Native['gearCut'];

/**
 * FastCDC (Xia et al., USENIX ATC 2016; IEEE TPDS 2020) with normalized chunking at level 2 and
 * cut-point skipping, on a 32-bit gear fingerprint. Part of the repository format; for a chunk
 * starting at byte 0 of the available data (n bytes), with limit = min(n, maxSize):
 *
 *   1. fp = 0; for i in [minSize - 32, minSize): fp = (2 * fp + gear[buf[i]]) mod 2^32.
 *   2. for i in [minSize, min(avgSize, limit)): update fp with buf[i] as above;
 *      if (fp & strict) == 0 the chunk is bytes [0, i], length i + 1.
 *   3. for i in [avgSize, limit): update fp; if (fp & loose) == 0 the length is i + 1.
 *   4. Otherwise the length is limit if limit == maxSize or the stream ends there.
 *   A stream that ends within minSize bytes of a chunk start makes that tail one chunk.
 *
 * Step 1 departs from the papers, which start from fp = 0 at minSize: warming up over the 32 bytes
 * before minSize makes every candidate depend on its own 32-byte window only, not on where the
 * chunk began, which helps boundaries resynchronize after an edit.
 */
export class FastCdcChunker implements Chunker {
  readonly minSize: number;
  readonly avgSize: number;
  readonly maxSize: number;
  readonly masks: ChunkerMasks;
  // Int32 copies keep the hot loop in small-integer arithmetic (uint32 values above 2^31 are
  // doubles in V8).
  readonly #gear: Int32Array;
  readonly #strict: number;
  readonly #loose: number;
  readonly #compiled: GearCut | undefined;

  /**
   * `gear` comes from gearTable(secret); it is copied. Throws CairnError USAGE for invalid params
   * or a table that does not have 256 entries.
   */
  constructor(params: ChunkerParams, gear: Uint32Array, compiled?: GearCut) {
    validateChunkerParams(params);
    if (gear.length !== 256) {
      throw new CairnError('USAGE', `Cannot create chunker: gear table has ${gear.length} entries, need 256`);
    }
    this.minSize = params.minSize;
    this.avgSize = params.avgSize;
    this.maxSize = params.maxSize;
    this.masks = chunkerMasks(params.avgSize);
    this.#gear = new Int32Array(gear);
    this.#strict = this.masks.strict | 0;
    this.#loose = this.masks.loose | 0;
    this.#compiled = compiled;
  }

  cut(buf: Uint8Array, final: boolean, scanned = 0): number {
    const compiled = this.#compiled;
    if (compiled !== undefined) {
      return compiled(
        buf,
        this.#gear,
        scanned,
        this.minSize,
        this.avgSize,
        this.maxSize,
        this.#strict,
        this.#loose,
        final,
      );
    }
    const n = buf.length;
    const maxSize = this.maxSize;
    const limit = n < maxSize ? n : maxSize;
    const minSize = this.minSize;
    if (limit <= minSize) return final ? limit : 0;

    // A candidate's fingerprint depends only on the 32 bytes before it, so a scan that resumes
    // where an earlier call on a prefix stopped (`scanned`) warms up over the 32 bytes before that
    // point and finds the same cut as a scan from minSize.
    const from = scanned > minSize ? (scanned < limit ? scanned : limit) : minSize;
    const gear = this.#gear;
    let fp = 0;
    let i = from - WARMUP;
    for (; i < from; i++) {
      fp = ((fp << 1) + gear[buf[i]!]!) | 0;
    }

    // Normalized chunking (Xia et al., ATC 2016 and TPDS 2020): a stricter mask below avgSize and
    // a looser one above pull lengths toward avgSize, so a larger minSize (more skipping, more
    // speed) costs less deduplication.
    const normal = this.avgSize < limit ? this.avgSize : limit;
    const strict = this.#strict;
    for (; i < normal; i++) {
      fp = ((fp << 1) + gear[buf[i]!]!) | 0;
      if ((fp & strict) === 0) return i + 1;
    }
    const loose = this.#loose;
    for (; i < limit; i++) {
      fp = ((fp << 1) + gear[buf[i]!]!) | 0;
      if ((fp & loose) === 0) return i + 1;
    }

    if (limit === maxSize || final) return limit;
    return 0;
  }
}
