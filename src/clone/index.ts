/**
 * Block cloning: making a file share its blocks with another instead of copying them.
 *
 * - clone: FICLONERANGE on Linux, on file systems with reference-counted blocks (XFS with reflink,
 *   Btrfs). A clone of gigabytes takes milliseconds and no space until one side is changed.
 * - block size: clone ranges start at multiples of the file system's block size and end at one,
 *   or at the end of the source file.
 * - extent: a run of data between holes (SEEK_DATA, SEEK_HOLE); holes are not cloned, so a sparse
 *   source stays sparse.
 */
import fs from 'node:fs';
import path from 'node:path';
import { CairnError, errnoCode, reason } from '../errors.ts';
import { native, type Native } from '../native/index.ts';

export interface CloneOptions {
  /** Replace an existing destination. */
  readonly force?: boolean;
  /** Bytes cloned per call (default 1 GiB), for progress and cancellation. */
  readonly step?: number;
  /** Compare the destination's content with the source's afterwards. */
  readonly verify?: boolean;
  /** When the file system cannot clone (or the files are on two): copy instead of failing. */
  readonly fallback?: 'copy';
  readonly signal?: AbortSignal;
  readonly onProgress?: (done: number, total: number) => void;
}

export interface CloneResult {
  readonly size: number;
  readonly blockSize: number;
  readonly bytesCloned: number;
  readonly bytesCopied: number;
  /** Bytes of holes kept as holes. */
  readonly bytesSparse: number;
  readonly verified: boolean;
}

export const DEFAULT_STEP = 1024 ** 3;

function needNative(what: string): Native {
  if (native === undefined) {
    throw new CairnError(
      'CLONE_UNSUPPORTED',
      `Cannot ${what}: the native addon is not built (run npm ci with a C compiler)`,
    );
  }
  return native;
}

const HINT = 'use XFS with reflink (mkfs.xfs -m reflink=1) or Btrfs, or --fallback copy';

/**
 * Clones `length` bytes at `srcOffset` of one open file to `dstOffset` of another. Offsets must
 * be multiples of `blockSize`, and so must the length unless the range ends at the source's end
 * (`srcSize`); otherwise CLONE_UNALIGNED explains it with the block size.
 */
export function cloneRange(
  srcFd: number,
  srcOffset: number,
  length: number,
  dstFd: number,
  dstOffset: number,
  blockSize: number,
  srcSize: number,
  names: { src: string; dst: string } = { src: 'source', dst: 'destination' },
): void {
  const n = needNative('clone');
  const bad = [
    srcOffset % blockSize !== 0 ? `source offset ${srcOffset}` : '',
    dstOffset % blockSize !== 0 ? `destination offset ${dstOffset}` : '',
    length % blockSize !== 0 && srcOffset + length !== srcSize
      ? `length ${length} (not ending at the end of the source)`
      : '',
  ].filter(Boolean);
  if (bad.length > 0) {
    throw new CairnError(
      'CLONE_UNALIGNED',
      `Cannot clone ${names.src} to ${names.dst}: ${bad.join(', ')} is not a multiple of the file system block size ${blockSize}; only whole blocks can be shared`,
    );
  }
  try {
    n.ficloneRange(srcFd, srcOffset, length, dstFd, dstOffset);
  } catch (err) {
    const code = errnoCode(err);
    if (code === 'EXDEV') {
      throw new CairnError(
        'CLONE_CROSS_DEVICE',
        `Cannot clone ${names.src} to ${names.dst}: they are on different file systems; blocks can only be shared within one`,
        { cause: err },
      );
    }
    if (code === 'EOPNOTSUPP' || code === 'ENOTTY' || code === 'EINVAL' || code === 'ENOSYS') {
      throw new CairnError(
        'CLONE_UNSUPPORTED',
        `Cannot clone ${names.src} to ${names.dst}: the file system cannot share blocks (${code}); ${HINT}`,
        { cause: err },
      );
    }
    throw new CairnError('TARGET_UNWRITABLE', `Cannot clone ${names.src} to ${names.dst}: ${reason(err)}`, {
      cause: err,
    });
  }
}

/** The data extents of an open file: [start, end) pairs, holes left out. */
export function dataExtents(fd: number, size: number): [number, number][] {
  const n = needNative('find the data of a file');
  const out: [number, number][] = [];
  let at = 0;
  while (at < size) {
    const start = n.seekData(fd, at);
    if (start < 0 || start >= size) break;
    let end = n.seekHole(fd, start);
    if (end < 0 || end > size) end = size;
    out.push([start, end]);
    at = end;
  }
  return out;
}

/** Copies a range with copy_file_range, or with reads and writes where the kernel refuses it. */
function copyRange(n: Native, src: number, dst: number, start: number, length: number): void {
  let done = 0;
  try {
    while (done < length) {
      const got = n.copyFileRange(src, start + done, dst, start + done, length - done);
      if (got === 0) throw new Error('the source ended early');
      done += got;
    }
    return;
  } catch (err) {
    const code = errnoCode(err);
    if (code !== 'EXDEV' && code !== 'EINVAL' && code !== 'EOPNOTSUPP' && code !== 'ENOSYS') throw err;
  }
  const buf = Buffer.allocUnsafe(Math.min(length - done, 8 << 20));
  while (done < length) {
    const got = fs.readSync(src, buf, 0, Math.min(buf.length, length - done), start + done);
    if (got === 0) throw new Error('the source ended early');
    let written = 0;
    while (written < got) written += fs.writeSync(dst, buf, written, got - written, start + done + written);
    done += got;
  }
}

function sameContent(a: number, b: number, size: number): boolean {
  const x = Buffer.allocUnsafe(1 << 20);
  const y = Buffer.allocUnsafe(1 << 20);
  for (let at = 0; at < size; at += x.length) {
    const len = Math.min(x.length, size - at);
    if (fs.readSync(a, x, 0, len, at) !== len || fs.readSync(b, y, 0, len, at) !== len) return false;
    if (!x.subarray(0, len).equals(y.subarray(0, len))) return false;
  }
  return true;
}

/**
 * Clones a whole file: same length, shared data blocks, holes kept, mode, owner (as root),
 * extended attributes and times copied. The destination is complete or absent: a failure
 * removes what was made.
 */
export function cloneFile(src: string, dst: string, options: CloneOptions = {}): CloneResult {
  const n = needNative('clone');
  const step = options.step ?? DEFAULT_STEP;
  let st: fs.BigIntStats;
  try {
    st = fs.statSync(src, { bigint: true });
  } catch (err) {
    const code = errnoCode(err) === 'ENOENT' ? 'SOURCE_NOT_FOUND' : 'SOURCE_UNREADABLE';
    throw new CairnError(
      code,
      `Cannot clone ${src}: ${errnoCode(err) === 'ENOENT' ? 'it does not exist' : reason(err)}`,
      { cause: err },
    );
  }
  if (!st.isFile()) throw new CairnError('USAGE', `Cannot clone ${src}: it is not a regular file`);
  if (fs.existsSync(dst) && !options.force) {
    throw new CairnError(
      'CLONE_TARGET_EXISTS',
      `Cannot clone ${src} to ${dst}: ${dst} exists; use --force to replace it`,
    );
  }
  const dir = path.dirname(path.resolve(dst));
  let dirStat: fs.Stats;
  try {
    dirStat = fs.statSync(dir);
  } catch (err) {
    throw new CairnError('TARGET_UNWRITABLE', `Cannot clone ${src} to ${dst}: ${reason(err)}`, {
      cause: err,
    });
  }
  const cross = BigInt(dirStat.dev) !== st.dev;
  if (cross && options.fallback !== 'copy') {
    throw new CairnError(
      'CLONE_CROSS_DEVICE',
      `Cannot clone ${src} to ${dst}: they are on different file systems; blocks can only be shared within one (or use --fallback copy)`,
    );
  }
  const blockSize = fs.statfsSync(dir).bsize;
  const size = Number(st.size);
  const srcFd = fs.openSync(src, 'r');
  let dstFd: number | undefined;
  let cloned = 0;
  let copied = 0;
  let canClone = !cross;
  try {
    if (options.force) fs.rmSync(dst, { force: true });
    dstFd = fs.openSync(dst, fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o600);
    fs.ftruncateSync(dstFd, size);
    let done = 0;
    for (const [start, end] of dataExtents(srcFd, size)) {
      // Extents start on block boundaries; a step is a whole number of blocks.
      const chunk = Math.max(blockSize, step - (step % blockSize));
      for (let at = start; at < end; at += chunk) {
        options.signal?.throwIfAborted();
        const len = Math.min(chunk, end - at);
        if (canClone) {
          try {
            cloneRange(srcFd, at, len, dstFd, at, blockSize, size, { src, dst });
            cloned += len;
          } catch (err) {
            if (
              options.fallback !== 'copy' ||
              !(err instanceof CairnError) ||
              err.code !== 'CLONE_UNSUPPORTED'
            )
              throw err;
            canClone = false;
          }
        }
        if (!canClone) {
          copyRange(n, srcFd, dstFd, at, len);
          copied += len;
        }
        done += len;
        options.onProgress?.(done, size);
      }
    }
    // Metadata: owner first (it clears set-id bits), then mode, attributes, times.
    if (process.getuid?.() === 0) fs.fchownSync(dstFd, Number(st.uid), Number(st.gid));
    fs.fchmodSync(dstFd, Number(st.mode) & 0o7777);
    for (const [name, value] of n.lgetxattrs(src)) {
      try {
        n.lsetxattr(dst, name, value);
      } catch {
        // An attribute the destination's file system refuses (a different security module).
      }
    }
    const split = (ns: bigint): [number, number] => [
      Number(ns / 1_000_000_000n),
      Number(ns % 1_000_000_000n),
    ];
    const [as, an] = split(st.atimeNs);
    const [ms, mn] = split(st.mtimeNs);
    n.futimesNs(dstFd, as, an, ms, mn);
    const got = fs.fstatSync(dstFd).size;
    if (got !== size) {
      throw new CairnError(
        'CLONE_VERIFY_FAILED',
        `Cannot clone ${src} to ${dst}: the clone has ${got} bytes, the source ${size}`,
      );
    }
    if (options.verify && !sameContent(srcFd, dstFd, size)) {
      throw new CairnError(
        'CLONE_VERIFY_FAILED',
        `Cannot clone ${src} to ${dst}: the clone does not read back equal to the source`,
      );
    }
  } catch (err) {
    if (dstFd !== undefined) {
      fs.closeSync(dstFd);
      dstFd = undefined;
      fs.rmSync(dst, { force: true });
    }
    if (err instanceof CairnError) throw err;
    const code = errnoCode(err);
    if (code === 'ENOSPC')
      throw new CairnError('NO_SPACE', `Cannot clone ${src} to ${dst}: no space left`, { cause: err });
    throw new CairnError('TARGET_UNWRITABLE', `Cannot clone ${src} to ${dst}: ${reason(err)}`, {
      cause: err,
    });
  } finally {
    if (dstFd !== undefined) fs.closeSync(dstFd);
    fs.closeSync(srcFd);
  }
  return {
    size,
    blockSize,
    bytesCloned: cloned,
    bytesCopied: copied,
    bytesSparse: size - cloned - copied,
    verified: options.verify === true,
  };
}
