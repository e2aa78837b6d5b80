/**
 * The restorer: writes a snapshot's tree under a target directory.
 *
 * Directories and symlinks are made during the walk of the trees. Files are collected in batches;
 * the blobs of a batch are grouped by pack and each pack's blobs are fetched in offset order, with
 * ranged reads that merge blobs lying close together, so a pack is read once and sequentially
 * however many small files it holds. Every blob is authenticated and checked against its id before
 * a byte is written. Blocks of 4 KiB zeros are skipped, so they come back as holes. Mode, owner
 * and times are applied to a file once its last blob is written, and to directories at the end,
 * deepest first.
 *
 * File system calls on the target are synchronous: they hit the page cache and cost a few
 * microseconds, where a trip through the thread pool costs tens; reading packs stays asynchronous
 * and overlaps with writing.
 */
import fs, { constants } from 'node:fs';
import path from 'node:path';
import { CairnError, errnoCode, reason, type ErrorCode } from '../errors.ts';
import { major, minor, native, splitNs } from '../native/index.ts';
import { findNode, rootNode } from './browse.ts';
import { blobId } from '../crypto/index.ts';
import { Limiter } from './limiter.ts';
import { includeMatcher, Selection } from './select.ts';
import { groupId, userId } from './owners.ts';
import type { BlobEntry } from './format.ts';
import type { Location } from './master-index.ts';
import { BlobWriteError } from './seal-pool.ts';
import type { Repository } from './repository.ts';
import type { SnapshotInfo } from './snapshot.ts';
import type { Tree, TreeNode } from './tree.ts';

export interface RestoreWarning {
  readonly path: string;
  readonly message: string;
}

export interface RestoreProgress {
  filesDone: number;
  bytesDone: number;
  currentFile: string;
}

export interface RestoreOptions {
  readonly signal?: AbortSignal;
  readonly progress?: RestoreProgress;
  readonly onWarning?: (w: RestoreWarning) => void;
  /** Packs read at once (default: one more than the worker threads, which open and write the blobs). */
  readonly packConcurrency?: number;
  /** Apply owners (uid/gid); by default only when running as root, who alone can. */
  readonly owners?: boolean;
  /**
   * Use the recorded numeric uid/gid. By default a recorded user or group name that this system
   * knows gives its local id (the same user on a machine with other ids), else the number.
   */
  readonly numericOwner?: boolean;
  /** Restore only this path of the snapshot: a folder's contents, or a file, land in the target. */
  readonly subpath?: string;
  /** Leave out snapshot paths matching these patterns (as for backup --exclude). */
  readonly excludes?: readonly string[];
  /** Restore only snapshot paths matching these patterns, with what is in them. */
  readonly includes?: readonly string[];
  /** Restore only these snapshot paths (exact, absolute), with what is in them. */
  readonly includePaths?: readonly string[];
  /** Write nothing; count what would be restored. */
  readonly dryRun?: boolean;
  /** Read every restored file back and check it against the snapshot's blob ids. */
  readonly verify?: boolean;
  /** What to do with an entry that exists in the target (Bareos' replace): default "always". */
  readonly replace?: ReplacePolicy;
  /** Remove entries of restored folders that the snapshot does not have (the target matches it). */
  readonly delete?: boolean;
  /**
   * Entries the caller restores itself (a plugin's): asked for each entry the include and exclude
   * patterns keep, with its snapshot path. For a file, symlink or special, true means it is not
   * written and is listed in the summary's `diverted`. For a folder, true means it is not made (it
   * is listed too) and its entries are asked about one by one.
   */
  readonly divert?: (path: string, node: TreeNode) => boolean;
  /**
   * Keep what could be read of a file that could not be restored as `NAME.cairn-partial`, its
   * damaged ranges left as holes (listed in `notRestored`). By default nothing is left under the
   * file's name, nor under a partial name.
   */
  readonly keepPartial?: boolean;
}

/**
 * A file or folder of the snapshot that the restore left out, because its data is damaged or
 * missing in the repository (or, with verify, it read back differently).
 */
export interface NotRestored {
  /** Its path in the snapshot. */
  readonly path: string;
  /** Where it would have been restored. */
  readonly dest: string;
  /** A folder is lost with everything in it: the tree blob listing it could not be read. */
  readonly kind: 'file' | 'folder';
  /** BLOB_MISSING when the index does not know a blob; BLOB_CORRUPT, PACK_CORRUPT, BACKEND_NOT_FOUND… */
  readonly code: ErrorCode;
  readonly reason: string;
  /** For a folder: the tree blob that could not be read, and the pack the index places it in. */
  readonly tree?: string;
  readonly pack?: string;
  /** With keepPartial: where what could be read of the file was kept. */
  readonly partial?: string;
}

/** An entry left to the caller by `divert`, in the order of the walk. */
export interface Diverted {
  readonly path: string;
  readonly node: TreeNode;
}

/**
 * always: replace; ifnewer: only when the snapshot's copy is newer (mtime) than the existing one;
 * ifolder: only when it is older; never: keep whatever exists.
 */
export type ReplacePolicy = 'always' | 'ifnewer' | 'ifolder' | 'never';

export interface RestoreSummary {
  readonly dryRun: boolean;
  /** Files read back and found equal to the snapshot (with verify). */
  readonly verified: number;
  /** Existing entries left as they were by the replace policy. */
  readonly skipped: number;
  /** Entries deleted (with delete) because the snapshot does not have them. */
  readonly deleted: number;
  readonly files: number;
  readonly dirs: number;
  readonly symlinks: number;
  /** Names restored as hard links to a file restored under another name. */
  readonly hardLinks: number;
  /** FIFOs and device nodes. */
  readonly specials: number;
  readonly bytes: number;
  readonly warnings: readonly RestoreWarning[];
  /** Entries `divert` claimed, in walk order (with dry run too): the caller restores them. */
  readonly diverted: readonly Diverted[];
  /**
   * What was left out, by path: nothing of it is under its name in the target
   * (a hard link to a file left out is left out too). Empty when everything was restored.
   */
  readonly notRestored: readonly NotRestored[];
}

/** Blobs of one pack closer than this are fetched by one read. */
const MERGE_GAP = 256 * 1024;
const MAX_READ = 32 * 1024 * 1024;
/** Files collected before their blobs are fetched: bounds memory for any snapshot size. */
const BATCH_FILES = 8192;
const BATCH_BLOBS = 65536;
/**
 * O_NONBLOCK: a FIFO in the target under a file's name would make open wait for a reader forever,
 * in a thread of the pool where no signal reaches it; with it the open fails (ENXIO) and the FIFO
 * is replaced. It changes nothing for regular files.
 */
const OPEN_NEW =
  constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW | constants.O_NONBLOCK;
const OPEN_AGAIN = constants.O_WRONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;
/** Files of a pack opened ahead of the writes. */
const OPEN_AHEAD = 32;

function openCb(p: string, flags: number, mode?: number): Promise<number> {
  return new Promise((resolve, reject) =>
    fs.open(p, flags, mode, (err, fd) => (err ? reject(err) : resolve(fd))),
  );
}

/**
 * Creates files one folder at a time: each creation in a folder holds the folder's lock in the
 * kernel, and four of libuv's threads creating files side by side in one folder spent their time
 * spinning on that lock (a fifth of a restore's CPU went to rwsem_spin_on_owner), taking the
 * cores the workers write with. Creations in different folders still run at once.
 */
class FolderSerialCreator {
  private readonly tails = new Map<string, Promise<unknown>>();

  create(p: string, flags: number, mode: number): Promise<number> {
    const folder = path.dirname(p);
    const before = this.tails.get(folder);
    const created = before === undefined ? openCb(p, flags, mode) : before.then(() => openCb(p, flags, mode));
    const tail = created.catch(() => undefined);
    this.tails.set(folder, tail);
    void tail.then(() => {
      if (this.tails.get(folder) === tail) this.tails.delete(folder);
    });
    return created;
  }
}

const SPECIAL: Partial<Record<TreeNode['type'], number>> = {
  fifo: constants.S_IFIFO,
  chardev: constants.S_IFCHR,
  blockdev: constants.S_IFBLK,
};

function nsToSeconds(ns: string): number {
  return Number(BigInt(ns) / 1000n) / 1e6;
}

/** `within`: the restore target, when `p` is a folder above it that could not be made. */
function targetError(p: string, err: unknown, within?: string): CairnError {
  if (err instanceof CairnError) return err;
  const code = errnoCode(err);
  const what = within === undefined || within === p ? p : `${within} (at ${p})`;
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new CairnError('NO_SPACE', `Cannot restore ${what}: no space left on the target device`, {
      cause: err,
    });
  }
  return new CairnError('TARGET_UNWRITABLE', `Cannot restore ${what}: ${reason(err)}`, { cause: err });
}

interface FileJob {
  readonly dest: string;
  /** Its path in the snapshot. */
  readonly at: string;
  readonly node: TreeNode;
  /** Blobs not yet written. */
  remaining: number;
  /** Bytes the content adds up to. */
  length: number;
  /** Settles once the file exists (first open under way or done); undefined before. */
  created: Promise<void> | undefined;
  failed: boolean;
}

/**
 * Errors that mean a tree blob is damaged or gone: its folder is left out, the restore goes on.
 * BACKEND_IO is a pack cut short too (a read past its end), and what a retrying backend could not
 * read after its retries; a data blob's read fails its files on any storage error alike.
 */
const DAMAGE: ReadonlySet<ErrorCode> = new Set([
  'BLOB_MISSING',
  'BLOB_CORRUPT',
  'PACK_CORRUPT',
  'BACKEND_NOT_FOUND',
  'BACKEND_IO',
]);

/**
 * Creates a folder and the folders above it that are missing, one level at a time: Node's
 * recursive mkdir loops forever (and holds the thread, so no signal is handled) where mkdir keeps
 * answering ENOENT for a parent that exists, as under /proc. Throws TARGET_UNWRITABLE naming the
 * folder that could not be made and why.
 */
export function makeFolders(dir: string): string[] {
  const full = path.resolve(dir);
  const made: string[] = [];
  const chain: string[] = [];
  for (let p = full; ; p = path.dirname(p)) {
    chain.unshift(p);
    if (path.dirname(p) === p) break;
  }
  for (const p of chain) {
    try {
      fs.mkdirSync(p);
      made.push(p);
      continue;
    } catch (err) {
      if (errnoCode(err) !== 'EEXIST') throw targetError(p, err, full);
    }
    let isDir: boolean;
    try {
      isDir = fs.statSync(p).isDirectory();
    } catch (err) {
      throw targetError(p, err, full);
    }
    if (!isDir) {
      const what = p === full ? p : `${full} (at ${p})`;
      throw new CairnError('TARGET_UNWRITABLE', `Cannot restore ${what}: ${p} exists and is not a folder`);
    }
  }
  return made;
}

/** Removes the folders a failed restore made, deepest first, as long as they are still empty. */
function unmakeFolders(made: readonly string[]): void {
  for (const dir of [...made].reverse()) {
    try {
      fs.rmdirSync(dir);
    } catch {
      return;
    }
  }
}

interface Piece {
  readonly job: FileJob;
  readonly id: Buffer;
  readonly loc: Location;
  readonly fileOffset: number;
}

export async function restore(
  repo: Repository,
  snapshot: SnapshotInfo,
  target: string,
  options: RestoreOptions = {},
): Promise<RestoreSummary> {
  const root = path.resolve(target);
  const made = options.dryRun ? [] : makeFolders(root);
  const r = new Restorer(repo, root, options);
  r.markCreated(root);
  try {
    const sub = path.posix.normalize(`/${options.subpath ?? '/'}`).replace(/\/+$/, '') || '/';
    const start = sub === '/' ? rootNode(snapshot) : await findNode(repo, snapshot, sub);
    if (start.type === 'dir') {
      if (start.subtree !== undefined) await r.restoreTree(start.subtree, root, sub, [], false);
    } else {
      await r.restoreNodes([start], root, path.posix.dirname(sub), [], false, false);
    }
    await r.flushBatch();
    // Verified before the links are made, so a file that reads back wrong takes its links along.
    if (options.verify && !options.dryRun) r.verifyFiles();
    r.makeHardLinks();
  } catch (err) {
    // A target folder this restore made and left empty goes with it: a failure leaves no trace.
    unmakeFolders(made);
    if (options.signal?.aborted) {
      throw new CairnError('INTERRUPTED', `Restore cancelled after ${r.files} files: ${root} is incomplete`, {
        cause: err,
      });
    }
    throw err;
  }
  if (!options.dryRun) r.finishDirs();
  return {
    dryRun: options.dryRun === true,
    verified: r.verified,
    skipped: r.skipped,
    deleted: r.deleted,
    files: r.files,
    dirs: r.dirs,
    symlinks: r.symlinks,
    hardLinks: r.hardLinks,
    specials: r.specials,
    bytes: r.bytes,
    warnings: r.warnings,
    diverted: r.diverted,
    notRestored: r.notRestored.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)),
  };
}

class Restorer {
  files = 0;
  dirs = 0;
  symlinks = 0;
  bytes = 0;
  readonly warnings: RestoreWarning[] = [];
  readonly diverted: Diverted[] = [];
  readonly notRestored: NotRestored[] = [];
  /** Files left out, by where they would have been: their other names are left out too. */
  private readonly failedFiles = new Map<string, NotRestored>();
  private readonly failureOf = new Map<FileJob, NotRestored>();
  private readonly root: string;
  private readonly keepPartial: boolean;
  private readonly repo: Repository;
  private readonly options: RestoreOptions;
  private readonly dirMeta: { path: string; node: TreeNode }[] = [];
  private readonly progress: RestoreProgress;
  private readonly owners: boolean;
  private readonly numericOwner: boolean;
  /** First restored name of each file with several hard links: "device:inode" → path. */
  private readonly firstNames = new Map<string, string>();
  private readonly links: { dest: string; at: string; first: string }[] = [];
  specials = 0;
  hardLinks = 0;
  verified = 0;
  skipped = 0;
  deleted = 0;
  private readonly replace: ReplacePolicy;
  private readonly deleteExtra: boolean;
  private readonly created = new Set<string>();
  private readonly excludes: Selection;
  private readonly includes: ((p: string) => boolean) | undefined;
  private readonly dryRun: boolean;
  private readonly verify: boolean;
  private readonly restoredFiles: { dest: string; at: string; node: TreeNode }[] = [];
  private readonly creator = new FolderSerialCreator();
  private batch: FileJob[] = [];
  private batchBlobs = 0;

  constructor(repo: Repository, root: string, options: RestoreOptions) {
    this.repo = repo;
    this.root = root;
    this.keepPartial = options.keepPartial === true;
    this.options = options;
    this.progress = options.progress ?? { filesDone: 0, bytesDone: 0, currentFile: '' };
    this.owners = options.owners ?? process.getuid?.() === 0;
    this.numericOwner = options.numericOwner === true;
    this.excludes = new Selection({ excludes: options.excludes ?? [] });
    const inc = options.includes ?? [];
    const exact = new Set(options.includePaths ?? []);
    const byPattern = inc.length === 0 ? undefined : includeMatcher(inc);
    this.includes =
      byPattern === undefined && exact.size === 0
        ? undefined
        : (p: string) => exact.has(p) || (byPattern !== undefined && byPattern(p));
    this.dryRun = options.dryRun === true;
    this.verify = options.verify === true;
    this.replace = options.replace ?? 'always';
    this.deleteExtra = options.delete === true;
  }

  private warn(p: string, message: string): void {
    const w = { path: p, message };
    this.warnings.push(w);
    this.options.onWarning?.(w);
  }

  async restoreTree(
    treeId: string,
    dir: string,
    at: string,
    pending: readonly { dest: string; node: TreeNode }[],
    taken: boolean,
  ): Promise<void> {
    let tree: Tree;
    try {
      tree = await this.repo.loadTree(treeId);
      for (const node of tree.nodes) {
        if (node.name === '' || node.name === '.' || node.name === '..' || node.name.includes('/')) {
          throw new CairnError(
            'BLOB_CORRUPT',
            `Cannot restore tree ${treeId}: it has an unsafe entry name ${JSON.stringify(node.name)}`,
          );
        }
      }
    } catch (err) {
      this.options.signal?.throwIfAborted();
      if (!(err instanceof CairnError) || !DAMAGE.has(err.code)) throw err;
      this.loseFolder(dir, at, treeId, err);
      return;
    }
    await this.restoreNodes(tree.nodes, dir, at, pending, taken);
  }

  /**
   * A folder whose tree cannot be read is left out with all it holds; the folder itself is
   * removed again when this restore made it and nothing is in it.
   */
  private loseFolder(dir: string, at: string, treeId: string, err: CairnError): void {
    const pack = this.repo.lookup(Buffer.from(treeId, 'hex'))?.pack;
    this.notRestored.push({
      path: at,
      dest: dir,
      kind: 'folder',
      code: err.code,
      reason: err.message,
      tree: treeId,
      ...(pack === undefined ? {} : { pack }),
    });
    if (this.dryRun || dir === this.root || !this.created.has(dir)) return;
    try {
      fs.rmdirSync(dir);
      this.created.delete(dir);
      this.dirs--;
    } catch {
      // Not empty: it was there before, with entries of its own; they stay.
    }
  }

  /**
   * `at` is the snapshot path of `dir`; `pending` are folders above that are not created yet
   * (with --include, a folder is made only when something in it is restored); `taken` says an
   * include pattern matched a folder above, so everything below is restored.
   */
  async restoreNodes(
    nodes: readonly TreeNode[],
    dir: string,
    at: string,
    pending: readonly { dest: string; node: TreeNode }[],
    taken: boolean,
    /** The nodes are a whole folder (not one file picked by a subpath): --delete applies. */
    wholeFolder = true,
  ): Promise<void> {
    for (const node of nodes) {
      this.options.signal?.throwIfAborted();
      const dest = path.join(dir, node.name);
      const p = path.posix.join(at, node.name);
      if (this.excludes.excluded(p)) continue;
      const included = taken || this.includes === undefined || this.includes(p);
      if (node.type === 'dir') {
        const chain = [...pending, { dest, node }];
        // A diverted folder is not made here: what in it is not diverted makes it when restored.
        const diverted = included && this.options.divert?.(p, node) === true;
        if (diverted) this.diverted.push({ path: p, node });
        if (included && !diverted) this.materialize(chain);
        if (node.subtree !== undefined)
          await this.restoreTree(node.subtree, dest, p, included && !diverted ? [] : chain, included);
        if (this.created.has(dest)) this.dirMeta.push({ path: dest, node });
        continue;
      }
      if (!included) continue;
      if (this.options.divert?.(p, node) === true) {
        this.diverted.push({ path: p, node });
        continue;
      }
      if (this.keepExisting(dest, node)) continue;
      this.materialize(pending);
      if (this.dryRun) {
        this.files += node.type === 'file' ? 1 : 0;
        this.bytes += node.type === 'file' ? node.size : 0;
        continue;
      }
      switch (node.type) {
        case 'file': {
          // A second name of a file with several hard links becomes a link to the first name.
          const key = node.links > 1 && node.inode !== 0 ? `${node.device}:${node.inode}` : undefined;
          const first = key === undefined ? undefined : this.firstNames.get(key);
          if (key !== undefined && first === undefined) this.firstNames.set(key, dest);
          if (first !== undefined) this.links.push({ dest, at: p, first });
          else await this.addFile(dest, p, node);
          break;
        }
        case 'symlink':
          this.makeSymlink(dest, node);
          break;
        case 'socket':
          // A socket belongs to the program that listened on it; restic and tar skip them too.
          this.warn(dest, 'a socket is recorded but not re-created (a program makes it when it listens)');
          break;
        default:
          this.makeSpecial(dest, node);
      }
    }
    if (this.deleteExtra && wholeFolder && (taken || this.includes === undefined) && this.created.has(dir)) {
      this.deleteOthers(dir, at, new Set(nodes.map((n) => n.name)));
    }
  }

  /** With a replace policy other than "always": whether an existing entry stays as it is. */
  private keepExisting(dest: string, node: TreeNode): boolean {
    if (this.replace === 'always') return false;
    let existing: fs.BigIntStats;
    try {
      existing = fs.lstatSync(dest, { bigint: true });
    } catch {
      return false;
    }
    const recorded = BigInt(node.mtimeNs);
    const keep =
      this.replace === 'never' ||
      (this.replace === 'ifnewer' && recorded <= existing.mtimeNs) ||
      (this.replace === 'ifolder' && recorded >= existing.mtimeNs);
    if (keep) this.skipped++;
    return keep;
  }

  /** --delete: entries of a restored folder that the snapshot does not have (and not excluded) go. */
  private deleteOthers(dir: string, at: string, names: ReadonlySet<string>): void {
    let entries: string[];
    try {
      entries = fs.readdirSync(dir);
    } catch {
      return;
    }
    for (const name of entries) {
      if (names.has(name) || this.excludes.excluded(path.posix.join(at, name))) continue;
      this.deleted++;
      if (this.dryRun) continue;
      try {
        fs.rmSync(path.join(dir, name), { recursive: true, force: true });
      } catch (err) {
        this.warn(path.join(dir, name), `cannot delete it: ${reason(err)}`);
      }
    }
  }

  markCreated(dir: string): void {
    this.created.add(dir);
  }

  /** Creates the folders of the chain that do not exist yet, outermost first. */
  private materialize(chain: readonly { dest: string; node: TreeNode }[]): void {
    for (const { dest } of chain) {
      if (this.created.has(dest)) continue;
      this.created.add(dest);
      this.dirs++;
      if (!this.dryRun) this.makeDir(dest);
    }
  }

  /** Reads every restored file back and checks each piece against its blob id. */
  verifyFiles(): void {
    for (const { dest, at, node } of this.restoredFiles) {
      let offset = 0;
      let bad: string | undefined;
      let fd: number | undefined;
      try {
        fd = fs.openSync(dest, 'r');
        for (const hex of node.content ?? []) {
          const id = Buffer.from(hex, 'hex');
          const loc = this.repo.lookup(id);
          const length = loc?.rawLength ?? 0;
          const buf = Buffer.allocUnsafe(length);
          let got = 0;
          while (got < length) {
            const n = fs.readSync(fd, buf, got, length - got, offset + got);
            if (n === 0) break;
            got += n;
          }
          if (got !== length || !blobId(this.repo.key, buf).equals(id)) {
            bad = `bytes ${offset}–${offset + length} differ from the snapshot`;
            break;
          }
          offset += length;
        }
      } catch (err) {
        bad = `cannot read it back: ${reason(err)}`;
      } finally {
        if (fd !== undefined) fs.closeSync(fd);
      }
      if (bad !== undefined) {
        // It was written and counted, but what the target holds is not the snapshot's file.
        this.files--;
        this.discard(
          this.recordFailure(dest, at, 'TARGET_UNWRITABLE', `read back after writing, ${bad}`),
          undefined,
        );
      } else this.verified++;
    }
  }

  private makeDir(dest: string): void {
    try {
      fs.mkdirSync(dest, { mode: 0o700 });
    } catch (err) {
      if (errnoCode(err) !== 'EEXIST') throw targetError(dest, err);
      try {
        if (!fs.lstatSync(dest).isDirectory()) {
          fs.rmSync(dest, { force: true });
          fs.mkdirSync(dest, { mode: 0o700 });
        }
      } catch (err2) {
        throw targetError(dest, err2);
      }
    }
  }

  private makeSymlink(dest: string, node: TreeNode): void {
    try {
      fs.rmSync(dest, { force: true, recursive: true });
      fs.symlinkSync(node.linkTarget ?? '', dest);
    } catch (err) {
      throw targetError(dest, err);
    }
    this.symlinks++;
    this.applyMeta(dest, undefined, node);
  }

  /** FIFOs and device nodes, with mknod. */
  private makeSpecial(dest: string, node: TreeNode): void {
    const type = SPECIAL[node.type];
    if (type === undefined || native === undefined) {
      this.warn(
        dest,
        `a ${node.type} is recorded but cannot be re-created${native ? '' : ' (the native addon is not built)'}`,
      );
      return;
    }
    try {
      fs.rmSync(dest, { force: true, recursive: true });
      const rdev = node.rdev ?? 0;
      native.mknod(dest, type | (node.mode & 0o7777), major(rdev), minor(rdev));
    } catch (err) {
      this.warn(dest, `cannot re-create the ${node.type}: ${reason(err)}`);
      return;
    }
    this.specials++;
    this.applyMeta(dest, undefined, node);
  }

  /** Hard links last: every first name exists by now, or is known to be left out. */
  makeHardLinks(): void {
    for (const { dest, at, first } of this.links) {
      const lost = this.failedFiles.get(first);
      if (lost !== undefined) {
        // The file under its first name was left out: a link would point at nothing, or at an
        // older file of the target under that name. Whatever is under this name goes too.
        this.recordFailure(
          dest,
          at,
          lost.code,
          `it is a hard link of ${lost.path}, which was not restored: ${lost.reason}`,
        );
        try {
          if (!fs.lstatSync(dest).isDirectory()) fs.unlinkSync(dest);
        } catch {
          // Nothing there.
        }
        continue;
      }
      try {
        fs.rmSync(dest, { force: true, recursive: true });
        fs.linkSync(first, dest);
        this.hardLinks++;
      } catch (err) {
        this.warn(dest, `cannot link it to ${first}: ${reason(err)}`);
      }
    }
  }

  /**
   * Owner, mode, extended attributes and times, in that order: chown clears set-id bits, and the
   * ACL attributes must be set after the mode they refine. By descriptor when there is one.
   */
  private applyMeta(p: string, fd: number | undefined, node: TreeNode): void {
    const problems: string[] = [];
    const attempt = (what: string, fn: () => void) => {
      try {
        fn();
      } catch (err) {
        problems.push(`${what}: ${reason(err)}`);
      }
    };
    if (this.owners) {
      const uid = this.numericOwner || node.user === undefined ? node.uid : (userId(node.user) ?? node.uid);
      const gid =
        this.numericOwner || node.group === undefined ? node.gid : (groupId(node.group) ?? node.gid);
      attempt('owner', () => (fd === undefined ? fs.lchownSync(p, uid, gid) : fs.fchownSync(fd, uid, gid)));
    }
    if (node.type !== 'symlink') {
      attempt('mode', () =>
        fd === undefined ? fs.chmodSync(p, node.mode & 0o7777) : fs.fchmodSync(fd, node.mode & 0o7777),
      );
    }
    const n = native;
    for (const [name, value] of Object.entries(node.xattrs ?? {})) {
      if (n === undefined) {
        problems.push('extended attributes: the native addon is not built');
        break;
      }
      attempt(`extended attribute ${name}`, () => n.lsetxattr(p, name, Buffer.from(value, 'base64')));
    }
    attempt('times', () => {
      if (n === undefined) {
        const [a, m] = [nsToSeconds(node.atimeNs), nsToSeconds(node.mtimeNs)];
        if (fd === undefined) fs.lutimesSync(p, a, m);
        else fs.futimesSync(fd, a, m);
        return;
      }
      const [as, an] = splitNs(node.atimeNs);
      const [ms, mn] = splitNs(node.mtimeNs);
      if (fd === undefined) n.lutimesNs(p, as, an, ms, mn);
      else n.futimesNs(fd, as, an, ms, mn);
    });
    if (problems.length > 0) this.warn(p, `cannot set ${problems.join('; ')}`);
  }

  private async addFile(dest: string, at: string, node: TreeNode): Promise<void> {
    const content = node.content ?? [];
    const job: FileJob = {
      dest,
      at,
      node,
      remaining: content.length,
      length: 0,
      created: undefined,
      failed: false,
    };
    if (content.length === 0) {
      const fd = await this.openFileAsync(job);
      this.finishFile(job, fd);
      return;
    }
    this.batch.push(job);
    this.batchBlobs += content.length;
    if (this.batch.length >= BATCH_FILES || this.batchBlobs >= BATCH_BLOBS) await this.flushBatch();
  }

  /** Fetches the blobs of the collected files, pack by pack, and writes them. */
  async flushBatch(): Promise<void> {
    const jobs = this.batch;
    this.batch = [];
    this.batchBlobs = 0;
    const byPack = new Map<string, Piece[]>();
    for (const job of jobs) {
      let offset = 0;
      for (const hex of job.node.content ?? []) {
        const id = Buffer.from(hex, 'hex');
        const loc = this.repo.lookup(id);
        if (loc === undefined) {
          // Where the blobs after it go is unknown (its length is in the index): a partial file
          // keeps what comes before it.
          this.fail(job, 'BLOB_MISSING', `its data blob ${hex} is in no index`);
          break;
        }
        let list = byPack.get(loc.pack);
        if (list === undefined) byPack.set(loc.pack, (list = []));
        list.push({ job, id, loc, fileOffset: offset });
        offset += loc.rawLength;
      }
      job.length = offset;
    }
    const limiter = new Limiter(this.options.packConcurrency ?? this.repo.workers().threads + 1);
    const tasks = [...byPack].map(([pack, pieces]) => limiter.run(() => this.restorePack(pack, pieces)));
    for (const t of tasks) t.catch(() => undefined);
    await Promise.all(tasks);
    // Every write is done: the files left out are removed (or kept as partial files).
    for (const job of jobs) {
      const failure = this.failureOf.get(job);
      if (failure === undefined) continue;
      this.failureOf.delete(job);
      // Never created (its blobs were known to be missing before it was opened): nothing to undo.
      if (job.created === undefined) continue;
      await job.created.catch(() => undefined);
      this.discard(failure, job.length);
    }
  }

  /** Whether a piece of a file is still written: a file left out is, only to keep a partial file. */
  private wanted(job: FileJob): boolean {
    return !job.failed || this.keepPartial;
  }

  /**
   * Removes a file that could not be restored, or with keepPartial renames it NAME.cairn-partial
   * (`length` sets its size: the ranges never written stay holes).
   */
  private discard(failure: NotRestored, length: number | undefined): void {
    const dest = failure.dest;
    if (this.keepPartial) {
      const partial = `${dest}.cairn-partial`;
      try {
        if (length !== undefined) fs.truncateSync(dest, length);
        fs.renameSync(dest, partial);
        const i = this.notRestored.indexOf(failure);
        const kept = { ...failure, partial };
        if (i >= 0) this.notRestored[i] = kept;
        this.failedFiles.set(dest, kept);
        return;
      } catch (err) {
        this.warn(dest, `cannot keep what was read of it as ${partial}: ${reason(err)}`);
      }
    }
    try {
      fs.rmSync(dest, { force: true });
    } catch (err) {
      this.warn(dest, `cannot remove the partly written file: ${reason(err)}`);
    }
  }

  private recordFailure(dest: string, at: string, code: ErrorCode, why: string): NotRestored {
    const failure: NotRestored = { path: at, dest, kind: 'file', code, reason: why };
    this.notRestored.push(failure);
    this.failedFiles.set(dest, failure);
    return failure;
  }

  private async restorePack(pack: string, pieces: Piece[]): Promise<void> {
    this.options.signal?.throwIfAborted();
    pieces.sort((a, b) => a.loc.offset - b.loc.offset);
    // Files are opened ahead of the writes, OPEN_AHEAD at once: creating a file can take tenths of
    // a millisecond in the kernel, and done one at a time that would dominate a restore of many
    // small files. Writes then go through the page cache synchronously.
    const order = [...new Set(pieces.map((p) => p.job))];
    const position = new Map(order.map((job, i) => [job, i]));
    const opening = new Map<FileJob, Promise<number>>();
    let ahead = 0;
    const openAhead = (job: FileJob) => {
      const upto = Math.min((position.get(job) ?? 0) + OPEN_AHEAD, order.length);
      for (; ahead < upto; ahead++) {
        const next = order[ahead] as FileJob;
        if (!this.wanted(next)) continue;
        const p = this.openFileAsync(next);
        p.catch(() => undefined);
        opening.set(next, p);
      }
    };
    const close = async (job: FileJob) => {
      const p = opening.get(job);
      opening.delete(job);
      if (p) fs.closeSync(await p);
    };
    try {
      let i = 0;
      // Pieces before this one are read one by one: a merged read of them failed (a pack cut
      // short fails every read that reaches past its end), and each blob that is still whole
      // must be restored.
      let alone = 0;
      while (i < pieces.length) {
        this.options.signal?.throwIfAborted();
        const start = i;
        const first = pieces[i] as Piece;
        let j = i + 1;
        let end = first.loc.offset + first.loc.length;
        while (i >= alone && j < pieces.length) {
          const next = (pieces[j] as Piece).loc;
          if (next.offset - end > MERGE_GAP || next.offset + next.length - first.loc.offset > MAX_READ) break;
          end = Math.max(end, next.offset + next.length);
          j++;
        }
        const live = pieces.slice(i, j).filter((p) => this.wanted(p.job));
        i = j;
        const head = live[0];
        if (head === undefined) continue;
        openAhead(head.job);
        let buf: Buffer;
        try {
          buf = await this.repo.backend.read(
            { type: 'data', name: pack },
            { offset: first.loc.offset, length: end - first.loc.offset },
          );
        } catch (err) {
          if (!(err instanceof CairnError)) throw err;
          if (j - start > 1) {
            alone = j;
            i = start;
            continue;
          }
          for (const p of live) this.fail(p.job, err.code, err.message);
          continue;
        }
        // A cancel during the read stops here, not after a worker has opened the whole range.
        this.options.signal?.throwIfAborted();
        // Every file of the range open (ahead), then a worker opens the blobs and writes them:
        // decryption, decompression, the id check and the writes leave the main thread.
        const sent: { piece: Piece; fd: number }[] = [];
        const entries: BlobEntry[] = [];
        for (const p of live) {
          if (!this.wanted(p.job)) continue;
          openAhead(p.job);
          const opened = opening.get(p.job);
          if (opened === undefined) throw new Error(`no file opened for ${p.job.dest}`);
          const fd = await opened;
          sent.push({ piece: p, fd });
          entries.push({
            type: p.loc.type,
            codec: p.loc.codec,
            id: p.id,
            offset: p.loc.offset - first.loc.offset,
            length: p.loc.length,
            rawLength: p.loc.rawLength,
          });
        }
        const last = sent.at(-1);
        if (last === undefined) continue;
        this.progress.currentFile = last.piece.job.dest;
        let done: { written: number; bad: readonly { index: number; message: string }[] };
        try {
          done = await this.repo.workers().writeBlobs(
            pack,
            buf,
            entries,
            sent.map((x) => ({ fd: x.fd, offset: x.piece.fileOffset })),
          );
        } catch (err) {
          if (!(err instanceof BlobWriteError)) throw err;
          const dest = sent[err.index]?.piece.job.dest ?? pack;
          throw targetError(dest, Object.assign(new Error(err.message), { code: err.code }));
        }
        const bad = new Map(done.bad.map((b) => [b.index, b.message]));
        for (const [i, { piece: p, fd }] of sent.entries()) {
          const message = bad.get(i);
          if (message !== undefined) {
            this.fail(p.job, 'BLOB_CORRUPT', message);
            // A partial file goes on being written by the pieces after this one.
            if (!this.keepPartial) await close(p.job);
            continue;
          }
          if (p.job.failed) continue;
          this.bytes += p.loc.rawLength;
          this.progress.bytesDone += p.loc.rawLength;
          if (--p.job.remaining === 0) {
            opening.delete(p.job);
            this.finishFile(p.job, fd);
          }
        }
      }
    } finally {
      // Files that continue in another pack are closed here and opened again there; opens still
      // under way are waited for, so no descriptor is left behind.
      for (const p of opening.values()) {
        try {
          fs.closeSync(await p);
        } catch {
          // It failed to open: its error is reported where it was needed.
        }
      }
    }
  }

  /** Creates the file the first time (replacing whatever is in the way), opens it again later. */
  private openFileAsync(job: FileJob): Promise<number> {
    const fail = (err: unknown) => Promise.reject(targetError(job.dest, err));
    if (job.created) return job.created.then(() => openCb(job.dest, OPEN_AGAIN)).catch(fail);
    const created = this.creator.create(job.dest, OPEN_NEW, 0o600).catch(async (err: unknown) => {
      const code = errnoCode(err);
      if (code !== 'ELOOP' && code !== 'EISDIR' && code !== 'ENOTDIR' && code !== 'ENXIO') throw err;
      await fs.promises.rm(job.dest, { recursive: true, force: true });
      return openCb(job.dest, OPEN_NEW, 0o600);
    });
    job.created = created.then(() => undefined);
    job.created.catch(() => undefined);
    return created.catch(fail);
  }

  /** Sets the length (a trailing hole), owner, mode and times, then closes. */
  private finishFile(job: FileJob, fd: number): void {
    const node = job.node;
    try {
      fs.ftruncateSync(fd, job.length);
    } catch (err) {
      fs.closeSync(fd);
      throw targetError(job.dest, err);
    }
    try {
      this.applyMeta(job.dest, fd, node);
    } finally {
      fs.closeSync(fd);
    }
    if (job.length !== node.size)
      this.warn(job.dest, `restored ${job.length} bytes but the snapshot recorded ${node.size}`);
    this.files++;
    this.progress.filesDone++;
    if (this.verify) this.restoredFiles.push({ dest: job.dest, at: job.at, node });
  }

  /** Marks a file left out; the first cause is the one reported. */
  private fail(job: FileJob, code: ErrorCode, why: string): void {
    if (job.failed) return;
    job.failed = true;
    this.failureOf.set(job, this.recordFailure(job.dest, job.at, code, why));
  }

  finishDirs(): void {
    // Directories were listed after their contents, so this goes deepest first: setting a
    // directory's times is not undone by writing inside it, and a parent's restrictive mode (0600)
    // is set only after its children no longer need to be entered.
    for (const d of this.dirMeta) this.applyMeta(d.path, undefined, d.node);
  }
}
