/**
 * Snapshots: the files under snapshots/, one per restore point, each a sealed JSON manifest
 * naming the root tree. A snapshot's id is the SHA-256 of its file's bytes.
 */

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
}

export interface SnapshotInfo extends Snapshot {
  readonly id: string;
}
