/** The options that choose snapshots (`--host`, `--tag`, `--path`), shared by every command that takes one. */
import path from 'node:path';
import type { Command } from 'commander';
import { parseTagSet, type SnapshotFilter } from '../repo/index.ts';

export interface FilterFlags {
  readonly host?: string[];
  readonly tag?: string[];
  readonly path?: string[];
}

const repeatable = (v: string, prev: string[] | undefined) => [...(prev ?? []), v];

/**
 * Adds `--host`, `--tag` and `--path` (each repeatable) to `cmd`; `what` says what they choose,
 * e.g. "the latest snapshot among" or "only".
 */
export function withFilterOptions(cmd: Command, what = 'choose "latest" among'): Command {
  return cmd
    .option('--host <name>', `${what} snapshots of this host (repeat: any of them)`, repeatable)
    .option(
      '--tag <tag[,tag...]>',
      `${what} snapshots with these tags (a,b: both; repeat: any of the sets; "": no tags)`,
      repeatable,
    )
    .option('--path <path>', `${what} snapshots that include this path (repeat: all of them)`, repeatable);
}

/** The filter the flags describe; relative paths are resolved against the working folder. */
export function snapshotFilter(flags: FilterFlags): SnapshotFilter {
  return {
    ...(flags.host && flags.host.length > 0 ? { hosts: flags.host } : {}),
    ...(flags.tag && flags.tag.length > 0 ? { tags: flags.tag.map(parseTagSet) } : {}),
    ...(flags.path && flags.path.length > 0 ? { paths: flags.path.map((p) => path.resolve(p)) } : {}),
  };
}
