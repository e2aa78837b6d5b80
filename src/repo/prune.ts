/**
 * prune: removes data no snapshot needs.
 *
 * 1. Every snapshot's trees are walked to find the blobs in use; a snapshot or tree that cannot
 *    be read stops prune before anything is deleted (an incomplete picture must not cost data).
 * 2. Each blob in use has one home: its first indexed location. A pack holding no home is
 *    deleted; a pack whose unused share exceeds `maxUnused` has its homes copied into new packs
 *    (the sealed bytes as they are: no decryption) and is then deleted; other packs stay. Packs
 *    that no index names (left by interrupted backups) are deleted. Where the backend can share
 *    blocks and still free the rest of a pack (XFS with reflink; not Btrfs, which keeps a whole
 *    extent while any clone refers to part of it), the homes are not read at all: the backend
 *    clones each aligned blob's range into the new pack at an aligned offset and copies only the
 *    small ones.
 * 3. Order, so that a crash at any point loses nothing: new packs and their index are written;
 *    then one index file naming every pack that stays, superseding all earlier index files; only
 *    then are the old index files and the packs deleted.
 * 4. Retention (S3 object lock): a pack the storage still retains is never deleted, nor repacked
 *    (that would free nothing yet); it stays as it is, indexed, and is reported with the date its
 *    retention ends, after which a later prune frees it. Retained index files stay too: the new
 *    index supersedes them.
 */
import { CairnError, reason } from '../errors.ts';
import type { Handle } from '../backend/index.ts';
import { Limiter } from './limiter.ts';
import { blobTypeName, isHexId, type BlobEntry } from './format.ts';
import type { IndexPack } from './index-file.ts';
import type { Repository } from './repository.ts';
import type { SnapshotInfo } from './snapshot.ts';

export interface PruneOptions {
  /** Largest unused share of a pack that is left alone (0–1); default 0.05. */
  readonly maxUnused?: number;
  readonly dryRun?: boolean;
  readonly signal?: AbortSignal;
  readonly onProgress?: (what: string, done: number, total: number) => void;
}

export interface PruneResult {
  readonly dryRun: boolean;
  readonly snapshots: number;
  readonly blobsUsed: number;
  readonly packsKept: number;
  readonly packsDeleted: number;
  readonly packsRepacked: number;
  readonly packsUnreferenced: number;
  readonly packsWritten: number;
  readonly blobsRemoved: number;
  /** Bytes read: the packs repacked, or with cloning the new packs read back to name them. */
  readonly bytesRead: number;
  /** Sealed blob bytes of the new packs. */
  readonly bytesWritten: number;
  /** Of those, bytes that share blocks with the old packs (cloned, not written again). */
  readonly bytesCloned: number;
  /** Of those, bytes copied (all of them without cloning; with it, small and unaligned blobs). */
  readonly bytesCopied: number;
  /** Bytes of packs deleted minus bytes of packs written. */
  readonly bytesFreed: number;
  readonly bytesBefore: number;
  /** Packs prune would delete or repack but the storage still retains (object lock): left as they are. */
  readonly packsRetained: number;
  /** Their bytes, freed by a prune after `retainedUntil`. */
  readonly bytesRetained: number;
  /** When the last of those retentions ends; undefined when none is retained. */
  readonly retainedUntil: Date | undefined;
}

/** Which of `handles` the storage still retains, and until when (object lock); asked 8 at a time. */
async function retained(repo: Repository, handles: readonly Handle[]): Promise<Map<string, Date>> {
  const out = new Map<string, Date>();
  const limiter = new Limiter(8);
  await Promise.all(
    handles.map((h) =>
      limiter.run(async () => {
        const until = await repo.backend.retainedUntil(h);
        if (until !== undefined) out.set(h.name, until);
      }),
    ),
  );
  return out;
}

/** The ids (hex) of every blob a snapshot needs, trees included. */
export async function usedBlobs(repo: Repository, snapshots: readonly SnapshotInfo[]): Promise<Set<string>> {
  const used = new Set<string>();
  const walk = async (tree: string) => {
    if (used.has(tree)) return;
    used.add(tree);
    let nodes;
    try {
      nodes = (await repo.loadTree(tree)).nodes;
    } catch (err) {
      throw new CairnError(
        err instanceof CairnError ? err.code : 'BLOB_CORRUPT',
        `Cannot prune: tree ${tree} cannot be read (${reason(err)}); nothing was deleted. Run "cairn check" to see what is damaged`,
        { cause: err },
      );
    }
    for (const n of nodes) {
      for (const c of n.content ?? []) used.add(c);
      if (n.subtree !== undefined) await walk(n.subtree);
    }
  };
  for (const s of snapshots) await walk(s.tree);
  return used;
}

export async function prune(repo: Repository, options: PruneOptions = {}): Promise<PruneResult> {
  const maxUnused = options.maxUnused ?? 0.05;
  if (!(maxUnused >= 0 && maxUnused <= 1)) {
    throw new CairnError(
      'USAGE',
      `Cannot prune: the largest unused share must be from 0% to 100%, not ${maxUnused * 100}%`,
    );
  }
  // Homes come from the in-memory index: prune must never judge packs without it.
  if (repo.index.packCount === 0) await repo.loadIndex();
  const { snapshots, errors } = await repo.listSnapshots();
  const firstError = errors[0];
  if (firstError) {
    throw new CairnError(firstError.code, `Cannot prune: ${firstError.message}; nothing was deleted`, {
      cause: firstError,
    });
  }
  const used = await usedBlobs(repo, snapshots);
  options.signal?.throwIfAborted();

  // Every pack the index files name, with all its entries (duplicates included).
  const indexNames: string[] = [];
  for await (const f of repo.backend.list('index')) indexNames.push(f.name);
  const packs = new Map<string, readonly BlobEntry[]>();
  const superseded = new Set<string>();
  const contents: { name: string; packs: readonly IndexPack[] }[] = [];
  for (const name of indexNames) {
    const c = repo.decodeIndexFile(name, await repo.backend.read({ type: 'index', name }));
    c.supersedes.forEach((s) => superseded.add(s));
    contents.push({ name, packs: c.packs });
  }
  for (const c of contents) {
    if (superseded.has(c.name)) continue;
    for (const p of c.packs) packs.set(p.id, p.entries);
  }
  const present = new Map<string, number>();
  for await (const f of repo.backend.list('data')) present.set(f.name, f.size);
  for (const pack of packs.keys()) {
    if (!present.has(pack)) {
      throw new CairnError(
        'BACKEND_NOT_FOUND',
        `Cannot prune: pack ${pack} is indexed but missing; run "cairn check"; nothing was deleted`,
      );
    }
  }

  // Homes and shares.
  const homes = repo.index.byPack((id) => used.has(id.toString('hex')));
  let bytesBefore = 0;
  for (const size of present.values()) bytesBefore += size;
  const remove: string[] = [];
  const repack: string[] = [];
  const keep: string[] = [];
  let blobsRemoved = 0;
  for (const [pack, entries] of packs) {
    const live = homes.get(pack) ?? [];
    // Shares of blob bytes: a pack's trailer and alignment padding are not garbage.
    const total = entries.reduce((n, e) => n + e.length, 0);
    const liveBytes = live.reduce((n, e) => n + e.length, 0);
    blobsRemoved += entries.length - live.length;
    if (live.length === 0) remove.push(pack);
    else if (total > 0 && 1 - liveBytes / total > maxUnused) repack.push(pack);
    else keep.push(pack);
  }
  let unreferenced = [...present.keys()].filter((p) => !packs.has(p) && isHexId(p));

  // Packs under retention stay as they are until it ends.
  const locked = await retained(
    repo,
    [...remove, ...repack, ...unreferenced].map((name) => ({ type: 'data' as const, name })),
  );
  let bytesRetained = 0;
  let retainedUntil: Date | undefined;
  for (const [pack, until] of locked) {
    bytesRetained += present.get(pack) ?? 0;
    if (retainedUntil === undefined || until > retainedUntil) retainedUntil = until;
  }
  if (locked.size > 0) {
    const held = (p: string) => locked.has(p);
    keep.push(...remove.filter(held), ...repack.filter(held));
    remove.splice(0, remove.length, ...remove.filter((p) => !held(p)));
    repack.splice(0, repack.length, ...repack.filter((p) => !held(p)));
    unreferenced = unreferenced.filter((p) => !held(p));
  }

  let bytesRead = 0;
  let bytesWritten = 0;
  let bytesCloned = 0;
  let bytesCopied = 0;
  let packsWritten = 0;
  if (!options.dryRun) {
    // Copy the homes out of packs that are mostly garbage: by cloning their ranges where the
    // storage can share blocks, else by reading the pack and writing the sealed bytes again.
    const cloning = repack.length > 0 && (await repo.backend.canClone(undefined, 'repack'));
    const before = { ...repo.stats };
    repo.recordWrittenPacks();
    let done = 0;
    for (const pack of repack) {
      options.signal?.throwIfAborted();
      if (cloning) {
        for (const e of homes.get(pack) ?? []) {
          await repo.saveFrom(blobTypeName(e.type), { entry: e, pack }, { force: true });
        }
      } else {
        const bytes = await repo.backend.read({ type: 'data', name: pack });
        bytesRead += bytes.length;
        for (const e of homes.get(pack) ?? []) {
          await repo.repackBlob(blobTypeName(e.type), e.id, {
            codec: e.codec,
            sealed: Buffer.from(bytes.subarray(e.offset, e.offset + e.length)),
            rawLength: e.rawLength,
          });
          bytesCopied += e.length;
        }
      }
      options.onProgress?.('repack', ++done, repack.length);
    }
    await repo.flush();
    bytesCloned += repo.stats.bytesCloned - before.bytesCloned;
    bytesCopied += repo.stats.bytesCopied - before.bytesCopied;
    bytesRead += repo.stats.bytesReadBack - before.bytesReadBack;
    const written = repo.writtenPacks();
    packsWritten = written.length;
    for (const p of written) for (const e of p.entries) bytesWritten += e.length;

    // One index for everything that stays, superseding every index file there is now.
    const now: string[] = [];
    for await (const f of repo.backend.list('index')) now.push(f.name);
    const staying: IndexPack[] = [...keep.map((id) => ({ id, entries: packs.get(id) ?? [] })), ...written];
    const newIndex = await repo.writeIndexFile({ supersedes: now, packs: staying });
    const oldIndexes = now.filter((name) => name !== newIndex);
    const heldIndexes = await retained(
      repo,
      oldIndexes.map((name) => ({ type: 'index' as const, name })),
    );
    for (const name of oldIndexes) {
      if (!heldIndexes.has(name)) await repo.backend.remove({ type: 'index', name });
    }
    let gone = 0;
    const doomed = [...remove, ...repack, ...unreferenced];
    for (const pack of doomed) {
      await repo.backend.remove({ type: 'data', name: pack });
      options.onProgress?.('delete', ++gone, doomed.length);
    }
  }
  let freed = 0;
  for (const p of [...remove, ...repack, ...unreferenced]) freed += present.get(p) ?? 0;
  return {
    dryRun: options.dryRun === true,
    snapshots: snapshots.length,
    blobsUsed: used.size,
    packsKept: keep.length,
    packsDeleted: remove.length,
    packsRepacked: repack.length,
    packsUnreferenced: unreferenced.length,
    packsWritten,
    blobsRemoved,
    bytesRead,
    bytesWritten,
    bytesCloned,
    bytesCopied,
    bytesFreed: freed - bytesWritten,
    bytesBefore,
    packsRetained: locked.size,
    bytesRetained,
    retainedUntil,
  };
}
