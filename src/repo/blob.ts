/**
 * Opening one stored blob: authenticate it, decompress it and check it against its id. The
 * repository does it for every blob it reads; the worker threads that verify whole packs for
 * `check --read-data` (seal-worker.ts) do the same, so both report damage in the same words.
 */
import { CairnError, reason } from '../errors.ts';
import { createHmac, type Hmac } from 'node:crypto';
import { CODEC, decompressBlob, Inflating } from '../compress/index.ts';
import { blobId, DecryptError, open, Opening, type MasterKey } from '../crypto/index.ts';
import { release } from '../memory.ts';
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

/**
 * Verifies one stored blob as verifyStoredBlob does, from its sealed bytes fed in pieces (a blob
 * larger than the window check reads a pack through): they are decrypted, decompressed and hashed
 * as they come, so the blob is never whole in memory. end() throws BLOB_CORRUPT in the same words as openStoredBlob. Nothing
 * that came out before end() is trusted: it is only hashed.
 */
export class StoredBlobCheck {
  private readonly where: string;
  private readonly id: Buffer;
  private readonly opening: Opening;
  private readonly inflating: Inflating;
  private readonly hmac: Hmac;
  private failed: unknown;

  constructor(key: MasterKey, id: Buffer, place: BlobPlace, sealedLength: number) {
    this.where = `blob ${id.toString('hex')} in pack ${place.pack}`;
    this.id = id;
    this.opening = new Opening(key.encKey, sealedLength, blobAad(place.type, id));
    const hmac = (this.hmac = createHmac('sha256', key.idKey));
    try {
      this.inflating = new Inflating(place.codec, place.rawLength, (raw) => hmac.update(raw));
    } catch (err) {
      this.failed = err;
      // Never fed: the failure is reported once the bytes have authenticated.
      this.inflating = new Inflating(CODEC.none, 0, () => undefined);
    }
  }

  /** The blob's next sealed bytes. */
  update(piece: Buffer): void {
    const plain = this.opening.update(piece);
    if (plain === undefined) return;
    // Bytes that do not decompress may still be damaged ones: authentication, at the end, says.
    if (this.failed === undefined) {
      try {
        this.inflating.update(plain);
      } catch (err) {
        this.failed = err;
      }
    }
    release(plain);
  }

  /** Throws BLOB_CORRUPT unless the blob authenticates, decompresses and matches its id. */
  end(): void {
    try {
      this.opening.end();
    } catch (err) {
      // The decompressor goes back for the next blob: what it made of damaged bytes is moot.
      try {
        this.inflating.end();
      } catch {
        // Reported below as the authentication failure it is.
      }
      if (err instanceof DecryptError) {
        throw new CairnError(
          'BLOB_CORRUPT',
          `Cannot read ${this.where}: it fails authentication (damaged bytes)`,
          {
            cause: err,
          },
        );
      }
      throw err;
    }
    let failed = this.failed;
    if (failed === undefined) {
      try {
        this.inflating.end();
      } catch (err) {
        failed = err;
      }
    }
    if (failed !== undefined) {
      throw new CairnError(
        'BLOB_CORRUPT',
        `Cannot read ${this.where}: it does not decompress (${reason(failed)})`,
        { cause: failed },
      );
    }
    if (!this.hmac.digest().equals(this.id)) {
      throw new CairnError('BLOB_CORRUPT', `Cannot read ${this.where}: its content does not match its id`);
    }
  }
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
