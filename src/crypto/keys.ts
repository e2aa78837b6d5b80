import { createHmac, createSecretKey, randomBytes, type KeyObject } from 'node:crypto';

/** Held as KeyObjects: OpenSSL then prepares the key once, not on every seal or HMAC (3x faster). */
export interface MasterKey {
  /** AES-256-GCM key for every sealed blob and file. */
  readonly encKey: KeyObject;
  /** HMAC-SHA-256 key that names blobs. */
  readonly idKey: KeyObject;
}

export const MASTER_KEY_BYTES = 64;

export function generateMasterKey(): MasterKey {
  return masterKeyFromBytes(randomBytes(MASTER_KEY_BYTES));
}

/** Layout of the 64 wrapped bytes: encryption key (32) ‖ id key (32). */
export function masterKeyFromBytes(bytes: Uint8Array): MasterKey {
  if (bytes.length !== MASTER_KEY_BYTES) throw new Error(`master key must be ${MASTER_KEY_BYTES} bytes`);
  return { encKey: createSecretKey(bytes.subarray(0, 32)), idKey: createSecretKey(bytes.subarray(32, 64)) };
}

export function masterKeyBytes(key: MasterKey): Buffer {
  return Buffer.concat([key.encKey.export(), key.idKey.export()]);
}

export function blobId(key: MasterKey, data: Uint8Array): Buffer {
  return createHmac('sha256', key.idKey).update(data).digest();
}
