// A thread of the seal pool: compresses and seals blobs sent by the main thread. See seal-pool.ts.
import { createSecretKey } from 'node:crypto';
import { parentPort, workerData } from 'node:worker_threads';
import { compressSync, type CompressOptions } from '../compress/index.ts';
import { sealOwned } from '../crypto/index.ts';
import { blobAad, type BlobTypeId } from './format.ts';

interface Init {
  readonly encKey: Uint8Array;
  readonly compression: CompressOptions;
}

export interface SealTask {
  readonly seq: number;
  readonly type: BlobTypeId;
  readonly id: Uint8Array;
  readonly data: Uint8Array;
}

export type SealReply =
  | { readonly seq: number; readonly codec: number; readonly sealed: Uint8Array }
  | { readonly seq: number; readonly error: string };

const init = workerData as Init;
const key = createSecretKey(init.encKey);
const port = parentPort;
if (port === null) throw new Error('seal-worker must run as a worker thread');

port.on('message', (task: SealTask) => {
  try {
    const data = Buffer.from(task.data.buffer, task.data.byteOffset, task.data.byteLength);
    const c = compressSync(data, init.compression);
    const sealed = sealOwned(key, c.data, blobAad(task.type, Buffer.from(task.id)));
    const reply: SealReply = { seq: task.seq, codec: c.codec, sealed };
    port.postMessage(reply, [sealed.buffer as ArrayBuffer]);
  } catch (err) {
    const reply: SealReply = { seq: task.seq, error: err instanceof Error ? err.message : String(err) };
    port.postMessage(reply);
  }
});
