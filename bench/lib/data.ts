/**
 * The data the tools back up: a copy of real system folders (so files can be changed), the
 * deterministic choice and change of 1% of its files, page-cache warming, the generated data of
 * the scale scenarios, and the comparison of a restored tree with its source.
 */
import { createCipheriv, createHash } from 'node:crypto';
import type { Stats } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { runQuiet } from './measure.ts';

/** Copies each source folder into `dest` (cp -a: modes, owners, times, links); returns the copies. */
export async function copyDataset(sources: readonly string[], dest: string): Promise<string[]> {
  await fs.mkdir(dest, { recursive: true });
  const copies: string[] = [];
  const used = new Set<string>();
  for (const [i, src] of sources.entries()) {
    let name = path.basename(path.resolve(src)) || `data${i}`;
    if (used.has(name)) name = `${name}-${i}`;
    used.add(name);
    const to = path.join(dest, name);
    await runQuiet('cp', ['-a', '--reflink=never', path.resolve(src), to]);
    copies.push(to);
  }
  return copies;
}

/** Regular files below the roots, as absolute paths, sorted. */
export async function listFiles(roots: readonly string[]): Promise<string[]> {
  const files: string[] = [];
  async function walk(dir: string): Promise<void> {
    const entries = await fs.readdir(dir, { withFileTypes: true });
    for (const e of entries) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.isFile()) files.push(p);
    }
  }
  for (const r of roots) await walk(r);
  return files.sort();
}

/** Reads every file below the roots once, so the first measured run does not pay for a cold cache. */
export async function warmCache(roots: readonly string[]): Promise<void> {
  for (const r of roots) {
    await runQuiet('sh', ['-c', 'find "$1" -type f -print0 | xargs -0r cat > /dev/null', 'sh', r]);
  }
}

/**
 * The files to change: the `percent`% (rounded up, at least one) whose SHA-256 of the path
 * relative to `base` sorts first. Deterministic for the same tree wherever it is copied.
 */
export function chooseFiles(files: readonly string[], base: string, percent: number): string[] {
  const count = Math.max(1, Math.ceil((files.length * percent) / 100));
  return files
    .map((f) => ({ f, key: createHash('sha256').update(path.relative(base, f)).digest('hex') }))
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
    .slice(0, count)
    .map((x) => x.f)
    .sort();
}

/** Deterministic bytes from a seed (AES-256-CTR keystream keyed by SHA-256 of the seed). */
export function streamBytes(seed: string, length: number): Buffer {
  const key = createHash('sha256').update(seed).digest();
  const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  return cipher.update(Buffer.alloc(length));
}

export interface Change {
  readonly file: string;
  readonly stash: string;
  readonly atime: Date;
  readonly mtime: Date;
}

/**
 * Changes each file in place: 4 KiB (or the whole file, if smaller) in its middle overwritten with
 * bytes derived from its relative path, or 64 bytes written into an empty file. The originals go to
 * `stashDir`, for revertChanges.
 */
export async function changeFiles(
  files: readonly string[],
  base: string,
  stashDir: string,
): Promise<Change[]> {
  await fs.mkdir(stashDir, { recursive: true });
  const changes: Change[] = [];
  for (const [i, file] of files.entries()) {
    const st = await fs.stat(file);
    const stash = path.join(stashDir, String(i));
    await fs.copyFile(file, stash);
    changes.push({ file, stash, atime: st.atime, mtime: st.mtime });
    const rel = path.relative(base, file);
    const h = await fs.open(file, 'r+');
    try {
      if (st.size === 0) {
        await h.write(streamBytes(`change ${rel}`, 64), 0, 64, 0);
      } else {
        const n = Math.min(4096, st.size);
        const at = Math.floor((st.size - n) / 2);
        await h.write(streamBytes(`change ${rel}`, n), 0, n, at);
      }
    } finally {
      await h.close();
    }
  }
  return changes;
}

/** Puts the original contents and times back. */
export async function revertChanges(changes: readonly Change[]): Promise<void> {
  for (const c of changes) {
    await fs.copyFile(c.stash, c.file);
    await fs.utimes(c.file, c.atime, c.mtime);
    await fs.rm(c.stash);
  }
}

// ---- generated data ----------------------------------------------------------------------------

/** A small, fast deterministic generator (mulberry32). */
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

/**
 * A pool of bytes with about 5 bits of entropy each (printable, like text that compresses to about
 * two thirds): generated files are slices of it.
 */
export function textPool(seed: string, length: number): Buffer {
  const b = streamBytes(seed, length);
  for (let i = 0; i < b.length; i++) b[i] = 0x40 | (b[i]! & 0x1f);
  return b;
}

/**
 * `count` files of 0–8 KiB (uniform), 1000 per folder, each a distinct slice of a text-like pool
 * headed by its own number, so no two are equal. The same count gives the same tree.
 */
export async function generateSmallFiles(dir: string, count: number): Promise<{ bytes: number }> {
  const pool = textPool('small files', 64 * 1024 * 1024);
  const next = prng(1);
  let bytes = 0;
  const perDir = 1000;
  const pending = new Set<Promise<void>>();
  for (let d = 0; d * perDir < count; d++) {
    const sub = path.join(dir, `d${String(d).padStart(5, '0')}`);
    await fs.mkdir(sub, { recursive: true });
    for (let i = d * perDir; i < Math.min(count, (d + 1) * perDir); i++) {
      const size = Math.floor(next() * 8193);
      const at = Math.floor(next() * (pool.length - 8192));
      const head = Buffer.from(`${i}\n`);
      const body = Buffer.concat([head, pool.subarray(at, at + size)]).subarray(0, size);
      bytes += size;
      const p = fs.writeFile(path.join(sub, `f${String(i).padStart(7, '0')}`), body);
      const tracked = p.then(() => {
        pending.delete(tracked);
      });
      pending.add(tracked);
      if (pending.size >= 32) await Promise.race(pending);
    }
  }
  await Promise.all(pending);
  return { bytes };
}

/**
 * One file of `size` bytes: each MiB is half random bytes, half text-like bytes, so it compresses
 * to about 80% and has no repeats for deduplication to find.
 */
export async function generateBigFile(file: string, size: number): Promise<void> {
  const MiB = 1024 * 1024;
  const key = createHash('sha256').update('big file').digest();
  const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  const zeros = Buffer.alloc(16 * MiB);
  const h = await fs.open(file, 'w');
  try {
    for (let at = 0; at < size; at += zeros.length) {
      const n = Math.min(zeros.length, size - at);
      const b = cipher.update(zeros.subarray(0, n));
      for (let m = 0; m < n; m += MiB) {
        const end = Math.min(n, m + MiB);
        for (let i = m + MiB / 2; i < end; i++) b[i] = 0x40 | (b[i]! & 0x1f);
      }
      await h.write(b, 0, n, at);
    }
  } finally {
    await h.close();
  }
}

/**
 * `size` random bytes (nothing to compress or deduplicate) in files of `fileSize` bytes (the last
 * one shorter), 100 per folder.
 */
export async function generateRandomFiles(
  dir: string,
  size: number,
  fileSize: number,
): Promise<{ files: number }> {
  const key = createHash('sha256').update('random files').digest();
  const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  const zeros = Buffer.alloc(fileSize);
  let files = 0;
  for (let at = 0; at < size; at += fileSize, files++) {
    const sub = path.join(dir, `d${String(Math.floor(files / 100)).padStart(5, '0')}`);
    if (files % 100 === 0) await fs.mkdir(sub, { recursive: true });
    const n = Math.min(fileSize, size - at);
    await fs.writeFile(
      path.join(sub, `r${String(files).padStart(7, '0')}`),
      cipher.update(zeros.subarray(0, n)),
    );
  }
  return { files };
}

// ---- comparing trees -----------------------------------------------------------------------------

export interface TreeComparison {
  readonly files: number;
  readonly dirs: number;
  readonly symlinks: number;
  readonly bytes: number;
  /** How many differences were found (0: the trees are equal). */
  readonly differenceCount: number;
  /** The first of them. */
  readonly differences: string[];
}

function kind(st: Stats): string {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'dir';
  if (st.isSymbolicLink()) return 'symlink';
  return 'other';
}

async function sameContent(a: string, b: string, size: number, buf: [Buffer, Buffer]): Promise<boolean> {
  const [ha, hb] = await Promise.all([fs.open(a, 'r'), fs.open(b, 'r')]);
  try {
    for (let at = 0; at < size;) {
      const n = Math.min(buf[0].length, size - at);
      const [ra, rb] = await Promise.all([ha.read(buf[0], 0, n, at), hb.read(buf[1], 0, n, at)]);
      if (ra.bytesRead !== n || rb.bytesRead !== n) return false;
      if (buf[0].compare(buf[1], 0, n, 0, n) !== 0) return false;
      at += n;
    }
    // both must end here
    const [ea, eb] = await Promise.all([ha.read(buf[0], 0, 1, size), hb.read(buf[1], 0, 1, size)]);
    return ea.bytesRead === 0 && eb.bytesRead === 0;
  } finally {
    await Promise.all([ha.close(), hb.close()]);
  }
}

/**
 * Compares a restored tree with its source without following symlinks: the same names, types,
 * permission bits, owners, sizes, file contents (byte for byte), file modification times (to the
 * second) and symlink targets. Folder times are not compared: restoring a folder's contents
 * changes them, and tools differ in whether they set them afterwards.
 */
export async function compareTrees(
  source: string,
  restored: string,
  maxDifferences = 20,
): Promise<TreeComparison> {
  const differences: string[] = [];
  let files = 0;
  let dirs = 0;
  let symlinks = 0;
  let bytes = 0;
  let differenceCount = 0;
  const differ = (rel: string, what: string): void => {
    differenceCount++;
    if (differences.length < maxDifferences) differences.push(`${rel || '.'}: ${what}`);
  };
  /** Files of equal size whose contents are compared after the walk, four at a time. */
  const contents: { rel: string; size: number }[] = [];

  async function visit(rel: string): Promise<void> {
    const a = path.join(source, rel);
    const b = path.join(restored, rel);
    const [sa, sb] = await Promise.all([fs.lstat(a), fs.lstat(b).catch(() => undefined)]);
    if (sb === undefined) return differ(rel, 'missing from the restore');
    if (kind(sa) !== kind(sb)) return differ(rel, `${kind(sa)} restored as ${kind(sb)}`);
    if (!sa.isSymbolicLink() && (sa.mode & 0o7777) !== (sb.mode & 0o7777)) {
      differ(rel, `mode ${(sa.mode & 0o7777).toString(8)} restored as ${(sb.mode & 0o7777).toString(8)}`);
    }
    if (sa.uid !== sb.uid || sa.gid !== sb.gid) {
      differ(rel, `owner ${sa.uid}:${sa.gid} restored as ${sb.uid}:${sb.gid}`);
    }
    if (sa.isSymbolicLink()) {
      symlinks++;
      const [ta, tb] = await Promise.all([fs.readlink(a), fs.readlink(b)]);
      if (ta !== tb) differ(rel, `symlink to ${ta} restored to ${tb}`);
    } else if (sa.isFile()) {
      files++;
      bytes += sa.size;
      if (sa.size !== sb.size) return differ(rel, `size ${sa.size} restored as ${sb.size}`);
      if (Math.floor(sa.mtimeMs / 1000) !== Math.floor(sb.mtimeMs / 1000)) {
        differ(rel, `mtime ${sa.mtime.toISOString()} restored as ${sb.mtime.toISOString()}`);
      }
      contents.push({ rel, size: sa.size });
    } else if (sa.isDirectory()) {
      dirs++;
      const [na, nb] = await Promise.all([fs.readdir(a), fs.readdir(b)]);
      const inA = new Set(na);
      const inB = new Set(nb);
      for (const n of nb) if (!inA.has(n)) differ(path.join(rel, n), 'only in the restore');
      for (const n of na.sort()) {
        if (inB.has(n)) await visit(path.join(rel, n));
        else differ(path.join(rel, n), 'missing from the restore');
      }
    }
  }
  await visit('');
  let next = 0;
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      const buf: [Buffer, Buffer] = [Buffer.allocUnsafe(1 << 20), Buffer.allocUnsafe(1 << 20)];
      while (next < contents.length) {
        const { rel, size } = contents[next++]!;
        if (!(await sameContent(path.join(source, rel), path.join(restored, rel), size, buf))) {
          differ(rel, 'content differs');
        }
      }
    }),
  );
  return { files, dirs, symlinks, bytes, differenceCount, differences };
}
