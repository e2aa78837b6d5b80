/**
 * What `cairn restore` says about what it left out: the list (capped in text, whole in JSON),
 * the commands that help, and the RESTORE_INCOMPLETE error that sets the exit code.
 */
import { CairnError } from '../errors.ts';
import type { NotRestored } from '../repo/index.ts';
import { plural, type Output } from './output.ts';

/** Entries listed in text output; JSON lists them all. */
const TEXT_LIMIT = 20;

/** The JSON form of one entry left out (snake_case, like the rest of the summary). */
export function notRestoredJson(n: NotRestored): Record<string, string> {
  return {
    path: n.path,
    target_path: n.dest,
    kind: n.kind,
    code: n.code,
    reason: n.reason,
    ...(n.tree === undefined ? {} : { tree: n.tree }),
    ...(n.pack === undefined ? {} : { pack: n.pack }),
    ...(n.partial === undefined ? {} : { partial: n.partial }),
  };
}

/** Which commands help with what was left out, as lines of advice. */
export function adviceFor(list: readonly NotRestored[]): string[] {
  const repository = list.some((n) => n.code !== 'TARGET_UNWRITABLE');
  const out: string[] = [];
  if (repository) out.push('cairn check --read-data shows the damage in the repository');
  if (list.some((n) => n.code === 'BLOB_MISSING'))
    out.push('cairn repair index rebuilds the index when packs hold blobs it does not list');
  if (repository)
    out.push('cairn repair snapshots makes a snapshot without the damaged files, which then restores whole');
  if (list.some((n) => n.code === 'TARGET_UNWRITABLE'))
    out.push('files that read back differently point at the target device: check it and restore again');
  return out;
}

/**
 * Lists what was left out (text output) and throws RESTORE_INCOMPLETE when anything was; does
 * nothing when everything was restored.
 */
export function reportNotRestored(out: Output, list: readonly NotRestored[], snapshotId: string): void {
  if (list.length === 0) return;
  const files = list.filter((n) => n.kind === 'file').length;
  const folders = list.length - files;
  const counted = [
    ...(files > 0 ? [plural(files, 'file')] : []),
    ...(folders > 0 ? [plural(folders, 'folder')] : []),
  ].join(' and ');
  out.line(`not restored: ${counted}`);
  for (const n of list.slice(0, TEXT_LIMIT)) {
    const partial = n.partial === undefined ? '' : `; what could be read is in ${n.partial}`;
    const what = n.kind === 'folder' ? 'folder, with all it holds' : 'file';
    out.line(`  ${n.path} (${what}): ${n.reason} [${n.code}]${partial}`);
  }
  if (list.length > TEXT_LIMIT) out.line(`  … and ${list.length - TEXT_LIMIT} more (--json lists them all)`);
  for (const a of adviceFor(list)) out.line(`hint: ${a}`);
  throw new CairnError(
    'RESTORE_INCOMPLETE',
    `Cannot restore all of snapshot ${snapshotId.slice(0, 12)}: ${counted} left out, each listed with the reason; the rest was restored`,
  );
}
