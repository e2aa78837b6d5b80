import { scrypt } from 'node:crypto';

export interface ScryptParams {
  /** CPU/memory cost, a power of two. */
  readonly N: number;
  readonly r: number;
  readonly p: number;
}

/**
 * N = 2^17, r = 8, p = 1: 128 MiB and about a third of a second here, the parameters RFC 7914's
 * authors suggest for interactive logins grown by one step. Stored in every slot, so they can rise
 * later without breaking old slots.
 */
export const DEFAULT_SCRYPT: ScryptParams = { N: 2 ** 17, r: 8, p: 1 };

export function deriveScrypt(
  password: string | Uint8Array,
  salt: Uint8Array,
  params: ScryptParams,
  length = 32,
): Promise<Buffer> {
  const maxmem = 128 * params.N * params.r * params.p + 64 * 1024 * 1024;
  return new Promise((resolve, reject) => {
    scrypt(password, salt, length, { N: params.N, r: params.r, p: params.p, maxmem }, (err, key) => {
      if (err) reject(err);
      else resolve(key);
    });
  });
}
