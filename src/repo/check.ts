/**
 * check: proves the repository is whole.
 *
 * Structure (always): every index file authenticates; every indexed pack exists and its trailer
 * agrees with the index; every snapshot authenticates; every tree it reaches loads; every blob a
 * tree names is indexed. With readData, every selected pack is read whole: its SHA-256 must equal
 * its name and every blob must authenticate, decompress and match its id. A finding about a pack
 * names the files and snapshots that depend on it.
 *
 * Reading the data is the long part, done by the seal pool's worker threads: each verifies one
 * pack at a time, reading it itself into a buffer it reuses when the backend has the pack in a
 * local file; otherwise the main thread reads the packs (one more than there are threads at a
 * time) and hands each whole to a thread. Meanwhile the main thread walks the trees.
 */
import { randomInt } from 'node:crypto';
import path from 'node:path';
import { CairnError, reason, type ErrorCode } from '../errors.ts';
import { isHexId, type BlobEntry } from './format.ts';
import { Limiter } from './limiter.ts';
import { FileReadError } from './seal-pool.ts';
import { readPackTrailer } from './trailer.ts';
import type { Repository } from './repository.ts';
import type { SnapshotInfo } from './snapshot.ts';
import { plural } from '../words.ts';

export type Subset = { readonly percent: number } | { readonly part: number; readonly of: number };

export interface CheckOptions {
  readonly readData?: boolean;
  readonly subset?: Subset;
  readonly signal?: AbortSignal;
  readonly onProgress?: (done: number, total: number, what: string) => void;
  /** Random source for percent subsets (injected in tests). */
  readonly random?: (max: number) => number;
}

export interface Affected {
  readonly snapshot: string;
  readonly path: string;
}

export interface Finding {
  readonly severity: 'error' | 'warning';
  readonly code: ErrorCode | 'PACK_UNREFERENCED';
  readonly message: string;
  readonly pack?: string;
  readonly blob?: string;
  /** Files (and the snapshots they are in) that need the damaged object. */
  readonly affected?: readonly Affected[];
}

export interface CheckResult {
  readonly errors: readonly Finding[];
  readonly warnings: readonly Finding[];
  readonly packs: number;
  readonly packsRead: number;
  readonly bytesRead: number;
  readonly snapshots: number;
  readonly trees: number;
  readonly blobs: number;
}

/** Parses "10%" or "2/5" (the second fifth of packs). */
export function parseSubset(text: string): Subset {
  const pct = /^(\d+(?:\.\d+)?)%$/.exec(text);
  if (pct) {
    const percent = Number(pct[1]);
    if (percent > 0 && percent <= 100) return { percent };
  }
  const part = /^(\d+)\/(\d+)$/.exec(text);
  if (part) {
    const n = Number(part[1]);
    const m = Number(part[2]);
    if (m >= 1 && n >= 1 && n <= m) return { part: n, of: m };
  }
  throw new CairnError(
    'USAGE',
    `Cannot check a subset "${text}": give a percentage like 10% or a part like 2/5 (n from 1 to m)`,
  );
}

/**
 * The packs a subset reads: for n/m, those whose name's first byte modulo m is n - 1 (the names
 * are uniformly distributed, as restic does); for a percentage, that share of the packs rounded
 * up, drawn at random, so 50% of 5 packs reads 3 of them, never none.
 */
export function selectPacks(
  packs: readonly string[],
  subset: Subset | undefined,
  random: (max: number) => number,
): string[] {
  if (subset === undefined) return [...packs];
  if ('part' in subset)
    return packs.filter((p) => parseInt(p.slice(0, 2), 16) % subset.of === subset.part - 1);
  const pool = [...packs];
  for (let i = pool.length - 1; i > 0; i--) {
    const j = random(i + 1);
    [pool[i], pool[j]] = [pool[j] as string, pool[i] as string];
  }
  return pool.slice(0, Math.ceil((pool.length * subset.percent) / 100));
}

export async function check(repo: Repository, options: CheckOptions = {}): Promise<CheckResult> {
  try {
    return await checkRepository(repo, options);
  } catch (err) {
    if (options.signal?.aborted)
      throw new CairnError('INTERRUPTED', 'Check cancelled: no verdict', { cause: err });
    throw err;
  }
}

async function checkRepository(repo: Repository, options: CheckOptions): Promise<CheckResult> {
  const findings: Finding[] = [];
  const add = (f: Finding) => findings.push(f);
  const random = options.random ?? ((max: number) => randomInt(max));

  // 1. Index files.
  const { errors: indexErrors } = await repo.loadIndex({ tolerant: true });
  for (const e of indexErrors) add({ severity: 'error', code: e.code, message: e.message });

  // Each pack's blobs are made objects only while that pack is looked at: for the whole index at
  // once, they were most of a check's heap.
  const members = repo.index.packMembers();
  const packList = [...members.keys()];
  const blobsOf = (pack: string): BlobEntry[] => (members.get(pack) ?? []).map((i) => repo.index.entryAt(i));
  /** Blobs known to be unreadable, with the pack they are in. */
  const badBlobs = new Map<string, string>();
  const badPacks = new Map<string, Finding>();
  const markPack = (pack: string, f: Finding, blobs: readonly BlobEntry[]) => {
    badPacks.set(pack, f);
    for (const b of blobs) badBlobs.set(b.id.toString('hex'), pack);
  };
  let packsRead = 0;
  let bytesRead = 0;

  // 4, begun now. The walk names what needs damaged blobs, so it must know them all and comes
  // last; but checking the packs mostly waits (for storage, and for the worker threads that
  // verify the data), so the trees are walked meanwhile as if no pack were damaged. Should one be
  // damaged after all, they are walked again once all the damage is known: a damaged repository
  // takes longer to check, a whole one does not wait for its walk.
  const stopWalk = new AbortController();
  const early = walkSnapshots(
    repo,
    new Map(),
    options.signal ? AbortSignal.any([options.signal, stopWalk.signal]) : stopWalk.signal,
  ).then(
    (w) => w,
    () => undefined,
  );

  // The threads that verify the data start while the trailers are read.
  if (options.readData) repo.workers().warm();

  const checkPacks = async () => {
    // 2. Packs present, and their trailers agreeing with the index.
    const present = new Map<string, number>();
    for await (const f of repo.backend.list('data')) present.set(f.name, f.size);
    for (const [name, size] of present) {
      if (!isHexId(name))
        add({
          severity: 'warning',
          code: 'PACK_UNREFERENCED',
          message: `data/${name} is not a pack name; it is ignored`,
          pack: name,
        });
      // A pack every blob of which is indexed elsewhere first is still named by the index.
      else if (!members.has(name) && !repo.index.hasPack(name)) {
        add({
          severity: 'warning',
          code: 'PACK_UNREFERENCED',
          message: `pack ${name} (${size} bytes) is in no index: left by an interrupted backup, or its index file was lost; restores do not read it ("cairn repair index" indexes it, prune indexes it when a snapshot needs it)`,
          pack: name,
        });
      }
    }
    const limiter = new Limiter(4);
    let done = 0;
    await Promise.all(
      packList.map((pack) =>
        limiter.run(async () => {
          options.signal?.throwIfAborted();
          const blobs = blobsOf(pack);
          const size = present.get(pack);
          if (size === undefined) {
            markPack(
              pack,
              {
                severity: 'error',
                code: 'BACKEND_NOT_FOUND',
                message: `pack ${pack} is named by the index but missing from storage`,
                pack,
              },
              blobs,
            );
            return;
          }
          try {
            const trailer = await readPackTrailer(repo.backend, repo.key, pack, size);
            // Each blob of the index must be in the trailer with every field equal.
            const atOffset = new Map<number, BlobEntry[]>();
            for (const e of trailer) {
              const list = atOffset.get(e.offset);
              if (list === undefined) atOffset.set(e.offset, [e]);
              else list.push(e);
            }
            const missing = blobs.filter((b) => !atOffset.get(b.offset)?.some((e) => sameEntry(e, b)));
            if (missing.length > 0) {
              markPack(
                pack,
                {
                  severity: 'error',
                  code: 'INDEX_CORRUPT',
                  message: `pack ${pack}: ${missing.length} blobs of the index are not in its trailer as indexed`,
                  pack,
                },
                missing,
              );
            }
          } catch (err) {
            if (!(err instanceof CairnError)) throw err;
            markPack(pack, { severity: 'error', code: err.code, message: err.message, pack }, blobs);
          }
          options.onProgress?.(++done, packList.length, 'packs');
        }),
      ),
    );

    // 3. Reading the data.
    if (options.readData) {
      const toRead = selectPacks(
        packList.filter((p) => present.has(p) && !badPacks.has(p)),
        options.subset,
        random,
      );
      let n = 0;
      // Packs are verified on the worker threads, a whole pack per message. A pack in a local file
      // is read by the thread itself, into a buffer it reuses. Any other the main thread reads:
      // each thread verifies one pack at a time, and one more pack is read ahead, so a thread
      // that is done gets its next pack at once and memory holds threads + 1 packs.
      const pool = repo.workers();
      const inMemory = new Limiter(pool.threads + 1);
      const verifying = new Limiter(pool.threads);
      const verifyRead = async (pack: string, blobs: readonly BlobEntry[]) => {
        const bytes = await repo.backend.read({ type: 'data', name: pack });
        return verifying.run(() => pool.verifyPack(pack, bytes, blobs));
      };
      const verify = async (pack: string, blobs: readonly BlobEntry[]) => {
        const file = repo.backend.localPath({ type: 'data', name: pack });
        if (file === undefined) return verifyRead(pack, blobs);
        try {
          return await verifying.run(() => pool.verifyPackFile(pack, file, blobs));
        } catch (err) {
          // Read through the backend instead, which says what is wrong in its own terms.
          if (err instanceof FileReadError) return verifyRead(pack, blobs);
          throw err;
        }
      };
      await Promise.all(
        toRead.map((pack) =>
          inMemory.run(async () => {
            options.signal?.throwIfAborted();
            const blobs = blobsOf(pack);
            const verdict = await verify(pack, blobs);
            packsRead++;
            bytesRead += verdict.size;
            const bad = verdict.bad.map((b) => blobs[b.index] as BlobEntry);
            const hashOk = verdict.sha256 === pack;
            if (!hashOk || bad.length > 0) {
              const what =
                bad.length > 0
                  ? `${bad.length} of its ${blobs.length} blobs fail verification`
                  : 'its padding or trailer was changed (every blob still verifies)';
              markPack(
                pack,
                {
                  severity: 'error',
                  code: 'PACK_CORRUPT',
                  message: `pack ${pack} is damaged: its content does not match its name (SHA-256); ${what}`,
                  pack,
                },
                bad,
              );
            }
            options.onProgress?.(++n, toRead.length, 'read');
          }),
        ),
      );
    }
  };
  try {
    await checkPacks();
  } catch (err) {
    stopWalk.abort();
    await early;
    throw err;
  }
  let walked: Walked | undefined;
  if (badPacks.size > 0) {
    stopWalk.abort();
    await early;
  } else {
    // A walk that failed is done again too, so that it fails as it would have on its own.
    walked = await early;
  }
  walked ??= await walkSnapshots(repo, badBlobs, options.signal);

  const { snapshots } = walked;
  for (const e of walked.errors) add({ severity: 'error', code: e.code, message: e.message });
  const affectedByPack = new Map<string, Affected[]>();
  for (const [i, snap] of snapshots.entries()) {
    for (const h of walked.hits[i] ?? []) {
      if (h.kind === 'tree') {
        // The pack's own finding names the folder too, rather than saying that nothing needs it.
        if (h.pack !== undefined && badPacks.has(h.pack)) {
          let list = affectedByPack.get(h.pack);
          if (list === undefined) affectedByPack.set(h.pack, (list = []));
          list.push({ snapshot: snap.id, path: h.path });
        }
        add({
          severity: 'error',
          code: h.code,
          message: `snapshot ${snap.id.slice(0, 12)}: ${h.message}`,
          ...(h.pack ? { pack: h.pack } : {}),
          blob: h.blob,
          affected: [{ snapshot: snap.id, path: h.path }],
        });
        continue;
      }
      if (h.pack === undefined) {
        add({
          severity: 'error',
          code: 'BLOB_MISSING',
          message: `snapshot ${snap.id.slice(0, 12)}: ${h.path} needs blob ${h.blob}, which is in no index`,
          blob: h.blob,
          affected: [{ snapshot: snap.id, path: h.path }],
        });
        continue;
      }
      let list = affectedByPack.get(h.pack);
      if (list === undefined) affectedByPack.set(h.pack, (list = []));
      list.push({ snapshot: snap.id, path: h.path });
    }
  }
  for (const [pack, f] of badPacks) {
    const affected = affectedByPack.get(pack) ?? [];
    const snaps = new Set(affected.map((a) => a.snapshot));
    const tail =
      affected.length > 0
        ? `; it affects ${plural(affected.length, 'file or folder', 'files or folders')} in ${plural(snaps.size, 'snapshot')}`
        : '; no file of any snapshot needs it';
    add({ ...f, message: f.message + tail, affected });
  }

  const errors = findings.filter((f) => f.severity === 'error');
  const warnings = findings.filter((f) => f.severity === 'warning');
  return {
    errors,
    warnings,
    packs: packList.length,
    packsRead,
    bytesRead,
    snapshots: snapshots.length,
    trees: walked.trees,
    blobs: repo.index.size,
  };
}

function sameEntry(a: BlobEntry, b: BlobEntry): boolean {
  return (
    a.offset === b.offset &&
    a.length === b.length &&
    a.rawLength === b.rawLength &&
    a.type === b.type &&
    a.codec === b.codec &&
    a.id.equals(b.id)
  );
}

/** The snapshots, the damaged ones, and what of each needs damaged or missing blobs. */
interface Walked {
  readonly snapshots: readonly SnapshotInfo[];
  readonly errors: readonly CairnError[];
  readonly trees: number;
  /** Each snapshot's hits, in the order of `snapshots`. */
  readonly hits: readonly (readonly Hit[])[];
}

/** Lists the snapshots and walks their trees; `bad` maps the blobs known to be damaged to their pack. */
async function walkSnapshots(
  repo: Repository,
  bad: ReadonlyMap<string, string>,
  signal: AbortSignal | undefined,
): Promise<Walked> {
  const { snapshots, errors } = await repo.listSnapshots();
  const walk = new TreeWalk(repo, bad, signal);
  const hits: Hit[][] = [];
  for (const snap of snapshots) {
    signal?.throwIfAborted();
    hits.push(await walk.affected(snap.tree, '/'));
  }
  return { snapshots, errors, trees: walk.trees, hits };
}

/** Something below a tree that cannot be restored: a file needing a blob, or a tree that cannot be read. */
export interface Hit {
  readonly kind: 'file' | 'tree';
  readonly path: string;
  readonly blob: string;
  readonly pack: string | undefined;
  readonly code: ErrorCode;
  readonly message: string;
}

/**
 * Walks trees once each; remembers per tree which of its files need bad or missing blobs, and
 * which of its folders cannot be read. Used by check and by repairSnapshots.
 */
export class TreeWalk {
  trees = 0;
  private readonly memo = new Map<string, Hit[]>();
  private readonly repo: Repository;
  private readonly bad: ReadonlyMap<string, string>;
  private readonly signal: AbortSignal | undefined;
  private readonly onTree: ((trees: number) => void) | undefined;

  /** `onTree` is called after each tree is counted, with the count so far (for progress). */
  constructor(
    repo: Repository,
    bad: ReadonlyMap<string, string>,
    signal: AbortSignal | undefined,
    onTree?: (trees: number) => void,
  ) {
    this.repo = repo;
    this.bad = bad;
    this.signal = signal;
    this.onTree = onTree;
  }

  /** Hits with paths relative to the tree, prefixed by `prefix`. */
  async affected(treeId: string, prefix: string): Promise<Hit[]> {
    return (await this.relative(treeId)).map((h) => ({ ...h, path: path.posix.join(prefix, h.path) }));
  }

  /**
   * Hits with paths relative to the tree ('' for the tree itself when it cannot be read, 'a/b'
   * for what is below it); not to be changed. Each tree is read once, however often asked for.
   */
  async relative(treeId: string): Promise<readonly Hit[]> {
    let rel = this.memo.get(treeId);
    if (rel === undefined) {
      rel = await this.compute(treeId);
      this.memo.set(treeId, rel);
    }
    return rel;
  }

  private async compute(treeId: string): Promise<Hit[]> {
    this.signal?.throwIfAborted();
    this.trees++;
    this.onTree?.(this.trees);
    const hits: Hit[] = [];
    const id = Buffer.from(treeId, 'hex');
    const badPack = this.bad.get(treeId);
    if (badPack !== undefined || !this.repo.index.has(id)) {
      return [
        {
          kind: 'tree',
          path: '',
          blob: treeId,
          pack: badPack,
          code: badPack ? 'PACK_CORRUPT' : 'BLOB_MISSING',
          message: `tree ${treeId} is ${badPack ? `in damaged pack ${badPack}` : 'in no index'}; the folder cannot be restored`,
        },
      ];
    }
    let nodes;
    try {
      nodes = (await this.repo.loadTree(treeId)).nodes;
    } catch (err) {
      const code = err instanceof CairnError ? err.code : 'BLOB_CORRUPT';
      return [
        {
          kind: 'tree',
          path: '',
          blob: treeId,
          pack: this.repo.lookup(id)?.pack,
          code,
          message: reason(err),
        },
      ];
    }
    for (const n of nodes) {
      if (n.type === 'dir' && n.subtree !== undefined) {
        hits.push(...(await this.affected(n.subtree, n.name)));
      } else if (n.type === 'file') {
        // One hit for each damaged pack the file needs, so that each pack's finding names it, and
        // one for its first blob in no index.
        const seen = new Set<string | undefined>();
        for (const blob of n.content ?? []) {
          const pack = this.bad.get(blob);
          if (pack === undefined && this.repo.index.has(Buffer.from(blob, 'hex'))) continue;
          if (seen.has(pack)) continue;
          seen.add(pack);
          hits.push({
            kind: 'file',
            path: n.name,
            blob,
            pack,
            code: pack ? 'PACK_CORRUPT' : 'BLOB_MISSING',
            message: '',
          });
        }
      }
    }
    return hits;
  }
}

export type { SnapshotInfo };
