/**
 * Cryptographic primitives of the repository.
 *
 * - master key: 64 random bytes per repository, an encryption key (AES-256) and an id key
 *   (HMAC-SHA-256). It never leaves a key slot unwrapped.
 * - blob id: HMAC-SHA-256(id key, plaintext). Keyed so that ids reveal nothing about content to
 *   someone without the key (plain SHA-256 would let them confirm a guessed file).
 * - sealed: nonce (12 bytes) ‖ AES-256-GCM ciphertext ‖ tag (16 bytes), with additional data that
 *   binds the sealed bytes to what they are (blob type and id, or the kind of file).
 * - key wrap: RFC 3394 AES key wrap of the master key under a key-encryption key (KEK).
 */
export { blobId, generateMasterKey, masterKeyFromBytes, masterKeyBytes, type MasterKey } from './keys.ts';
export { open, seal, sealOwned, SEAL_OVERHEAD, DecryptError, Opening } from './aead.ts';
export { aesKeyUnwrap, aesKeyWrap, KeyWrapError } from './keywrap.ts';
export { deriveScrypt, DEFAULT_SCRYPT, type ScryptParams } from './scrypt.ts';
export { sha256 } from './hash.ts';
