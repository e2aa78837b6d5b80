import { createHmac, randomBytes } from 'node:crypto';

export interface MasterKey {
  /** AES-256-GCM key for every sealed blob and file. */
  readonly encKey: Buffer;
  /** HMAC-SHA-256 key that names blobs. */
  readonly idKey: Buffer;
}

export const MASTER_KEY_BYTES = 64;

export function generateMasterKey(): MasterKey {
  return masterKeyFromBytes(randomBytes(MASTER_KEY_BYTES));
}

/** Layout of the 64 wrapped bytes: encryption key (32) ‖ id key (32). */
export function masterKeyFromBytes(bytes: Uint8Array): MasterKey {
  if (bytes.length !== MASTER_KEY_BYTES) throw new Error(`master key must be ${MASTER_KEY_BYTES} bytes`);
  const copy = Buffer.from(bytes);
  return { encKey: copy.subarray(0, 32), idKey: copy.subarray(32, 64) };
}

export function masterKeyBytes(key: MasterKey): Buffer {
  return Buffer.concat([key.encKey, key.idKey]);
}

export function blobId(key: MasterKey, data: Uint8Array): Buffer {
  return createHmac('sha256', key.idKey).update(data).digest();
}
