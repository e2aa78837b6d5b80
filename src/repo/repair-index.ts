/**
 * repair index: rebuilds the index from what the packs say they hold (restic's `repair index`).
 *
 * Every pack's trailer is read. The new index files name every pack whose trailer can be read,
 * with the blobs its trailer lists; a pack whose trailer cannot be read keeps the entries a
 * readable old index file gave it (each blob is still authenticated when it is read), and is
 * reported; a pack named by the old index but absent from storage is left out, and reported.
 * The last new index file supersedes every old one, which are then removed: a crash at any point
 * leaves old and new files side by side, which readers merge. Nothing under data/ is touched.
 */
import { CairnError, reason, type ErrorCode } from '../errors.ts';
import { isHexId, type BlobEntry } from './format.ts';
import type { IndexPack } from './index-file.ts';
import { Limiter } from './limiter.ts';
import type { Repository } from './repository.ts';
import { readPackTrailer } from './trailer.ts';

export interface RepairIndexOptions {
  readonly dryRun?: boolean;
  readonly signal?: AbortSignal;
  readonly onProgress?: (what: string, done: number, total: number) => void;
}

export interface PackProblem {
  readonly pack: string;
  readonly code: ErrorCode;
  readonly message: string;
}

export interface RepairIndexResult {
  readonly dryRun: boolean;
  /** Packs in storage. */
  readonly packs: number;
  /** Packs the new index names. */
  readonly packsIndexed: number;
  /** Blob entries the new index holds. */
  readonly blobs: number;
  /** Packs the old index did not name (left by interrupted backups, or a lost index file). */
  readonly packsAdded: number;
  /** Packs the old index named that are not in storage: their blobs are gone. */
  readonly packsMissing: readonly string[];
  /** Packs whose trailer cannot be read; `kept` says whether an old index's entries were kept. */
  readonly packsUnreadable: readonly (PackProblem & { readonly kept: boolean })[];
  /** Old index files that could not be read. */
  readonly indexFilesDamaged: readonly PackProblem[];
  readonly indexFilesRemoved: number;
  readonly indexFilesWritten: number;
}

/** Packs an index file holds at most: a repository of millions of blobs gets several files. */
const PACKS_PER_FILE = 1024;

export async function repairIndex(
  repo: Repository,
  options: RepairIndexOptions = {},
): Promise<RepairIndexResult> {
  const progress = options.onProgress ?? (() => undefined);
  const signal = options.signal;

  // What the old index says, from every file that can still be read.
  const oldNames: string[] = [];
  for await (const f of repo.backend.list('index')) oldNames.push(f.name);
  const old = new Map<string, readonly BlobEntry[]>();
  const damagedFiles: PackProblem[] = [];
  const limiter = new Limiter(8);
  let n = 0;
  await Promise.all(
    oldNames.map((name) =>
      limiter.run(async () => {
        try {
          const c = repo.decodeIndexFile(name, await repo.backend.read({ type: 'index', name }));
          for (const p of c.packs) if (!old.has(p.id)) old.set(p.id, p.entries);
        } catch (err) {
          if (!(err instanceof CairnError)) throw err;
          damagedFiles.push({ pack: name, code: err.code, message: err.message });
        }
        progress('index', ++n, oldNames.length);
      }),
    ),
  );

  const present = new Map<string, number>();
  for await (const f of repo.backend.list('data')) if (isHexId(f.name)) present.set(f.name, f.size);
  const missing = [...old.keys()].filter((p) => !present.has(p)).sort();

  // Every trailer; new index files are written as packs come in, the last one supersedes.
  const names = [...present.keys()].sort();
  const unreadable: (PackProblem & { kept: boolean })[] = [];
  let group: IndexPack[] = [];
  const written: string[] = [];
  let blobs = 0;
  let indexed = 0;
  let added = 0;
  const flush = async (supersedes: readonly string[]) => {
    const packs = group;
    group = [];
    if (options.dryRun || (packs.length === 0 && supersedes.length === 0)) return;
    written.push(await repo.writeIndexFile({ supersedes, packs }));
  };
  let done = 0;
  const take = (id: string, entries: readonly BlobEntry[]) => {
    group.push({ id, entries });
    blobs += entries.length;
    indexed++;
    if (!old.has(id)) added++;
  };
  const pending: Promise<void>[] = [];
  for (const pack of names) {
    pending.push(
      limiter.run(async () => {
        signal?.throwIfAborted();
        try {
          take(pack, await readPackTrailer(repo.backend, repo.key, pack, present.get(pack) ?? 0));
        } catch (err) {
          if (!(err instanceof CairnError)) throw err;
          const known = old.get(pack);
          unreadable.push({ pack, code: err.code, message: reason(err), kept: known !== undefined });
          if (known !== undefined) take(pack, known);
        }
        progress('packs', ++done, names.length);
        if (group.length >= PACKS_PER_FILE) await flush([]);
      }),
    );
  }
  await Promise.all(pending);
  signal?.throwIfAborted();
  await flush(oldNames);
  let removed = 0;
  if (!options.dryRun) {
    const mine = new Set(written);
    for (const name of oldNames) {
      if (mine.has(name)) continue;
      try {
        await repo.backend.remove({ type: 'index', name });
        removed++;
      } catch (err) {
        if (!(err instanceof CairnError && err.code === 'BACKEND_NOT_FOUND')) throw err;
      }
    }
  }
  return {
    dryRun: options.dryRun === true,
    packs: present.size,
    packsIndexed: indexed,
    blobs,
    packsAdded: added,
    packsMissing: missing,
    packsUnreadable: unreadable.sort((a, b) => a.pack.localeCompare(b.pack)),
    indexFilesDamaged: damagedFiles,
    indexFilesRemoved: removed,
    indexFilesWritten: written.length,
  };
}
