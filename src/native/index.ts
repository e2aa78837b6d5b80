/**
 * Native system calls that Node's fs module lacks, from Cairn's own Node-API addon
 * (native/cairn_native.c, built by node-gyp when the package is installed: `npm ci`).
 *
 * - xattr: an extended attribute (name → bytes); POSIX ACLs are the `system.posix_acl_*` ones.
 * - special file: a FIFO or a character or block device node, made with mknod.
 * - ns times: timestamps set to the nanosecond (Node's utimes takes seconds as a double).
 * - clone: sharing blocks between files (FICLONE, FICLONERANGE) on XFS with reflink and Btrfs;
 *   data and holes (SEEK_DATA, SEEK_HOLE); copy_file_range.
 *
 * `native` is undefined when the addon was not built (no compiler at install): callers then say
 * what they could not do instead of failing.
 */
import { createRequire } from 'node:module';

export interface Native {
  mknod(path: string, mode: number, major: number, minor: number): void;
  lgetxattrs(path: string): [string, Buffer][];
  lsetxattr(path: string, name: string, value: Buffer): void;
  lutimesNs(path: string, atimeSec: number, atimeNsec: number, mtimeSec: number, mtimeNsec: number): void;
  futimesNs(fd: number, atimeSec: number, atimeNsec: number, mtimeSec: number, mtimeNsec: number): void;
  /** ioctl(FICLONE): the whole source shares its blocks with the destination. */
  ficlone(srcFd: number, dstFd: number): void;
  /** ioctl(FICLONERANGE); offsets and length block-aligned (the length may end at the source's end). */
  ficloneRange(srcFd: number, srcOffset: number, length: number, dstFd: number, dstOffset: number): void;
  /** lseek(SEEK_DATA) / lseek(SEEK_HOLE): the next data or hole from offset, -1 past the end. */
  seekData(fd: number, offset: number): number;
  seekHole(fd: number, offset: number): number;
  /** copy_file_range(2): bytes copied, possibly fewer than asked. */
  copyFileRange(srcFd: number, srcOffset: number, dstFd: number, dstOffset: number, length: number): number;
  /**
   * A folder listed and each entry lstat'ed on a thread of libuv's pool: one round trip per folder.
   * Rejects with an errno error (code) when the folder cannot be listed.
   */
  scanDir(path: string): Promise<FolderScan>;
  /**
   * mallopt(M_MMAP_THRESHOLD): blocks of at least `bytes` are mapped on their own and unmapped
   * when freed, instead of glibc's threshold that rises with each large block freed. False where
   * the C library is not glibc.
   */
  mallocMmapThreshold(bytes: number): boolean;
  /**
   * FastCdcChunker.cut's loop in C: the same result for the same arguments (see fastcdc.ts);
   * `gear` is the table as int32, `strict` and `loose` the masks as int32.
   */
  readonly gearCut: (
    buf: Uint8Array,
    gear: Int32Array,
    scanned: number,
    minSize: number,
    avgSize: number,
    maxSize: number,
    strict: number,
    loose: number,
    final: boolean,
  ) => number;
}

/** What scanDir returns: entry i is names[i]. */
export interface FolderScan {
  readonly names: string[];
  /**
   * 14 values per entry: mode, uid, gid, nlink, ino, dev, rdev, size, then atime, mtime and ctime
   * each as seconds and nanoseconds.
   */
  readonly stats: BigInt64Array;
  /** 0, or the errno of the entry's lstat. */
  readonly errors: Int32Array;
  /** 0: no extended attributes; 1: some; negative: the errno of llistxattr. */
  readonly xattrs: Int32Array;
}

function load(): Native | undefined {
  try {
    // The same two levels up from src/native/ and dist/native/.
    return createRequire(import.meta.url)('../../build/Release/cairn_native.node') as Native;
  } catch {
    return undefined;
  }
}

export const native: Native | undefined = process.env.CAIRN_NATIVE === 'off' ? undefined : load();

/** A time in integer nanoseconds (decimal string) as seconds and nanoseconds. */
export function splitNs(ns: string): [number, number] {
  const n = BigInt(ns);
  let sec = n / 1_000_000_000n;
  let nsec = n % 1_000_000_000n;
  if (nsec < 0n) {
    sec -= 1n;
    nsec += 1_000_000_000n;
  }
  return [Number(sec), Number(nsec)];
}

/** Linux device number encoding (glibc's gnu_dev_major/minor). */
export function major(dev: number): number {
  const d = BigInt(dev);
  return Number(((d >> 8n) & 0xfffn) | ((d >> 32n) & ~0xfffn));
}

export function minor(dev: number): number {
  const d = BigInt(dev);
  return Number((d & 0xffn) | ((d >> 12n) & ~0xffn));
}
