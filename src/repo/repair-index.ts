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
import type { Repository } from './repository.ts';
import { readPackTrailers } from './trailer.ts';

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
  const { files, damaged } = await repo.readIndexFiles(oldNames, {
    tolerant: true,
    onRead: (done, total) => progress('index', done, total),
  });
  const old = new Map<string, readonly BlobEntry[]>();
  for (const c of files) for (const p of c.packs) if (!old.has(p.id)) old.set(p.id, p.entries);
  const damagedFiles: PackProblem[] = damaged.map((d) => ({
    pack: d.name,
    code: d.error.code,
    message: d.error.message,
  }));

  const present = new Map<string, number>();
  for await (const f of repo.backend.list('data')) if (isHexId(f.name)) present.set(f.name, f.size);
  const missing = [...old.keys()].filter((p) => !present.has(p)).sort();

  // Every trailer, a file's worth of packs at a time; each group is written as an index file as
  // soon as it is read, and the last file supersedes the old ones.
  const names = [...present.keys()].sort();
  const unreadable: (PackProblem & { kept: boolean })[] = [];
  const written: string[] = [];
  let blobs = 0;
  let indexed = 0;
  let added = 0;
  for (let i = 0; i < names.length || i === 0; i += PACKS_PER_FILE) {
    const chunk = names.slice(i, i + PACKS_PER_FILE);
    const read = await readPackTrailers(
      repo.backend,
      repo.key,
      new Map(chunk.map((p) => [p, present.get(p) ?? 0])),
      { ...(signal ? { signal } : {}), onRead: (done) => progress('packs', i + done, names.length) },
    );
    const group: IndexPack[] = [];
    for (const pack of chunk) {
      let entries: readonly BlobEntry[] | undefined = read.entries.get(pack);
      const err = read.unreadable.get(pack);
      if (err !== undefined) {
        entries = old.get(pack);
        unreadable.push({ pack, code: err.code, message: reason(err), kept: entries !== undefined });
      }
      if (entries === undefined) continue;
      group.push({ id: pack, entries });
      blobs += entries.length;
      indexed++;
      if (!old.has(pack)) added++;
    }
    signal?.throwIfAborted();
    const last = i + PACKS_PER_FILE >= names.length;
    if (!options.dryRun && (group.length > 0 || (last && oldNames.length > 0)))
      written.push(await repo.writeIndexFile({ supersedes: last ? oldNames : [], packs: group }));
  }
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
