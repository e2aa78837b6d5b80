/**
 * Helpers for the repository tests: temp dirs that clean up after themselves, fast repositories,
 * seeded randomness, generated source trees and a way to compare two trees on disk.
 */
import assert from 'node:assert/strict';
import { createCipheriv, createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { LocalBackend } from '../backend/index.ts';
import { Repository, type InitOptions } from './repository.ts';

export const PASSWORD = { password: 'x' } as const;
export const FAST_SCRYPT = { N: 1024, r: 8, p: 1 } as const;
export const KiB = 1024;
export const MiB = 1024 * KiB;

/** Small chunks and packs, so that a few hundred KiB make many blobs and several packs. */
export const SMALL: InitOptions = {
  scrypt: FAST_SCRYPT,
  packSize: 256 * KiB,
  chunker: { minSize: 16 * KiB, avgSize: 32 * KiB, maxSize: 128 * KiB },
};

/** A fresh directory under the system temp dir, removed when the test ends. */
export async function tempDir(t: TestContext, prefix = 'cairn-test-'): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), prefix));
  t.after(() => fs.rm(dir, { recursive: true, force: true }));
  return dir;
}

export async function initRepo(dir: string, options: InitOptions = SMALL): Promise<Repository> {
  return Repository.init(new LocalBackend(dir), PASSWORD, options);
}

export async function openRepo(dir: string): Promise<Repository> {
  return Repository.open(new LocalBackend(dir), PASSWORD);
}

/** mulberry32: a seeded generator of numbers in [0, 1). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** An integer in [0, max) from a generator. */
export function randInt(rng: () => number, max: number): number {
  return Math.floor(rng() * max);
}

/** `n` pseudo-random bytes determined by `seed` (AES-CTR keystream: fast and incompressible). */
export function seededBytes(seed: string | number, n: number): Buffer {
  const key = createHash('sha256').update(String(seed)).digest().subarray(0, 16);
  const cipher = createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
  return Buffer.concat([cipher.update(Buffer.alloc(n)), cipher.final()]);
}

/** Text that compresses well, `n` bytes long. */
export function textBytes(seed: string | number, n: number): Buffer {
  const line = Buffer.from(`line of ${String(seed)}: the quick brown fox jumps over the lazy dog\n`);
  const out = Buffer.alloc(n);
  for (let at = 0; at < n; at += line.length) line.copy(out, at, 0, Math.min(line.length, n - at));
  return out;
}

export interface EntryState {
  readonly type: 'file' | 'dir' | 'symlink' | 'other';
  readonly mode: number;
  readonly size?: number;
  /** Modification time in whole microseconds (restore keeps at least that much). */
  readonly mtimeUs: bigint;
  readonly sha256?: string;
  readonly target?: string;
}

/** Every entry below `root` (not root itself), by path relative to it. */
export async function readTree(root: string): Promise<Map<string, EntryState>> {
  const out = new Map<string, EntryState>();
  const walk = async (dir: string): Promise<void> => {
    for (const name of (await fs.readdir(dir)).sort()) {
      const full = path.join(dir, name);
      const rel = path.relative(root, full);
      const st = await fs.lstat(full, { bigint: true });
      const base = { mode: Number(st.mode & 0o7777n), mtimeUs: st.mtimeNs / 1000n };
      if (st.isDirectory()) {
        out.set(rel, { type: 'dir', ...base });
        await walk(full);
      } else if (st.isFile()) {
        const sha256 = createHash('sha256')
          .update(await fs.readFile(full))
          .digest('hex');
        out.set(rel, { type: 'file', ...base, size: Number(st.size), sha256 });
      } else if (st.isSymbolicLink()) {
        out.set(rel, { type: 'symlink', ...base, target: await fs.readlink(full) });
      } else {
        out.set(rel, { type: 'other', ...base });
      }
    }
  };
  await walk(root);
  return out;
}

/** Same entries, types, modes, sizes, contents and link targets; times equal to the millisecond. */
export function assertSameTree(got: Map<string, EntryState>, want: Map<string, EntryState>): void {
  assert.deepEqual([...got.keys()].sort(), [...want.keys()].sort());
  for (const [rel, w] of want) {
    const g = got.get(rel)!;
    const { mtimeUs: gm, ...gRest } = g;
    const { mtimeUs: wm, ...wRest } = w;
    assert.deepEqual(gRest, wRest, rel);
    const diff = gm > wm ? gm - wm : wm - gm;
    assert.ok(diff < 1000n, `${JSON.stringify(rel)}: mtime ${gm} µs, expected ${wm} µs`);
  }
}

/** Sets the times of a path without following a symlink. */
export async function setMtime(p: string, seconds: number): Promise<void> {
  await fs.lutimes(p, seconds, seconds);
}

/** Flips the bits of `mask` in the byte at `at` of a file (negative: from its end; default: its middle). */
export async function flipByte(file: string, at?: number, mask = 0xff): Promise<void> {
  const bytes = await fs.readFile(file);
  const i = at === undefined ? Math.floor(bytes.length / 2) : at < 0 ? bytes.length + at : at;
  bytes[i] = (bytes[i] ?? 0) ^ mask;
  await fs.writeFile(file, bytes);
}

/** Flips one bit in the middle of a stored blob, in its pack of the local repository at `repoDir`. */
export async function flipBlob(
  repoDir: string,
  loc: { readonly pack: string; readonly offset: number; readonly length: number },
): Promise<void> {
  await flipByte(
    path.join(repoDir, 'data', loc.pack.slice(0, 2), loc.pack),
    loc.offset + Math.floor(loc.length / 2),
    0x01,
  );
}
