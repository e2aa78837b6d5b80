/**
 * repairSnapshots: new snapshots without what cannot be restored.
 *
 * A snapshot is damaged when a file of it needs a data blob that is in no index (or in a pack the
 * index names but the storage lacks), or a folder's tree blob is in no index or cannot be read
 * (it does not authenticate, decompress or parse). Such a snapshot gets a replacement: the same
 * manifest (time, host, paths, username, plugins, summary…) with the tag `repaired` added and a
 * `repaired` record (repository-format.md §9), whose tree is the original's with the damaged files
 * removed from their folders and the unreadable folders kept empty, with the metadata their
 * parent's node records. Trees with nothing damaged below them keep their ids; each changed tree
 * is saved as a new tree blob. Data blobs are not read: a blob whose bytes are damaged but which
 * is indexed is not found here (`check --read-data` finds it).
 *
 * Guarantees:
 * - Crash rule (§12): the new trees are flushed (durable packs, durable index) before any new
 *   snapshot is written, and an original is removed (with `forget`) only after its replacement
 *   is written.
 * - Snapshots needing nothing missing are left alone; a snapshot that already has a replacement
 *   (a snapshot whose `repaired.from` names it) is not repaired again, so running twice writes
 *   nothing the second time.
 * - Snapshot files that cannot be read are reported, never removed: nothing in them is known.
 * - With `dryRun` nothing is written or removed; the result says what would be cut.
 */
import { CairnError } from '../errors.ts';
import { TreeWalk, type Hit } from './check.ts';
import { isHexId } from './format.ts';
import { Limiter } from './limiter.ts';
import type { Repository } from './repository.ts';
import type { RepairCut, Snapshot, SnapshotInfo } from './snapshot.ts';
import type { Tree, TreeNode } from './tree.ts';

/** At most this many cuts are listed in a repaired snapshot's manifest (all are counted). */
export const REPAIR_CUT_LIMIT = 100;

/** The tag a repaired snapshot carries besides the original's. */
export const REPAIRED_TAG = 'repaired';

export interface RepairSnapshotsOptions {
  /** Snapshots to look at: "latest" or id prefixes (of readable or unreadable files); all when empty. */
  readonly snapshots?: readonly string[];
  /** Remove each original once its replacement is written (and originals repaired earlier). */
  readonly forget?: boolean;
  readonly dryRun?: boolean;
  readonly signal?: AbortSignal;
  /** Called after each tree is read and each snapshot is looked at. */
  readonly onProgress?: (p: RepairProgress) => void;
  /** The clock for `repaired.time` (injected in tests). */
  readonly now?: () => Date;
}

export interface RepairProgress {
  readonly snapshotsDone: number;
  readonly snapshotsTotal: number;
  /** Trees read so far. */
  readonly trees: number;
}

export interface RepairedSnapshot {
  readonly original: string;
  /** The new snapshot's id; undefined in a dry run. */
  readonly replacement: string | undefined;
  readonly time: string;
  /** Everything cut, in walk order (the manifest keeps the first REPAIR_CUT_LIMIT). */
  readonly cut: readonly RepairCut[];
  /** Whether the original was removed. */
  readonly forgotten: boolean;
}

export interface RepairSnapshotsResult {
  readonly dryRun: boolean;
  /** Readable snapshots looked at. */
  readonly snapshots: number;
  /** Of those, how many need nothing missing. */
  readonly intact: number;
  readonly repaired: readonly RepairedSnapshot[];
  /** Damaged snapshots that an earlier repair already replaced; removed now with `forget`. */
  readonly alreadyRepaired: readonly {
    readonly original: string;
    readonly replacement: string;
    readonly forgotten: boolean;
  }[];
  /** Snapshot files that cannot be read at all, so cannot be repaired. */
  readonly unreadable: readonly { readonly id: string; readonly message: string }[];
  /** Trees read, and tree blobs written anew (0 in a dry run). */
  readonly trees: number;
  readonly treesWritten: number;
  /** Packs the index names that the storage lacks (their blobs count as missing). */
  readonly missingPacks: readonly string[];
}

export async function repairSnapshots(
  repo: Repository,
  options: RepairSnapshotsOptions = {},
): Promise<RepairSnapshotsResult> {
  try {
    return await repair(repo, options);
  } catch (err) {
    if (options.signal?.aborted)
      throw new CairnError(
        'INTERRUPTED',
        'Repair cancelled: replacements written so far are whole (a second run does not write them again); their originals are kept',
        { cause: err },
      );
    throw err;
  }
}

async function repair(repo: Repository, options: RepairSnapshotsOptions): Promise<RepairSnapshotsResult> {
  const dryRun = options.dryRun === true;
  const signal = options.signal;
  const now = options.now ?? (() => new Date());

  // Every snapshot file, readable or not: a replacement may exist outside the selection.
  const names: string[] = [];
  for await (const f of repo.backend.list('snapshots')) if (isHexId(f.name)) names.push(f.name);
  const readable: SnapshotInfo[] = [];
  const unreadableAll = new Map<string, string>();
  const limiter = new Limiter(8);
  await Promise.all(
    names.map((name) =>
      limiter.run(async () => {
        try {
          readable.push(await repo.loadSnapshot(name));
        } catch (err) {
          if (!(err instanceof CairnError)) throw err;
          unreadableAll.set(name, err.message);
        }
      }),
    ),
  );
  readable.sort((a, b) => a.time.localeCompare(b.time) || a.id.localeCompare(b.id));
  const selected = select(options.snapshots ?? [], names, readable);
  const replacementOf = new Map<string, string>();
  for (const s of readable) if (s.repaired !== undefined) replacementOf.set(s.repaired.from, s.id);

  // Blobs of packs that the index names and the storage lacks are as good as missing.
  const present = new Set<string>();
  for await (const f of repo.backend.list('data')) present.add(f.name);
  const bad = new Map<string, string>();
  const missingPacks: string[] = [];
  for (const [pack, members] of repo.index.packMembers()) {
    if (present.has(pack)) continue;
    missingPacks.push(pack);
    for (const i of members) bad.set(repo.index.entryAt(i).id.toString('hex'), pack);
  }

  const todo = readable.filter((s) => selected === undefined || selected.has(s.id));
  let done = 0;
  const walk = new TreeWalk(repo, bad, signal, (trees) =>
    options.onProgress?.({ snapshotsDone: done, snapshotsTotal: todo.length, trees }),
  );
  const rewriter = new Rewriter(repo, walk, bad, dryRun);
  const planned: { snap: SnapshotInfo; tree: string; cut: RepairCut[] }[] = [];
  const alreadyRepaired: { original: string; replacement: string; forgotten: boolean }[] = [];
  let intact = 0;
  for (const snap of todo) {
    signal?.throwIfAborted();
    if ((await walk.relative(snap.tree)).length === 0) intact++;
    else {
      const replacement = replacementOf.get(snap.id);
      if (replacement !== undefined)
        alreadyRepaired.push({ original: snap.id, replacement, forgotten: false });
      else planned.push({ snap, ...(await rewriter.root(snap.tree)) });
    }
    options.onProgress?.({ snapshotsDone: ++done, snapshotsTotal: todo.length, trees: walk.trees });
  }

  const repaired: RepairedSnapshot[] = [];
  if (!dryRun && planned.length > 0) {
    // Crash rule: the new trees are durable and indexed before a snapshot names them.
    await repo.flush();
    for (const { snap, tree, cut } of planned) {
      signal?.throwIfAborted();
      const time = now().toISOString();
      const replacement = await repo.saveSnapshot(repairedManifest(snap, tree, cut, time));
      repaired.push({ original: snap.id, replacement, time, cut, forgotten: false });
    }
  } else {
    const time = now().toISOString();
    for (const { snap, cut } of planned)
      repaired.push({ original: snap.id, replacement: undefined, time, cut, forgotten: false });
  }

  // Only now, every replacement being written, are originals removed.
  if (options.forget === true && !dryRun) {
    for (const [i, r] of repaired.entries()) {
      await repo.backend.remove({ type: 'snapshots', name: r.original });
      repaired[i] = { ...r, forgotten: true };
    }
    for (const [i, r] of alreadyRepaired.entries()) {
      await repo.backend.remove({ type: 'snapshots', name: r.original });
      alreadyRepaired[i] = { ...r, forgotten: true };
    }
  }

  return {
    dryRun,
    snapshots: todo.length,
    intact,
    repaired,
    alreadyRepaired,
    unreadable: [...unreadableAll]
      .filter(([id]) => selected === undefined || selected.has(id))
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([id, message]) => ({ id, message })),
    trees: walk.trees,
    treesWritten: rewriter.written,
    missingPacks: missingPacks.sort(),
  };
}

/** The ids named by `refs` ("latest" or prefixes of snapshot file names); undefined for all. */
function select(
  refs: readonly string[],
  names: readonly string[],
  readable: readonly SnapshotInfo[],
): Set<string> | undefined {
  if (refs.length === 0) return undefined;
  const out = new Set<string>();
  for (const ref of refs) {
    if (ref === 'latest') {
      const last = readable[readable.length - 1];
      if (last === undefined)
        throw new CairnError(
          'SNAPSHOT_NOT_FOUND',
          'Cannot find the latest snapshot: the repository has no readable one',
        );
      out.add(last.id);
      continue;
    }
    if (!/^[0-9a-f]{1,64}$/.test(ref))
      throw new CairnError(
        'USAGE',
        `Cannot find snapshot "${ref}": a snapshot is named by "latest" or a hex id (prefix)`,
      );
    const found = names.filter((n) => n.startsWith(ref));
    if (found.length === 0)
      throw new CairnError('SNAPSHOT_NOT_FOUND', `Cannot find snapshot ${ref}: no snapshot has that id`);
    if (found.length > 1)
      throw new CairnError(
        'SNAPSHOT_AMBIGUOUS',
        `Cannot find snapshot ${ref}: it matches ${found.length} snapshots; give more characters`,
      );
    out.add(found[0] as string);
  }
  return out;
}

function repairedManifest(
  snap: SnapshotInfo,
  tree: string,
  cut: readonly RepairCut[],
  time: string,
): Snapshot {
  const { id, repaired: _earlier, ...manifest } = snap;
  return {
    ...manifest,
    tree,
    tags: manifest.tags.includes(REPAIRED_TAG) ? manifest.tags : [...manifest.tags, REPAIRED_TAG],
    repaired: { from: id, time, count: cut.length, cut: cut.slice(0, REPAIR_CUT_LIMIT) },
  };
}

/** Cuts relative to a tree: '' is the tree itself, 'a/b' a path below it. */
interface Rewritten {
  readonly tree: string;
  readonly cut: readonly RepairCut[];
}

/** Rewrites damaged trees, each once however many snapshots share it. */
class Rewriter {
  written = 0;
  private readonly memo = new Map<string, Rewritten>();
  private empty: string | undefined;
  private readonly repo: Repository;
  private readonly walk: TreeWalk;
  private readonly bad: ReadonlyMap<string, string>;
  private readonly dryRun: boolean;

  constructor(repo: Repository, walk: TreeWalk, bad: ReadonlyMap<string, string>, dryRun: boolean) {
    this.repo = repo;
    this.walk = walk;
    this.bad = bad;
    this.dryRun = dryRun;
  }

  /** A snapshot's new root tree and its cuts with absolute paths. */
  async root(treeId: string): Promise<{ tree: string; cut: RepairCut[] }> {
    const own = (await this.walk.relative(treeId)).find(isSelf);
    if (own !== undefined) {
      // Not even the root can be read: the snapshot keeps its manifest and an empty root.
      return { tree: await this.emptyTree(), cut: [{ path: '/', kind: 'folder', reason: this.why(own) }] };
    }
    const r = await this.rewrite(treeId);
    return { tree: r.tree, cut: r.cut.map((c) => ({ ...c, path: `/${c.path}` })) };
  }

  /** A readable tree with damage below it, rewritten. */
  private async rewrite(treeId: string): Promise<Rewritten> {
    const known = this.memo.get(treeId);
    if (known !== undefined) return known;
    const hits = await this.walk.relative(treeId);
    const damagedFiles = new Map<string, Hit>();
    for (const h of hits) if (h.kind === 'file' && !damagedFiles.has(h.path)) damagedFiles.set(h.path, h);
    const { nodes } = await this.repo.loadTree(treeId);
    const kept: TreeNode[] = [];
    const cut: RepairCut[] = [];
    for (const node of nodes) {
      const fileHit = node.type === 'file' ? damagedFiles.get(node.name) : undefined;
      if (fileHit !== undefined) {
        cut.push({ path: node.name, kind: 'file', reason: this.why(fileHit) });
        continue;
      }
      if (node.type !== 'dir' || node.subtree === undefined) {
        kept.push(node);
        continue;
      }
      const below = await this.walk.relative(node.subtree);
      if (below.length === 0) {
        kept.push(node);
        continue;
      }
      const own = below.find(isSelf);
      if (own !== undefined) {
        cut.push({ path: node.name, kind: 'folder', reason: this.why(own) });
        kept.push({ ...node, subtree: await this.emptyTree() });
        continue;
      }
      const sub = await this.rewrite(node.subtree);
      for (const c of sub.cut) cut.push({ ...c, path: `${node.name}/${c.path}` });
      kept.push({ ...node, subtree: sub.tree });
    }
    const result = { tree: await this.save({ nodes: kept }), cut };
    this.memo.set(treeId, result);
    return result;
  }

  private async emptyTree(): Promise<string> {
    this.empty ??= await this.save({ nodes: [] });
    return this.empty;
  }

  private async save(tree: Tree): Promise<string> {
    if (this.dryRun) return '';
    const { id, added } = await this.repo.saveTree(tree);
    if (added) this.written++;
    return id.toString('hex');
  }

  private why(h: Hit): string {
    const what = h.kind === 'tree' ? 'tree' : 'blob';
    if (h.pack !== undefined && this.bad.get(h.blob) === h.pack)
      return `${what} ${h.blob} is in pack ${h.pack}, which is missing from storage`;
    if (h.kind === 'file') return `blob ${h.blob} is in no index`;
    if (h.code === 'BLOB_MISSING') return `tree ${h.blob} is in no index`;
    return `tree ${h.blob} cannot be read: ${h.message}`;
  }
}

function isSelf(h: Hit): boolean {
  return h.kind === 'tree' && h.path === '';
}
