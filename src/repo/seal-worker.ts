// A thread of the seal pool: compresses and seals blobs sent by the main thread, and reads,
// names, compresses and seals whole small files. See seal-pool.ts.
import fs, { constants } from 'node:fs';
import { createHmac, createSecretKey } from 'node:crypto';
import { parentPort, workerData } from 'node:worker_threads';
import { compressSync, type CompressOptions } from '../compress/index.ts';
import { sealOwned } from '../crypto/index.ts';
import { BLOB_TYPE, blobAad, type BlobTypeId } from './format.ts';

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
    };

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
  | { readonly seq: number; readonly error: string; readonly errno?: string };

const init = workerData as Init;
const encKey = createSecretKey(init.encKey);
const idKey = createSecretKey(init.idKey);
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
    let n = 0;
    for (;;) {
      if (n === limit) return undefined;
      const got = fs.readSync(fd, scratch, n, limit - n, n);
      if (got === 0) break;
      n += got;
    }
    return scratch.subarray(0, n);
  } finally {
    fs.closeSync(fd);
  }
}

function seal(type: BlobTypeId, id: Uint8Array, data: Buffer): { codec: number; sealed: Buffer } {
  const c = compressSync(data, init.compression);
  return { codec: c.codec, sealed: sealOwned(encKey, c.data, blobAad(type, Buffer.from(id))) };
}

/** Now, comparable with other threads' clocks (see WorkerTimes). */
const at = () => performance.timeOrigin + performance.now();

port.on('message', (task: WorkerTask) => {
  try {
    const start = at();
    if (task.kind === 'seal') {
      const data = Buffer.from(task.data.buffer, task.data.byteOffset, task.data.byteLength);
      const { codec, sealed } = seal(task.type, task.id, data);
      const times = [start, start, start, at()] as const;
      const reply: WorkerReply = { seq: task.seq, codec, sealed, rawLength: data.length, times };
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
