/**
 * prune: removes data no snapshot needs, and never a byte that one does.
 *
 * The invariant (docs/repository-format.md §12.1): before prune deletes a pack, every blob that
 * a snapshot needs has a home in a pack that stays, and an index file that stays names it.
 *
 * 1. The picture. Every index file is read; one that cannot be read stops prune (its packs could
 *    hold anything). Packs that no index names (left by interrupted backups, or by a lost index
 *    file) are not assumed to be garbage: their trailers are read and their blobs join the
 *    picture. Every snapshot's trees are walked to find the blobs in use; a snapshot or tree that
 *    cannot be read, or a needed blob that is in no index and no pack, stops prune before
 *    anything is deleted, naming the blob, the file and the snapshot (PRUNE_UNSAFE).
 * 2. Each blob in use has one home: its first location. A pack holding no home is garbage; a pack
 *    whose unused share exceeds `maxUnused` has its homes copied into new packs (the sealed bytes
 *    as they are: no decryption) and is then garbage too; other packs stay. A pack no index named
 *    but holding homes is indexed. Where the backend can share blocks and still free the rest of a
 *    pack (XFS with reflink; not Btrfs), the homes are cloned rather than read.
 * 3. The mark: new packs and their index are written; then one index file naming every pack that
 *    stays and superseding the index files prune read; then those are removed. From here on the
 *    garbage packs are in no index: a backup that starts now never counts on them.
 * 4. The wait: operations whose lock existed at the mark (backups that loaded the old index, and
 *    may have counted on a blob in a garbage pack) are waited for, up to `maxWaitMs`.
 * 5. The sweep: snapshots written since prune began are walked; a garbage pack holding a blob one
 *    of them needs is indexed again instead of deleted, as is a pack that an index file written
 *    meanwhile names. Only then are the garbage packs deleted. When the wait ran out, nothing is
 *    deleted: the next prune finds the packs unindexed and frees them.
 * 6. Retention (S3 object lock): a pack the storage still retains is never deleted, nor repacked;
 *    it stays as it is, indexed, and is reported with the date its retention ends.
 * 7. Crash leftovers: temp files older than `tempAgeMs` and lock files of dead processes of this
 *    host are removed.
 *
 * A crash at any point loses nothing: before step 5 the garbage packs still exist, and after it
 * they are needed by nothing.
 */
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { CairnError, reason } from '../errors.ts';
import type { Handle } from '../backend/index.ts';
import { Limiter } from './limiter.ts';
import { ALIGN_THRESHOLD, BLOB_TYPE, blobTypeName, isHexId, type BlobEntry } from './format.ts';
import type { IndexPack } from './index-file.ts';
import { defaultLockEnv, locksInForce, removeDeadLocks, type LockEnv } from './lock.ts';
import { MasterIndex, type Location } from './master-index.ts';
import { PACK_TAIL_SIZE } from './pack.ts';
import type { IndexFile, Repository } from './repository.ts';
import type { SnapshotInfo } from './snapshot.ts';
import { readPackTrailers } from './trailer.ts';
import { decodeTree, type Tree } from './tree.ts';
import { plural } from '../words.ts';

export interface PruneOptions {
  /** Largest unused share of a pack that is left alone (0–1); default 0.05. */
  readonly maxUnused?: number;
  readonly dryRun?: boolean;
  readonly signal?: AbortSignal;
  readonly onProgress?: (what: string, done: number, total: number) => void;
  /** The caller's own lock, which the wait leaves out. */
  readonly lockName?: string;
  /**
   * Longest wait, in milliseconds, for operations that began before the mark (default 15
   * minutes). When it runs out, the garbage stays for the next prune.
   */
  readonly maxWaitMs?: number;
  /** How often the locks are read again while waiting (default 2 s). */
  readonly pollMs?: number;
  /** Temp files older than this are crash leftovers and removed (default 1 hour). */
  readonly tempAgeMs?: number;
  readonly lockEnv?: LockEnv;
  /** Called once the mark is durable, before the wait (tests interleave other work here). */
  readonly afterMark?: () => Promise<void>;
}

export interface PruneResult {
  readonly dryRun: boolean;
  readonly snapshots: number;
  readonly blobsUsed: number;
  readonly packsKept: number;
  readonly packsDeleted: number;
  readonly packsRepacked: number;
  /** Packs in no index holding nothing a snapshot needs (deleted with the others). */
  readonly packsUnreferenced: number;
  /** Packs in no index holding blobs a snapshot needs: indexed from their trailers, not deleted. */
  readonly packsRecovered: number;
  /** Packs in no index whose trailer cannot be read: kept, never deleted (see `cairn repair index`). */
  readonly packsUnreadable: readonly string[];
  readonly packsWritten: number;
  readonly blobsRemoved: number;
  /** Bytes read: the packs repacked, or with cloning the new packs read back to name them. */
  readonly bytesRead: number;
  /** Sealed blob bytes of the new packs (in a dry run: that would be written). */
  readonly bytesWritten: number;
  /** Of their blob bytes, bytes that share blocks with the old packs (cloned, not written again). */
  readonly bytesCloned: number;
  /** Of their blob bytes, bytes copied (all of them without cloning; with it, small blobs). */
  readonly bytesCopied: number;
  /**
   * Bytes of packs deleted minus bytes of packs written, padding and trailers included (in a dry
   * run: what a prune would free, the new packs laid out as they would be written).
   */
  readonly bytesFreed: number;
  readonly bytesBefore: number;
  /** Packs prune would delete or repack but the storage still retains (object lock): left as they are. */
  readonly packsRetained: number;
  /** Their bytes, freed by a prune after `retainedUntil`. */
  readonly bytesRetained: number;
  /** When the last of those retentions ends; undefined when none is retained. */
  readonly retainedUntil: Date | undefined;
  /** Operations that began before the mark and were waited for. */
  readonly waitedFor: number;
  readonly waitedMs: number;
  /** Garbage packs made safe again: a snapshot written during the prune needs them. */
  readonly packsRescued: number;
  /** Garbage packs left for the next prune (the wait ran out, or the sweep could not be sure). */
  readonly packsDeferred: number;
  readonly bytesDeferred: number;
  /** Why they were left, when they were. */
  readonly deferredBecause: string | undefined;
  /** Crash leftovers removed: temp files and lock files of dead processes of this host. */
  readonly tempFilesRemoved: number;
  readonly locksRemoved: number;
}

/** A blob a snapshot needs that cannot be found or read. */
export interface MissingBlob {
  readonly blob: string;
  readonly kind: 'data' | 'tree';
  readonly snapshot: string;
  /** The file (data) or folder (tree) that needs it, as a snapshot path. */
  readonly path: string;
  readonly reason: string;
}

const DEFAULT_MAX_WAIT_MS = 15 * 60 * 1000;
const DEFAULT_POLL_MS = 2000;
const DEFAULT_TEMP_AGE_MS = 60 * 60 * 1000;
/** Trailer bytes besides the entries: sealing (nonce and tag), version and count, length and magic. */
const TRAILER_OVERHEAD = 12 + 16 + 5 + PACK_TAIL_SIZE;
const ENTRY_BYTES = 46;

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

function unsafe(message: string, cause?: unknown): CairnError {
  return new CairnError(
    'PRUNE_UNSAFE',
    `Cannot prune: ${message}; nothing was deleted`,
    cause === undefined ? undefined : { cause },
  );
}

async function loadTreeAt(repo: Repository, id: Buffer, loc: Location): Promise<Tree> {
  if (loc.type !== BLOB_TYPE.tree) throw new Error(`pack ${loc.pack} holds it as a data blob`);
  const sealed = await repo.backend.read(
    { type: 'data', name: loc.pack },
    { offset: loc.offset, length: loc.length },
  );
  return decodeTree(repo.openBlob(id, loc, sealed));
}

/**
 * Adds to `used` the ids (hex) of every blob the snapshots need, trees included, looking blobs
 * up with `lookup`; a tree already in `used` is not walked again. Each needed blob that `lookup`
 * does not find, and each tree that cannot be read, goes to `onMissing` with the path that needs it.
 */
export async function walkNeeded(
  repo: Repository,
  lookup: (id: Buffer) => Location | undefined,
  snapshots: readonly SnapshotInfo[],
  used: Set<string>,
  onMissing: (m: MissingBlob) => void,
  signal?: AbortSignal,
): Promise<void> {
  const limiter = new Limiter(8);
  const visit = async (tree: string, snapshot: string, at: string): Promise<void> => {
    if (used.has(tree)) return;
    used.add(tree);
    signal?.throwIfAborted();
    const id = Buffer.from(tree, 'hex');
    const loc = lookup(id);
    if (loc === undefined) {
      onMissing({ blob: tree, kind: 'tree', snapshot, path: at, reason: 'it is in no index and no pack' });
      return;
    }
    let tr: Tree;
    try {
      tr = await limiter.run(() => loadTreeAt(repo, id, loc));
    } catch (err) {
      onMissing({ blob: tree, kind: 'tree', snapshot, path: at, reason: reason(err) });
      return;
    }
    const below: Promise<void>[] = [];
    for (const n of tr.nodes) {
      const p = path.posix.join(at, n.name);
      for (const c of n.content ?? []) {
        if (used.has(c)) continue;
        used.add(c);
        if (lookup(Buffer.from(c, 'hex')) === undefined)
          onMissing({ blob: c, kind: 'data', snapshot, path: p, reason: 'it is in no index and no pack' });
      }
      if (n.subtree !== undefined) below.push(visit(n.subtree, snapshot, p));
    }
    await Promise.all(below);
  };
  for (const s of snapshots) await visit(s.tree, s.id, '/');
}

function missingError(missing: readonly MissingBlob[], unreadable: readonly string[]): CairnError {
  const shown = missing
    .slice(0, 5)
    .map(
      (m) =>
        `${m.kind} blob ${m.blob} (${m.kind === 'tree' ? 'folder' : 'file'} ${m.path} of snapshot ${m.snapshot.slice(0, 8)}): ${m.reason}`,
    )
    .join('; ');
  const more = missing.length > 5 ? `; and ${missing.length - 5} more` : '';
  const hint =
    unreadable.length > 0
      ? ` ${unreadable.length === 1 ? '1 pack in no index has a trailer' : `${unreadable.length} packs in no index have a trailer`} that cannot be read (${unreadable.slice(0, 3).join(', ')}): they may hold them. Run "cairn check --read-data" to see the damage, "cairn repair index" to index what the packs hold, and "cairn repair snapshots" for snapshots whose data is gone`
      : ' Run "cairn check" to see every file affected, "cairn repair index" if an index file was lost, and "cairn repair snapshots" for snapshots whose data is gone';
  return unsafe(
    `${plural(missing.length, 'blob')} that snapshots need cannot be found or read: ${shown}${more}.${hint}`,
  );
}

/**
 * The bytes of the packs that repacking `blobs` (in this order) writes, laid out as PackWriter
 * does: large data blobs at aligned offsets, small ones densely after them, a trailer each.
 */
export function repackedSize(blobs: readonly BlobEntry[], alignment: number, packSize: number): number {
  let total = 0;
  for (const type of [BLOB_TYPE.data, BLOB_TYPE.tree]) {
    let offset = 0;
    let small = 0;
    let count = 0;
    const close = () => {
      if (count > 0) total += offset + small + TRAILER_OVERHEAD + ENTRY_BYTES * count;
      offset = small = count = 0;
    };
    for (const b of blobs) {
      if (b.type !== type) continue;
      if (type === BLOB_TYPE.data && b.length >= ALIGN_THRESHOLD) {
        offset = Math.ceil(offset / alignment) * alignment + b.length;
      } else small += b.length;
      count++;
      if (offset + small >= packSize) close();
    }
    close();
  }
  return total;
}

export async function prune(repo: Repository, options: PruneOptions = {}): Promise<PruneResult> {
  const maxUnused = options.maxUnused ?? 0.05;
  if (!(maxUnused >= 0 && maxUnused <= 1)) {
    throw new CairnError(
      'USAGE',
      `Cannot prune: the largest unused share must be from 0% to 100%, not ${maxUnused * 100}%`,
    );
  }
  const progress = options.onProgress ?? (() => undefined);
  const signal = options.signal;
  const env = options.lockEnv ?? defaultLockEnv;

  // 1. The picture: snapshots, index files, packs, trailers of unindexed packs, blobs in use.
  // Snapshots first: a backup writes its packs and index before its snapshot, so whatever a
  // snapshot listed now needs is in the index files and packs listed after it.
  const { snapshots, errors } = await repo.listSnapshots();
  const firstError = errors[0];
  if (firstError) {
    throw new CairnError(
      firstError.code,
      `Cannot prune: ${firstError.message}; nothing was deleted. The blobs it needs cannot be known: put its file back, or remove it with "cairn forget ID" if it is lost`,
      { cause: firstError },
    );
  }
  const indexNames: string[] = [];
  for await (const f of repo.backend.list('index')) indexNames.push(f.name);
  let indexes: IndexFile[];
  try {
    ({ files: indexes } = await repo.readIndexFiles(indexNames, {
      onRead: (done, total) => progress('index', done, total),
    }));
  } catch (err) {
    throw unsafe(
      `${reason(err)}. Packs it names would look unused. Run "cairn repair index" to rebuild the index from the packs`,
      err,
    );
  }
  const read = new Set(indexNames);
  const superseded = new Set(indexes.flatMap((c) => c.supersedes));
  const packs = new Map<string, readonly BlobEntry[]>();
  for (const c of indexes) {
    if (superseded.has(c.name)) continue;
    for (const p of c.packs) if (!packs.has(p.id)) packs.set(p.id, p.entries);
  }
  indexes = [];

  const present = new Map<string, number>();
  for await (const f of repo.backend.list('data')) present.set(f.name, f.size);
  for (const pack of packs.keys()) {
    if (!present.has(pack)) {
      throw unsafe(
        `pack ${pack} is named by the index but missing from storage. Run "cairn check" to see what needs it and "cairn repair index" to index only the packs there are`,
      );
    }
  }

  // Packs no index names: their trailers say what they hold.
  const orphans = [...present.keys()].filter((p) => !packs.has(p) && isHexId(p)).sort();
  const { entries: orphanEntries, unreadable: damaged } = await readPackTrailers(
    repo.backend,
    repo.key,
    new Map(orphans.map((p) => [p, present.get(p) ?? 0])),
    { ...(signal ? { signal } : {}), onRead: (done, total) => progress('trailers', done, total) },
  );
  const unreadable = [...damaged.keys()].sort();

  // One lookup over both, indexed locations first, as readers would see them once indexed.
  const index = new MasterIndex();
  for (const [pack, entries] of packs) index.addPack(pack, entries);
  for (const pack of orphans) {
    const entries = orphanEntries.get(pack);
    if (entries !== undefined) index.addPack(pack, entries);
  }

  const used = new Set<string>();
  const missing: MissingBlob[] = [];
  await walkNeeded(
    repo,
    (id) => index.get(id),
    snapshots,
    used,
    (m) => missing.push(m),
    signal,
  );
  if (missing.length > 0) throw missingError(missing, unreadable);
  signal?.throwIfAborted();

  // 2. Homes and shares.
  const homes = index.byPack((id) => used.has(id.toString('hex')));
  const all = new Map<string, readonly BlobEntry[]>([...packs, ...orphanEntries]);
  let bytesBefore = 0;
  for (const size of present.values()) bytesBefore += size;
  const remove: string[] = [];
  const repack: string[] = [];
  const keep: string[] = [];
  let unreferenced: string[] = [];
  let recovered = 0;
  let blobsRemoved = 0;
  for (const [pack, entries] of all) {
    const live = homes.get(pack) ?? [];
    const orphan = !packs.has(pack);
    // Shares of blob bytes: a pack's trailer and alignment padding are not garbage.
    const total = entries.reduce((n, e) => n + e.length, 0);
    const liveBytes = live.reduce((n, e) => n + e.length, 0);
    blobsRemoved += entries.length - live.length;
    if (live.length === 0) (orphan ? unreferenced : remove).push(pack);
    else {
      if (orphan) recovered++;
      if (total > 0 && 1 - liveBytes / total > maxUnused) repack.push(pack);
      else keep.push(pack);
    }
  }

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
    // A retained pack in no index stays unindexed unless it holds something needed (then it is in repack or keep).
    keep.push(...remove.filter(held), ...repack.filter(held));
    remove.splice(0, remove.length, ...remove.filter((p) => !held(p)));
    repack.splice(0, repack.length, ...repack.filter((p) => !held(p)));
    unreferenced = unreferenced.filter((p) => !held(p));
  }
  const doomed = [...remove, ...repack, ...unreferenced];
  let doomedBytes = 0;
  for (const p of doomed) doomedBytes += present.get(p) ?? 0;

  const base = {
    snapshots: snapshots.length,
    blobsUsed: used.size,
    packsKept: keep.length,
    packsDeleted: remove.length,
    packsRepacked: repack.length,
    packsUnreferenced: unreferenced.length,
    packsRecovered: recovered,
    packsUnreadable: unreadable,
    blobsRemoved,
    bytesBefore,
    packsRetained: locked.size,
    bytesRetained,
    retainedUntil,
  };

  if (options.dryRun) {
    const moving = repack.flatMap((p) => homes.get(p) ?? []);
    const packBytes = repackedSize(moving, repo.config.alignment, repo.config.packSize);
    return {
      ...base,
      dryRun: true,
      packsWritten: 0,
      bytesRead: 0,
      bytesWritten: moving.reduce((n, e) => n + e.length, 0),
      bytesCloned: 0,
      bytesCopied: 0,
      bytesFreed: doomedBytes - packBytes,
      waitedFor: 0,
      waitedMs: 0,
      packsRescued: 0,
      packsDeferred: 0,
      bytesDeferred: 0,
      deferredBecause: undefined,
      tempFilesRemoved: 0,
      locksRemoved: 0,
    };
  }

  // 3. The mark. Copy the homes out of packs that are mostly garbage: by cloning their ranges
  // where the storage can share blocks, else by reading the pack and writing the sealed bytes.
  let bytesRead = 0;
  let bytesCloned = 0;
  let bytesCopied = 0;
  const cloning = repack.length > 0 && (await repo.backend.canClone(undefined, 'repack'));
  const before = { ...repo.stats };
  const ownBefore = new Set(repo.indexFileNames());
  repo.recordWrittenPacks();
  let done = 0;
  for (const pack of repack) {
    signal?.throwIfAborted();
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
    progress('repack', ++done, repack.length);
  }
  await repo.flush();
  bytesCloned += repo.stats.bytesCloned - before.bytesCloned;
  bytesCopied += repo.stats.bytesCopied - before.bytesCopied;
  bytesRead += repo.stats.bytesReadBack - before.bytesReadBack;
  const written = repo.writtenPacks();
  let bytesWritten = 0;
  let packBytes = 0;
  for (const p of written) {
    for (const e of p.entries) bytesWritten += e.length;
    packBytes += (await repo.backend.stat({ type: 'data', name: p.id })).size;
  }
  const ownWritten = repo.indexFileNames().filter((n) => !ownBefore.has(n) && !read.has(n));

  // One index for everything that stays, superseding exactly the index files prune read (and its
  // own): an index file a backup wrote meanwhile is not prune's to replace.
  const staying: IndexPack[] = [...keep.map((id) => ({ id, entries: all.get(id) ?? [] })), ...written];
  const replaced = [...read, ...ownWritten];
  // Nothing to delete and nothing to index: the index stays as it is.
  const changed = doomed.length > 0 || recovered > 0 || written.length > 0;
  const newIndex = changed ? await repo.writeIndexFile({ supersedes: replaced, packs: staying }) : '';
  const oldIndexes = changed ? replaced.filter((name) => name !== newIndex) : [];
  const heldIndexes = await retained(
    repo,
    oldIndexes.map((name) => ({ type: 'index' as const, name })),
  );
  for (const name of oldIndexes) {
    if (heldIndexes.has(name)) continue;
    try {
      await repo.backend.remove({ type: 'index', name });
    } catch (err) {
      if (!(err instanceof CairnError && err.code === 'BACKEND_NOT_FOUND')) throw err;
    }
  }
  const locksRemoved = (await removeDeadLocks(repo, env)).length;
  await options.afterMark?.();

  // 4. The wait for operations that began before the mark.
  const started = Date.now();
  const maxWait = options.maxWaitMs ?? DEFAULT_MAX_WAIT_MS;
  const inForce = async () =>
    new Set(
      (await locksInForce(repo, { ...(options.lockName ? { except: options.lockName } : {}), env })).map(
        (l) => l.name,
      ),
    );
  const earlier = doomed.length > 0 ? await inForce() : new Set<string>();
  const waitedFor = earlier.size;
  let deferredBecause: string | undefined;
  while (earlier.size > 0) {
    const now = await inForce();
    for (const name of earlier) if (!now.has(name)) earlier.delete(name);
    progress('wait', waitedFor - earlier.size, waitedFor);
    if (earlier.size === 0) break;
    if (Date.now() - started >= maxWait) {
      deferredBecause = `${earlier.size === 1 ? '1 operation that began before the new index was' : `${earlier.size} operations that began before the new index were`} still running after ${Math.round(maxWait / 1000)} s`;
      break;
    }
    try {
      await delay(options.pollMs ?? DEFAULT_POLL_MS, undefined, signal ? { signal } : {});
    } catch (err) {
      signal?.throwIfAborted();
      throw err;
    }
  }
  const waitedMs = Date.now() - started;

  // 5. The sweep: what appeared since prune began may count on a garbage pack.
  const spared = new Set<string>();
  let rescued = 0;
  if (deferredBecause === undefined && doomed.length > 0) {
    const mine = new Set([...replaced, newIndex]);
    const newer: string[] = [];
    for await (const f of repo.backend.list('index')) if (!mine.has(f.name)) newer.push(f.name);
    const current = new MasterIndex();
    for (const p of staying) current.addPack(p.id, p.entries);
    try {
      for (const c of (await repo.readIndexFiles(newer)).files) {
        for (const p of c.packs) {
          current.addPack(p.id, p.entries);
          spared.add(p.id);
        }
      }
    } catch (err) {
      deferredBecause = `an index file written during the prune cannot be read (${reason(err)})`;
    }
    const { snapshots: now, errors: newErrors } = await repo.listSnapshots();
    const known = new Set(snapshots.map((s) => s.id));
    const fresh = now.filter((s) => !known.has(s.id));
    if (newErrors.length > 0) {
      deferredBecause ??= `a snapshot file cannot be read (${newErrors[0]?.message ?? ''})`;
    }
    if (deferredBecause === undefined && fresh.length > 0) {
      const garbage = new MasterIndex();
      for (const p of doomed) garbage.addPack(p, all.get(p) ?? []);
      const needs = new Set<string>();
      const lookup = (id: Buffer): Location | undefined => {
        const at = current.get(id);
        if (at !== undefined) return at;
        const g = garbage.get(id);
        if (g !== undefined) needs.add(g.pack);
        return g;
      };
      const lost: MissingBlob[] = [];
      // `used` is done with (its size is counted): the walk adds to it rather than to a copy.
      await walkNeeded(repo, lookup, fresh, used, (m) => lost.push(m), signal);
      if (lost.length > 0) {
        // Not prune's doing (the blobs were never in the picture), but deleting now could only
        // make it worse: leave everything for the next prune, which will say what is missing.
        deferredBecause = `a snapshot written during the prune needs blobs that cannot be found (${lost[0]?.blob ?? ''})`;
      }
      const back = [...needs].filter((p) => !spared.has(p));
      if (back.length > 0) {
        await repo.writeIndexFile({
          supersedes: [],
          packs: back.map((id) => ({ id, entries: all.get(id) ?? [] })),
        });
        for (const p of back) spared.add(p);
        rescued = back.length;
      }
    }
  }

  // 6. Deleting.
  let freed = 0;
  let deferredPacks = 0;
  let deferredBytes = 0;
  if (deferredBecause !== undefined) {
    for (const p of doomed) {
      if (spared.has(p)) continue;
      deferredPacks++;
      deferredBytes += present.get(p) ?? 0;
    }
  } else {
    const going = doomed.filter((p) => !spared.has(p));
    let gone = 0;
    for (const pack of going) {
      signal?.throwIfAborted();
      try {
        await repo.backend.remove({ type: 'data', name: pack });
      } catch (err) {
        if (!(err instanceof CairnError && err.code === 'BACKEND_NOT_FOUND')) throw err;
      }
      freed += present.get(pack) ?? 0;
      progress('delete', ++gone, going.length);
    }
  }
  const tempFilesRemoved = await repo.backend.removeStaleTempFiles(options.tempAgeMs ?? DEFAULT_TEMP_AGE_MS);

  return {
    ...base,
    dryRun: false,
    packsWritten: written.length,
    bytesRead,
    bytesWritten,
    bytesCloned,
    bytesCopied,
    bytesFreed: freed - packBytes,
    waitedFor,
    waitedMs,
    packsRescued: rescued,
    packsDeferred: deferredPacks,
    bytesDeferred: deferredBytes,
    deferredBecause,
    tempFilesRemoved,
    locksRemoved,
  };
}
