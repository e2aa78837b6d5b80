import { createHmac } from 'node:crypto';
import { CairnError } from '../errors.ts';

/** Shortest secret gearTable accepts. */
export const MIN_GEAR_SECRET_LENGTH = 16;

/**
 * The 256-entry gear table derived from a per-repository secret. Part of the repository format;
 * the derivation is exactly:
 *
 *   gear[i] = big-endian uint32 of bytes 0..3 of HMAC-SHA-256(key = secret, message = M(i))
 *   M(i)    = the ASCII bytes of "cairn gear " followed by i in decimal without leading zeros
 *             (e.g. "cairn gear 0", "cairn gear 255"), for i = 0..255.
 *
 * Keying the table keeps chunk lengths from revealing whether a repository holds a known file
 * (with a public table, boundaries are a fingerprint of content).
 * Throws CairnError USAGE if the secret is shorter than 16 bytes.
 */
export function gearTable(secret: Uint8Array): Uint32Array {
  if (secret.length < MIN_GEAR_SECRET_LENGTH) {
    throw new CairnError(
      'USAGE',
      `Cannot derive gear table: secret is ${secret.length} bytes, need at least ${MIN_GEAR_SECRET_LENGTH}`,
    );
  }
  const table = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    const mac = createHmac('sha256', secret).update(`cairn gear ${i}`, 'ascii').digest();
    table[i] = mac.readUInt32BE(0);
  }
  return table;
}
