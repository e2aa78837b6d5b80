/**
 * The repository engine.
 *
 * - blob: a chunk of file content (data blob) or a directory listing (tree blob), named by its
 *   HMAC id, stored compressed and sealed.
 * - pack: a file under data/ holding many blobs of one type and a trailer listing them.
 * - index: files under index/ mapping blob ids to packs; loaded into a compact in-memory table.
 * - tree: a directory's entries (metadata, content blob ids, subtree ids).
 * - snapshot: a restore point: time, host, paths, tags and the root tree.
 * - key slot: a file under keys/ wrapping the master key for one password or KEK.
 * - lock: a file under locks/ saying who uses the repository (shared or exclusive).
 *
 * This folder knows nothing of jobs, HTTP or databases: the CLI drives it alone.
 */
export {
  Repository,
  DEFAULT_PACK_SIZE,
  type InitOptions,
  type WriteBudget,
  type WriteStats,
} from './repository.ts';
export {
  SharedTokenBucket,
  sharedClock,
  type BucketOptions,
  type WriteKind,
  type WritePace,
} from './throttle.ts';
export type { RepoConfig } from './config.ts';
export { readEnvelope } from './config.ts';
export {
  listKeySlots,
  readKeySlots,
  validateKek,
  writeKeySlot,
  type KeySlotInfo,
  type Secret,
} from './keys.ts';
export { Lock, unlock, readLocks, isStale, STALE_AFTER_MS, type LockEnv, type LockInfo } from './lock.ts';
export {
  backup,
  backupPlan,
  backupStream,
  type BackupPlan,
  type FileHooks,
  type StreamSource,
  type VirtualEntry,
  normalisePaths,
  newBackupProgress,
  type BackupOptions,
  type BackupProgress,
  type BackupResult,
  type BackupWarning,
} from './archiver.ts';
export {
  restore,
  makeFolders,
  type NotRestored,
  type ReplacePolicy,
  type RestoreOptions,
  type RestoreProgress,
  type RestoreSummary,
  type RestoreWarning,
  type Diverted,
} from './restorer.ts';
export {
  check,
  parseSubset,
  type CheckOptions,
  type CheckResult,
  type Finding,
  type Affected,
  type Subset,
} from './check.ts';
export {
  repairSnapshots,
  REPAIR_CUT_LIMIT,
  REPAIRED_TAG,
  type RepairSnapshotsOptions,
  type RepairSnapshotsResult,
  type RepairProgress,
  type RepairedSnapshot,
} from './repair-snapshots.ts';
export { BACKUP_STAGES, type BackupStage } from './stages.ts';
export type {
  BackupLevel,
  RepairCut,
  Snapshot,
  SnapshotInfo,
  SnapshotPlugin,
  SnapshotRepair,
  SnapshotSummary,
} from './snapshot.ts';
export {
  applyPolicy,
  parseDuration,
  policyIsEmpty,
  type Decision,
  type GroupDecision,
  type GroupKey,
  type RetentionPolicy,
} from './forget.ts';
export { exclusiveBytes, purgeSnapshots } from './recycle.ts';
export { prune, walkNeeded, type MissingBlob, type PruneOptions, type PruneResult } from './prune.ts';
export {
  repairIndex,
  type PackProblem,
  type RepairIndexOptions,
  type RepairIndexResult,
} from './repair-index.ts';
export { readPackTrailer } from './trailer.ts';
export {
  copyMode,
  copySnapshots,
  originOf,
  type CopyMode,
  type CopyOptions,
  type CopyProgress,
  type CopyResult,
} from './copy.ts';
export {
  diffTrees,
  fileContent,
  findNode,
  rootNode,
  walk,
  type Change,
  type Difference,
  type Visited,
} from './browse.ts';
export {
  Selection,
  parsePatternFile,
  patternProblem,
  countTotals,
  CACHEDIR_SIGNATURE,
  type SelectionOptions,
  type Totals,
} from './select.ts';
export type { Tree, TreeNode, NodeType } from './tree.ts';
export { FORMAT_VERSION, BLOB_TYPE, ALIGN_THRESHOLD } from './format.ts';
export { MasterIndex } from './master-index.ts';
export { isDamaged, damagedError } from './repository.ts';
export type { DamagedSnapshot } from './snapshot.ts';
export { describeFilter, filterIsEmpty, matchesFilter, parseTagSet, type SnapshotFilter } from './filter.ts';
export { changedTags, retagSnapshots, type RetagResult, type Retagged, type TagChange } from './tag.ts';
