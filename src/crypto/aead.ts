import {
  createCipheriv,
  createDecipheriv,
  randomFillSync,
  type DecipherGCM,
  type KeyObject,
} from 'node:crypto';
import { release } from '../memory.ts';

const NONCE = 12;
const TAG = 16;
/** Bytes a sealed message has beyond its plaintext. */
export const SEAL_OVERHEAD = NONCE + TAG;

/**
 * Nonces are drawn from the system's generator a few KiB at a time: each call costs about 5 µs,
 * which for a backup of 100,000 small files was most of a second of a worker's time. Each thread
 * has its pool; a nonce is taken from it once and never again.
 */
const NONCE_POOL_SIZE = 341 * NONCE;
let noncePool: Buffer | undefined;
let nonceAt = NONCE_POOL_SIZE;

/** Writes a fresh random nonce into `into` at `at`. */
function nextNonce(into: Uint8Array, at: number): void {
  if (nonceAt + NONCE > NONCE_POOL_SIZE || noncePool === undefined) {
    noncePool ??= Buffer.allocUnsafeSlow(NONCE_POOL_SIZE);
    randomFillSync(noncePool);
    nonceAt = 0;
  }
  noncePool.copy(into, at, nonceAt, nonceAt + NONCE);
  nonceAt += NONCE;
}

/** The sealed bytes failed authentication: wrong key, or a changed byte. */
export class DecryptError extends Error {
  constructor() {
    super('authentication failed');
    this.name = 'DecryptError';
  }
}

/**
 * Seals plaintext as nonce ‖ ciphertext ‖ tag. The nonce is 96 random bits per call: with at
 * most 2^32 messages per key the collision chance stays below 2^-32 (NIST SP 800-38D §8.3).
 * Returns the parts so that a pack writer can write them without concatenating.
 */
export function seal(encKey: KeyObject | Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Buffer[] {
  const nonce = Buffer.allocUnsafe(NONCE);
  nextNonce(nonce, 0);
  const cipher = createCipheriv('aes-256-gcm', encKey, nonce);
  cipher.setAAD(aad);
  const body = cipher.update(plaintext);
  const rest = cipher.final();
  return rest.length > 0 ? [nonce, body, rest, cipher.getAuthTag()] : [nonce, body, cipher.getAuthTag()];
}

/** Opens what seal() produced; throws DecryptError when the bytes or the additional data differ. */
export function open(encKey: KeyObject | Uint8Array, sealed: Uint8Array, aad: Uint8Array): Buffer {
  if (sealed.length < SEAL_OVERHEAD) throw new DecryptError();
  const nonce = sealed.subarray(0, NONCE);
  const tag = sealed.subarray(sealed.length - TAG);
  const decipher = createDecipheriv('aes-256-gcm', encKey, nonce, { authTagLength: TAG });
  decipher.setAAD(aad);
  decipher.setAuthTag(tag);
  const body = decipher.update(sealed.subarray(NONCE, sealed.length - TAG));
  try {
    const rest = decipher.final();
    return rest.length > 0 ? Buffer.concat([body, rest]) : body;
  } catch {
    throw new DecryptError();
  }
}

/**
 * Opens what seal() produced when its bytes come in pieces (a large blob read from a pack), so no
 * whole message need be in memory: `length` is the sealed message's size. update() returns the
 * plaintext a piece yields, which is NOT authenticated until end() returns: use it only for work
 * whose result is thrown away when end() throws (hashing it to verify a blob).
 */
export class Opening {
  private readonly encKey: KeyObject | Uint8Array;
  private readonly aad: Uint8Array;
  private readonly length: number;
  private readonly nonce = Buffer.alloc(NONCE);
  private readonly tag = Buffer.alloc(TAG);
  private decipher: DecipherGCM | undefined;
  private fed = 0;

  constructor(encKey: KeyObject | Uint8Array, length: number, aad: Uint8Array) {
    this.encKey = encKey;
    this.length = length;
    this.aad = aad;
  }

  /** The next bytes of the sealed message; returns the plaintext they yield, if any. */
  update(piece: Uint8Array): Buffer | undefined {
    const at = this.fed;
    const take = Math.min(piece.length, this.length - at);
    this.fed += take;
    const tagAt = this.length - TAG;
    // The nonce: bytes [0, NONCE).
    if (at < NONCE) this.nonce.set(piece.subarray(0, Math.min(take, NONCE - at)), at);
    if (this.decipher === undefined && this.fed >= NONCE && this.length >= SEAL_OVERHEAD) {
      this.decipher = createDecipheriv('aes-256-gcm', this.encKey, this.nonce, { authTagLength: TAG });
      this.decipher.setAAD(this.aad);
    }
    // The tag: the last TAG bytes.
    if (this.fed > tagAt && this.length >= SEAL_OVERHEAD) {
      const from = Math.max(at, tagAt);
      this.tag.set(piece.subarray(from - at, take), from - tagAt);
    }
    // The ciphertext between them.
    const from = Math.max(at, NONCE);
    const to = Math.min(this.fed, tagAt);
    if (this.decipher === undefined || to <= from) return undefined;
    return this.decipher.update(piece.subarray(from - at, to - at));
  }

  /** Throws DecryptError unless all `length` bytes came and they authenticate. */
  end(): void {
    const d = this.decipher;
    if (d === undefined || this.fed !== this.length) throw new DecryptError();
    d.setAuthTag(this.tag);
    try {
      d.final();
    } catch {
      throw new DecryptError();
    }
  }
}

/**
 * Like seal(), into one buffer that owns its memory (not from Node's shared pool), so it can be
 * transferred between threads.
 */
export function sealOwned(encKey: KeyObject | Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Buffer {
  const out = Buffer.allocUnsafeSlow(plaintext.length + SEAL_OVERHEAD);
  nextNonce(out, 0);
  const cipher = createCipheriv('aes-256-gcm', encKey, out.subarray(0, NONCE));
  cipher.setAAD(aad);
  // Node's cipher has no update into a given buffer: its output is copied and freed at once.
  const ciphertext = cipher.update(plaintext);
  let at = NONCE + ciphertext.copy(out, NONCE);
  release(ciphertext);
  at += cipher.final().copy(out, at);
  cipher.getAuthTag().copy(out, at);
  return out;
}
