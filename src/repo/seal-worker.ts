// A thread of the seal pool: compresses and seals blobs sent by the main thread, reads, names,
// compresses and seals whole small files, and verifies whole packs for check. See seal-pool.ts.
import fs, { constants } from 'node:fs';
import { createHash, createHmac, createSecretKey } from 'node:crypto';
import { parentPort, workerData } from 'node:worker_threads';
import { CairnError, reason } from '../errors.ts';
import { release } from '../memory.ts';
import { compressSync, type CompressOptions } from '../compress/index.ts';
import { sealOwned, type MasterKey } from '../crypto/index.ts';
import { StoredBlobCheck, useStoredBlob, verifyStoredBlob } from './blob.ts';
import { writeSparse } from './sparse.ts';
import { BLOB_TYPE, ENTRY_SIZE, blobAad, readEntry, type BlobEntry, type BlobTypeId } from './format.ts';

interface Init {
  readonly encKey: Uint8Array;
  readonly idKey: Uint8Array;
  readonly compression: CompressOptions;
}

export type WorkerTask =
  | {
      readonly kind: 'seal';
      readonly seq: number;
      readonly type: BlobTypeId;
      readonly id: Uint8Array;
      readonly data: Uint8Array;
    }
  | {
      readonly kind: 'file';
      readonly seq: number;
      readonly path: string;
      readonly size: number;
      readonly limit: number;
    }
  | {
      /**
       * Bytes read from a pack for a restore, moved here: the index's entries of the blobs in them
       * (ENTRY_SIZE bytes each, offsets within `bytes`), and for each the file descriptor and the
       * offset in the file to write it at (`targets`: two numbers per blob).
       */
      readonly kind: 'write';
      readonly seq: number;
      readonly pack: string;
      readonly bytes: Uint8Array;
      readonly entries: Uint8Array;
      readonly targets: Float64Array;
    }
  | {
      /**
       * A whole pack and the index's entries of its blobs (ENTRY_SIZE bytes each): its bytes
       * moved here, or the path of its file, which this thread then reads itself.
       */
      readonly kind: 'verify';
      readonly seq: number;
      readonly pack: string;
      readonly bytes: Uint8Array | { readonly path: string };
      readonly entries: Uint8Array;
    };

/** A blob of a verified pack that failed: its number in the entries sent, and why. */
export interface BadBlob {
  readonly index: number;
  readonly message: string;
}

/** A write of restored blobs that failed (the disk is full...): the blob's number, and errno. */
export interface WriteFailure {
  readonly index: number;
  readonly message: string;
  readonly errno?: string;
}

/**
 * When the worker did the task's parts, in milliseconds since the Unix epoch at high resolution
 * (performance.timeOrigin + performance.now(), comparable across threads): started, done reading,
 * done naming (HMAC), done compressing and sealing. A seal task has no reading or naming.
 */
export type WorkerTimes = readonly [start: number, read: number, hashed: number, end: number];

export type WorkerReply =
  | {
      readonly seq: number;
      readonly codec: number;
      readonly sealed: Uint8Array;
      readonly id?: Uint8Array;
      readonly rawLength: number;
      readonly times: WorkerTimes;
    }
  | { readonly seq: number; readonly grew: true }
  | {
      readonly seq: number;
      readonly sha256: string;
      readonly bad: readonly BadBlob[];
      /** How many bytes the pack has. */
      readonly size: number;
    }
  | {
      readonly seq: number;
      readonly written: number;
      readonly bad: readonly BadBlob[];
      readonly failure?: WriteFailure;
    }
  | { readonly seq: number; readonly error: string; readonly errno?: string };

const init = workerData as Init;
const encKey = createSecretKey(init.encKey);
const idKey = createSecretKey(init.idKey);
const key: MasterKey = { encKey, idKey };
const port = parentPort;
if (port === null) throw new Error('seal-worker must run as a worker thread');

function openForReading(path: string): number {
  try {
    return fs.openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NOATIME);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') throw err;
    return fs.openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  }
}

/** Reused for every small file: its content is compressed or sealed into new memory anyway. */
let scratch = Buffer.alloc(0);

/**
 * The whole file in the thread's scratch buffer (valid until the next call), or undefined when
 * it has grown to `limit` bytes or more since it was listed.
 */
function readWhole(path: string, limit: number): Buffer | undefined {
  if (scratch.length < limit) scratch = Buffer.allocUnsafeSlow(limit);
  const fd = openForReading(path);
  try {
    const n = readUpTo(fd, scratch, limit);
    return n === limit ? undefined : scratch.subarray(0, n);
  } finally {
    fs.closeSync(fd);
  }
}

/** Reads from the start of `fd` into `into` until `length` bytes or the end; returns the count. */
function readUpTo(fd: number, into: Buffer, length: number): number {
  let n = 0;
  while (n < length) {
    const got = fs.readSync(fd, into, n, length - n, n);
    if (got === 0) break;
    n += got;
  }
  return n;
}

/** Compresses and seals; the compressed bytes are freed at once (the input is the caller's). */
function seal(type: BlobTypeId, id: Uint8Array, data: Buffer): { codec: number; sealed: Buffer } {
  const c = compressSync(data, init.compression);
  const sealed = sealOwned(encKey, c.data, blobAad(type, Buffer.from(id)));
  if (c.data !== data) release(c.data);
  return { codec: c.codec, sealed };
}

/**
 * A scratch buffer's replacement, with room for `size` bytes and an eighth more, so that it grows
 * a few times rather than with every larger pack or blob. The old one is freed now: left to the
 * collector, which runs seldom on this thread, the outgrown buffers added up to tens of MiB.
 */
function grown(old: Buffer, size: number): Buffer<ArrayBuffer> {
  release(old);
  return Buffer.allocUnsafeSlow(size + (size >>> 3));
}

/**
 * Where this thread reads the packs it verifies from their files: a window that holds a few blobs
 * at a time, reused from pack to pack. A blob larger than it is verified in pieces as it passes.
 */
const PACK_WINDOW = 4 * 1024 * 1024;
let packWindow: Buffer | undefined;
/** The pieces a blob is fed in when it is verified in pieces. */
const BLOB_PIECE = 512 * 1024;

/** Where compressed blobs are decompressed whole, for a restore or a check (their content is hashed). */
let plainScratch = Buffer.alloc(0);
/** Larger blobs are decompressed into memory of their own rather than keeping a scratch that big. */
const PLAIN_SCRATCH_LIMIT = 64 * 1024 * 1024;
/**
 * A check decompresses blobs up to this size whole, into the scratch; larger ones stream through
 * zstd's decoder in pieces, so the scratch stays small. Whole is faster for the many blobs of
 * varied sizes below it (a streaming decoder resizes its buffers to each frame's window).
 */
const CHECK_WHOLE_LIMIT = 2 * 1024 * 1024;

/** The scratch, grown to hold `rawLength` bytes; undefined for a blob above the limit. */
function scratchFor(rawLength: number): Buffer | undefined {
  if (rawLength > PLAIN_SCRATCH_LIMIT) return undefined;
  if (plainScratch.length < rawLength) plainScratch = grown(plainScratch, rawLength);
  return plainScratch;
}

/** Feeds a blob's check in pieces, so that what each piece decrypts to is small. */
function feed(check: StoredBlobCheck, bytes: Buffer): void {
  for (let at = 0; at < bytes.length; at += BLOB_PIECE) check.update(bytes.subarray(at, at + BLOB_PIECE));
}

/** What a worker found in a pack: its SHA-256 (hex), the blobs that fail, its size in bytes. */
interface PackFound {
  readonly sha256: string;
  readonly bad: BadBlob[];
  readonly size: number;
}

/** One pack's check: its blobs, in the order of their places, and those found bad. */
class PackCheck {
  readonly bad: BadBlob[] = [];
  private readonly pack: string;
  private readonly blobs: BlobEntry[];
  /** The blobs' numbers in the order of their offsets in the pack. */
  readonly order: number[];

  constructor(pack: string, entries: Buffer) {
    this.pack = pack;
    const count = entries.length / ENTRY_SIZE;
    this.blobs = Array.from({ length: count }, (_, i) => readEntry(entries, i * ENTRY_SIZE));
    this.order = this.blobs.map((_, i) => i).sort((a, b) => this.blobs[a]!.offset - this.blobs[b]!.offset);
  }

  entry(index: number): BlobEntry {
    return this.blobs[index]!;
  }

  /** Verifies blob `index` from its sealed bytes, whole (or fewer, if the pack ends first). */
  whole(index: number, sealed: Buffer): void {
    const e = this.entry(index);
    if (sealed.length === e.length && e.rawLength <= CHECK_WHOLE_LIMIT) {
      this.verdict(index, () =>
        verifyStoredBlob(key, e.id, { ...e, pack: this.pack }, sealed, scratchFor(e.rawLength)),
      );
      return;
    }
    const check = this.begin(index);
    feed(check, sealed);
    this.end(index, check);
  }

  /** A check of blob `index` to feed its sealed bytes in pieces; end() gives the verdict. */
  begin(index: number): StoredBlobCheck {
    const e = this.entry(index);
    return new StoredBlobCheck(key, e.id, { ...e, pack: this.pack }, e.length);
  }

  end(index: number, check: StoredBlobCheck): void {
    this.verdict(index, () => check.end());
  }

  private verdict(index: number, verify: () => void): void {
    try {
      verify();
    } catch (err) {
      if (!(err instanceof CairnError)) throw err;
      this.bad.push({ index, message: err.message });
    }
  }

  result(sha256: string, size: number): PackFound {
    this.bad.sort((a, b) => a.index - b.index);
    return { sha256, bad: this.bad, size };
  }
}

/**
 * Verifies a pack moved here whole, as check --read-data does: its SHA-256 (returned in hex, for
 * the caller to compare with its name), and every blob the entries name authenticated,
 * decompressed and matched to its id. Blobs that fail are returned with the reason (one reaching
 * past the pack's end fails authentication); any other error fails the task.
 */
function verifyPack(pack: string, bytes: Buffer, entries: Buffer): PackFound {
  const c = new PackCheck(pack, entries);
  for (const index of c.order) {
    const e = c.entry(index);
    c.whole(index, bytes.subarray(e.offset, e.offset + e.length));
  }
  return c.result(createHash('sha256').update(bytes).digest('hex'), bytes.length);
}

/**
 * As verifyPack, for a pack in a local file, read front to back once through this thread's
 * window: each byte read is hashed, each blob that fits the window is verified from it whole, and
 * a larger one in pieces as it passes. A blob whose place overlaps one before it (a damaged index)
 * is read again by itself.
 */
function verifyPackFile(pack: string, path: string, entries: Buffer): PackFound {
  const c = new PackCheck(pack, entries);
  const win = (packWindow ??= Buffer.allocUnsafeSlow(PACK_WINDOW));
  const hash = createHash('sha256');
  const fd = fs.openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    // The window holds the file's bytes [base, base + filled). It is moved only when a blob
    // would run past its end: moving it for every blob cost seconds on packs of small blobs.
    let base = 0;
    let filled = 0;
    /** Reads more into the window (which must have room); false at the end of the file. */
    const fill = (): boolean => {
      const n = fs.readSync(fd, win, filled, win.length - filled, base + filled);
      if (n === 0) return false;
      hash.update(win.subarray(filled, filled + n));
      filled += n;
      return true;
    };
    /** Forgets all the window holds. */
    const empty = () => {
      base += filled;
      filled = 0;
    };
    for (const index of c.order) {
      const e = c.entry(index);
      const start = e.offset;
      const end = e.offset + e.length;
      if (start < base) {
        c.whole(index, readRange(fd, start, e.length));
        continue;
      }
      // Up to the blob's start (padding, or what came before it).
      while (base + filled <= start) {
        empty();
        if (!fill()) break;
      }
      if (end > base + win.length && start > base && start < base + filled) {
        win.copyWithin(0, start - base, filled);
        filled -= start - base;
        base = start;
      }
      while (base + filled < end && filled < win.length && fill());
      if (base + filled >= end || filled < win.length) {
        // Whole in the window, or cut short by the end of the file.
        c.whole(index, win.subarray(start - base, Math.min(end - base, filled)));
        continue;
      }
      // Larger than the window: in pieces, the window refilled for each.
      const check = c.begin(index);
      feed(check, win.subarray(start - base, filled));
      for (empty(); base < end && fill(); empty()) {
        const n = Math.min(filled, end - base);
        feed(check, win.subarray(0, n));
        // What follows the blob stays for the blobs after it.
        if (n < filled) break;
      }
      c.end(index, check);
    }
    // The rest: the pack's header of blob entries, and anything after the last blob.
    for (empty(); fill(); empty());
    return c.result(hash.digest('hex'), base + filled);
  } finally {
    fs.closeSync(fd);
  }
}

/** `length` bytes of a file from `offset` (fewer at its end), into memory of their own. */
function readRange(fd: number, offset: number, length: number): Buffer {
  const into = Buffer.allocUnsafeSlow(Math.min(length, fs.fstatSync(fd).size));
  let n = 0;
  while (n < into.length) {
    const got = fs.readSync(fd, into, n, into.length - n, offset + n);
    if (got === 0) break;
    n += got;
  }
  return into.subarray(0, n);
}

const view = (u: Uint8Array) => Buffer.from(u.buffer, u.byteOffset, u.byteLength);

/**
 * Opens the blobs of bytes read from a pack and writes each into its file (holes kept), as the
 * restorer would on the main thread. Damaged blobs are returned with the reason and not written;
 * a write that fails stops the task (returned as `failure`: the restore cannot go on).
 */
function writeBlobs(
  pack: string,
  bytes: Buffer,
  entries: Buffer,
  targets: Float64Array,
): { written: number; bad: BadBlob[]; failure?: WriteFailure } {
  const bad: BadBlob[] = [];
  let written = 0;
  const count = entries.length / ENTRY_SIZE;
  for (let i = 0; i < count; i++) {
    const e = readEntry(entries, i * ENTRY_SIZE);
    const scratch = scratchFor(e.rawLength);
    const fd = targets[2 * i] ?? -1;
    const at = targets[2 * i + 1] ?? 0;
    try {
      useStoredBlob(
        key,
        e.id,
        { ...e, pack },
        bytes.subarray(e.offset, e.offset + e.length),
        scratch,
        (raw) => writeSparse(fd, raw, at),
      );
      written += e.rawLength;
    } catch (err) {
      if (err instanceof CairnError) {
        bad.push({ index: i, message: err.message });
        continue;
      }
      const x = err as NodeJS.ErrnoException;
      return {
        written,
        bad,
        failure: { index: i, message: reason(x), ...(x.code ? { errno: x.code } : {}) },
      };
    }
  }
  return { written, bad };
}

/** Now, comparable with other threads' clocks (see WorkerTimes). */
const at = () => performance.timeOrigin + performance.now();

port.on('message', (task: WorkerTask) => {
  try {
    const start = at();
    if (task.kind === 'write') {
      let result;
      try {
        result = writeBlobs(task.pack, view(task.bytes), view(task.entries), task.targets);
      } finally {
        if (task.bytes.buffer instanceof ArrayBuffer) task.bytes.buffer.transfer(0);
      }
      port.postMessage({ seq: task.seq, ...result } satisfies WorkerReply);
      return;
    }
    if (task.kind === 'verify') {
      const sent = task.bytes;
      if (!(sent instanceof Uint8Array)) {
        const verdict = verifyPackFile(task.pack, sent.path, view(task.entries));
        port.postMessage({ seq: task.seq, ...verdict } satisfies WorkerReply);
        return;
      }
      let verdict;
      try {
        verdict = verifyPack(task.pack, view(sent), view(task.entries));
      } finally {
        // The pack was moved (or copied) here, so its memory is this thread's alone: free it now
        // rather than whenever this thread's garbage collector gets to it.
        if (sent.buffer instanceof ArrayBuffer) sent.buffer.transfer(0);
      }
      port.postMessage({ seq: task.seq, ...verdict } satisfies WorkerReply);
      return;
    }
    if (task.kind === 'seal') {
      const data = Buffer.from(task.data.buffer, task.data.byteOffset, task.data.byteLength);
      const { codec, sealed } = seal(task.type, task.id, data);
      const rawLength = data.length;
      // The chunk was moved here: free it now, not when this thread's collector runs.
      release(data);
      const times = [start, start, start, at()] as const;
      const reply: WorkerReply = { seq: task.seq, codec, sealed, rawLength, times };
      port.postMessage(reply, [sealed.buffer as ArrayBuffer]);
      return;
    }
    const data = readWhole(task.path, task.limit);
    if (data === undefined) {
      port.postMessage({ seq: task.seq, grew: true } satisfies WorkerReply);
      return;
    }
    const read = at();
    // Named before it is compressed: the main thread drops the sealed blob if the index has it.
    const id = createHmac('sha256', idKey).update(data).digest();
    const hashed = at();
    const { codec, sealed } = seal(BLOB_TYPE.data, id, data);
    const times = [start, read, hashed, at()] as const;
    const reply: WorkerReply = { seq: task.seq, codec, sealed, id, rawLength: data.length, times };
    port.postMessage(reply, [sealed.buffer as ArrayBuffer]);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const reply: WorkerReply = { seq: task.seq, error: reason(e), ...(e.code ? { errno: e.code } : {}) };
    port.postMessage(reply);
  }
});
