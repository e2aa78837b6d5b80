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
import { promisify } from 'node:util';
import zlib from 'node:zlib';

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
  /** zstd 1–19 (default 3), gzip 1–9 (default 6). */
  readonly level?: number;
}

export const DEFAULT_COMPRESSION: CompressOptions = { codec: 'zstd', level: 3 };

export function codecName(id: number): CodecName {
  for (const [name, value] of Object.entries(CODEC)) if (value === id) return name as CodecName;
  throw new Error(`unknown codec id ${id}`);
}

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

const zstdCompress = promisify(zlib.zstdCompress);
const zstdDecompress = promisify(zlib.zstdDecompress);
const gzip = promisify(zlib.gzip);
const gunzip = promisify(zlib.gunzip);

export interface Compressed {
  readonly codec: CodecId;
  readonly data: Buffer;
}

/**
 * Compresses on libuv's thread pool (node:zlib's asynchronous API), so several blobs compress in
 * parallel while the main thread chunks and hashes. Falls back to `none` when the output would not
 * be smaller than the input.
 */
export async function compress(data: Buffer, options: CompressOptions): Promise<Compressed> {
  let out: Buffer;
  switch (options.codec) {
    case 'none':
      return { codec: CODEC.none, data };
    case 'zstd':
      out = await zstdCompress(data, {
        params: {
          [zlib.constants.ZSTD_c_compressionLevel]: options.level ?? 3,
          [zlib.constants.ZSTD_c_checksumFlag]: 0,
        },
        pledgedSrcSize: data.length,
      });
      break;
    case 'gzip':
      out = await gzip(data, { level: options.level ?? 6 });
      break;
  }
  return out.length < data.length ? { codec: CODEC[options.codec], data: out } : { codec: CODEC.none, data };
}

export function compressSync(data: Buffer, options: CompressOptions): Compressed {
  let out: Buffer;
  switch (options.codec) {
    case 'none':
      return { codec: CODEC.none, data };
    case 'zstd':
      out = zlib.zstdCompressSync(data, {
        params: { [zlib.constants.ZSTD_c_compressionLevel]: options.level ?? 3 },
      });
      break;
    case 'gzip':
      out = zlib.gzipSync(data, { level: options.level ?? 6 });
      break;
  }
  return out.length < data.length ? { codec: CODEC[options.codec], data: out } : { codec: CODEC.none, data };
}

/**
 * Decompresses; `rawLength` (known from the index) bounds the output so a damaged or hostile blob
 * cannot expand without limit.
 */
export async function decompress(codec: number, data: Buffer, rawLength: number): Promise<Buffer> {
  const maxOutputLength = Math.max(rawLength, 1);
  switch (codec) {
    case CODEC.none:
      return data;
    case CODEC.zstd:
      return zstdDecompress(data, { maxOutputLength });
    case CODEC.gzip:
      return gunzip(data, { maxOutputLength });
    default:
      throw new Error(`unknown codec id ${codec}`);
  }
}

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
