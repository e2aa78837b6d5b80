/**
 * Choosing snapshots by host, paths and tags, as restic's `--host`, `--path` and `--tag` do.
 *
 * - hosts: the snapshot's host is one of them (a repeated `--host` means either);
 * - tags: a list of tag sets; the snapshot has every tag of at least one set (`--tag a,b` is one
 *   set meaning both, a repeated `--tag` means either); an empty set matches snapshots without
 *   tags (`--tag ''`);
 * - paths: the snapshot's paths include every one of them (a repeated `--path` means all).
 * A criterion left out (or empty) matches every snapshot; the criteria given must all match.
 * Paths are compared as written: a caller resolves relative paths first (snapshots record
 * absolute, normalised paths). Pure: no I/O.
 */
import type { Snapshot } from './snapshot.ts';

export interface SnapshotFilter {
  readonly hosts?: readonly string[];
  readonly tags?: readonly (readonly string[])[];
  readonly paths?: readonly string[];
}

/** Whether the filter narrows anything (false: every snapshot matches). */
export function filterIsEmpty(f: SnapshotFilter): boolean {
  return (f.hosts ?? []).length === 0 && (f.tags ?? []).length === 0 && (f.paths ?? []).length === 0;
}

/** Whether snapshot `s` matches filter `f` (see the module comment for the rules). */
export function matchesFilter(s: Pick<Snapshot, 'host' | 'paths' | 'tags'>, f: SnapshotFilter): boolean {
  const hosts = f.hosts ?? [];
  if (hosts.length > 0 && !hosts.includes(s.host)) return false;
  const sets = f.tags ?? [];
  if (
    sets.length > 0 &&
    !sets.some((set) => (set.length === 0 ? s.tags.length === 0 : set.every((t) => s.tags.includes(t))))
  ) {
    return false;
  }
  const paths = f.paths ?? [];
  return paths.every((p) => s.paths.includes(p));
}

/**
 * A `--tag` value as a tag set: "a,b" is both a and b; "" is the empty set (no tags). Blank
 * parts are dropped, so "a," is the set {a}.
 */
export function parseTagSet(value: string): string[] {
  return value
    .split(',')
    .map((t) => t.trim())
    .filter((t) => t.length > 0);
}

/** The filter in words, for messages: `host h1 or h2, tags a and b, path /etc`. */
export function describeFilter(f: SnapshotFilter): string {
  const parts: string[] = [];
  const hosts = f.hosts ?? [];
  if (hosts.length > 0) parts.push(`host ${hosts.join(' or ')}`);
  const sets = f.tags ?? [];
  if (sets.length > 0) {
    parts.push(
      `${sets.some((s) => s.length > 1) ? 'tags' : 'tag'} ` +
        sets.map((s) => (s.length === 0 ? '(none)' : s.join(' and '))).join(' or '),
    );
  }
  const paths = f.paths ?? [];
  if (paths.length > 0) parts.push(`${paths.length > 1 ? 'paths' : 'path'} ${paths.join(' and ')}`);
  return parts.join(', ');
}
