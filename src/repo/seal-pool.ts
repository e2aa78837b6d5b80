/**
 * The seal pool: worker threads that compress and seal blobs, so both cores work while the main
 * thread walks, reads, chunks and names (HMAC) the data.
 *
 * Each task moves its chunk to a worker without copying (the chunk's memory is transferred) and
 * gets the sealed blob back the same way. A message round trip costs tens of microseconds, so
 * small blobs are compressed and sealed inline on the main thread instead (sealInline): for them
 * the trip would cost more than the work.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { compressSync, type CompressOptions } from '../compress/index.ts';
import { sealOwned, type MasterKey } from '../crypto/index.ts';
import { blobAad, type BlobTypeId } from './format.ts';
import type { SealReply, SealTask } from './seal-worker.ts';

export interface Sealed {
  readonly codec: number;
  readonly sealed: Buffer;
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
  return { codec: c.codec, sealed: sealOwned(key.encKey, c.data, blobAad(type, id)) };
}

interface Slot {
  readonly worker: Worker;
  readonly pending: Map<number, { resolve: (s: Sealed) => void; reject: (e: Error) => void }>;
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

  /** Compresses and seals `data` on a worker. `data` is moved there when it owns its memory. */
  seal(type: BlobTypeId, id: Buffer, data: Buffer): Promise<Sealed> {
    if (this.closed) return Promise.reject(new Error('the seal pool is closed'));
    const slot = this.pick();
    const seq = ++this.seq;
    return new Promise<Sealed>((resolve, reject) => {
      if (slot.pending.size === 0) slot.worker.ref();
      slot.pending.set(seq, { resolve, reject });
      const task: SealTask = { seq, type, id, data };
      const owns =
        data.byteOffset === 0 &&
        data.buffer.byteLength === data.byteLength &&
        data.buffer instanceof ArrayBuffer;
      slot.worker.postMessage(task, owns ? [data.buffer] : []);
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
      workerData: { encKey: this.key.encKey.export(), compression: this.compression },
    });
    const slot: Slot = { worker, pending: new Map() };
    worker.unref();
    worker.on('message', (reply: SealReply) => {
      const p = slot.pending.get(reply.seq);
      if (p === undefined) return;
      slot.pending.delete(reply.seq);
      if (slot.pending.size === 0) worker.unref();
      if ('error' in reply) p.reject(new Error(`Cannot compress and seal a blob: ${reply.error}`));
      else
        p.resolve({
          codec: reply.codec,
          sealed: Buffer.from(reply.sealed.buffer, reply.sealed.byteOffset, reply.sealed.byteLength),
        });
    });
    const fail = (err: Error) => {
      for (const p of slot.pending.values()) p.reject(err);
      slot.pending.clear();
      const i = this.slots.indexOf(slot);
      if (i >= 0) this.slots.splice(i, 1);
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`a seal worker exited (code ${code})`)));
    this.slots.push(slot);
    return slot;
  }

  async close(): Promise<void> {
    this.closed = true;
    const slots = this.slots.splice(0);
    await Promise.all(slots.map((s) => s.worker.terminate()));
  }
}
