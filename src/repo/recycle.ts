/**
 * What the restore points of a recycle bin cost: the stored bytes that only they need. The server
 * keeps a tenant's forgotten restore points for a protection period (insider protection) and
 * counts those bytes outside the tenant's quota.
 */
import { CairnError, reason } from '../errors.ts';
import { walkNeeded } from './prune.ts';
import type { Repository } from './repository.ts';
import type { SnapshotInfo } from './snapshot.ts';
import { plural } from '../words.ts';

/**
 * Stored bytes (sealed blob lengths as the index gives them) of the blobs that `only` need and
 * `others` do not. The index must be loaded. A blob or tree that cannot be found or read makes
 * the figure unknowable: that throws, so no caller mistakes a partial sum for the answer.
 */
export async function exclusiveBytes(
  repo: Repository,
  others: readonly SnapshotInfo[],
  only: readonly SnapshotInfo[],
  signal?: AbortSignal,
): Promise<number> {
  if (only.length === 0) return 0;
  const lookup = (id: Buffer) => repo.lookup(id);
  const missing: string[] = [];
  const onMissing = (m: { blob: string; path: string; snapshot: string; reason: string }) =>
    missing.push(`${m.blob.slice(0, 12)} (${m.path} of snapshot ${m.snapshot.slice(0, 8)}: ${m.reason})`);
  const kept = new Set<string>();
  await walkNeeded(repo, lookup, others, kept, onMissing, signal);
  // Walking the bin's snapshots after the others' blobs are known adds only what they alone need.
  const all = new Set(kept);
  await walkNeeded(repo, lookup, only, all, onMissing, signal);
  if (missing.length > 0) {
    throw new CairnError(
      'BLOB_MISSING',
      `Cannot measure the recycle bin: ${plural(missing.length, 'blob')} cannot be found or read, e.g. ${missing.slice(0, 3).join('; ')}`,
    );
  }
  let bytes = 0;
  for (const id of all) {
    if (kept.has(id)) continue;
    const loc = lookup(Buffer.from(id, 'hex'));
    if (loc !== undefined) bytes += loc.length;
  }
  return bytes;
}

/**
 * Removes the snapshot files of `ids` (restore points whose protection ended); a file already
 * gone counts as removed. Returns the ids removed; the first failure other than "gone" throws.
 */
export async function purgeSnapshots(repo: Repository, ids: readonly string[]): Promise<string[]> {
  const done: string[] = [];
  for (const id of ids) {
    try {
      await repo.backend.remove({ type: 'snapshots', name: id });
    } catch (err) {
      if (!(err instanceof CairnError && err.code === 'BACKEND_NOT_FOUND')) {
        throw new CairnError(
          err instanceof CairnError ? err.code : 'BACKEND_IO',
          `Cannot purge restore point ${id.slice(0, 8)} from the recycle bin: ${reason(err)}`,
          { cause: err },
        );
      }
    }
    done.push(id);
  }
  return done;
}
