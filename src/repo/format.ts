/**
 * Frozen constants and byte layouts of repository format version 1. Everything here is part of
 * the on-disk promise documented in docs/repository-format.md: never change a value, only add.
 */
import { CairnError } from '../errors.ts';
import { CODEC, compressSync, decompressSync } from '../compress/index.ts';
import { open, seal, DecryptError, type MasterKey } from '../crypto/index.ts';

export const FORMAT_VERSION = 1;
export const FORMAT_MAGIC = 'cairn-repository';

/** Frozen blob type ids. */
export const BLOB_TYPE = { data: 0, tree: 1 } as const;
export type BlobType = keyof typeof BLOB_TYPE;
export type BlobTypeId = (typeof BLOB_TYPE)[BlobType];

export function blobTypeName(id: number): BlobType {
  if (id === BLOB_TYPE.data) return 'data';
  if (id === BLOB_TYPE.tree) return 'tree';
  throw new Error(`unknown blob type ${id}`);
}

/** Last 8 bytes of every pack. */
export const PACK_MAGIC = Buffer.from('CAIRNPK1', 'ascii');
/** Size of one blob entry in a pack trailer and an index file. */
export const ENTRY_SIZE = 46;
/** Data blobs whose stored length is at least this start on an alignment boundary. */
export const ALIGN_THRESHOLD = 64 * 1024;

const AAD_BLOB_PREFIX = Buffer.from('cairn/v1/blob', 'ascii');

/** Additional data of a blob: "cairn/v1/blob" ‖ type ‖ id, so a blob cannot pose as another. */
export function blobAad(type: BlobTypeId, id: Uint8Array): Buffer {
  return Buffer.concat([AAD_BLOB_PREFIX, Buffer.of(type), id]);
}

export type SealedFileKind = 'config' | 'index' | 'snapshot' | 'lock' | 'pack-trailer';

/** Additional data of a sealed file: "cairn/v1/<kind>", so an index cannot pose as a snapshot. */
export function fileAad(kind: SealedFileKind): Buffer {
  return Buffer.from(`cairn/v1/${kind}`, 'ascii');
}

/**
 * A sealed file (config body, index, snapshot, lock): seal(codec ‖ payload). JSON payloads are
 * zstd-compressed when that helps.
 */
export function sealFile(key: MasterKey, kind: SealedFileKind, payload: Buffer, compressIt = true): Buffer {
  const c = compressIt
    ? compressSync(payload, { codec: 'zstd', level: 3 })
    : { codec: CODEC.none, data: payload };
  return Buffer.concat(seal(key.encKey, Buffer.concat([Buffer.of(c.codec), c.data]), fileAad(kind)));
}

/** Opens a sealed file; throws DecryptError on authentication failure. */
export function openFile(key: MasterKey, kind: SealedFileKind, sealed: Uint8Array): Buffer {
  const plain = open(key.encKey, sealed, fileAad(kind));
  const codec = plain[0];
  if (codec === undefined) throw new DecryptError();
  return decompressSync(codec, plain.subarray(1), 1 << 30);
}

export interface BlobEntry {
  readonly type: BlobTypeId;
  readonly codec: number;
  readonly id: Buffer;
  /** Byte offset of the sealed blob in its pack. */
  readonly offset: number;
  /** Length of the sealed blob (nonce ‖ ciphertext ‖ tag). */
  readonly length: number;
  /** Length of the plaintext after decompression. */
  readonly rawLength: number;
}

/** entry := type u8 ‖ codec u8 ‖ id[32] ‖ offset u32le ‖ length u32le ‖ rawLength u32le */
export function writeEntry(buf: Buffer, at: number, e: BlobEntry): void {
  buf[at] = e.type;
  buf[at + 1] = e.codec;
  e.id.copy(buf, at + 2);
  buf.writeUInt32LE(e.offset, at + 34);
  buf.writeUInt32LE(e.length, at + 38);
  buf.writeUInt32LE(e.rawLength, at + 42);
}

export function readEntry(buf: Buffer, at: number): BlobEntry {
  const type = buf[at];
  const codec = buf[at + 1];
  if (type !== BLOB_TYPE.data && type !== BLOB_TYPE.tree)
    throw new Error(`unknown blob type ${String(type)}`);
  if (codec === undefined || codec > CODEC.gzip) throw new Error(`unknown codec ${String(codec)}`);
  return {
    type,
    codec,
    id: Buffer.from(buf.subarray(at + 2, at + 34)),
    offset: buf.readUInt32LE(at + 34),
    length: buf.readUInt32LE(at + 38),
    rawLength: buf.readUInt32LE(at + 42),
  };
}

/** A hex name of 64 characters (SHA-256 or HMAC-SHA-256). */
export function isHexId(name: string): boolean {
  return /^[0-9a-f]{64}$/.test(name);
}

export function corrupt(
  code: 'PACK_CORRUPT' | 'INDEX_CORRUPT' | 'SNAPSHOT_CORRUPT' | 'CONFIG_CORRUPT',
  what: string,
  why: string,
  cause?: unknown,
): CairnError {
  return new CairnError(code, `Cannot read ${what}: ${why}`, cause === undefined ? undefined : { cause });
}
