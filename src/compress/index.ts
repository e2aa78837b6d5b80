/**
 * Compression codecs of the repository.
 *
 * - codec: a numeric id stored with every blob (pack trailer, index) and every sealed file. The ids
 *   are FROZEN: a stored id must always mean the same algorithm. Never renumber, never reuse.
 * - level: a codec parameter chosen when writing; readers never need it.
 *
 * A blob that does not shrink is stored with codec `none`, so incompressible data (media, already
 * compressed archives) costs nothing to read back.
 */
import { createRequire } from 'node:module';
import zlib from 'node:zlib';
import { release } from '../memory.ts';

interface NativeZstd {
  readonly binding: {
    readonly CCtx: new () => { compress(dst: Uint8Array, src: Uint8Array, level: number): number };
    readonly DCtx: new () => {
      decompress(dst: Uint8Array, src: Uint8Array): number;
      decompressStream(dst: Uint8Array, src: Uint8Array): [left: number, produced: number, consumed: number];
      reset(directive: number): void;
    };
    compressBound(size: number): number;
    readonly ResetDirective: { readonly sessionOnly: number };
  };
}

/**
 * zstd through zstd-napi (Node-API bindings, built from source at install) when it is installed:
 * it keeps one compression and one decompression context per thread, where node:zlib makes a
 * new context per call and frees it only when the garbage collector gets to it. Measured on
 * 20,000 small blobs: 12 µs instead of 50 µs each, and 86 MB instead of 150 MB of peak memory.
 * node:zlib's zstd (same format) serves when the optional package could not be built.
 */
function loadNative(): NativeZstd | undefined {
  try {
    const require = createRequire(import.meta.url);
    return { binding: require('zstd-napi/binding') as NativeZstd['binding'] };
  } catch {
    return undefined;
  }
}

const native = process.env.CAIRN_ZSTD === 'zlib' ? undefined : loadNative();
let cctx: InstanceType<NativeZstd['binding']['CCtx']> | undefined;
let dctx: InstanceType<NativeZstd['binding']['DCtx']> | undefined;

/**
 * Where blobs are compressed before the result is copied out at its exact size: one buffer per
 * thread, reused, rather than a worst-case buffer per blob (zstd-napi's own compress() allocates
 * one and, when the result is smaller, a second to trim it, both left to the garbage collector).
 * Inputs above the limit get a buffer of their own, freed at once.
 */
let compressScratch = Buffer.alloc(0);
const COMPRESS_SCRATCH_LIMIT = 2 * 1024 * 1024;

/** Which zstd implementation this process uses: for `--version` output and the benchmark. */
export const zstdImplementation: 'zstd-napi' | 'node:zlib' = native ? 'zstd-napi' : 'node:zlib';

function zstdSync(data: Buffer, level: number): Buffer {
  if (native === undefined) {
    return zlib.zstdCompressSync(data, {
      params: { [zlib.constants.ZSTD_c_compressionLevel]: level },
      pledgedSrcSize: data.length,
    });
  }
  const bound = native.binding.compressBound(data.length);
  let dest = compressScratch;
  if (dest.length < bound) {
    dest = Buffer.allocUnsafeSlow(bound);
    if (bound <= COMPRESS_SCRATCH_LIMIT) compressScratch = dest;
  }
  cctx ??= new native.binding.CCtx();
  const n = cctx.compress(dest, data, level);
  const out = Buffer.allocUnsafeSlow(n);
  dest.copy(out, 0, 0, n);
  if (dest !== compressScratch) release(dest);
  return out;
}

function unzstdSync(data: Buffer, rawLength: number, into: Buffer | undefined): Buffer {
  if (native === undefined) return zlib.zstdDecompressSync(data, { maxOutputLength: Math.max(rawLength, 1) });
  dctx ??= new native.binding.DCtx();
  const out =
    into !== undefined && into.length >= rawLength
      ? into.subarray(0, rawLength)
      : Buffer.allocUnsafe(rawLength);
  const n = dctx.decompress(out, data);
  if (n !== rawLength) throw new Error(`decompressed to ${n} bytes, expected ${rawLength}`);
  return out;
}

/** Frozen codec ids. */
export const CODEC = {
  none: 0,
  zstd: 1,
  gzip: 2,
} as const;

export type CodecName = keyof typeof CODEC;
export type CodecId = (typeof CODEC)[CodecName];

export interface CompressOptions {
  readonly codec: CodecName;
  /**
   * zstd 1–19 (default 2), gzip 1–9 (default 6). zstd's default was 3 until 2026-12: level 2
   * backed up /usr/share + /usr/lib in 10% less time for a repository 3% larger (docs/benchmarks.md).
   */
  readonly level?: number;
}

/** zstd's level when a repository's configuration names none. */
export const DEFAULT_ZSTD_LEVEL = 2;

export const DEFAULT_COMPRESSION: CompressOptions = { codec: 'zstd', level: DEFAULT_ZSTD_LEVEL };

export function parseCodec(text: string): CompressOptions {
  const [name, levelText] = text.split(':', 2);
  if (name !== 'none' && name !== 'zstd' && name !== 'gzip') {
    throw new Error(`unknown codec "${text}" (expected none, zstd, zstd:LEVEL, gzip or gzip:LEVEL)`);
  }
  if (levelText === undefined) return { codec: name };
  const level = Number(levelText);
  const max = name === 'zstd' ? 19 : 9;
  if (!Number.isInteger(level) || level < 1 || level > max || name === 'none') {
    throw new Error(`compression level of "${text}" must be an integer from 1 to ${max}`);
  }
  return { codec: name, level };
}

export interface Compressed {
  readonly codec: CodecId;
  readonly data: Buffer;
}

export function compressSync(data: Buffer, options: CompressOptions): Compressed {
  let out: Buffer;
  switch (options.codec) {
    case 'none':
      return { codec: CODEC.none, data };
    case 'zstd':
      out = zstdSync(data, options.level ?? DEFAULT_ZSTD_LEVEL);
      break;
    case 'gzip':
      out = zlib.gzipSync(data, { level: options.level ?? 6 });
      break;
  }
  if (out.length < data.length) return { codec: CODEC[options.codec], data: out };
  release(out);
  return { codec: CODEC.none, data };
}

/**
 * Decompresses a blob whose plaintext length is known (from the index): exactly `rawLength`
 * bytes come out, or it throws. With `into` (at least `rawLength` bytes), zstd may decompress into
 * it instead of new memory, so a reader that only verifies the result allocates nothing per blob;
 * the result may then be a view of `into` (or `data` itself, for codec none).
 */
export function decompressBlob(codec: number, data: Buffer, rawLength: number, into?: Buffer): Buffer {
  let out: Buffer;
  switch (codec) {
    case CODEC.none:
      out = data;
      break;
    case CODEC.zstd:
      out = unzstdSync(data, rawLength, into);
      break;
    case CODEC.gzip:
      out = zlib.gunzipSync(data, { maxOutputLength: Math.max(rawLength, 1) });
      break;
    default:
      throw new Error(`unknown codec id ${codec}`);
  }
  if (out.length !== rawLength) throw new Error(`decompressed to ${out.length} bytes, expected ${rawLength}`);
  return out;
}

/** Decompresses data of unknown length, at most `maxOutputLength` bytes (sealed files). */
export function decompressSync(codec: number, data: Buffer, maxOutputLength = 256 * 1024 * 1024): Buffer {
  switch (codec) {
    case CODEC.none:
      return data;
    case CODEC.zstd:
      return zlib.zstdDecompressSync(data, { maxOutputLength });
    case CODEC.gzip:
      return zlib.gunzipSync(data, { maxOutputLength });
    default:
      throw new Error(`unknown codec id ${codec}`);
  }
}

/**
 * Where Inflating puts decompressed bytes, a piece at a time: one per thread, reused. The size is
 * one zstd block and then some, small enough to stay in the core's cache for the hash that reads
 * it next.
 */
let inflateScratch: Buffer | undefined;
/** zstd decoders that no blob uses at the moment, kept for the next ones (about 100 KiB each). */
const streamContexts: InstanceType<NativeZstd['binding']['DCtx']>[] = [];
const INFLATE_PIECE = 256 * 1024;

/**
 * Decompresses one blob whose compressed bytes come in pieces, handing the plaintext to `use` in
 * pieces (valid only during the call): a reader that only hashes a blob (check) then holds no
 * more than a piece of it. Exactly `rawLength` bytes come out, or update() or end() throws. zstd
 * streams through zstd-napi; without it, and for gzip, the pieces are gathered and decompressed
 * whole at end().
 */
export class Inflating {
  private readonly codec: number;
  private readonly rawLength: number;
  private readonly use: (raw: Buffer) => void;
  private readonly gathered: Buffer[] = [];
  /** zstd's decoder for this blob alone: blobs of a pack are open side by side. */
  private ctx: InstanceType<NativeZstd['binding']['DCtx']> | undefined;
  /** Whether zstd streams (else the pieces are gathered and decompressed whole at the end). */
  private readonly streaming: boolean;
  private produced = 0;
  /** zstd's hint of what the frame still lacks: 0 once a frame is complete. */
  private left = 1;

  constructor(codec: number, rawLength: number, use: (raw: Buffer) => void) {
    if (codec !== CODEC.none && codec !== CODEC.zstd && codec !== CODEC.gzip) {
      throw new Error(`unknown codec id ${codec}`);
    }
    this.codec = codec;
    this.rawLength = rawLength;
    this.use = use;
    this.streaming = codec === CODEC.zstd && native !== undefined;
    if (this.streaming && native !== undefined) {
      this.ctx = streamContexts.pop() ?? new native.binding.DCtx();
      // Whatever an earlier blob left (a frame cut short, an error) is forgotten.
      this.ctx.reset(native.binding.ResetDirective.sessionOnly);
    }
  }

  /** The next compressed bytes (they may be reused after the call). */
  update(piece: Buffer): void {
    if (this.codec === CODEC.none) {
      this.emit(piece);
      return;
    }
    if (!this.streaming) {
      this.gathered.push(Buffer.from(piece));
      return;
    }
    const ctx = this.ctx;
    if (ctx === undefined) throw new Error('the blob already failed to decompress or ended');
    const out = (inflateScratch ??= Buffer.allocUnsafeSlow(INFLATE_PIECE));
    let src = piece;
    try {
      // A full output may leave more inside zstd: it is asked again, with or without input.
      for (let full = false; src.length > 0 || full;) {
        const [left, produced, consumed] = ctx.decompressStream(out, src);
        // A call that moved nothing (more output asked of a finished frame) says nothing new.
        if (produced > 0 || consumed > 0) this.left = left;
        else if (src.length > 0) throw new Error('zstd made no progress');
        src = src.subarray(consumed);
        if (produced > 0) this.emit(out.subarray(0, produced));
        full = produced === out.length;
      }
    } catch (err) {
      this.done();
      throw err;
    }
  }

  /** Throws unless the blob decompressed completely to exactly rawLength bytes. */
  end(): void {
    if (this.streaming && this.ctx === undefined) {
      throw new Error('the blob already failed to decompress or ended');
    }
    this.done();
    if (this.codec !== CODEC.none && !this.streaming) {
      const whole = Buffer.concat(this.gathered);
      this.gathered.length = 0;
      this.emit(decompressBlob(this.codec, whole, this.rawLength));
    } else if (this.streaming && this.left !== 0) {
      throw new Error('the compressed data ends before its frame does');
    }
    if (this.produced !== this.rawLength) {
      throw new Error(`decompressed to ${this.produced} bytes, expected ${this.rawLength}`);
    }
  }

  /** Gives the decoder back for the next blob; this one takes no more input. */
  private done(): void {
    if (this.ctx !== undefined) streamContexts.push(this.ctx);
    this.ctx = undefined;
  }

  private emit(raw: Buffer): void {
    this.produced += raw.length;
    if (this.produced > this.rawLength) {
      throw new Error(`decompressed to more than the ${this.rawLength} bytes expected`);
    }
    this.use(raw);
  }
}
