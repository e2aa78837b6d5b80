import { scrypt } from 'node:crypto';

export interface ScryptParams {
  /** CPU/memory cost, a power of two. */
  readonly N: number;
  readonly r: number;
  readonly p: number;
}

/**
 * N = 2^15, r = 8, p = 4: 32 MiB and about a third of a second here. The work is that of
 * N = 2^17 with p = 1 (the default of 0.1.0), in a quarter of the memory: the 128 MiB that
 * N = 2^17 holds set the peak memory of every command that opens a repository with a password.
 * restic bounds its scrypt to 60 MiB the same way (N = 2^15, r = 8, p calibrated to the time).
 * Stored in every slot, so they can change without breaking old slots.
 */
export const DEFAULT_SCRYPT: ScryptParams = { N: 2 ** 15, r: 8, p: 4 };

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
