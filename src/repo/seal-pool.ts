/**
 * The seal pool: worker threads that compress and seal blobs, so both cores work while the main
 * thread walks, chunks and names (HMAC) the data; and that verify whole packs for check.
 *
 * - seal(): a chunk moves to a worker without copying (its memory is transferred) and the sealed
 *   blob comes back the same way.
 * - sealFile(): a small file (one chunk by definition) is read, named, compressed and sealed on a
 *   worker, with synchronous calls that cost a few microseconds there instead of the tens that
 *   each asynchronous call costs the main thread. Its blob is sealed before the main thread knows
 *   whether the repository has it: for a small file that costs less than a second round trip.
 * - sealInline(): for a blob in hand that is small, a round trip costs more than the work.
 * - verifyPack(): a whole pack moves to a worker (one message per pack, not per blob), which
 *   hashes it and opens every blob the index names in it, decompressing into a reused buffer.
 *   verifyPackFile(): the same for a pack in a local file, which the worker reads itself, front
 *   to back through a 4 MiB window it reuses (a larger blob is checked in pieces as it passes).
 * - writeBlobs(): bytes read from a pack for a restore move to a worker, which opens each blob
 *   and writes it into its file (descriptors are the process's, so any thread may write).
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { compressSync, type CompressOptions } from '../compress/index.ts';
import { sealOwned, type MasterKey } from '../crypto/index.ts';
import { release } from '../memory.ts';
import { ENTRY_SIZE, blobAad, writeEntry, type BlobEntry, type BlobTypeId } from './format.ts';
import type { BadBlob, WorkerReply, WorkerTask, WorkerTimes, WriteFailure } from './seal-worker.ts';

export type { BadBlob };

/**
 * When a worker did a task's parts, in this thread's performance.now() milliseconds, kept within
 * the time the task was sent and its reply received: [start, read] reading the file, [read,
 * hashed] naming it, [hashed, end] compressing and sealing. A seal task starts at `hashed`.
 */
export interface WorkTiming {
  readonly start: number;
  readonly read: number;
  readonly hashed: number;
  readonly end: number;
}

export interface Sealed {
  readonly codec: number;
  readonly sealed: Buffer;
  readonly rawLength: number;
  /** When the work was done, if on a worker (for the backup's stage clock). */
  readonly timing?: WorkTiming;
}

export interface SealedFile extends Sealed {
  readonly id: Buffer;
}

/** A file that could not be read on a worker; `errno` as Node reports it (ENOENT, EACCES...). */
export class FileReadError extends Error {
  readonly errno: string | undefined;
  constructor(message: string, errno: string | undefined) {
    super(message);
    this.name = 'FileReadError';
    this.errno = errno;
  }
}

/** What a worker found in a pack: its SHA-256 (hex), the blobs that fail verification, its size. */
export interface PackVerdict {
  readonly sha256: string;
  readonly bad: readonly BadBlob[];
  /** How many bytes the pack has. */
  readonly size: number;
}

/** Blobs smaller than this are sealed on the main thread. */
export const INLINE_LIMIT = 64 * 1024;

export function sealInline(
  key: MasterKey,
  compression: CompressOptions,
  type: BlobTypeId,
  id: Buffer,
  data: Buffer,
): Sealed {
  const c = compressSync(data, compression);
  const sealed = sealOwned(key.encKey, c.data, blobAad(type, id));
  if (c.data !== data) release(c.data);
  return { codec: c.codec, sealed, rawLength: data.length };
}

interface Slot {
  readonly worker: Worker;
  readonly pending: Map<
    number,
    { resolve: (r: Received) => void; reject: (e: Error) => void; readonly sent: number }
  >;
}

interface Received {
  readonly reply: WorkerReply;
  readonly timing?: WorkTiming;
}

/** A worker's times in this thread's clock, kept between sending and receiving (whatever skew). */
function localTiming(times: WorkerTimes, sent: number, received: number): WorkTiming {
  const shift = performance.timeOrigin;
  const local = (t: number) => Math.min(received, Math.max(sent, t - shift));
  const [start, read, hashed, end] = times;
  return { start: local(start), read: local(read), hashed: local(hashed), end: local(end) };
}

const workerUrl = new URL(`./seal-worker${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url);

export class SealPool {
  private readonly slots: Slot[] = [];
  private readonly key: MasterKey;
  private readonly compression: CompressOptions;
  private readonly size: number;
  private seq = 0;
  private closed = false;

  constructor(key: MasterKey, compression: CompressOptions, size = availableParallelism()) {
    this.key = key;
    this.compression = compression;
    this.size = Math.max(1, size);
  }

  /** How many worker threads the pool runs at most. */
  get threads(): number {
    return this.size;
  }

  /** Starts every worker thread now rather than on first use, so that they are ready for work. */
  warm(): void {
    while (!this.closed && this.slots.length < this.size) this.start();
  }

  /** Compresses and seals `data` on a worker. `data` is moved there when it owns its memory. */
  async seal(type: BlobTypeId, id: Buffer, data: Buffer): Promise<Sealed> {
    const owns =
      data.byteOffset === 0 &&
      data.buffer.byteLength === data.byteLength &&
      data.buffer instanceof ArrayBuffer;
    const { reply, timing } = await this.send(
      { kind: 'seal', seq: 0, type, id, data },
      owns ? [data.buffer] : [],
    );
    if ('error' in reply) throw new Error(`Cannot compress and seal a blob: ${reply.error}`);
    if (!('codec' in reply)) throw new Error('unexpected reply');
    return {
      codec: reply.codec,
      sealed: owned(reply.sealed),
      rawLength: reply.rawLength,
      ...(timing ? { timing } : {}),
    };
  }

  /**
   * Reads a file of `size` bytes whole, names it, compresses and seals it. Resolves to undefined
   * when it has grown to `limit` bytes or more (chunk it as a stream instead); rejects with
   * FileReadError when it cannot be read.
   */
  async sealFile(path: string, size: number, limit: number): Promise<SealedFile | undefined> {
    const { reply, timing } = await this.send({ kind: 'file', seq: 0, path, size, limit }, []);
    if ('error' in reply) throw new FileReadError(reply.error, reply.errno);
    if ('grew' in reply) return undefined;
    if (!('codec' in reply) || reply.id === undefined) throw new Error('unexpected reply');
    return {
      id: Buffer.from(reply.id),
      codec: reply.codec,
      sealed: owned(reply.sealed),
      rawLength: reply.rawLength,
      ...(timing ? { timing } : {}),
    };
  }

  /**
   * Verifies a whole pack on a worker: its SHA-256, and every blob of `blobs` (the index's entries
   * for it) authenticated, decompressed and matched to its id; `bad` gives each failing blob's
   * number in `blobs` and the reason. `bytes` is moved to the worker when it owns its memory (it
   * is then empty here), else copied. Rejects when the worker fails, or meets an error other than
   * a damaged blob.
   */
  async verifyPack(pack: string, bytes: Buffer, blobs: readonly BlobEntry[]): Promise<PackVerdict> {
    const moved = ownedCopy(bytes);
    return this.verify(pack, moved, blobs, [moved.buffer as ArrayBuffer]);
  }

  /**
   * As verifyPack, for a pack in a local file that the worker reads itself through a window it
   * keeps: no pack passes through the main thread, none is ever whole in memory and none is
   * allocated per pack. A file that cannot be read rejects with FileReadError (its errno), for the
   * caller to read it the usual way.
   */
  async verifyPackFile(pack: string, path: string, blobs: readonly BlobEntry[]): Promise<PackVerdict> {
    return this.verify(pack, { path }, blobs, []);
  }

  private async verify(
    pack: string,
    bytes: Uint8Array | { readonly path: string },
    blobs: readonly BlobEntry[],
    transfer: ArrayBuffer[],
  ): Promise<PackVerdict> {
    const entries = Buffer.allocUnsafeSlow(blobs.length * ENTRY_SIZE);
    blobs.forEach((b, i) => writeEntry(entries, i * ENTRY_SIZE, b));
    const { reply } = await this.send({ kind: 'verify', seq: 0, pack, bytes, entries }, [
      ...transfer,
      entries.buffer,
    ]);
    if ('error' in reply) {
      // Only a pack the worker read itself can fail to be read there.
      if (!(bytes instanceof Uint8Array))
        throw new FileReadError(`cannot read pack ${pack}: ${reply.error}`, reply.errno);
      throw new Error(`Cannot verify pack ${pack}: ${reply.error}`);
    }
    if (!('sha256' in reply)) throw new Error('unexpected reply');
    return { sha256: reply.sha256, bad: reply.bad, size: reply.size };
  }

  /**
   * Opens the blobs of `bytes` (read from a pack; `blobs` are their entries, offsets within
   * `bytes`) on a worker and writes each into its file: `targets[i]` is the descriptor and the
   * offset in the file for blobs[i]. `bytes` is moved to the worker when it owns its memory.
   * Resolves to the bytes written and the blobs that were damaged (not written); rejects with
   * BlobWriteError when a write fails.
   */
  async writeBlobs(
    pack: string,
    bytes: Buffer,
    blobs: readonly BlobEntry[],
    targets: readonly { readonly fd: number; readonly offset: number }[],
  ): Promise<{ written: number; bad: readonly BadBlob[] }> {
    const entries = Buffer.allocUnsafeSlow(blobs.length * ENTRY_SIZE);
    blobs.forEach((b, i) => writeEntry(entries, i * ENTRY_SIZE, b));
    const places = new Float64Array(blobs.length * 2);
    targets.forEach((t, i) => {
      places[2 * i] = t.fd;
      places[2 * i + 1] = t.offset;
    });
    const moved = ownedCopy(bytes);
    const { reply } = await this.send(
      { kind: 'write', seq: 0, pack, bytes: moved, entries, targets: places },
      [moved.buffer as ArrayBuffer, entries.buffer, places.buffer],
    );
    if ('error' in reply) throw new Error(`Cannot restore blobs of pack ${pack}: ${reply.error}`);
    if (!('written' in reply)) throw new Error('unexpected reply');
    if (reply.failure) throw new BlobWriteError(reply.failure);
    return { written: reply.written, bad: reply.bad };
  }

  private send(task: WorkerTask, transfer: ArrayBuffer[]): Promise<Received> {
    if (this.closed) return Promise.reject(new Error('the seal pool is closed'));
    const slot = this.pick();
    const seq = ++this.seq;
    return new Promise<Received>((resolve, reject) => {
      if (slot.pending.size === 0) slot.worker.ref();
      slot.pending.set(seq, { resolve, reject, sent: performance.now() });
      slot.worker.postMessage({ ...task, seq }, transfer);
    });
  }

  private pick(): Slot {
    if (this.slots.length < this.size) return this.start();
    let best = this.slots[0] as Slot;
    for (const s of this.slots) if (s.pending.size < best.pending.size) best = s;
    return best;
  }

  private start(): Slot {
    const worker = new Worker(workerUrl, {
      workerData: {
        encKey: this.key.encKey.export(),
        idKey: this.key.idKey.export(),
        compression: this.compression,
      },
    });
    const slot: Slot = { worker, pending: new Map() };
    worker.on('message', (reply: WorkerReply) => {
      const p = slot.pending.get(reply.seq);
      if (p === undefined) return;
      slot.pending.delete(reply.seq);
      if (slot.pending.size === 0) worker.unref();
      const times = 'times' in reply ? reply.times : undefined;
      p.resolve(times ? { reply, timing: localTiming(times, p.sent, performance.now()) } : { reply });
    });
    const fail = (err: Error) => {
      for (const p of slot.pending.values()) p.reject(err);
      slot.pending.clear();
      const i = this.slots.indexOf(slot);
      if (i >= 0) this.slots.splice(i, 1);
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`a seal worker exited (code ${code})`)));
    // Idle, it does not keep the process alive. After the listeners: adding a 'message' listener
    // refs the worker again.
    worker.unref();
    this.slots.push(slot);
    return slot;
  }

  async close(): Promise<void> {
    this.closed = true;
    const slots = this.slots.splice(0);
    await Promise.all(slots.map((s) => s.worker.terminate()));
  }
}

/**
 * `bytes` when it owns its memory (it can be moved to a worker), else a copy of just its bytes: a
 * view of shared memory would be cloned with all of that memory.
 */
function ownedCopy(bytes: Buffer): Buffer {
  if (
    bytes.byteOffset === 0 &&
    bytes.buffer.byteLength === bytes.byteLength &&
    bytes.buffer instanceof ArrayBuffer
  )
    return bytes;
  const copy = Buffer.allocUnsafeSlow(bytes.length);
  bytes.copy(copy);
  return copy;
}

/** A restored blob could not be written to its file (the disk is full...). */
export class BlobWriteError extends Error {
  /** The blob's number in the entries given. */
  readonly index: number;
  readonly code: string | undefined;
  constructor(failure: WriteFailure) {
    super(failure.message);
    this.name = 'BlobWriteError';
    this.index = failure.index;
    this.code = failure.errno;
  }
}

function owned(u: Uint8Array): Buffer {
  return Buffer.from(u.buffer, u.byteOffset, u.byteLength);
}
