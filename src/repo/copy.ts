/**
 * copy: restore points from one repository into another.
 *
 * A copied snapshot keeps its manifest (time, host, paths, tags, summary) and records the id of
 * the snapshot it copies in `original` (the first one's, for a copy of a copy); snapshots whose
 * original the destination already has are skipped, so copying again copies only what is new.
 *
 * How the blobs move depends on what the two repositories share:
 * - clone: the same master key, and the destination's backend can share blocks with the
 *   source's (one XFS-with-reflink or Btrfs file system): each blob's sealed bytes are cloned
 *   from the source pack into a new pack, aligned blobs at aligned offsets; nothing is read,
 *   decrypted or encrypted.
 * - raw: the same master key on storage that cannot share blocks: the sealed bytes are read and
 *   written as they are (ids and seals are valid in both repositories).
 * - reencrypt: other keys, the same chunker (init --from-repo without --copy-keys): each blob is
 *   decrypted, verified and sealed under the destination's key; trees are rewritten, since blob
 *   ids are keyed.
 * - rechunk: other keys and another chunker: files are cut again with the destination's chunker,
 *   so that its later backups deduplicate against the copy.
 *
 * Crash rule: a snapshot is written only after flush() made its blobs durable and indexed.
 */
import { CairnError } from '../errors.ts';
import { chunkStream, DEFAULT_READ_SIZE, defaultWindowSize } from '../chunker/index.ts';
import { masterKeyBytes } from '../crypto/index.ts';
import { matchesFilter, type SnapshotFilter } from './filter.ts';
import { blobTypeName, type BlobType } from './format.ts';
import type { Repository } from './repository.ts';
import type { Snapshot, SnapshotInfo } from './snapshot.ts';
import type { Tree, TreeNode } from './tree.ts';

export type CopyMode = 'clone' | 'raw' | 'reencrypt' | 'rechunk';

export interface CopyOptions {
  /** Snapshots of the source to copy ("latest" or id prefixes); all when empty. */
  readonly snapshots?: readonly string[];
  /** Narrows "latest", and which snapshots "all" means (see filter.ts). */
  readonly filter?: SnapshotFilter;
  readonly signal?: AbortSignal;
  readonly onProgress?: (p: CopyProgress) => void;
}

export interface CopyProgress {
  /** Snapshots done (copied or skipped) and to do. */
  readonly snapshotsDone: number;
  readonly snapshotsTotal: number;
  /** Blobs added to the destination so far. */
  readonly blobs: number;
  readonly bytesCloned: number;
  readonly bytesCopied: number;
}

export interface CopyResult {
  readonly mode: CopyMode;
  /** Copied snapshots: the source's id and the new copy's id. */
  readonly copied: readonly { readonly source: string; readonly copy: string }[];
  /** Source snapshots the destination already had a copy of. */
  readonly skipped: readonly string[];
  /** Blobs added to the destination (data and trees). */
  readonly blobs: number;
  /** Sealed bytes that share blocks with the source's packs. */
  readonly bytesCloned: number;
  /** Sealed bytes written anew: copied as they were (raw, or unaligned with clone), or re-sealed. */
  readonly bytesCopied: number;
}

/** The snapshot a copy stands for: its recorded original, or itself. */
export function originOf(s: SnapshotInfo): string {
  return s.original ?? s.id;
}

/** How blobs move from `src` to `dst` (see the module comment). */
export async function copyMode(src: Repository, dst: Repository): Promise<CopyMode> {
  if (masterKeyBytes(src.key).equals(masterKeyBytes(dst.key))) {
    return (await dst.backend.canClone(src.backend)) ? 'clone' : 'raw';
  }
  const a = src.config.chunker;
  const b = dst.config.chunker;
  const sameChunker =
    a.minSize === b.minSize && a.avgSize === b.avgSize && a.maxSize === b.maxSize && a.secret === b.secret;
  return sameChunker ? 'reencrypt' : 'rechunk';
}

export async function copySnapshots(
  src: Repository,
  dst: Repository,
  options: CopyOptions = {},
): Promise<CopyResult> {
  if (src.index.packCount === 0) await src.loadIndex();
  if (dst.index.packCount === 0) await dst.loadIndex();
  const listed = await src.listSnapshots();
  let wanted: SnapshotInfo[];
  if (options.snapshots !== undefined && options.snapshots.length > 0) {
    wanted = [];
    for (const ref of options.snapshots) wanted.push(await src.findSnapshot(ref, options.filter));
    wanted = [...new Map(wanted.map((s) => [s.id, s])).values()];
    wanted.sort((a, b) => a.time.localeCompare(b.time) || a.id.localeCompare(b.id));
  } else {
    const firstError = listed.errors[0];
    if (firstError) {
      throw new CairnError(firstError.code, `Cannot copy: ${firstError.message}; nothing was copied`, {
        cause: firstError,
      });
    }
    const filter = options.filter;
    wanted =
      filter === undefined ? listed.snapshots : listed.snapshots.filter((x) => matchesFilter(x, filter));
  }
  const srcById = new Map(listed.snapshots.map((s) => [s.id, s]));
  // The destination's copies by the snapshot they stand for (and its own snapshots by id).
  const present = new Map<string, string>();
  const existing = await dst.listSnapshots();
  for (const s of existing.snapshots) {
    present.set(s.id, s.id);
    present.set(originOf(s), s.id);
  }

  const mode = await copyMode(src, dst);
  const start = { ...dst.stats };
  let rawBytes = 0;
  const copied: { source: string; copy: string }[] = [];
  const skipped: string[] = [];
  const bytesCopied = () =>
    mode === 'raw'
      ? rawBytes
      : mode === 'clone'
        ? dst.stats.bytesCopied - start.bytesCopied
        : dst.stats.bytesStored - start.bytesStored;
  const blobs = () => dst.stats.dataBlobs + dst.stats.treeBlobs - start.dataBlobs - start.treeBlobs;
  const progress = (done: number) =>
    options.onProgress?.({
      snapshotsDone: done,
      snapshotsTotal: wanted.length,
      blobs: blobs(),
      bytesCloned: dst.stats.bytesCloned - start.bytesCloned,
      bytesCopied: bytesCopied(),
    });

  // Trees already walked (raw and clone) or rewritten (src id → dst id), across snapshots.
  const walked = new Set<string>();
  const rewritten = new Map<string, string>();
  const blobMap = new Map<string, string>();
  const fileMap = new Map<string, readonly string[]>();
  let window: Buffer | undefined;

  /** Takes one blob as sealed bytes into `dst` (clone or raw): both repositories share the key. */
  const take = async (type: BlobType, hex: string): Promise<void> => {
    options.signal?.throwIfAborted();
    const id = Buffer.from(hex, 'hex');
    if (dst.index.has(id)) return;
    const loc = src.lookup(id);
    if (loc === undefined || blobTypeName(loc.type) !== type) {
      throw new CairnError(
        'BLOB_MISSING',
        `Cannot copy ${type} blob ${hex}: the source repository has it in no index; run "cairn check" on it`,
      );
    }
    if (mode === 'clone') {
      await dst.saveFrom(type, { entry: { ...loc, id }, pack: loc.pack }, { source: src.backend });
      return;
    }
    const sealed = await src.backend.read(
      { type: 'data', name: loc.pack },
      { offset: loc.offset, length: loc.length },
    );
    const { added } = await dst.saveSealed(type, id, {
      codec: loc.codec,
      sealed,
      rawLength: loc.rawLength,
    });
    if (added) rawBytes += loc.length;
  };

  /** Every blob below a tree, taken as sealed bytes (clone, raw). */
  const walk = async (tree: string): Promise<void> => {
    if (walked.has(tree)) return;
    walked.add(tree);
    await take('tree', tree);
    for (const n of (await src.loadTree(tree)).nodes) {
      for (const c of n.content ?? []) await take('data', c);
      if (n.subtree !== undefined) await walk(n.subtree);
    }
  };

  /** A file's content under the destination's key (and chunker, for rechunk). */
  const rewriteContent = async (content: readonly string[]): Promise<readonly string[]> => {
    if (mode === 'reencrypt') {
      const out: string[] = [];
      for (const c of content) {
        let mapped = blobMap.get(c);
        if (mapped === undefined) {
          options.signal?.throwIfAborted();
          const plain = await src.loadBlob('data', Buffer.from(c, 'hex'));
          mapped = (await dst.saveBlob('data', plain)).id.toString('hex');
          blobMap.set(c, mapped);
        }
        out.push(mapped);
      }
      return out;
    }
    const key = content.join('');
    const known = fileMap.get(key);
    if (known !== undefined) return known;
    let next = 0;
    let pending: Buffer | undefined;
    let at = 0;
    const read = async (buf: Buffer, offset: number, length: number): Promise<number> => {
      while (pending === undefined || at >= pending.length) {
        const c = content[next++];
        if (c === undefined) return 0;
        pending = await src.loadBlob('data', Buffer.from(c, 'hex'));
        at = 0;
      }
      const n = Math.min(length, pending.length - at);
      pending.copy(buf, offset, at, at + n);
      at += n;
      return n;
    };
    window ??= Buffer.allocUnsafeSlow(defaultWindowSize(dst.chunker.maxSize, DEFAULT_READ_SIZE));
    const out: string[] = [];
    const stream = chunkStream(read, dst.chunker, {
      window,
      ...(options.signal ? { signal: options.signal } : {}),
    });
    for await (const chunk of stream) out.push((await dst.saveBlob('data', chunk)).id.toString('hex'));
    fileMap.set(key, out);
    return out;
  };

  /** A tree and everything below it under the destination's key; its new id. */
  const rewrite = async (tree: string): Promise<string> => {
    const known = rewritten.get(tree);
    if (known !== undefined) return known;
    options.signal?.throwIfAborted();
    const nodes: TreeNode[] = [];
    for (const n of (await src.loadTree(tree)).nodes) {
      let node = n;
      if (n.content !== undefined) node = { ...node, content: await rewriteContent(n.content) };
      if (n.subtree !== undefined) node = { ...node, subtree: await rewrite(n.subtree) };
      nodes.push(node);
    }
    const next: Tree = { nodes };
    const id = (await dst.saveTree(next)).id.toString('hex');
    rewritten.set(tree, id);
    return id;
  };

  try {
    for (const [i, snap] of wanted.entries()) {
      const origin = originOf(snap);
      if (present.has(origin) || present.has(snap.id)) {
        skipped.push(snap.id);
        progress(i + 1);
        continue;
      }
      let tree = snap.tree;
      if (mode === 'clone' || mode === 'raw') await walk(snap.tree);
      else tree = await rewrite(snap.tree);
      await dst.flush();
      const { id: _id, original: _original, parent, ...manifest } = snap;
      const parentCopy = parent === undefined ? undefined : srcById.get(parent);
      const parentId = parentCopy === undefined ? undefined : present.get(originOf(parentCopy));
      const copy: Snapshot = {
        ...manifest,
        tree,
        ...(parentId !== undefined ? { parent: parentId } : {}),
        original: origin,
      };
      const id = await dst.saveSnapshot(copy);
      present.set(origin, id);
      copied.push({ source: snap.id, copy: id });
      progress(i + 1);
    }
  } catch (err) {
    // Keep what is durable indexed, so copying again need not write it again.
    await dst.salvage().catch(() => {});
    throw err;
  }
  return {
    mode,
    copied,
    skipped,
    blobs: blobs(),
    bytesCloned: dst.stats.bytesCloned - start.bytesCloned,
    bytesCopied: bytesCopied(),
  };
}
