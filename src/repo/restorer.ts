/**
 * The restorer: writes a snapshot's tree under a target directory.
 *
 * For each file, its blobs are located in the index and adjacent blobs of one pack are fetched in
 * one ranged read (sorted by offset). Every blob is authenticated and checked against its id
 * before a byte is written. Blocks of zeros are skipped, so they become holes. Metadata (mode,
 * owner, times) is applied after content, and to directories after everything inside them.
 */
import { constants, promises as fs } from 'node:fs';
import path from 'node:path';
import { CairnError, errnoCode, reason } from '../errors.ts';
import { Limiter } from './limiter.ts';
import type { Location } from './master-index.ts';
import type { Repository } from './repository.ts';
import type { SnapshotInfo } from './snapshot.ts';
import type { TreeNode } from './tree.ts';

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
  readonly fileConcurrency?: number;
  /** Apply owners (uid/gid) even when not running as root (normally only root can). */
  readonly owners?: boolean;
}

export interface RestoreSummary {
  readonly files: number;
  readonly dirs: number;
  readonly symlinks: number;
  readonly bytes: number;
  readonly warnings: readonly RestoreWarning[];
}

/** Reads of one pack closer than this are merged into one ranged read. */
const MERGE_GAP = 256 * 1024;
const MAX_READ = 32 * 1024 * 1024;
const HOLE_BLOCK = 4096;
const ZEROS = Buffer.alloc(HOLE_BLOCK);

function nsToSeconds(ns: string): number {
  const n = BigInt(ns);
  return Number(n / 1000n) / 1e6;
}

function targetError(p: string, err: unknown): CairnError {
  const code = errnoCode(err);
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new CairnError('NO_SPACE', `Cannot restore ${p}: no space left on the target device`, {
      cause: err,
    });
  }
  return new CairnError('TARGET_UNWRITABLE', `Cannot restore ${p}: ${reason(err)}`, { cause: err });
}

export async function restore(
  repo: Repository,
  snapshot: SnapshotInfo,
  target: string,
  options: RestoreOptions = {},
): Promise<RestoreSummary> {
  const r = new Restorer(repo, options);
  try {
    await fs.mkdir(target, { recursive: true });
  } catch (err) {
    throw targetError(target, err);
  }
  await r.restoreTree(snapshot.tree, path.resolve(target));
  await r.finish();
  return { files: r.files, dirs: r.dirs, symlinks: r.symlinks, bytes: r.bytes, warnings: r.warnings };
}

class Restorer {
  files = 0;
  dirs = 0;
  symlinks = 0;
  bytes = 0;
  readonly warnings: RestoreWarning[] = [];
  private readonly repo: Repository;
  private readonly options: RestoreOptions;
  private readonly limiter: Limiter;
  private readonly tasks: Promise<void>[] = [];
  private readonly dirMeta: { path: string; node: TreeNode }[] = [];
  private readonly progress: RestoreProgress;
  private readonly owners: boolean;

  constructor(repo: Repository, options: RestoreOptions) {
    this.repo = repo;
    this.options = options;
    this.limiter = new Limiter(options.fileConcurrency ?? 4);
    this.progress = options.progress ?? { filesDone: 0, bytesDone: 0, currentFile: '' };
    this.owners = options.owners ?? process.getuid?.() === 0;
  }

  private warn(p: string, message: string): void {
    const w = { path: p, message };
    this.warnings.push(w);
    this.options.onWarning?.(w);
  }

  async restoreTree(treeId: string, dir: string): Promise<void> {
    const tree = await this.repo.loadTree(treeId);
    for (const node of tree.nodes) {
      this.options.signal?.throwIfAborted();
      if (node.name === '' || node.name === '.' || node.name === '..' || node.name.includes('/')) {
        throw new CairnError(
          'BLOB_CORRUPT',
          `Cannot restore tree ${treeId}: it has an unsafe entry name ${JSON.stringify(node.name)}`,
        );
      }
      const dest = path.join(dir, node.name);
      switch (node.type) {
        case 'dir':
          try {
            await fs.mkdir(dest, { recursive: true, mode: 0o700 });
          } catch (err) {
            throw targetError(dest, err);
          }
          this.dirs++;
          if (node.subtree !== undefined) await this.restoreTree(node.subtree, dest);
          this.dirMeta.push({ path: dest, node });
          break;
        case 'file': {
          const task = this.limiter.run(() => this.restoreFile(node, dest));
          task.catch(() => undefined);
          this.tasks.push(task);
          break;
        }
        case 'symlink':
          await this.restoreSymlink(node, dest);
          break;
        default:
          this.warn(dest, `a ${node.type} is recorded but not re-created by this version`);
      }
    }
  }

  async finish(): Promise<void> {
    await Promise.all(this.tasks);
    // Deepest first, so setting a directory's times is not undone by writing inside it.
    for (const d of this.dirMeta.reverse()) await this.applyMeta(d.path, d.node, false);
  }

  private async restoreSymlink(node: TreeNode, dest: string): Promise<void> {
    try {
      await fs.rm(dest, { force: true });
      await fs.symlink(node.linkTarget ?? '', dest);
    } catch (err) {
      throw targetError(dest, err);
    }
    this.symlinks++;
    await this.applyMeta(dest, node, true);
  }

  private async restoreFile(node: TreeNode, dest: string): Promise<void> {
    this.options.signal?.throwIfAborted();
    this.progress.currentFile = dest;
    const content = node.content ?? [];
    const locs: { id: Buffer; loc: Location; fileOffset: number }[] = [];
    let fileOffset = 0;
    for (const hex of content) {
      const id = Buffer.from(hex, 'hex');
      const loc = this.repo.lookup(id);
      if (loc === undefined) {
        throw new CairnError('BLOB_MISSING', `Cannot restore ${dest}: its data blob ${hex} is in no index`);
      }
      locs.push({ id, loc, fileOffset });
      fileOffset += loc.rawLength;
    }
    let fh: fs.FileHandle;
    try {
      await fs.rm(dest, { force: true });
      fh = await fs.open(
        dest,
        constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW,
        0o600,
      );
    } catch (err) {
      throw targetError(dest, err);
    }
    try {
      let i = 0;
      while (i < locs.length) {
        // Merge the following blobs of the same pack that lie ahead and close by.
        const first = locs[i] as (typeof locs)[number];
        let j = i + 1;
        let end = first.loc.offset + first.loc.length;
        while (j < locs.length) {
          const next = (locs[j] as (typeof locs)[number]).loc;
          if (next.pack !== first.loc.pack || next.offset < end || next.offset - end > MERGE_GAP) break;
          if (next.offset + next.length - first.loc.offset > MAX_READ) break;
          end = next.offset + next.length;
          j++;
        }
        const buf = await this.repo.backend.read(
          { type: 'data', name: first.loc.pack },
          { offset: first.loc.offset, length: end - first.loc.offset },
        );
        for (let k = i; k < j; k++) {
          const b = locs[k] as (typeof locs)[number];
          const start = b.loc.offset - first.loc.offset;
          const raw = await this.repo.openBlob(b.id, b.loc, buf.subarray(start, start + b.loc.length));
          await this.writeSparse(fh, raw, b.fileOffset, dest);
          this.bytes += raw.length;
          this.progress.bytesDone += raw.length;
        }
        i = j;
      }
      await fh.truncate(fileOffset);
    } catch (err) {
      if (err instanceof CairnError) throw err;
      throw targetError(dest, err);
    } finally {
      await fh.close();
    }
    if (fileOffset !== node.size) {
      this.warn(dest, `restored ${fileOffset} bytes but the snapshot recorded ${node.size}`);
    }
    this.files++;
    this.progress.filesDone++;
    await this.applyMeta(dest, node, false);
  }

  /** Writes `data` at `at`, skipping whole zero blocks so that they stay holes. */
  private async writeSparse(fh: fs.FileHandle, data: Buffer, at: number, dest: string): Promise<void> {
    let runStart = -1;
    let pos = 0;
    const flush = async (end: number) => {
      if (runStart < 0) return;
      let written = runStart;
      while (written < end) {
        const { bytesWritten } = await fh.write(data, written, end - written, at + written);
        if (bytesWritten === 0) throw new Error(`short write to ${dest}`);
        written += bytesWritten;
      }
      runStart = -1;
    };
    // Blocks are aligned to the file, not the chunk, so holes line up with file system blocks.
    let blockEnd = HOLE_BLOCK - (at % HOLE_BLOCK);
    while (pos < data.length) {
      const end = Math.min(data.length, blockEnd);
      const zero = data.subarray(pos, end).equals(ZEROS.subarray(0, end - pos));
      if (zero) await flush(pos);
      else if (runStart < 0) runStart = pos;
      pos = end;
      blockEnd = end + HOLE_BLOCK;
    }
    await flush(data.length);
  }

  private async applyMeta(p: string, node: TreeNode, isLink: boolean): Promise<void> {
    try {
      if (this.owners) await fs.lchown(p, node.uid, node.gid);
      if (!isLink) await fs.chmod(p, node.mode & 0o7777);
      await fs.lutimes(p, nsToSeconds(node.atimeNs), nsToSeconds(node.mtimeNs));
    } catch (err) {
      this.warn(p, `cannot set metadata: ${reason(err)}`);
    }
  }
}
