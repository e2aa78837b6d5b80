/**
 * Changing a snapshot's tags (`cairn tag`, restic's `tag`).
 *
 * A snapshot's id is the SHA-256 of its file, so a snapshot with other tags is a new file with a
 * new id. Its manifest is the old one with the new tags and `original` set to the id of the
 * snapshot it stands for (the old one's `original` when it has one, else the old id), as restic
 * does and as `cairn copy` records a copy: copies made before and after a tag change are known to
 * stand for the same restore point. Everything else (time, host, paths, tree, parent, summary,
 * plugins) is kept.
 *
 * Crash rule: the new file is written (durably: the backend syncs it) before the old one is
 * removed, so an interruption leaves both, never neither.
 */
import { CairnError } from '../errors.ts';
import type { Repository } from './repository.ts';
import type { SnapshotInfo } from './snapshot.ts';

export interface TagChange {
  /** Tags to add (kept once). */
  readonly add?: readonly string[];
  /** Tags to remove. */
  readonly remove?: readonly string[];
  /** The tags to have instead of the present ones (not with add or remove). */
  readonly set?: readonly string[];
}

/** The tags `tags` become under `change`: sorted, each once. Throws USAGE for a change that says nothing. */
export function changedTags(tags: readonly string[], change: TagChange): string[] {
  const add = change.add ?? [];
  const remove = change.remove ?? [];
  if (change.set !== undefined) {
    if (add.length > 0 || remove.length > 0) {
      throw new CairnError('USAGE', 'Cannot change tags: give --set alone, or --add and --remove');
    }
    return [...new Set(change.set)].sort();
  }
  if (add.length === 0 && remove.length === 0) {
    throw new CairnError('USAGE', 'Cannot change tags: give --add, --remove or --set');
  }
  const result = new Set(tags);
  for (const t of add) result.add(t);
  for (const t of remove) result.delete(t);
  return [...result].sort();
}

function sameTags(a: readonly string[], b: readonly string[]): boolean {
  const x = [...a].sort();
  const y = [...b].sort();
  return x.length === y.length && x.every((t, i) => t === y[i]);
}

export interface Retagged {
  /** The old snapshot's id. */
  readonly old: string;
  /** The new snapshot's id; absent with dryRun (a sealed file's bytes, so its id, are known only once sealed). */
  readonly new?: string;
  readonly tags: readonly string[];
}

export interface RetagResult {
  readonly changed: readonly Retagged[];
  /** Ids of snapshots whose tags the change leaves as they are (nothing written). */
  readonly unchanged: readonly string[];
}

/**
 * Gives each snapshot the tags `change` makes of its own, writing a new file (see the module
 * comment) only where they differ; with `dryRun` nothing is written. Snapshots are done one
 * after another; a failure stops there, and the snapshots done are done.
 */
export async function retagSnapshots(
  repo: Pick<Repository, 'saveSnapshot' | 'backend'>,
  snapshots: readonly SnapshotInfo[],
  change: TagChange,
  options: { dryRun?: boolean } = {},
): Promise<RetagResult> {
  const changed: Retagged[] = [];
  const unchanged: string[] = [];
  for (const s of snapshots) {
    const tags = changedTags(s.tags, change);
    if (sameTags(tags, s.tags)) {
      unchanged.push(s.id);
      continue;
    }
    const { id, ...manifest } = s;
    const next = { ...manifest, tags, original: s.original ?? id };
    if (options.dryRun === true) {
      changed.push({ old: id, tags });
      continue;
    }
    const written = await repo.saveSnapshot(next);
    await repo.backend.remove({ type: 'snapshots', name: id });
    changed.push({ old: id, new: written, tags });
  }
  return { changed, unchanged };
}
