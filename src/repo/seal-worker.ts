// A thread of the seal pool: compresses and seals blobs sent by the main thread, reads, names,
// compresses and seals whole small files, and verifies whole packs for check. See seal-pool.ts.
import fs, { constants } from 'node:fs';
import { createHash, createHmac, createSecretKey } from 'node:crypto';
import { parentPort, workerData } from 'node:worker_threads';
import { CairnError } from '../errors.ts';
import { release } from '../memory.ts';
import { compressSync, type CompressOptions } from '../compress/index.ts';
import { sealOwned, type MasterKey } from '../crypto/index.ts';
import { StoredBlobCheck, useStoredBlob } from './blob.ts';
import { writeSparse } from './sparse.ts';
import { BLOB_TYPE, ENTRY_SIZE, blobAad, readEntry, type BlobTypeId } from './format.ts';

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

/** How much of a pack being verified is in memory at once: it is read and checked a piece at a time. */
const PACK_PIECE = 512 * 1024;
/** Where this thread reads the packs it verifies from their files, a piece at a time; reused. */
let pieceScratch: Buffer | undefined;

/** A pack file in pieces, each in the same buffer (valid until the next one is asked for). */
function* filePieces(path: string): Generator<Buffer> {
  const fd = fs.openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    const into = (pieceScratch ??= Buffer.allocUnsafeSlow(PACK_PIECE));
    for (let at = 0; ;) {
      const n = fs.readSync(fd, into, 0, into.length, at);
      if (n === 0) return;
      at += n;
      yield into.subarray(0, n);
    }
  } finally {
    fs.closeSync(fd);
  }
}

/** A pack in memory, in pieces (views, not copies). */
function* memoryPieces(bytes: Buffer): Generator<Buffer> {
  for (let at = 0; at < bytes.length; at += PACK_PIECE) yield bytes.subarray(at, at + PACK_PIECE);
}

/** Where compressed blobs of restored packs are decompressed before they are written. */
let plainScratch = Buffer.alloc(0);
/** Larger blobs are decompressed into memory of their own rather than keeping a scratch that big. */
const PLAIN_SCRATCH_LIMIT = 64 * 1024 * 1024;

/** The scratch, grown to hold `rawLength` bytes; undefined for a blob above the limit. */
function scratchFor(rawLength: number): Buffer | undefined {
  if (rawLength > PLAIN_SCRATCH_LIMIT) return undefined;
  if (plainScratch.length < rawLength) plainScratch = grown(plainScratch, rawLength);
  return plainScratch;
}

/** A blob of a pack being verified whose bytes are coming in. */
interface Reading {
  readonly index: number;
  readonly start: number;
  readonly end: number;
  readonly check: StoredBlobCheck;
}

/**
 * Verifies a pack as check --read-data does, from its bytes in pieces: its SHA-256 (returned in
 * hex, for the caller to compare with its name), and every blob the entries name authenticated,
 * decompressed and matched to its id as its bytes pass. Blobs that fail are returned with the
 * reason (a blob reaching past the end of the pack fails authentication); any other error fails
 * the task. No more than a piece of the pack, and of each blob, is in memory at once.
 */
function verifyPack(
  pack: string,
  pieces: Iterable<Buffer>,
  entries: Buffer,
): { sha256: string; bad: BadBlob[]; size: number } {
  const count = entries.length / ENTRY_SIZE;
  const blobs = Array.from({ length: count }, (_, i) => readEntry(entries, i * ENTRY_SIZE));
  const order = blobs.map((_, i) => i).sort((a, b) => blobs[a]!.offset - blobs[b]!.offset);
  const bad: BadBlob[] = [];
  const finish = (r: Reading) => {
    try {
      r.check.end();
    } catch (err) {
      if (!(err instanceof CairnError)) throw err;
      bad.push({ index: r.index, message: err.message });
    }
  };
  const hash = createHash('sha256');
  let reading: Reading[] = [];
  let next = 0;
  let at = 0;
  for (const piece of pieces) {
    hash.update(piece);
    const end = at + piece.length;
    for (; next < order.length && blobs[order[next]!]!.offset < end; next++) {
      const index = order[next]!;
      const e = blobs[index]!;
      const check = new StoredBlobCheck(key, e.id, { ...e, pack }, e.length);
      reading.push({ index, start: e.offset, end: e.offset + e.length, check });
    }
    for (const r of reading) {
      const from = Math.max(r.start, at);
      const to = Math.min(r.end, end);
      if (to > from) r.check.update(piece.subarray(from - at, to - at));
    }
    if (reading.some((r) => r.end <= end)) {
      for (const r of reading) if (r.end <= end) finish(r);
      reading = reading.filter((r) => r.end > end);
    }
    at = end;
  }
  // What the pack's end cut short, and what lies wholly past it: they fail as short blobs.
  for (const r of reading) finish(r);
  for (; next < order.length; next++) {
    const index = order[next]!;
    const e = blobs[index]!;
    const check = new StoredBlobCheck(key, e.id, { ...e, pack }, e.length);
    finish({ index, start: e.offset, end: e.offset + e.length, check });
  }
  bad.sort((a, b) => a.index - b.index);
  return { sha256: hash.digest('hex'), bad, size: at };
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
        failure: { index: i, message: x.message, ...(x.code ? { errno: x.code } : {}) },
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
        const verdict = verifyPack(task.pack, filePieces(sent.path), view(task.entries));
        port.postMessage({ seq: task.seq, ...verdict } satisfies WorkerReply);
        return;
      }
      let verdict;
      try {
        verdict = verifyPack(task.pack, memoryPieces(view(sent)), view(task.entries));
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
    const reply: WorkerReply = { seq: task.seq, error: e.message, ...(e.code ? { errno: e.code } : {}) };
    port.postMessage(reply);
  }
});
