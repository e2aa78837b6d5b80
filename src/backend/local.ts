/**
 * A backend in a local directory.
 *
 * Layout: `<dir>/config`, `<dir>/data/<first two characters of name>/<name>` (folders 00..ff made
 * by create()), and `<dir>/<type>/<name>` for keys, index, snapshots and locks. Writes go to a temp
 * file in the target's own folder and are renamed into place, so a reader never sees a partial file.
 *
 * Composing a file (`compose`) clones ranges of other files with FICLONERANGE where the file system
 * shares blocks (XFS with reflink, Btrfs) and the range starts on a block boundary in both files;
 * anything else is copied in the kernel (copy_file_range) or, failing that, read and written.
 */

import { createHash, randomBytes } from 'node:crypto';
import { open as openCb, type Dirent } from 'node:fs';
import * as fs from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import * as path from 'node:path';

import { CairnError, errnoCode, reason } from '../errors.ts';
import type { ErrorCode } from '../errors.ts';
import { closeFd, readAt } from '../fd.ts';
import { native } from '../native/index.ts';
import type {
  Backend,
  BackendFeatures,
  CloneUse,
  ComposeResult,
  FileInfo,
  FileType,
  Handle,
  Segment,
} from './types.ts';
import {
  CONFIG_HANDLE,
  FILE_TYPES,
  TEMP_PREFIX,
  checkFileType,
  checkHandle,
  checkRange,
  checkSegments,
  describeHandle,
} from './handle.ts';

const DIR_MODE = 0o700;
const FILE_MODE = 0o600;
/** Linux's IOV_MAX: the most buffers one writev may take. */
const IOV_MAX = 1024;
/** How many stat calls list() keeps in flight. */
const STAT_BATCH = 64;
/** Buffer size for copying by reads and writes, and for reading a composed file back. */
const COPY_BUFFER = 4 * 1024 * 1024;
/** statfs magic of Btrfs, which frees an extent only when no clone refers to any part of it. */
const BTRFS_MAGIC = 0x9123683e;
/** Errors of FICLONERANGE that mean "this file system (or this pair of files) cannot share blocks". */
const NO_CLONE = new Set(['EOPNOTSUPP', 'ENOTSUP', 'EXDEV', 'ENOTTY', 'ENOSYS']);
/** Errors of copy_file_range after which reads and writes still work. */
const NO_COPY_RANGE = new Set(['EXDEV', 'EINVAL', 'EOPNOTSUPP', 'ENOTSUP', 'ENOSYS', 'EBADF']);

const DATA_SUBDIRS: readonly string[] = Array.from({ length: 256 }, (_, i) =>
  i.toString(16).padStart(2, '0'),
);

/** The CairnError code for a Node file-system error. */
export function errorCodeForErrno(errno: string | undefined): ErrorCode {
  switch (errno) {
    // ENOTDIR: a path component is a file, so nothing can be found below it and retrying will
    // not help.
    case 'ENOENT':
    case 'ENOTDIR':
      return 'BACKEND_NOT_FOUND';
    case 'ENOSPC':
    case 'EDQUOT':
      return 'NO_SPACE';
    default:
      return 'BACKEND_IO';
  }
}

/**
 * Wraps a file-system error as `<context>: <detail>` with the code from `errorCodeForErrno`.
 * CairnErrors pass through unchanged. `notFound` replaces Node's message for ENOENT.
 */
export function fsError(err: unknown, context: string, notFound = 'no such file'): CairnError {
  if (err instanceof CairnError) return err;
  const code = errorCodeForErrno(errnoCode(err));
  const detail = code === 'BACKEND_NOT_FOUND' ? notFound : reason(err);
  return new CairnError(code, `${context}: ${detail}`, { cause: err });
}

/** Pack files kept open between ranged reads, least recently used closed first. */
const OPEN_PACKS = 64;
/**
 * ...and closed after this long without a read, so that a backend nobody closes (a library
 * caller's, a long-lived server's) neither holds descriptors nor keeps removed packs' space, nor
 * keeps a file system from being unmounted.
 */
const OPEN_PACKS_IDLE_MS = 1000;

/** An open pack: its descriptor once opened, and how many reads use it now. */
interface OpenPack {
  readonly fd: Promise<number>;
  users: number;
  /** Out of the cache: closed when its last read ends. */
  evicted: boolean;
}

const openFd = (file: string) =>
  new Promise<number>((resolve, reject) => {
    openCb(file, 'r', (err, fd) => (err ? reject(err) : resolve(fd)));
  });
/** Closes a pack's descriptor once it is open; a failed open or close leaves nothing to do. */
const closePack = (fd: Promise<number>) => {
  fd.then(closeFd).catch(() => {});
};

export class LocalBackend implements Backend {
  readonly location: string;
  /** It may clone whenever the native addon is there; `canClone()` asks the file system. */
  readonly features: BackendFeatures = Object.freeze({ clone: native !== undefined, alignment: 4096 });
  /** The file system's block size and type if a probe clone in data/ worked, else undefined. */
  #probe: Promise<{ bs: number; type: number } | undefined> | undefined;
  /**
   * Packs are read a few KiB at a time (a backup loads thousands of trees, a restore reads blob
   * ranges): an open, a read and a close each cost the main thread 20-25 µs, so packs stay open
   * between reads. Their content never changes (a pack is named by its hash); one removed while
   * open still reads its own bytes through the open descriptor.
   */
  readonly #packs = new Map<string, OpenPack>();
  #lastPackRead = 0;
  #idleTimer: NodeJS.Timeout | undefined;

  constructor(dir: string) {
    this.location = path.resolve(dir);
  }

  async create(): Promise<void> {
    const context = `Cannot create a repository in ${this.location}`;
    try {
      await this.#checkCreatable(context);
      const parent = path.dirname(this.location);
      await fs.mkdir(this.location, { recursive: true, mode: DIR_MODE });
      for (const type of FILE_TYPES) {
        if (type !== 'config') await mkdirIfMissing(path.join(this.location, type));
      }
      const data = path.join(this.location, 'data');
      for (const sub of DATA_SUBDIRS) await mkdirIfMissing(path.join(data, sub));
      // New directory entries are durable only once their parent directory is synced.
      await syncDir(data);
      await syncDir(this.location);
      await syncDir(parent);
    } catch (err) {
      throw fsError(err, context);
    }
  }

  async exists(h: Handle): Promise<boolean> {
    checkHandle(h, 'look up', this.location);
    try {
      await fs.stat(this.#path(h));
      return true;
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') throw await this.#error(err, 'look up', h);
      await this.#checkRoot(`Cannot look up ${describeHandle(h)} in ${this.location}`);
      return false;
    }
  }

  async *list(type: FileType): AsyncGenerator<FileInfo> {
    checkFileType(type, `list ${type}`, this.location);
    const context = `Cannot list ${type} in ${this.location}`;
    if (type === 'config') {
      try {
        const st = await fs.stat(this.#path(CONFIG_HANDLE));
        if (st.isFile()) yield { name: CONFIG_HANDLE.name, size: st.size };
      } catch (err) {
        if (errnoCode(err) !== 'ENOENT') throw fsError(err, context);
        await this.#checkRoot(context);
      }
      return;
    }
    const top = path.join(this.location, type);
    const entries = await this.#readdir(top, context);
    if (type !== 'data') {
      yield* statFiles(top, entries, context);
      return;
    }
    for (const sub of entries) {
      if (!sub.isDirectory()) continue;
      const dir = path.join(top, sub.name);
      yield* statFiles(dir, await this.#readdir(dir, context), context);
    }
  }

  async stat(h: Handle): Promise<FileInfo> {
    checkHandle(h, 'stat', this.location);
    try {
      const st = await fs.stat(this.#path(h));
      return { name: h.name, size: st.size };
    } catch (err) {
      throw await this.#error(err, 'stat', h);
    }
  }

  async read(h: Handle, range?: { offset: number; length: number }): Promise<Buffer> {
    checkHandle(h, 'read', this.location);
    if (range !== undefined) checkRange(h, range, this.location);
    if (range !== undefined && h.type === 'data') return this.#readPack(h, range);
    let fh: FileHandle | undefined;
    try {
      if (range === undefined) return await fs.readFile(this.#path(h));
      const opened = (fh = await fs.open(this.#path(h), 'r'));
      return await this.#readRange(h, range, async (buf, at, length, position) => {
        return (await opened.read(buf, at, length, position)).bytesRead;
      });
    } catch (err) {
      throw await this.#error(err, 'read', h);
    } finally {
      await fh?.close().catch(() => {});
    }
  }

  async write(h: Handle, data: readonly Uint8Array[]): Promise<void> {
    checkHandle(h, 'write', this.location);
    const target = this.#path(h);
    const dir = path.dirname(target);
    const temp = path.join(dir, TEMP_PREFIX + randomBytes(12).toString('hex'));
    let fh: FileHandle | undefined;
    let renamed = false;
    try {
      fh = await fs.open(temp, 'wx', FILE_MODE);
      await writeAll(fh, data);
      await fh.sync();
      // close() can report a deferred write error (e.g. on NFS), so it must succeed too.
      const closing = fh;
      fh = undefined;
      await closing.close();
      await fs.rename(temp, target);
      renamed = true;
      await syncDir(dir);
    } catch (err) {
      await fh?.close().catch(() => {});
      if (!renamed) await fs.rm(temp, { force: true }).catch(() => {});
      throw await this.#error(err, 'write', h);
    }
  }

  /** `range` of a file, read by `read` until it is whole; a short file is BACKEND_IO. */
  async #readRange(
    h: Handle,
    range: { offset: number; length: number },
    read: (buf: Buffer, at: number, length: number, position: number) => Promise<number>,
  ): Promise<Buffer> {
    const buf = Buffer.allocUnsafe(range.length);
    let done = 0;
    while (done < range.length) {
      const n = await read(buf, done, range.length - done, range.offset + done);
      if (n === 0) {
        throw new CairnError(
          'BACKEND_IO',
          `Cannot read ${describeHandle(h)} in ${this.location}: short read, got ${done} of ` +
            `${range.length} bytes at offset ${range.offset}`,
        );
      }
      done += n;
    }
    return buf;
  }

  /** A range of a pack, through a descriptor kept open. */
  async #readPack(h: Handle, range: { offset: number; length: number }): Promise<Buffer> {
    let p = this.#packs.get(h.name);
    if (p === undefined) {
      p = { fd: openFd(this.#path(h)), users: 0, evicted: false };
      this.#packs.set(h.name, p);
      this.#trimPacks();
    } else {
      // Most recently used last: the map keeps insertion order.
      this.#packs.delete(h.name);
      this.#packs.set(h.name, p);
    }
    p.users++;
    this.#lastPackRead = performance.now();
    this.#idleTimer ??= setInterval(() => {
      if (performance.now() - this.#lastPackRead >= OPEN_PACKS_IDLE_MS) void this.close();
    }, OPEN_PACKS_IDLE_MS).unref();
    try {
      const fd = await p.fd;
      return await this.#readRange(h, range, (buf, at, length, position) =>
        readAt(fd, buf, at, length, position),
      );
    } catch (err) {
      // A pack that could not be opened or read is opened anew next time.
      this.#evictPack(h.name, p);
      throw await this.#error(err, 'read', h);
    } finally {
      p.users--;
      if (p.evicted && p.users === 0) closePack(p.fd);
    }
  }

  /** Takes a pack out of the cache; its descriptor is closed once no read uses it. */
  #evictPack(name: string, p: OpenPack): void {
    if (p.evicted) return;
    p.evicted = true;
    if (this.#packs.get(name) === p) this.#packs.delete(name);
    if (p.users === 0) closePack(p.fd);
  }

  #trimPacks(): void {
    for (const [name, p] of this.#packs) {
      if (this.#packs.size <= OPEN_PACKS) return;
      this.#evictPack(name, p);
    }
  }

  async remove(h: Handle): Promise<void> {
    checkHandle(h, 'remove', this.location);
    if (h.type === 'data') {
      const p = this.#packs.get(h.name);
      if (p !== undefined) this.#evictPack(h.name, p);
    }
    try {
      await fs.unlink(this.#path(h));
    } catch (err) {
      throw await this.#error(err, 'remove', h);
    }
  }

  /**
   * Closes the packs kept open (those still being read, once their reads end). The backend stays
   * usable: a later read opens its pack again.
   */
  close(): Promise<void> {
    clearInterval(this.#idleTimer);
    this.#idleTimer = undefined;
    for (const [name, p] of [...this.#packs]) this.#evictPack(name, p);
    return Promise.resolve();
  }

  localPath(h: Handle): string {
    checkHandle(h, 'locate', this.location);
    return this.#path(h);
  }

  /** A local directory has no retention: anything may be removed. */
  async retainedUntil(h: Handle): Promise<Date | undefined> {
    checkHandle(h, 'look up the retention of', this.location);
    // Nothing to ask the file system; an async method so that a bad handle rejects, not throws.
    return await Promise.resolve(undefined);
  }

  async canClone(source?: Backend, use: CloneUse = 'copy'): Promise<boolean> {
    const fsys = await this.#cloneProbe();
    if (fsys === undefined) return false;
    // Cloning live blobs out of a pack and deleting it frees the rest on XFS (blocks are counted
    // one by one) but nothing on Btrfs (the whole extent stays while any clone refers to it).
    if (use === 'repack' && fsys.type === BTRFS_MAGIC) return false;
    if (source === undefined || source === this) return true;
    // Blocks are shared only within one file system: the source's directory must be on ours.
    const other = source.localPath(CONFIG_HANDLE);
    if (other === undefined) return false;
    try {
      const [a, b] = await Promise.all([fs.stat(path.dirname(other)), fs.stat(this.location)]);
      return a.dev === b.dev;
    } catch {
      return false;
    }
  }

  /** Probes once whether files in data/ can share blocks; the block size and file system type if so. */
  #cloneProbe(): Promise<{ bs: number; type: number } | undefined> {
    return (this.#probe ??= (async () => {
      if (native === undefined) return undefined;
      const dir = path.join(this.location, 'data');
      const a = path.join(dir, TEMP_PREFIX + randomBytes(12).toString('hex'));
      const b = path.join(dir, TEMP_PREFIX + randomBytes(12).toString('hex'));
      let fa: FileHandle | undefined;
      let fb: FileHandle | undefined;
      try {
        const { bsize: bs, type } = await fs.statfs(dir);
        fa = await fs.open(a, 'wx+', FILE_MODE);
        fb = await fs.open(b, 'wx+', FILE_MODE);
        await fa.write(randomBytes(bs), 0, bs, 0);
        native.ficloneRange(fa.fd, 0, bs, fb.fd, 0);
        return { bs, type };
      } catch {
        return undefined;
      } finally {
        await fa?.close().catch(() => {});
        await fb?.close().catch(() => {});
        await fs.rm(a, { force: true }).catch(() => {});
        await fs.rm(b, { force: true }).catch(() => {});
      }
    })());
  }

  async compose(
    type: FileType,
    segments: readonly Segment[],
    source: Backend = this,
  ): Promise<ComposeResult> {
    checkSegments(type, segments, this.location, source.location);
    const dir = type === 'data' ? path.join(this.location, 'data') : path.join(this.location, type);
    const temp = path.join(dir, TEMP_PREFIX + randomBytes(12).toString('hex'));
    const context = `Cannot compose a ${type} file in ${this.location}`;
    const sources = new Map<string, { fh: FileHandle; size: number } | undefined>();
    let fh: FileHandle | undefined;
    let renamed = false;
    try {
      const bs = (await this.canClone(source)) ? (await this.#cloneProbe())?.bs : undefined;
      let cloning = bs !== undefined;
      fh = await fs.open(temp, 'wx+', FILE_MODE);
      const out = fh;
      let pos = 0;
      let cloned = 0;
      let copied = 0;
      for (const [i, seg] of segments.entries()) {
        if (seg.kind === 'zeros') {
          pos += seg.length; // a hole until something is written past it; truncate() ends the file
          continue;
        }
        if (seg.kind === 'bytes') {
          pos = await writeAll(out, seg.data, pos);
          continue;
        }
        const src = await openSource(source, seg.from, sources);
        const what = `${describeHandle(seg.from)} in ${source.location}`;
        if (src !== undefined && seg.offset + seg.length > src.size) {
          throw new CairnError(
            'BACKEND_IO',
            `${context}: cannot read ${what}: it has ${src.size} bytes, the range ends at ${seg.offset + seg.length}`,
          );
        }
        let done = 0;
        if (cloning && bs !== undefined && src !== undefined && native !== undefined) {
          if (pos % bs === 0 && seg.offset % bs === 0) {
            const tail = seg.length % bs;
            let n = seg.length - tail;
            // The partial last block is shared too when the rest of it holds zeros on both sides:
            // zero padding after this range in the new file, and zeros after it in the source.
            const next = segments[i + 1];
            const rest = bs - tail;
            if (
              tail > 0 &&
              next?.kind === 'zeros' &&
              next.length >= rest &&
              seg.offset + seg.length + rest <= src.size &&
              (await zerosAt(src.fh, seg.offset + seg.length, rest))
            ) {
              n = seg.length + rest;
            }
            if (n > 0) {
              try {
                native.ficloneRange(src.fh.fd, seg.offset, n, out.fd, pos);
                done = Math.min(n, seg.length);
                cloned += done;
              } catch (err) {
                // EINVAL: this pair of ranges; the others may still clone.
                if (NO_CLONE.has(errnoCode(err) ?? '')) cloning = false;
                else if (errnoCode(err) !== 'EINVAL') throw err;
              }
            }
          }
        }
        if (done < seg.length) {
          const rest = { offset: seg.offset + done, length: seg.length - done };
          if (src === undefined) await writeAll(out, [await source.read(seg.from, rest)], pos + done);
          else await copyRange(src.fh, rest.offset, out, pos + done, rest.length);
          copied += rest.length;
        }
        pos += seg.length;
      }
      await out.truncate(pos);
      await out.sync();
      // The name is the hash of what is on disk: read it back (cloned ranges included).
      const hash = createHash('sha256');
      const buf = Buffer.allocUnsafe(Math.min(COPY_BUFFER, Math.max(pos, 1)));
      for (let at = 0; at < pos;) {
        const { bytesRead } = await out.read(buf, 0, Math.min(buf.length, pos - at), at);
        if (bytesRead === 0) throw new Error(`the new file ended at ${at} of ${pos} bytes`);
        hash.update(buf.subarray(0, bytesRead));
        at += bytesRead;
      }
      fh = undefined;
      await out.close();
      const name = hash.digest('hex');
      const target = this.#path({ type, name });
      await fs.rename(temp, target);
      renamed = true;
      await syncDir(path.dirname(target));
      if (path.dirname(target) !== dir) await syncDir(dir);
      return { name, size: pos, bytesCloned: cloned, bytesCopied: copied, bytesRead: pos };
    } catch (err) {
      await fh?.close().catch(() => {});
      if (!renamed) await fs.rm(temp, { force: true }).catch(() => {});
      if (err instanceof CairnError) throw err;
      if (errnoCode(err) === 'ENOENT') await this.#checkRoot(context);
      throw fsError(err, context, `its folder ${dir} does not exist`);
    } finally {
      for (const s of sources.values()) await s?.fh.close().catch(() => {});
    }
  }

  /**
   * Removes temp files (left behind by a process that died mid-write) whose last change is more
   * than `olderThanMs` ago; younger ones may belong to a write in progress. Returns how many.
   */
  async removeStaleTempFiles(olderThanMs: number): Promise<number> {
    const context = `Cannot remove stale temp files in ${this.location}`;
    const dirs = [this.location];
    for (const type of FILE_TYPES) {
      if (type === 'config') continue;
      const dir = path.join(this.location, type);
      dirs.push(dir);
      if (type === 'data') {
        for (const sub of await this.#readdir(dir, context)) {
          if (sub.isDirectory()) dirs.push(path.join(dir, sub.name));
        }
      }
    }
    const cutoff = Date.now() - olderThanMs;
    let removed = 0;
    for (const dir of dirs) {
      for (const entry of await this.#readdir(dir, context)) {
        if (!entry.isFile() || !entry.name.startsWith(TEMP_PREFIX)) continue;
        const file = path.join(dir, entry.name);
        try {
          if ((await fs.stat(file)).mtimeMs >= cutoff) continue;
          await fs.unlink(file);
          removed++;
        } catch (err) {
          // Gone already: its write finished or another cleaner got there first.
          if (errnoCode(err) !== 'ENOENT') throw fsError(err, `${context}: ${file}`);
        }
      }
    }
    return removed;
  }

  #path(h: Handle): string {
    switch (h.type) {
      case 'config':
        return path.join(this.location, 'config');
      case 'data':
        return path.join(this.location, 'data', h.name.slice(0, 2), h.name);
      default:
        return path.join(this.location, h.type, h.name);
    }
  }

  /** Throws REPO_EXISTS / REPO_NOT_CAIRN unless the directory is absent, empty or an unfinished layout. */
  async #checkCreatable(context: string): Promise<void> {
    let entries: Dirent[];
    try {
      entries = await fs.readdir(this.location, { withFileTypes: true });
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return;
      if (errnoCode(err) === 'ENOTDIR') {
        throw new CairnError('REPO_NOT_CAIRN', `${context}: it is not a directory`, { cause: err });
      }
      throw err;
    }
    if (entries.some((e) => e.name === 'config')) {
      throw new CairnError('REPO_EXISTS', `${context}: a repository already exists there`);
    }
    const layout = new Set<string>(FILE_TYPES.filter((t) => t !== 'config'));
    // Temp files are tolerated: a crashed write of the config leaves one at the top.
    const foreign = entries.find(
      (e) => !(e.isDirectory() && layout.has(e.name)) && !(e.isFile() && e.name.startsWith(TEMP_PREFIX)),
    );
    if (foreign !== undefined) {
      throw new CairnError(
        'REPO_NOT_CAIRN',
        `${context}: the directory is not empty and holds no repository (found ${JSON.stringify(foreign.name)})`,
      );
    }
  }

  /** BACKEND_NOT_FOUND naming the directory if the repository directory is absent. */
  async #checkRoot(context: string): Promise<void> {
    try {
      await fs.stat(this.location);
    } catch (err) {
      throw fsError(err, context, `${this.location} does not exist`);
    }
  }

  /** Maps a failure of `verb` on `h`, telling an absent file from an absent repository directory. */
  async #error(err: unknown, verb: string, h: Handle): Promise<CairnError> {
    const context = `Cannot ${verb} ${describeHandle(h)} in ${this.location}`;
    if (errnoCode(err) === 'ENOENT') {
      await this.#checkRoot(context);
      // A write only meets ENOENT when the target's folder is gone.
      const notFound =
        verb === 'write' ? `its folder ${path.dirname(this.#path(h))} does not exist` : 'no such file';
      return fsError(err, context, notFound);
    }
    return fsError(err, context);
  }

  /** The entries of `dir`; none if it is absent but the repository directory exists. */
  async #readdir(dir: string, context: string): Promise<Dirent[]> {
    try {
      return await fs.readdir(dir, { withFileTypes: true });
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') throw fsError(err, context);
      await this.#checkRoot(context);
      return [];
    }
  }
}

/** Sizes of the regular files among `entries`, skipping temp files and files removed meanwhile. */
async function* statFiles(
  dir: string,
  entries: readonly Dirent[],
  context: string,
): AsyncGenerator<FileInfo> {
  const names = entries.filter((e) => !e.isDirectory() && !e.name.startsWith(TEMP_PREFIX)).map((e) => e.name);
  for (let i = 0; i < names.length; i += STAT_BATCH) {
    const batch = names.slice(i, i + STAT_BATCH);
    const infos = await Promise.all(
      batch.map(async (name): Promise<FileInfo | undefined> => {
        try {
          const st = await fs.stat(path.join(dir, name));
          return st.isFile() ? { name, size: st.size } : undefined;
        } catch (err) {
          if (errnoCode(err) === 'ENOENT') return undefined;
          throw fsError(err, context);
        }
      }),
    );
    for (const info of infos) if (info !== undefined) yield info;
  }
}

/**
 * Writes all of `data` at `start` (0 by default), looping over partial writes and IOV_MAX-sized
 * batches; returns the position after it.
 */
async function writeAll(fh: FileHandle, data: readonly Uint8Array[], start = 0): Promise<number> {
  const bufs = data.filter((b) => b.byteLength > 0);
  let index = 0; // first buffer not yet fully written
  let skip = 0; // bytes of bufs[index] already written
  let position = start;
  while (index < bufs.length) {
    const batch = bufs.slice(index, index + IOV_MAX);
    if (skip > 0) batch[0] = batch[0]!.subarray(skip);
    let { bytesWritten } = await fh.writev(batch, position);
    if (bytesWritten === 0) throw new Error('writev made no progress');
    position += bytesWritten;
    bytesWritten += skip;
    skip = 0;
    while (index < bufs.length && bytesWritten >= bufs[index]!.byteLength) {
      bytesWritten -= bufs[index]!.byteLength;
      index++;
    }
    skip = bytesWritten;
  }
  return position;
}

/**
 * The open file behind `h` of `source` and its size, opened once per compose; undefined when
 * `source` keeps its files elsewhere than a local file system (they are then read through it).
 */
async function openSource(
  source: Backend,
  h: Handle,
  open: Map<string, { fh: FileHandle; size: number } | undefined>,
): Promise<{ fh: FileHandle; size: number } | undefined> {
  const key = `${h.type}/${h.name}`;
  if (open.has(key)) return open.get(key);
  const file = source.localPath(h);
  let entry: { fh: FileHandle; size: number } | undefined;
  if (file !== undefined) {
    try {
      const fh = await fs.open(file, 'r');
      entry = { fh, size: (await fh.stat()).size };
    } catch (err) {
      throw fsError(err, `Cannot read ${describeHandle(h)} in ${source.location}`);
    }
  }
  open.set(key, entry);
  return entry;
}

/** Whether `length` bytes at `offset` of a file are all zero. */
async function zerosAt(fh: FileHandle, offset: number, length: number): Promise<boolean> {
  const buf = Buffer.alloc(length);
  const { bytesRead } = await fh.read(buf, 0, length, offset);
  return bytesRead === length && buf.every((b) => b === 0);
}

/** Copies a range between open files in the kernel (copy_file_range), or by reads and writes. */
async function copyRange(
  src: FileHandle,
  srcOffset: number,
  dst: FileHandle,
  dstOffset: number,
  length: number,
): Promise<void> {
  let done = 0;
  if (native !== undefined) {
    try {
      while (done < length) {
        const got = native.copyFileRange(src.fd, srcOffset + done, dst.fd, dstOffset + done, length - done);
        if (got === 0) throw new Error('the source ended early');
        done += got;
      }
      return;
    } catch (err) {
      if (!NO_COPY_RANGE.has(errnoCode(err) ?? '')) throw err;
    }
  }
  const buf = Buffer.allocUnsafe(Math.min(COPY_BUFFER, length - done));
  while (done < length) {
    const { bytesRead } = await src.read(buf, 0, Math.min(buf.length, length - done), srcOffset + done);
    if (bytesRead === 0) throw new Error('the source ended early');
    await writeAll(dst, [buf.subarray(0, bytesRead)], dstOffset + done);
    done += bytesRead;
  }
}

async function mkdirIfMissing(dir: string): Promise<void> {
  try {
    await fs.mkdir(dir, { mode: DIR_MODE });
  } catch (err) {
    if (errnoCode(err) !== 'EEXIST') throw err;
  }
}

/** fsync a directory, so entries created, renamed or removed in it survive a crash. */
async function syncDir(dir: string): Promise<void> {
  let fh: FileHandle | undefined;
  try {
    fh = await fs.open(dir, 'r');
    await fh.sync();
  } catch (err) {
    // Some file systems (SMB, some FUSE) cannot sync a directory; the data itself was synced.
    const code = errnoCode(err);
    if (code !== 'EINVAL' && code !== 'ENOTSUP' && code !== 'EISDIR' && code !== 'EPERM') throw err;
  } finally {
    await fh?.close().catch(() => {});
  }
}
