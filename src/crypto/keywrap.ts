import { createCipheriv, createDecipheriv } from 'node:crypto';

/** RFC 3394 §2.2.3.1: the default initial value, checked on unwrap for integrity. */
const DEFAULT_IV = Buffer.from('A6A6A6A6A6A6A6A6', 'hex');

export class KeyWrapError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KeyWrapError';
  }
}

function algorithm(kek: Uint8Array): string {
  switch (kek.length) {
    case 16:
      return 'id-aes128-wrap';
    case 24:
      return 'id-aes192-wrap';
    case 32:
      return 'id-aes256-wrap';
    default:
      throw new KeyWrapError(`a key-encryption key must be 16, 24 or 32 bytes, not ${kek.length}`);
  }
}

/**
 * RFC 3394 AES key wrap (OpenSSL's implementation of the RFC's §2.2.1 algorithm). The key data
 * must be a multiple of 8 bytes, at least 16. Output is 8 bytes longer than the input.
 */
export function aesKeyWrap(kek: Uint8Array, keyData: Uint8Array): Buffer {
  if (keyData.length < 16 || keyData.length % 8 !== 0) {
    throw new KeyWrapError(`key data must be a multiple of 8 bytes and at least 16, not ${keyData.length}`);
  }
  const cipher = createCipheriv(algorithm(kek), kek, DEFAULT_IV);
  return Buffer.concat([cipher.update(keyData), cipher.final()]);
}

/** RFC 3394 §2.2.2 unwrap; throws KeyWrapError when the integrity check (§2.2.3) fails. */
export function aesKeyUnwrap(kek: Uint8Array, wrapped: Uint8Array): Buffer {
  if (wrapped.length < 24 || wrapped.length % 8 !== 0) {
    throw new KeyWrapError(
      `wrapped key must be a multiple of 8 bytes and at least 24, not ${wrapped.length}`,
    );
  }
  const decipher = createDecipheriv(algorithm(kek), kek, DEFAULT_IV);
  try {
    return Buffer.concat([decipher.update(wrapped), decipher.final()]);
  } catch {
    throw new KeyWrapError('integrity check failed (wrong key-encryption key or damaged wrapped key)');
  }
}
