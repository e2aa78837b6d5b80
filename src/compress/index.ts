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
    readonly DCtx: new () => { decompress(dst: Uint8Array, src: Uint8Array): number };
    compressBound(size: number): number;
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
