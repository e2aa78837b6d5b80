/**
 * Packs: the files under data/ that hold blobs.
 *
 *   pack    := large-blob* small-blob* trailer trailerLength(u32le) "CAIRNPK1"
 *   trailer := seal("cairn/v1/pack-trailer", version(u8)=1 ‖ count(u32le) ‖ entry*)
 *
 * Data blobs whose sealed length is at least ALIGN_THRESHOLD start at a multiple of the
 * repository's alignment (zero padding before them), so a file system that shares blocks can
 * clone them into another file. Smaller blobs are kept back and written densely after the large
 * ones. A pack's name is the SHA-256 of all its bytes, padding included.
 *
 * A pack may also be assembled from blobs that rest in other packs (prune's repacking, copies
 * between repositories): `addFrom` names where the sealed bytes are, and `compose` gives the
 * backend the layout as segments to clone or copy, with the same alignment and trailer.
 */
import { CairnError } from '../errors.ts';
import { release } from '../memory.ts';
import type { Segment } from '../backend/index.ts';
import type { MasterKey } from '../crypto/index.ts';
import { open, seal, sha256, DecryptError } from '../crypto/index.ts';
import {
  ALIGN_THRESHOLD,
  BLOB_TYPE,
  ENTRY_SIZE,
  PACK_MAGIC,
  fileAad,
  readEntry,
  writeEntry,
  type BlobEntry,
  type BlobTypeId,
} from './format.ts';

const TAIL = 4 + PACK_MAGIC.length;
const TRAILER_VERSION = 1;

/**
 * Small sealed blobs are copied into slabs of this size as they are added, and their own memory
 * freed: a pack of small files holds tens of thousands of blobs, and one ArrayBuffer each (with
 * its object, backing store and collector bookkeeping) cost more than their bytes.
 */
const SLAB_SIZE = 1024 * 1024;
/** Blobs up to this many bytes are copied into slabs; larger ones keep their memory. */
const SLAB_COPY_LIMIT = 64 * 1024;

export interface FinishedPack {
  readonly id: string;
  /** The pack's bytes in order; a run of small blobs is one part (a view of a slab). */
  readonly parts: Buffer[];
  /** The memory parts may be views of (slabs), to free with the parts once they are written. */
  readonly slabs: Buffer[];
  readonly size: number;
  readonly entries: BlobEntry[];
}

/** A pack laid out for `Backend.compose`: its name comes from the backend once it is written. */
export interface ComposedPack {
  readonly segments: Segment[];
  readonly size: number;
  readonly entries: BlobEntry[];
}

/** Where the sealed bytes of a blob rest: a pack (of the source backend) and an offset in it. */
export interface BlobSource {
  readonly pack: string;
  readonly offset: number;
}

/** Sealed bytes in hand, zero padding, or a blob's bytes in another pack. */
type Piece = Buffer | { readonly zeros: number } | { readonly from: BlobSource; readonly length: number };

interface Pending {
  type: BlobTypeId;
  codec: number;
  id: Buffer;
  parts: Buffer[] | BlobSource;
  length: number;
  rawLength: number;
}

/** Assembles one pack in memory. Not safe for concurrent finish(); add() is synchronous. */
export class PackWriter {
  readonly type: BlobTypeId;
  private readonly alignment: number;
  private readonly parts: Piece[] = [];
  private readonly entries: BlobEntry[] = [];
  private readonly small: Pending[] = [];
  private offset = 0;
  private smallBytes = 0;
  private readonly slabs: Buffer[] = [];
  private slabUsed = SLAB_SIZE;

  constructor(type: BlobTypeId, alignment: number) {
    this.type = type;
    this.alignment = alignment;
  }

  /** Bytes the pack will have without its trailer. */
  get size(): number {
    return this.offset + this.smallBytes;
  }

  get count(): number {
    return this.entries.length + this.small.length;
  }

  /**
   * Adds a sealed blob. The writer owns `sealedParts` from now on: a small blob's are copied into
   * a slab and freed at once (release(): memory they share with others is left alone).
   */
  add(codec: number, id: Buffer, sealedParts: Buffer[], rawLength: number): void {
    let length = 0;
    for (const p of sealedParts) length += p.length;
    this.queue({ type: this.type, codec, id, parts: sealedParts, length, rawLength });
  }

  /** A small blob's parts as one view of a slab, their own memory freed; others as they are. */
  private stash(parts: Buffer[], length: number): Buffer[] {
    if (length === 0 || length > SLAB_COPY_LIMIT) return parts;
    let slab = this.slabs.at(-1);
    if (slab === undefined || this.slabUsed + length > SLAB_SIZE) {
      slab = Buffer.allocUnsafeSlow(SLAB_SIZE);
      this.slabs.push(slab);
      this.slabUsed = 0;
    }
    const start = this.slabUsed;
    for (const p of parts) {
      this.slabUsed += p.copy(slab, this.slabUsed);
      release(p);
    }
    return [slab.subarray(start, this.slabUsed)];
  }

  /**
   * Adds a blob whose sealed bytes (`length` of them) rest at `from`, to be cloned or copied from
   * there by `compose()`. A pack with such blobs can only be finished with `compose()`.
   */
  addFrom(codec: number, id: Buffer, length: number, rawLength: number, from: BlobSource): void {
    this.queue({ type: this.type, codec, id, parts: from, length, rawLength });
  }

  private queue(blob: Pending): void {
    if (this.type === BLOB_TYPE.data && this.alignment > 1 && blob.length >= ALIGN_THRESHOLD) {
      const pad = (this.alignment - (this.offset % this.alignment)) % this.alignment;
      if (pad > 0) {
        this.parts.push({ zeros: pad });
        this.offset += pad;
      }
      this.place(blob);
    } else {
      if (Array.isArray(blob.parts)) blob.parts = this.stash(blob.parts, blob.length);
      this.small.push(blob);
      this.smallBytes += blob.length;
    }
  }

  private place(b: Pending): void {
    this.entries.push({
      type: b.type,
      codec: b.codec,
      id: b.id,
      offset: this.offset,
      length: b.length,
      rawLength: b.rawLength,
    });
    if (Array.isArray(b.parts)) for (const p of b.parts) this.parts.push(p);
    else this.parts.push({ from: b.parts, length: b.length });
    this.offset += b.length;
  }

  finish(key: MasterKey): FinishedPack {
    const trailer = this.close(key);
    const parts: Buffer[] = [];
    let run: Buffer[] = [];
    for (const p of this.parts) {
      if (Buffer.isBuffer(p)) {
        run.push(p);
        continue;
      }
      parts.push(...joinRuns(run));
      run = [];
      if ('zeros' in p) parts.push(Buffer.alloc(p.zeros));
      else
        throw new CairnError('INTERNAL', 'Cannot finish a pack in memory: it takes blobs from other packs');
    }
    parts.push(...joinRuns(run), ...trailer);
    const size = this.offset + trailer.reduce((n, t) => n + t.length, 0);
    return { id: sha256(parts).toString('hex'), parts, slabs: this.slabs, size, entries: this.entries };
  }

  /** The pack as segments for `Backend.compose`: ranges of other packs, padding, bytes, trailer. */
  compose(key: MasterKey): ComposedPack {
    const trailer = this.close(key);
    const segments: Segment[] = [];
    let bytes: Buffer[] = [];
    const flushBytes = () => {
      if (bytes.length > 0) segments.push({ kind: 'bytes', data: joinRuns(bytes) });
      bytes = [];
    };
    for (const p of this.parts) {
      if (Buffer.isBuffer(p)) {
        bytes.push(p);
        continue;
      }
      flushBytes();
      if ('zeros' in p) segments.push({ kind: 'zeros', length: p.zeros });
      else
        segments.push({
          kind: 'range',
          from: { type: 'data', name: p.from.pack },
          offset: p.from.offset,
          length: p.length,
        });
    }
    bytes.push(...trailer);
    flushBytes();
    const size = this.offset + trailer.reduce((n, t) => n + t.length, 0);
    return { segments, size, entries: this.entries };
  }

  /** Places the small blobs and returns the sealed trailer and the tail. */
  private close(key: MasterKey): Buffer[] {
    for (const b of this.small) this.place(b);
    this.small.length = 0;
    this.smallBytes = 0;
    const plain = Buffer.alloc(5 + this.entries.length * ENTRY_SIZE);
    plain[0] = TRAILER_VERSION;
    plain.writeUInt32LE(this.entries.length, 1);
    this.entries.forEach((e, i) => writeEntry(plain, 5 + i * ENTRY_SIZE, e));
    const trailer = seal(key.encKey, plain, fileAad('pack-trailer'));
    let trailerLength = 0;
    for (const p of trailer) trailerLength += p.length;
    const tail = Buffer.alloc(TAIL);
    tail.writeUInt32LE(trailerLength, 0);
    PACK_MAGIC.copy(tail, 4);
    return [...trailer, tail];
  }
}

/**
 * The pieces with each run that continues from one piece to the next in the same memory (small
 * blobs side by side in a slab) as one view: one part to write per run, one view made per run.
 */
function joinRuns(pieces: readonly Buffer[]): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < pieces.length;) {
    const first = pieces[i] as Buffer;
    let end = first.byteOffset + first.length;
    let j = i + 1;
    for (; j < pieces.length; j++) {
      const next = pieces[j] as Buffer;
      if (next.buffer !== first.buffer || next.byteOffset !== end) break;
      end += next.length;
    }
    out.push(j === i + 1 ? first : Buffer.from(first.buffer, first.byteOffset, end - first.byteOffset));
    i = j;
  }
  return out;
}

/** Where the trailer of a pack of `size` bytes is, given its last bytes. */
export function trailerRange(
  packName: string,
  size: number,
  tail: Buffer,
): { offset: number; length: number } {
  if (size < TAIL || tail.length < TAIL) throw packCorrupt(packName, `it is too short (${size} bytes)`);
  const t = tail.subarray(tail.length - TAIL);
  if (!t.subarray(4).equals(PACK_MAGIC))
    throw packCorrupt(packName, 'its last bytes are not a Cairn pack trailer');
  const length = t.readUInt32LE(0);
  if (length + TAIL > size) throw packCorrupt(packName, `its trailer length ${length} exceeds the pack`);
  return { offset: size - TAIL - length, length };
}

/** Bytes to read from the end of a pack to get its trailer in one read, most of the time. */
export const TAIL_GUESS = 64 * 1024;
export const PACK_TAIL_SIZE = TAIL;

export function parseTrailer(
  key: MasterKey,
  packName: string,
  packSize: number,
  sealed: Buffer,
): BlobEntry[] {
  let plain: Buffer;
  try {
    plain = open(key.encKey, sealed, fileAad('pack-trailer'));
  } catch (err) {
    if (err instanceof DecryptError) throw packCorrupt(packName, 'its trailer does not authenticate', err);
    throw err;
  }
  if (plain[0] !== TRAILER_VERSION || plain.length < 5)
    throw packCorrupt(packName, 'its trailer has an unknown version');
  const count = plain.readUInt32LE(1);
  if (plain.length !== 5 + count * ENTRY_SIZE)
    throw packCorrupt(packName, 'its trailer length does not match its count');
  const entries: BlobEntry[] = [];
  const limit = packSize - TAIL - sealed.length;
  for (let i = 0; i < count; i++) {
    let e: BlobEntry;
    try {
      e = readEntry(plain, 5 + i * ENTRY_SIZE);
    } catch (err) {
      throw packCorrupt(packName, `trailer entry ${i} is invalid`, err);
    }
    if (e.offset + e.length > limit)
      throw packCorrupt(packName, `blob ${e.id.toString('hex')} lies outside the pack`);
    entries.push(e);
  }
  return entries;
}

export function packCorrupt(packName: string, why: string, cause?: unknown): CairnError {
  return new CairnError(
    'PACK_CORRUPT',
    `Cannot read pack ${packName}: ${why}`,
    cause === undefined ? undefined : { cause },
  );
}
