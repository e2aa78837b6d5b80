/**
 * Snapshots: the files under snapshots/, one per restore point, each a sealed JSON manifest
 * naming the root tree. A snapshot's id is the SHA-256 of its file's bytes.
 */
import type { CairnError } from '../errors.ts';

export interface SnapshotSummary {
  readonly filesNew: number;
  readonly filesChanged: number;
  readonly filesUnmodified: number;
  readonly dirsNew: number;
  readonly dirsChanged: number;
  readonly dirsUnmodified: number;
  readonly dataBlobs: number;
  readonly treeBlobs: number;
  readonly dataAdded: number;
  readonly dataAddedPacked: number;
  readonly totalFilesProcessed: number;
  readonly totalBytesProcessed: number;
  readonly backupStart: string;
  readonly backupEnd: string;
  readonly warnings: number;
}

/** A level of a backup, as plugins see it (Bareos' Full, Incremental, Differential). */
export type BackupLevel = 'full' | 'incremental' | 'differential';

/**
 * One plugin used by a backup: the directive it ran with (secret options left out), the entries
 * it made, and the state it keeps for the next run (the last LSN of a database, say). Written by
 * the plugin host (src/plugins/); repo/ stores it and reads nothing in it.
 */
export interface SnapshotPlugin {
  /** The plugin's name: the directive's first word. */
  readonly name: string;
  /** A command plugin makes entries; an option plugin was called for each file of the walk. */
  readonly kind: 'command' | 'option';
  /** The directive as given (options marked secret left out), e.g. "bpipe:file=/db.sql:reader=...". */
  readonly directive: string;
  /** The plugin API version the plugin spoke. */
  readonly apiVersion: number;
  readonly level: BackupLevel;
  /** The snapshot paths of the entries it made (a command plugin), sorted. */
  readonly paths: readonly string[];
  /**
   * Of those, the paths restored as plain files by the restorer (a database's data folder), not
   * handed back to the plugin; sorted. Absent: none.
   */
  readonly plain?: readonly string[];
  /** Any JSON value the plugin asked to keep, handed back to it at the next run. */
  readonly state?: unknown;
}

/** One thing a repair left out of a snapshot: a file it cut, or a folder it emptied. */
export interface RepairCut {
  /** Absolute path in the snapshot. */
  readonly path: string;
  /** `file`: the file was removed from its folder; `folder`: the folder was kept, empty. */
  readonly kind: 'file' | 'folder';
  /** Why it could not be kept, e.g. "blob 3f2a… is in no index". */
  readonly reason: string;
}

/** What `cairn repair snapshots` did to make a snapshot: recorded in the snapshot it wrote. */
export interface SnapshotRepair {
  /** The id of the damaged snapshot this one replaces. */
  readonly from: string;
  /** When the repair was made (ISO 8601). */
  readonly time: string;
  /** Files cut and folders emptied, in all. */
  readonly count: number;
  /** The first of them (at most REPAIR_CUT_LIMIT; `count` says how many there were). */
  readonly cut: readonly RepairCut[];
}

export interface Snapshot {
  readonly version: 1;
  readonly time: string;
  readonly host: string;
  readonly username: string;
  readonly uid?: number;
  readonly gid?: number;
  readonly paths: readonly string[];
  readonly tags: readonly string[];
  readonly parent?: string;
  readonly tree: string;
  readonly programVersion: string;
  readonly summary?: SnapshotSummary;
  /** For a copy made by `cairn copy`: the id of the snapshot it copies (the first, for a copy of a copy). */
  readonly original?: string;
  /** The plugins that made entries of this snapshot or were called for its files (optional). */
  readonly plugins?: readonly SnapshotPlugin[];
  /** For a snapshot written by `cairn repair snapshots`: which snapshot it replaces, what it lacks. */
  readonly repaired?: SnapshotRepair;
}

export interface SnapshotInfo extends Snapshot {
  readonly id: string;
}

/**
 * A snapshot file that cannot be read (it does not authenticate, its bytes do not match its
 * name, the storage fails to read it): nothing in it is known, not even its time.
 */
export interface DamagedSnapshot {
  /** The file's name. */
  readonly id: string;
  /** Why it cannot be read, e.g. "it does not authenticate". */
  readonly reason: string;
  readonly error: CairnError;
}
