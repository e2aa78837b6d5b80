/**
 * The archiver: walks source paths and writes their content, trees and a snapshot.
 *
 * Files are read with bounded concurrency; each is cut by the repository's chunker, each chunk is
 * named (HMAC) on the main thread and handed to the repository, which compresses and packs new
 * ones in the background. A file unchanged since the parent snapshot (same size, mtime, ctime and
 * inode, and all its blobs indexed) keeps its chunk list without being read.
 */
import { promises as fs, type BigIntStats } from 'node:fs';
import { hostname, userInfo } from 'node:os';
import path from 'node:path';
import { getSystemErrorMessage, getSystemErrorName } from 'node:util';
import { CairnError, errnoCode, reason } from '../errors.ts';
import { chunkStream, defaultWindowSize, type Chunker } from '../chunker/index.ts';
import { blobId } from '../crypto/index.ts';
import { StageClock } from '../metrics/index.ts';
import { native, type FolderScan } from '../native/index.ts';
import { VERSION } from '../version.ts';
import { closeFd, openForReading, readAt } from '../fd.ts';
import { Limiter } from './limiter.ts';
import { Selection } from './select.ts';
import { FileReadError, type SealedFile } from './seal-pool.ts';
import { groupName, userName } from './owners.ts';
import type { Repository } from './repository.ts';
import type { Snapshot, SnapshotInfo, SnapshotPlugin, SnapshotSummary } from './snapshot.ts';
import { BACKUP_STAGES, type BackupStage, type WriteMonitor } from './stages.ts';
import { compareNames, syntheticNode, type NodeType, type Tree, type TreeNode } from './tree.ts';

export interface BackupWarning {
  readonly path: string;
  readonly message: string;
}

/**
 * Live counters, updated as the backup goes; read them from a timer to show progress. The byte
 * counts are cumulative (they only grow during a backup): sample them with a RateTracker for
 * throughput.
 */
export interface BackupProgress {
  filesDone: number;
  dirsDone: number;
  /** Bytes of files done, including unchanged files that were not read again. */
  bytesDone: number;
  /** Bytes read from the sources. */
  bytesRead: number;
  /** Bytes written to the repository: packs and index files as stored (compressed, encrypted). */
  bytesWritten: number;
  currentFile: string;
}

/** A progress object with every counter at zero. */
export function newBackupProgress(): BackupProgress {
  return { filesDone: 0, dirsDone: 0, bytesDone: 0, bytesRead: 0, bytesWritten: 0, currentFile: '' };
}

export interface BackupOptions {
  readonly host?: string;
  readonly tags?: readonly string[];
  /** The snapshot to compare with; unchanged files are not read again. */
  readonly parent?: SnapshotInfo;
  readonly signal?: AbortSignal;
  readonly progress?: BackupProgress;
  readonly onWarning?: (w: BackupWarning) => void;
  readonly now?: () => Date;
  readonly fileConcurrency?: number;
  /**
   * Called before each file; throws to stop the backup (the CLI passes its lock's check, so a
   * backup whose lock could not be refreshed stops before the lock can look stale to others).
   */
  readonly keepAlive?: () => void;
  /** What to leave out (exclude patterns, markers, other file systems). */
  readonly selection?: Selection;
  /** Called for each entry of the walk and each file saved (option plugins). */
  readonly hooks?: FileHooks;
}

/**
 * Calls around each entry that the walk of the paths finds (not around virtual entries). They are
 * synchronous: the walk does not wait for a round trip per file.
 */
export interface FileHooks {
  /**
   * Before an entry (file, folder, link, special) is saved, after the selection kept it: "skip"
   * leaves it out of the snapshot, a folder with everything in it.
   */
  readonly before?: (path: string, node: TreeNode) => 'skip' | undefined;
  /** After a file's content is saved, with its node (size, content blob ids). */
  readonly after?: (path: string, node: TreeNode) => void;
}

/**
 * A file, folder or symlink that no walk of the file system finds: an entry a plugin makes under
 * a pseudo path ("/MYSQL/dump.sql"). Owner and times default to this process and now.
 */
export interface VirtualEntry {
  /** Absolute path in the snapshot. */
  readonly path: string;
  readonly type: 'file' | 'dir' | 'symlink';
  /** Permission bits (default 0600 for files, 0755 for folders). */
  readonly mode?: number;
  readonly uid?: number;
  readonly gid?: number;
  readonly user?: string;
  readonly group?: string;
  readonly mtimeMs?: number;
  /** A symlink's target. */
  readonly linkTarget?: string;
  /** A file's bytes, read like FileHandle.read: bytes read into buf at offset, 0 at the end. */
  readonly read?: StreamSource['read'];
  /** Called after a file's last byte: throws when its producer failed, and no snapshot is written. */
  readonly finish?: () => Promise<void>;
  /**
   * A real file, folder or symlink of the file system, saved in this entry's place as the walk of
   * a path saves it (metadata, extended attributes, everything inside a folder), read when the
   * entry is given: a database's files read between its start and stop calls. `type` and the
   * metadata above are then what the file system says; option plugins' hooks are not called.
   */
  readonly source?: string;
  /**
   * Patterns (select.ts rules) left out of a source folder: one with a slash is taken from the
   * source's top (`pg_wal/*`), one without matches a name at any depth (`pgsql_tmp*`).
   */
  readonly exclude?: readonly string[];
  /**
   * A source whose files change or vanish while it is read (a running database): such files are
   * saved as read, without a warning.
   */
  readonly volatile?: boolean;
  /**
   * The root tree of an earlier snapshot: the entry is the node at the same path there, with
   * everything inside it, and nothing is read. Later entries may lie inside a kept folder.
   */
  readonly keepFrom?: string;
}

/** What one snapshot holds: paths to walk, and virtual entries (from plugins). */
export interface BackupPlan {
  /** Files and folders to walk; their parents are compared with options.parent. */
  readonly paths?: readonly string[];
  /**
   * Virtual entries, asked for one at a time: a file's bytes are all read before the next entry
   * is asked for. They are saved before the paths are walked. An entry may not lie inside a
   * walked path nor share its path with another entry; it may lie inside a folder entry saved
   * from a source or kept from an earlier snapshot (that folder's tree is saved again with it).
   */
  readonly entries?: AsyncIterable<VirtualEntry>;
  /** Asked once everything is saved, just before the snapshot is written: recorded in it. */
  readonly plugins?: () => readonly SnapshotPlugin[];
}

export interface BackupResult {
  readonly id: string;
  readonly snapshot: Snapshot;
  readonly warnings: readonly BackupWarning[];
  /**
   * Each stage's busy share of the backup's wall time, from 0 to 1: the time at least one of its
   * operations was in flight, divided by the time from the start of the walk to the end of
   * flush. Stages overlap, so the shares do not add up to 1.
   */
  readonly load: Readonly<Record<BackupStage, number>>;
  /** The stage with the largest share: the one to make faster. */
  readonly bottleneck: BackupStage;
}

/** Work that was started and finishes later (a promise in an object, so `await` does not unwrap it). */
interface Pending<T> {
  readonly done: Promise<T>;
}

/** Wraps a promise that is awaited later; an early rejection is not reported as unhandled meanwhile. */
function pending<T>(done: Promise<T>): Pending<T> {
  done.catch(() => undefined);
  return { done };
}

/** A folder's entries after the selection, sorted, with their nodes (undefined: unreadable). */
interface Listing {
  readonly names: string[];
  readonly nodes: (TreeNode | undefined)[];
}

/**
 * Folders listed ahead of the depth-first walk, at most, and how many at a time. With a parent
 * snapshot most files are unchanged and the walk waits for listings, not for the processor: on
 * 112,000 files, 32 ahead 4 at a time left the main thread idle a third of the time, 128 ahead 16
 * at a time made the incremental about 5% faster. A first backup reads every file, and listing
 * that far ahead made it 7-12% slower (the listings compete with the reads for libuv's threads).
 */
const PREFETCH = { first: { folders: 32, atOnce: 4 }, incremental: { folders: 128, atOnce: 16 } };

/** Bytes asked of the file system per read when chunking a stream. */
const READ_SIZE = 1024 * 1024;

interface Counters {
  filesNew: number;
  filesChanged: number;
  filesUnmodified: number;
  dirsNew: number;
  dirsChanged: number;
  dirsUnmodified: number;
  totalFilesProcessed: number;
  totalBytesProcessed: number;
}

/** The directories above the backed-up paths and virtual entries: name → child. */
interface Virtual {
  readonly children: Map<string, Child>;
  /** A walked path lies below: the folder's metadata is read from the file system. */
  real: boolean;
  /** The metadata a virtual entry gave this folder. */
  meta?: TreeNode;
}

/** A folder above paths or entries, a real path to walk, or a virtual entry's node. */
type Child =
  | { readonly kind: 'dir'; readonly dir: Virtual }
  | { readonly kind: 'path'; readonly path: string }
  | { readonly kind: 'node'; node?: TreeNode };

/** Where an entry of `p` goes in the virtual tree; throws when another path is in the way. */
function place(top: Virtual, p: string, child: Child): void {
  const parts = p.split('/').filter(Boolean);
  const name = parts.pop();
  if (name === undefined) {
    throw new CairnError(
      'USAGE',
      `Cannot back up ${child.kind === 'path' ? 'the root' : p}: "/" cannot be an entry`,
    );
  }
  let v = top;
  let at = '';
  for (const part of parts) {
    at += `/${part}`;
    const c = v.children.get(part);
    if (c === undefined) {
      const next: Virtual = { children: new Map(), real: false };
      v.children.set(part, { kind: 'dir', dir: next });
      v = next;
    } else if (c.kind === 'dir') v = c.dir;
    else throw overlap(p, at, c);
    if (child.kind === 'path') v.real = true;
  }
  const there = v.children.get(name);
  if (there === undefined) {
    v.children.set(name, child);
    return;
  }
  if (there.kind !== 'dir') throw overlap(p, p, there);
  if (there.dir.real) {
    throw new CairnError('USAGE', `Cannot back up the entry ${p}: a backed-up path lies inside it`);
  }
  if (child.kind !== 'node' || child.node?.type !== 'dir') {
    throw new CairnError('USAGE', `Cannot back up the entry ${p}: other entries lie inside it`);
  }
  if (there.dir.meta !== undefined) throw overlap(p, p, child);
  // A folder entry that other entries lie in (given after them): it gives the folder its metadata.
  there.dir.meta = child.node;
}

function overlap(p: string, at: string, other: Child): CairnError {
  const what = other.kind === 'path' ? `the backed-up path ${at}` : `the entry ${at}`;
  return new CairnError(
    'USAGE',
    p === at
      ? `Cannot back up the entry ${p}: ${other.kind === 'path' ? 'a backed-up path' : 'another entry'} has that path`
      : `Cannot back up the entry ${p}: it would lie inside ${what}`,
  );
}

/** An absolute, normalised entry path; refuses relative paths, the root and NUL bytes. */
function entryPath(p: string): string {
  const norm = path.posix.normalize(p);
  if (!norm.startsWith('/') || norm === '/' || p.includes('\0')) {
    throw new CairnError('USAGE', `Cannot back up the entry "${p}": give an absolute path below /`);
  }
  return norm.replace(/\/+$/, '');
}

/** The file type in a mode's S_IFMT bits. */
function typeOfMode(mode: number): NodeType {
  switch (mode & 0o170000) {
    case 0o100000:
      return 'file';
    case 0o040000:
      return 'dir';
    case 0o120000:
      return 'symlink';
    case 0o010000:
      return 'fifo';
    case 0o020000:
      return 'chardev';
    case 0o060000:
      return 'blockdev';
    default:
      return 'socket';
  }
}

/** What a node keeps of an lstat, times in integer nanoseconds. */
interface StatFields {
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly size: number;
  readonly ino: number;
  readonly dev: number;
  readonly nlink: number;
  readonly rdev: number;
  readonly atimeNs: string;
  readonly mtimeNs: string;
  readonly ctimeNs: string;
}

function nodeOf(name: string, st: StatFields): TreeNode {
  const user = userName(st.uid);
  const group = groupName(st.gid);
  const type = typeOfMode(st.mode);
  return {
    name,
    type,
    mode: st.mode & 0o7777,
    uid: st.uid,
    gid: st.gid,
    ...(user === undefined ? {} : { user }),
    ...(group === undefined ? {} : { group }),
    size: type === 'file' ? st.size : 0,
    mtimeNs: st.mtimeNs,
    atimeNs: st.atimeNs,
    ctimeNs: st.ctimeNs,
    inode: st.ino,
    device: st.dev,
    links: st.nlink,
    ...(type === 'chardev' || type === 'blockdev' ? { rdev: st.rdev } : {}),
  };
}

function baseNode(name: string, st: BigIntStats): TreeNode {
  return nodeOf(name, {
    mode: Number(st.mode),
    uid: Number(st.uid),
    gid: Number(st.gid),
    size: Number(st.size),
    ino: Number(st.ino),
    dev: Number(st.dev),
    nlink: Number(st.nlink),
    rdev: Number(st.rdev),
    atimeNs: st.atimeNs.toString(),
    mtimeNs: st.mtimeNs.toString(),
    ctimeNs: st.ctimeNs.toString(),
  });
}

/** Fields per entry in native scanDir's stats (the order of SCAN_* in native/cairn_native.c). */
const SCAN_FIELDS = 14;

/** The i-th entry of a native folder scan as lstat fields. */
function scannedFields(stats: BigInt64Array, i: number): StatFields {
  const o = i * SCAN_FIELDS;
  const at = (k: number) => stats[o + k] ?? 0n;
  const ns = (k: number) => (at(k) * 1_000_000_000n + at(k + 1)).toString();
  return {
    mode: Number(at(0)),
    uid: Number(at(1)),
    gid: Number(at(2)),
    nlink: Number(at(3)),
    ino: Number(at(4)),
    dev: Number(at(5)),
    rdev: Number(at(6)),
    size: Number(at(7)),
    atimeNs: ns(8),
    mtimeNs: ns(10),
    ctimeNs: ns(12),
  };
}

/** Absolute, normalised, without duplicates or paths inside other given paths. */
export function normalisePaths(paths: readonly string[]): string[] {
  const abs = [...new Set(paths.map((p) => path.resolve(p)))].sort();
  return abs.filter((p) => !abs.some((q) => q !== p && (q === '/' || p.startsWith(q + '/'))));
}

export async function backup(
  repo: Repository,
  paths: readonly string[],
  options: BackupOptions = {},
): Promise<BackupResult> {
  const sources = normalisePaths(paths);
  if (sources.length === 0) throw new CairnError('USAGE', 'Cannot back up: no paths given');
  const walker = new Walker(repo, options);
  const present = await checkSources(sources, walker);
  return writeSnapshot(
    repo,
    () => sources,
    options,
    walker,
    () => walker.walkRoot(present),
  );
}

/**
 * Backs up paths and virtual entries (a plugin's) into one snapshot. The snapshot's `paths` are
 * the walked paths and the outermost entry paths; `plugins` is what plan.plugins returns.
 */
export async function backupPlan(
  repo: Repository,
  plan: BackupPlan,
  options: BackupOptions = {},
): Promise<BackupResult> {
  const sources = normalisePaths(plan.paths ?? []);
  if (sources.length === 0 && plan.entries === undefined) {
    throw new CairnError('USAGE', 'Cannot back up: no paths and no entries given');
  }
  const walker = new Walker(repo, options);
  // With entries to save, a plan whose paths are all missing still has something to back up.
  const present = await checkSources(sources, walker, plan.entries === undefined ? 'throw' : 'none');
  const made: string[] = [];
  return writeSnapshot(
    repo,
    () => normalisePaths([...sources, ...made]),
    options,
    walker,
    () => walker.walkPlan(present, plan.entries, made),
    plan.plugins,
  );
}

/**
 * The paths that can be backed up. One that does not exist or cannot be read is left out with a
 * warning (restic does the same: the others are still backed up); when none is left, the first
 * problem is the error, before anything is written.
 */
async function checkSources(
  sources: readonly string[],
  walker: Walker,
  orElse: 'throw' | 'none' = 'throw',
): Promise<string[]> {
  const ok: string[] = [];
  const problems: CairnError[] = [];
  for (const p of sources) {
    try {
      await fs.lstat(p);
      ok.push(p);
    } catch (err) {
      const code = errnoCode(err) === 'ENOENT' ? 'SOURCE_NOT_FOUND' : 'SOURCE_UNREADABLE';
      problems.push(
        new CairnError(
          code,
          `Cannot back up ${p}: ${errnoCode(err) === 'ENOENT' ? 'it does not exist' : reason(err)}`,
          {
            cause: err,
          },
        ),
      );
    }
  }
  if (ok.length === 0 && problems.length > 0 && orElse === 'throw') throw problems[0]!;
  for (const [i, e] of problems.entries()) {
    const p = sources.filter((x) => !ok.includes(x))[i]!;
    walker.skipSource(
      p,
      `${e.message.replace(/^Cannot back up [^:]*: /, '')}: left out, the other paths are backed up`,
    );
  }
  return ok;
}

/** A byte stream to back up as one file (standard input, a dump command's output). */
export interface StreamSource {
  /** The file's name in the snapshot, at its root. */
  readonly name: string;
  /** Reads like FileHandle.read: bytes read into buf at offset, 0 at the end. */
  readonly read: (buf: Buffer, offset: number, length: number) => Promise<number>;
  /**
   * Called after the last byte: throws when the producer failed (a command that exited
   * non-zero), so that no snapshot is written.
   */
  readonly finish?: () => Promise<void>;
}

/**
 * Backs up a stream as a file named `source.name` at the snapshot's root (restic's `--stdin`).
 * A stream has no parent to compare with: it is always read whole.
 */
export async function backupStream(
  repo: Repository,
  source: StreamSource,
  options: BackupOptions = {},
): Promise<BackupResult> {
  if (source.name.length === 0 || source.name.includes('/') || source.name === '.' || source.name === '..') {
    throw new CairnError('USAGE', `Cannot back up a stream as "${source.name}": give a plain file name`);
  }
  const { parent: _ignored, ...rest } = options;
  const walker = new Walker(repo, rest);
  return writeSnapshot(
    repo,
    () => [`/${source.name}`],
    rest,
    walker,
    () => walker.saveStream(source),
  );
}

/**
 * `work`, or a rejection with the signal's reason as soon as the signal fires: a read stuck in the
 * kernel (a /proc file that blocks, a hung network mount, a pipe nobody writes to) must not keep a
 * cancelled backup from stopping. Abandoned work runs on to its end, if it ever ends, unheeded.
 */
function unlessAborted<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return work;
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason as Error);
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (err: Error) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}

/**
 * Runs `walk` (which returns the root tree), makes everything durable, then writes the snapshot:
 * the crash rule. On failure what was written stays durable and indexed, and no snapshot is made.
 */
async function writeSnapshot(
  repo: Repository,
  paths: () => readonly string[],
  options: BackupOptions,
  walker: Walker,
  walk: () => Promise<string>,
  plugins?: () => readonly SnapshotPlugin[],
): Promise<BackupResult> {
  const now = options.now ?? (() => new Date());
  const start = now();
  // The repository's counters run for its whole life; a summary tells what this backup added.
  const before = { ...repo.stats };
  const started = performance.now();
  const monitor = walker.monitor();
  repo.monitor = monitor;
  let root: string;
  try {
    root = await walk();
    await repo.flush();
    // The last packs of a large file are sealed and written after its last read: a cancel that
    // came meanwhile still means no restore point (the packs stay for the next backup).
    options.signal?.throwIfAborted();
  } catch (err) {
    // Keep what was written durable and indexed, so the next backup does not upload it again.
    await repo.salvage().catch(() => undefined);
    if (options.signal?.aborted) {
      throw new CairnError(
        'INTERRUPTED',
        `Backup cancelled: no snapshot was written; ${repo.stats.packs - before.packs} packs already written are kept for the next backup`,
        { cause: err },
      );
    }
    throw err;
  } finally {
    if (repo.monitor === monitor) repo.monitor = undefined;
  }
  const report = walker.clock.report(performance.now() - started);
  const records = plugins?.();
  const end = now();
  const summary: SnapshotSummary = {
    ...walker.counters,
    dataBlobs: repo.stats.dataBlobs - before.dataBlobs,
    treeBlobs: repo.stats.treeBlobs - before.treeBlobs,
    dataAdded: repo.stats.bytesAdded - before.bytesAdded,
    dataAddedPacked: repo.stats.bytesStored - before.bytesStored,
    backupStart: start.toISOString(),
    backupEnd: end.toISOString(),
    warnings: walker.warnings.length,
  };
  let username = '';
  try {
    username = userInfo().username;
  } catch {
    username = '';
  }
  const snapshot: Snapshot = {
    version: 1,
    time: start.toISOString(),
    host: options.host ?? hostname(),
    username,
    ...(process.getuid ? { uid: process.getuid() } : {}),
    ...(process.getgid ? { gid: process.getgid() } : {}),
    paths: [...paths()],
    tags: [...(options.tags ?? [])],
    ...(options.parent ? { parent: options.parent.id } : {}),
    tree: root,
    programVersion: `cairn ${VERSION}`,
    summary,
    ...(records === undefined ? {} : { plugins: records }),
  };
  const id = await repo.saveSnapshot(snapshot);
  const load = Object.fromEntries(BACKUP_STAGES.map((s) => [s, report.stages[s].share])) as Record<
    BackupStage,
    number
  >;
  return { id, snapshot, warnings: walker.warnings, load, bottleneck: report.bottleneck };
}

class Walker {
  readonly counters: Counters = {
    filesNew: 0,
    filesChanged: 0,
    filesUnmodified: 0,
    dirsNew: 0,
    dirsChanged: 0,
    dirsUnmodified: 0,
    totalFilesProcessed: 0,
    totalBytesProcessed: 0,
  };
  readonly warnings: BackupWarning[] = [];
  private readonly repo: Repository;
  private readonly options: BackupOptions;
  private readonly files: Limiter;
  /** Small files cost the main thread one message each: many may be on their way to the workers. */
  private readonly smallFiles = new Limiter(64);
  /** Files listed but not yet finished. */
  private readonly outstanding = new Limiter(4096);
  private readonly statLimiter = new Limiter(32);
  /** Folders listed ahead of the walk (and their parent trees), by path. */
  private readonly prefetched = new Map<
    string,
    { readonly listing: Pending<Listing>; readonly parent: Promise<Map<string, TreeNode> | undefined> }
  >();
  private readonly dirLimiter: Limiter;
  private readonly prefetchFolders: number;
  /** Chunking windows, reused from file to file (one per file read at once). */
  private readonly windows: Buffer[] = [];
  /** Files smaller than the chunker's minimum are one chunk by definition. */
  private readonly smallFile: number;
  private readonly signalOption: { signal?: AbortSignal };
  /** What the walk leaves out; a source entry's own patterns while it is read. */
  private selection: Selection;
  /** The option plugins' calls; none while a source entry is read. */
  private hooks: FileHooks | undefined;
  /** A source entry of a running program is read: files that change or vanish are no warning. */
  private volatile = false;
  /**
   * The folder trees of source entries, by id: later entries may land inside such a folder
   * before its pack is written (and its trees readable from the repository).
   */
  private readonly sourceTrees = new Map<string, Tree>();
  /** A source entry is being read: its trees are kept in sourceTrees. */
  private keepTrees = false;
  private readonly progress: BackupProgress;
  /** Busy time per stage of the pipeline (see stages.ts). */
  readonly clock = new StageClock(BACKUP_STAGES);
  /** The repository's chunker, its cutting timed as the chunk stage. */
  private readonly chunker: Chunker;

  constructor(repo: Repository, options: BackupOptions) {
    this.repo = repo;
    this.options = options;
    this.files = new Limiter(options.fileConcurrency ?? 4);
    const prefetch = options.parent === undefined ? PREFETCH.first : PREFETCH.incremental;
    this.dirLimiter = new Limiter(prefetch.atOnce);
    this.prefetchFolders = prefetch.folders;
    this.progress = options.progress ?? newBackupProgress();
    // A progress object built by hand before these counters existed (a cast) would count NaN.
    this.progress.bytesRead ??= 0;
    this.progress.bytesWritten ??= 0;
    this.smallFile = repo.config.chunker.minSize;
    this.signalOption = options.signal ? { signal: options.signal } : {};
    this.selection = options.selection ?? new Selection();
    this.hooks = options.hooks;
    const inner = repo.chunker;
    this.chunker = {
      maxSize: inner.maxSize,
      cut: (buf, final, scanned) => this.clock.timeSync('chunk', () => inner.cut(buf, final, scanned)),
    };
  }

  /** What the repository reports to this backup while it runs: seal and write times, bytes written. */
  monitor(): WriteMonitor {
    return {
      clock: this.clock,
      written: (bytes) => {
        this.progress.bytesWritten += bytes;
      },
    };
  }

  /**
   * An operation on the sources: its time counts as the source stage. Once the backup is
   * cancelled it is no longer waited for (see unlessAborted).
   */
  private source<T>(fn: () => Promise<T>): Promise<T> {
    return unlessAborted(this.clock.time('source', fn), this.options.signal);
  }

  /**
   * Gives a chunking window back for the next file, unless the backup was cancelled: an abandoned
   * read may still write into it.
   */
  private giveBack(window: Buffer): void {
    if (!this.options.signal?.aborted) this.windows.push(window);
  }

  /** Names a chunk (HMAC), timed as the chunk stage. */
  private name(chunk: Buffer): Buffer {
    return this.clock.timeSync('chunk', () => blobId(this.repo.key, chunk));
  }

  /** A file of a volatile source that vanished while the walk went (a dropped table's file). */
  private vanished(err: unknown): boolean {
    return this.volatile && errnoCode(err) === 'ENOENT';
  }

  /** A backup path left out before the walk (it does not exist or cannot be read): a warning. */
  skipSource(p: string, message: string): void {
    this.warn(p, message);
  }

  private warn(p: string, message: string): void {
    // Once cancelled, a failure is the cancellation (an abandoned call on the sources), no warning.
    this.options.signal?.throwIfAborted();
    const w = { path: p, message };
    this.warnings.push(w);
    this.options.onWarning?.(w);
  }

  async walkRoot(sources: readonly string[]): Promise<string> {
    const parentRoot = this.options.parent ? await this.loadParentTree(this.options.parent.tree) : undefined;
    if (sources.length === 1 && sources[0] === '/') {
      const st = await this.source(() => fs.lstat('/', { bigint: true }));
      return (await this.walkDir('/', parentRoot, Number(st.dev))).done;
    }
    const top: Virtual = { children: new Map(), real: true };
    for (const src of sources) place(top, src, { kind: 'path', path: src });
    return this.saveVirtual(top, '/', parentRoot);
  }

  /**
   * Saves the virtual entries one by one (each file's bytes read whole before the next entry is
   * asked for), then walks the paths, and writes the root tree. `made` receives the entry paths.
   */
  async walkPlan(
    sources: readonly string[],
    entries: AsyncIterable<VirtualEntry> | undefined,
    made: string[],
  ): Promise<string> {
    if (entries === undefined) return this.walkRoot(sources);
    const parentRoot = this.options.parent ? await this.loadParentTree(this.options.parent.tree) : undefined;
    const top: Virtual = { children: new Map(), real: sources.length > 0 };
    for (const src of sources) place(top, src, { kind: 'path', path: src });
    for await (const entry of entries) {
      this.options.signal?.throwIfAborted();
      const p = entryPath(entry.path);
      await this.open(top, p);
      const slot: Child = { kind: 'node' };
      const name = path.posix.basename(p);
      const plain = entry.source === undefined && entry.keepFrom === undefined;
      if (plain && entry.type === 'dir') slot.node = this.virtualNode(entry, name);
      place(top, p, slot);
      made.push(p);
      if (entry.keepFrom !== undefined) slot.node = { ...(await this.keptNode(entry.keepFrom, p)), name };
      else if (entry.source !== undefined) slot.node = await this.saveSource(entry, entry.source, name);
      else if (entry.type !== 'dir') slot.node = await this.saveVirtualEntry(entry, p);
    }
    return this.saveVirtual(top, '/', parentRoot);
  }

  /**
   * Makes the folders above `p` open for more entries: a folder entry already saved (from a source,
   * or kept) becomes a folder of the virtual tree holding its saved children.
   */
  private async open(top: Virtual, p: string): Promise<void> {
    let v = top;
    for (const part of p.split('/').filter(Boolean).slice(0, -1)) {
      const c = v.children.get(part);
      if (c === undefined || c.kind === 'path') return;
      if (c.kind === 'node') {
        const node = c.node;
        if (node?.type !== 'dir' || node.subtree === undefined) return;
        const tree = this.sourceTrees.get(node.subtree) ?? (await this.repo.loadTree(node.subtree));
        const { subtree: _saved, ...meta } = node;
        const dir: Virtual = {
          children: new Map(tree.nodes.map((n) => [n.name, { kind: 'node', node: n }])),
          real: false,
          meta,
        };
        v.children.set(part, { kind: 'dir', dir });
        v = dir;
      } else v = c.dir;
    }
  }

  /** The node at `p` in an earlier snapshot's tree (with everything inside it). */
  private async keptNode(root: string, p: string): Promise<TreeNode> {
    let tree = await this.repo.loadTree(root);
    const parts = p.split('/').filter(Boolean);
    for (const [i, part] of parts.entries()) {
      const node = tree.nodes.find((n) => n.name === part);
      if (node !== undefined && i === parts.length - 1) return node;
      if (node?.type !== 'dir' || node.subtree === undefined) break;
      tree = await this.repo.loadTree(node.subtree);
    }
    throw new CairnError('USAGE', `Cannot keep the entry ${p}: the earlier snapshot has no such path`);
  }

  /** A source entry: the real file, folder or link at `source`, read now, saved as `name`. */
  private async saveSource(entry: VirtualEntry, source: string, name: string): Promise<TreeNode> {
    const src = path.resolve(source);
    let st: BigIntStats;
    try {
      st = await this.source(() => fs.lstat(src, { bigint: true }));
    } catch (err) {
      const code = errnoCode(err) === 'ENOENT' ? 'SOURCE_NOT_FOUND' : 'SOURCE_UNREADABLE';
      throw new CairnError(code, `Cannot back up the entry ${entry.path} from ${src}: ${reason(err)}`, {
        cause: err,
      });
    }
    const escaped = src.replace(/[\\*?[\]{}()!+@]/g, '\\$&');
    const excludes = (entry.exclude ?? []).map((x) =>
      x.includes('/') ? `${escaped}/${x.replace(/^\/+/, '')}` : x,
    );
    const saved = { selection: this.selection, hooks: this.hooks, volatile: this.volatile };
    this.selection = new Selection({ excludes });
    this.hooks = undefined;
    this.volatile = entry.volatile === true;
    this.keepTrees = true;
    try {
      const node = this.withXattrs(src, baseNode(name, st));
      const done =
        node.type === 'dir'
          ? await (
              await this.walkDirNode(src, node, undefined, node.device)
            ).done
          : node.type === 'file'
            ? await this.runFile(src, node, undefined)
            : await this.saveSpecial(src, node);
      if (done === undefined) {
        throw new CairnError(
          'SOURCE_UNREADABLE',
          `Cannot back up the entry ${entry.path}: ${src} could not be read`,
        );
      }
      return done;
    } finally {
      this.selection = saved.selection;
      this.hooks = saved.hooks;
      this.volatile = saved.volatile;
      this.keepTrees = false;
    }
  }

  /** The node of a virtual entry without content: owner and time default to this process, now. */
  private virtualNode(entry: VirtualEntry, name: string): TreeNode {
    const uid = entry.uid ?? process.getuid?.() ?? 0;
    const gid = entry.gid ?? process.getgid?.() ?? 0;
    const user = entry.user ?? (entry.uid === undefined ? userName(uid) : undefined);
    const group = entry.group ?? (entry.gid === undefined ? groupName(gid) : undefined);
    const type = entry.type;
    const mode = entry.mode ?? (type === 'dir' ? 0o755 : type === 'symlink' ? 0o777 : 0o600);
    return syntheticNode(name, type, entry.mtimeMs ?? (this.options.now?.() ?? new Date()).getTime(), {
      mode: mode & 0o7777,
      uid,
      gid,
      ...(user === undefined ? {} : { user }),
      ...(group === undefined ? {} : { group }),
      ...(type === 'symlink' ? { linkTarget: entry.linkTarget ?? '' } : {}),
    });
  }

  /** A virtual file's bytes or a virtual symlink, saved; its node. */
  private async saveVirtualEntry(entry: VirtualEntry, p: string): Promise<TreeNode> {
    const node = this.virtualNode(entry, path.posix.basename(p));
    if (entry.type !== 'file') return node;
    const empty = () => Promise.resolve(0);
    const { content, size } = await this.saveBytes(p, entry.read ?? empty, entry.finish);
    const done = { ...node, size, content };
    this.fileDone(p, done, undefined, size);
    return done;
  }

  private async loadParentTree(id: string | undefined): Promise<Map<string, TreeNode> | undefined> {
    if (id === undefined) return undefined;
    try {
      const tree = await this.repo.loadTree(id);
      return new Map(tree.nodes.map((n) => [n.name, n]));
    } catch {
      // A damaged parent only costs reading files again.
      return undefined;
    }
  }

  private async saveVirtual(
    v: Virtual,
    dir: string,
    parent: Map<string, TreeNode> | undefined,
  ): Promise<string> {
    const nodes: TreeNode[] = [];
    const names = [...v.children.keys()].sort(compareNames);
    for (const name of names) {
      const child = v.children.get(name);
      const full = path.join(dir, name);
      const prev = parent?.get(name);
      if (child === undefined) continue;
      if (child.kind === 'path') {
        const node = await this.saveEntry(full, name, prev);
        if (node) nodes.push(node);
      } else if (child.kind === 'node') {
        if (child.node) nodes.push(child.node);
      } else {
        const sub = await this.saveVirtual(
          child.dir,
          full,
          child.dir.real ? await this.loadParentTree(prev?.subtree) : undefined,
        );
        let meta: TreeNode;
        if (child.dir.meta) meta = { ...child.dir.meta, name };
        else if (child.dir.real) {
          const st = await this.source(() => fs.lstat(full, { bigint: true }));
          meta = this.withXattrs(full, baseNode(name, st));
        } else meta = this.virtualNode({ path: full, type: 'dir' }, name);
        nodes.push({ ...meta, subtree: sub });
      }
    }
    return (await this.repo.saveTree({ nodes })).id.toString('hex');
  }

  /** One entry given by path; undefined when it could not be read (a warning says why). */
  private async saveEntry(
    full: string,
    name: string,
    prev: TreeNode | undefined,
  ): Promise<TreeNode | undefined> {
    if (this.selection.excluded(full)) return undefined;
    const st = await this.stat(full);
    if (st === undefined) return undefined;
    const node = this.withXattrs(full, baseNode(name, st));
    if (this.hooks?.before?.(full, node) === 'skip') return undefined;
    if (node.type === 'dir') return (await this.walkDirNode(full, node, prev, node.device)).done;
    if (node.type === 'file') return this.runFile(full, node, prev);
    return this.saveSpecial(full, node);
  }

  /** The node with its extended attributes (ACLs included), when the system has any for it. */
  private withXattrs(full: string, node: TreeNode): TreeNode {
    if (native === undefined) return node;
    const addon = native;
    let pairs: [string, Buffer][];
    try {
      pairs = this.clock.timeSync('source', () => addon.lgetxattrs(full));
    } catch (err) {
      this.warn(full, `cannot read extended attributes: ${reason(err)}`);
      return node;
    }
    if (pairs.length === 0) return node;
    pairs.sort((a, b) => compareNames(a[0], b[0]));
    return { ...node, xattrs: Object.fromEntries(pairs.map(([k, v]) => [k, v.toString('base64')])) };
  }

  private async stat(full: string): Promise<BigIntStats | undefined> {
    this.options.signal?.throwIfAborted();
    try {
      return await this.source(() => fs.lstat(full, { bigint: true }));
    } catch (err) {
      if (this.vanished(err)) return undefined;
      this.warn(full, `cannot stat: ${reason(err)}`);
      return undefined;
    }
  }

  private async saveSpecial(full: string, node: TreeNode): Promise<TreeNode | undefined> {
    if (node.type !== 'symlink') return node;
    try {
      return { ...node, linkTarget: await this.source(() => fs.readlink(full)) };
    } catch (err) {
      this.warn(full, `cannot read link: ${reason(err)}`);
      return undefined;
    }
  }

  /**
   * Walks a directory. Resolves once everything below it is listed and queued, to a promise of
   * its finished node: the walk goes on to the next folder while this one's files are still being
   * read, so small folders do not each wait for a round trip to the workers.
   */
  private async walkDirNode(
    full: string,
    node: TreeNode,
    prev: TreeNode | undefined,
    rootDevice: number,
  ): Promise<Pending<TreeNode | undefined>> {
    const ahead = this.prefetched.get(full);
    this.prefetched.delete(full);
    const subtree = prev?.type === 'dir' ? prev.subtree : undefined;
    const parent = await (ahead?.parent ?? this.loadParentTree(subtree));
    let walked: Pending<string>;
    try {
      // Another file system below a backed-up path: with --one-file-system its mount point is
      // kept as an empty folder, as restic does, so the restore shows where it was.
      walked =
        this.selection.oneFileSystem && node.device !== rootDevice
          ? pending(this.repo.saveTree({ nodes: [] }).then((r) => r.id.toString('hex')))
          : await this.walkDir(full, parent, rootDevice, ahead?.listing.done);
    } catch (err) {
      if (err instanceof CairnError && err.code === 'SOURCE_UNREADABLE') {
        if (this.vanished(err.cause)) return { done: Promise.resolve(undefined) };
        this.warn(full, err.message);
        return { done: Promise.resolve(undefined) };
      }
      throw err;
    }
    return pending(
      walked.done.then((subtree) => {
        if (prev?.type !== 'dir') this.counters.dirsNew++;
        else if (prev.subtree === subtree) this.counters.dirsUnmodified++;
        else this.counters.dirsChanged++;
        this.progress.dirsDone++;
        return { ...node, subtree };
      }),
    );
  }

  /**
   * A folder's entries (after the selection), sorted, each with its node as lstat finds it
   * (undefined when it could not be read: a warning says why). With the native addon, one call
   * lists the folder and stats every entry on the thread pool; else readdir and an lstat each.
   */
  private async listDir(dir: string): Promise<Listing> {
    // A prefetch may finish while a source entry's selection is in force: take this walk's now.
    const selection = this.selection;
    let names: string[];
    let scan: FolderScan | undefined;
    try {
      if (native !== undefined) {
        const addon = native;
        scan = await this.source(() => addon.scanDir(dir));
        names = [...scan.names];
      } else names = await this.source(() => fs.readdir(dir));
    } catch (err) {
      throw new CairnError('SOURCE_UNREADABLE', `cannot read directory: ${reason(err)}`, { cause: err });
    }
    if (!selection.empty) {
      const listed = names;
      const marker = await this.source(() => selection.marker(dir, listed));
      names = marker === undefined ? names.filter((n) => !selection.excluded(path.join(dir, n))) : [marker];
    }
    names.sort(compareNames);
    if (scan === undefined) {
      const stats = await Promise.all(
        names.map((name) => this.statLimiter.run(() => this.stat(path.join(dir, name)))),
      );
      return {
        names,
        nodes: names.map((name, i) => {
          const st = stats[i];
          return st === undefined ? undefined : this.withXattrs(path.join(dir, name), baseNode(name, st));
        }),
      };
    }
    const found = scan;
    const index = new Map(found.names.map((n, i) => [n, i]));
    const nodes = names.map((name) => {
      const i = index.get(name) ?? -1;
      const errno = found.errors[i] ?? 0;
      if (errno !== 0) {
        const full = path.join(dir, name);
        const err = Object.assign(new Error(`${getSystemErrorMessage(-errno)}, lstat '${full}'`), {
          code: getSystemErrorName(-errno),
        });
        if (!this.vanished(err)) this.warn(full, `cannot stat: ${reason(err)}`);
        return undefined;
      }
      const node = nodeOf(name, scannedFields(found.stats, i));
      return found.xattrs[i] === 0 ? node : this.withXattrs(path.join(dir, name), node);
    });
    return { names, nodes };
  }

  private async walkDir(
    dir: string,
    parent: Map<string, TreeNode> | undefined,
    rootDevice: number,
    listing?: Promise<Listing>,
  ): Promise<Pending<string>> {
    this.options.signal?.throwIfAborted();
    const { names, nodes } = await (listing ?? this.listDir(dir));
    // The walk goes depth first, one folder at a time: list the next folders (and load their
    // parent trees) meanwhile, so the thread pool and the disk work while this folder's entries
    // are handled.
    for (let i = 0; i < names.length && this.prefetched.size < this.prefetchFolders; i++) {
      const node = nodes[i];
      if (node?.type !== 'dir') continue;
      if (this.selection.oneFileSystem && node.device !== rootDevice) continue;
      const full = path.join(dir, names[i] as string);
      if (this.prefetched.has(full)) continue;
      const prev = parent?.get(node.name);
      this.prefetched.set(full, {
        listing: pending(this.dirLimiter.run(() => this.listDir(full))),
        parent: this.loadParentTree(prev?.type === 'dir' ? prev.subtree : undefined),
      });
    }
    const results: (TreeNode | undefined | Promise<TreeNode | undefined>)[] = [];
    // Each pending promise is awaited below; catching here keeps an early rejection from being
    // reported as unhandled before that.
    const keep = (p: Promise<TreeNode | undefined>) => {
      p.catch(() => undefined);
      results.push(p);
    };
    for (let i = 0; i < names.length; i++) {
      const name = names[i] as string;
      const node = nodes[i];
      if (node === undefined) continue;
      const full = path.join(dir, name);
      if (this.hooks?.before?.(full, node) === 'skip') {
        this.prefetched.delete(full);
        continue;
      }
      const prev = parent?.get(name);
      if (node.type === 'dir') {
        keep((await this.walkDirNode(full, node, prev, rootDevice)).done);
      } else if (node.type === 'file' && this.unchanged(node, prev)) {
        // Most files of an incremental backup: no promise, no queue, no allocation but the node.
        this.options.keepAlive?.();
        const kept = this.keepUnchanged(node, prev);
        this.hooks?.after?.(full, kept);
        results.push(kept);
      } else if (node.type === 'file') {
        // Bounds how far the walk runs ahead of reading (memory), without holding up files.
        await this.outstanding.acquire();
        keep(this.runFile(full, node, prev).finally(() => this.outstanding.release()));
      } else {
        keep(this.saveSpecial(full, node));
      }
    }
    const keepTree = this.keepTrees;
    const finish = async () => {
      const nodes: TreeNode[] = [];
      for (const r of results) {
        // Unchanged files were settled during the walk; the others are awaited in order (each
        // already runs, and a rejection is caught where it was kept).
        const n = r instanceof Promise ? await r : r;
        if (n !== undefined) nodes.push(n);
      }
      const id = (await this.repo.saveTree({ nodes } satisfies Tree)).id.toString('hex');
      if (keepTree) this.sourceTrees.set(id, { nodes });
      return id;
    };
    return pending(finish());
  }

  /**
   * A file smaller than the minimum chunk is one chunk: a worker reads, names, compresses and
   * seals it, and the sealed blob is kept unless the repository has it. 'grew' when the file is
   * no longer small: the caller then chunks it as a stream.
   */
  private async saveSmallFile(
    full: string,
    node: TreeNode,
    prev: TreeNode | undefined,
  ): Promise<TreeNode | undefined | 'grew'> {
    let blob: SealedFile | undefined;
    try {
      blob = await unlessAborted(
        this.repo.workers().sealFile(full, node.size, this.smallFile),
        this.options.signal,
      );
    } catch (err) {
      if (!(err instanceof FileReadError)) throw err;
      if (this.volatile && err.errno === 'ENOENT') return undefined;
      this.warn(full, `cannot read: ${err.message}`);
      return undefined;
    }
    if (blob === undefined) return 'grew';
    const t = blob.timing;
    if (t) {
      this.clock.record('source', t.start, t.read);
      this.clock.record('chunk', t.read, t.hashed);
      this.clock.record('seal', t.hashed, t.end);
    }
    const size = blob.rawLength;
    this.progress.bytesRead += size;
    const content: string[] = [];
    if (size > 0) {
      await this.repo.saveSealed('data', blob.id, blob);
      content.push(blob.id.toString('hex'));
    }
    this.progress.bytesDone += size;
    this.fileDone(full, node, prev, size);
    return { ...node, size, content };
  }

  private fileDone(full: string, node: TreeNode, prev: TreeNode | undefined, size: number): void {
    if (prev?.type === 'file') this.counters.filesChanged++;
    else this.counters.filesNew++;
    this.counters.totalFilesProcessed++;
    this.counters.totalBytesProcessed += size;
    this.progress.filesDone++;
    if (size !== node.size && !this.volatile) {
      this.warn(full, `changed while being read (size ${node.size} became ${size}); the bytes read are kept`);
    }
  }

  private unchanged(
    node: TreeNode,
    prev: TreeNode | undefined,
  ): prev is TreeNode & { content: readonly string[] } {
    if (prev?.type !== 'file' || prev.content === undefined) return false;
    if (
      prev.size !== node.size ||
      prev.mtimeNs !== node.mtimeNs ||
      prev.ctimeNs !== node.ctimeNs ||
      prev.inode !== node.inode
    ) {
      return false;
    }
    const index = this.repo.index;
    return prev.content.every((id) => index.hasHex(id));
  }

  /** An unchanged file's node: its content is the parent snapshot's, not read again. */
  private keepUnchanged(node: TreeNode, prev: TreeNode & { content: readonly string[] }): TreeNode {
    this.counters.totalFilesProcessed++;
    this.counters.totalBytesProcessed += node.size;
    this.counters.filesUnmodified++;
    this.progress.filesDone++;
    this.progress.bytesDone += node.size;
    return { ...node, content: prev.content };
  }

  /** Chunks and saves a stream's bytes, then calls `finish` (which throws when its producer failed). */
  private async saveBytes(
    label: string,
    source: StreamSource['read'],
    finish: (() => Promise<void>) | undefined,
  ): Promise<{ content: string[]; size: number }> {
    const content: string[] = [];
    let size = 0;
    const window =
      this.windows.pop() ?? Buffer.allocUnsafeSlow(defaultWindowSize(this.repo.chunker.maxSize, READ_SIZE));
    this.progress.currentFile = label;
    const read = async (buf: Buffer, offset: number, length: number) => {
      const n = await this.source(() => source(buf, offset, length));
      this.progress.bytesRead += n;
      return n;
    };
    try {
      for await (const chunk of chunkStream(read, this.chunker, {
        window,
        readSize: READ_SIZE,
        ...this.signalOption,
      })) {
        const id = this.name(chunk);
        content.push(id.toString('hex'));
        size += chunk.length;
        this.progress.bytesDone += chunk.length;
        await this.repo.saveBlob('data', chunk, id);
      }
    } finally {
      this.giveBack(window);
    }
    await this.source(() => finish?.() ?? Promise.resolve());
    return { content, size };
  }

  /** The root tree of a stream backup: one file, owned by this process, dated now. */
  async saveStream(source: StreamSource): Promise<string> {
    const { content, size } = await this.saveBytes(source.name, source.read, source.finish);
    const uid = process.getuid?.() ?? 0;
    const gid = process.getgid?.() ?? 0;
    const user = userName(uid);
    const group = groupName(gid);
    const node = syntheticNode(source.name, 'file', (this.options.now?.() ?? new Date()).getTime(), {
      uid,
      gid,
      ...(user === undefined ? {} : { user }),
      ...(group === undefined ? {} : { group }),
      size,
      content,
    });
    this.fileDone(source.name, node, undefined, size);
    return (await this.repo.saveTree({ nodes: [node] })).id.toString('hex');
  }

  private runFile(full: string, node: TreeNode, prev: TreeNode | undefined): Promise<TreeNode | undefined> {
    this.options.keepAlive?.();
    const limiter = node.size < this.smallFile ? this.smallFiles : this.files;
    const saved = limiter.run(() => this.saveFile(full, node, prev));
    const after = this.hooks?.after;
    if (after === undefined) return saved;
    return saved.then((n) => {
      if (n !== undefined) after(full, n);
      return n;
    });
  }

  private async saveFile(
    full: string,
    node: TreeNode,
    prev: TreeNode | undefined,
  ): Promise<TreeNode | undefined> {
    this.options.signal?.throwIfAborted();
    if (this.unchanged(node, prev)) return this.keepUnchanged(node, prev);
    this.progress.currentFile = full;
    if (node.size < this.smallFile) {
      const done = await this.saveSmallFile(full, node, prev);
      if (done !== 'grew') return done;
    }
    let fd: number;
    try {
      fd = await this.source(() => openForReading(full));
    } catch (err) {
      if (this.vanished(err)) return undefined;
      this.warn(full, `cannot open: ${reason(err)}`);
      return undefined;
    }
    const content: string[] = [];
    let size = 0;
    let window: Buffer | undefined;
    try {
      let position = 0;
      const read = (buf: Buffer, offset: number, length: number) =>
        this.source(() => readAt(fd, buf, offset, length, position)).then((n) => {
          position += n;
          this.progress.bytesRead += n;
          return n;
        });
      const add = async (chunk: Buffer) => {
        const id = this.name(chunk);
        content.push(id.toString('hex'));
        size += chunk.length;
        this.progress.bytesDone += chunk.length;
        await this.repo.saveBlob('data', chunk, id);
      };
      window =
        this.windows.pop() ?? Buffer.allocUnsafeSlow(defaultWindowSize(this.repo.chunker.maxSize, READ_SIZE));
      const options = { window, readSize: READ_SIZE, ...this.signalOption };
      for await (const chunk of chunkStream(read, this.chunker, options)) await add(chunk);
    } catch (err) {
      if (err instanceof CairnError || this.options.signal?.aborted) throw err;
      this.warn(full, `cannot read: ${reason(err)}`);
      return undefined;
    } finally {
      if (window) this.giveBack(window);
      await this.source(() => closeFd(fd));
    }
    this.fileDone(full, node, prev, size);
    return { ...node, size, content };
  }
}
