/**
 * Opening one stored blob: authenticate it, decompress it and check it against its id. The
 * repository does it for every blob it reads; the worker threads that verify whole packs for
 * `check --read-data` (seal-worker.ts) do the same, so both report damage in the same words.
 */
import { CairnError, reason } from '../errors.ts';
import { decompressBlob } from '../compress/index.ts';
import { blobId, DecryptError, open, type MasterKey } from '../crypto/index.ts';
import { blobAad, type BlobTypeId } from './format.ts';

/** What opening a blob needs to know of where it rests (a Location, or a pack's trailer entry). */
export interface BlobPlace {
  readonly pack: string;
  readonly type: BlobTypeId;
  readonly codec: number;
  readonly rawLength: number;
}

/** Decrypts, decompresses and verifies one stored blob. Throws BLOB_CORRUPT naming the blob and its pack. */
export function openStoredBlob(key: MasterKey, id: Buffer, place: BlobPlace, sealed: Buffer): Buffer {
  return openBlob(key, id, place, sealed, undefined);
}

/**
 * Verifies one stored blob as openStoredBlob does, for a reader that only wants the verdict
 * (check): a compressed blob is decompressed into `scratch` when it has room (at least rawLength
 * bytes), and the decrypted bytes are freed at once instead of whenever the garbage collector
 * gets to them. Throws BLOB_CORRUPT like openStoredBlob.
 */
export function verifyStoredBlob(
  key: MasterKey,
  id: Buffer,
  place: BlobPlace,
  sealed: Buffer,
  scratch: Buffer | undefined,
): void {
  openBlob(key, id, place, sealed, { scratch });
}

/**
 * Opens one stored blob as openStoredBlob does and hands its bytes to `use` (a restore writes
 * them to a file), decompressing into `scratch` when it has room; the bytes are valid only during
 * the call, and freed after it. Throws BLOB_CORRUPT like openStoredBlob, without calling `use`.
 */
export function useStoredBlob(
  key: MasterKey,
  id: Buffer,
  place: BlobPlace,
  sealed: Buffer,
  scratch: Buffer | undefined,
  use: (raw: Buffer) => void,
): void {
  openBlob(key, id, place, sealed, { scratch, use });
}

function openBlob(
  key: MasterKey,
  id: Buffer,
  place: BlobPlace,
  sealed: Buffer,
  verifyOnly: { readonly scratch: Buffer | undefined; readonly use?: (raw: Buffer) => void } | undefined,
): Buffer {
  const where = `blob ${id.toString('hex')} in pack ${place.pack}`;
  let plain: Buffer;
  try {
    plain = open(key.encKey, sealed, blobAad(place.type, id));
  } catch (err) {
    if (err instanceof DecryptError) {
      throw new CairnError('BLOB_CORRUPT', `Cannot read ${where}: it fails authentication (damaged bytes)`, {
        cause: err,
      });
    }
    throw err;
  }
  try {
    let raw: Buffer;
    try {
      raw = decompressBlob(place.codec, plain, place.rawLength, verifyOnly?.scratch);
    } catch (err) {
      throw new CairnError('BLOB_CORRUPT', `Cannot read ${where}: it does not decompress (${reason(err)})`, {
        cause: err,
      });
    }
    if (raw.length !== place.rawLength || !blobId(key, raw).equals(id)) {
      throw new CairnError('BLOB_CORRUPT', `Cannot read ${where}: its content does not match its id`);
    }
    verifyOnly?.use?.(raw);
    return raw;
  } finally {
    // Decryption gives memory of its own (never a slice of Node's shared pool), which nothing
    // else refers to when the caller only verifies.
    if (
      verifyOnly !== undefined &&
      plain.byteOffset === 0 &&
      plain.buffer instanceof ArrayBuffer &&
      plain.buffer.byteLength === plain.byteLength
    )
      plain.buffer.transfer(0);
  }
}
