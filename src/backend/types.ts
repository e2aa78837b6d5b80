/** The backend contract: see index.ts for the words. */

export type FileType = 'config' | 'keys' | 'data' | 'index' | 'snapshots' | 'locks';

/** Names one file. For `config` the name is always `'config'`. */
export interface Handle {
  readonly type: FileType;
  readonly name: string;
}

export interface FileInfo {
  readonly name: string;
  readonly size: number;
}

export interface BackendFeatures {
  /**
   * Whether `compose` may share blocks with the files it takes ranges from, instead of copying
   * them, where the storage allows it (ask `canClone()` for a given storage).
   */
  readonly clone: boolean;
  /** The I/O size, in bytes, that reads and writes are cheapest in multiples of. */
  readonly alignment: number;
}

/**
 * One piece of a file that `compose` writes. A `range` is `length` bytes at `offset` of a stored
 * file of the source backend: shared with it (cloned) where the storage can, copied otherwise.
 * `bytes` are written as they are. `zeros` are that many zero bytes (padding), which the backend
 * may leave as a hole.
 */
export type Segment =
  | { readonly kind: 'range'; readonly from: Handle; readonly offset: number; readonly length: number }
  | { readonly kind: 'bytes'; readonly data: readonly Uint8Array[] }
  | { readonly kind: 'zeros'; readonly length: number };

/** What clones are for: a copy that keeps its source, or a repack that deletes it (see canClone). */
export type CloneUse = 'copy' | 'repack';

export interface ComposeResult {
  /** The new file's name: the SHA-256 of its bytes, in lowercase hex. */
  readonly name: string;
  readonly size: number;
  /** Bytes of `range` segments that share blocks with their source. */
  readonly bytesCloned: number;
  /** Bytes of `range` segments that were copied (unaligned, or the storage cannot share them). */
  readonly bytesCopied: number;
  /** Bytes read to name the file (the whole new file, read back once it is durable). */
  readonly bytesRead: number;
}

/**
 * The storage of one repository.
 *
 * Errors are CairnErrors: USAGE for an invalid handle or range (see `checkHandle`), checked before
 * any I/O; BACKEND_NOT_FOUND for an absent file, and for every operation but `create()` when the
 * storage itself is absent; NO_SPACE when the device is full; BACKEND_IO for any other failure
 * (the only retryable one; the underlying error is its `cause`).
 *
 * Operations on different files may run concurrently. Concurrent writes of the same file leave one
 * of the versions whole, never a mix.
 */
export interface Backend {
  /** Human-readable place of the storage, e.g. the directory path. Used in messages. */
  readonly location: string;
  readonly features: BackendFeatures;
  /**
   * Make the storage layout. REPO_EXISTS if a config is already there. Storage that is absent or
   * empty is fine, and so is repeating `create()` while no config exists (an interrupted create
   * can be finished). REPO_NOT_CAIRN if the storage holds anything else.
   */
  create(): Promise<void>;
  exists(h: Handle): Promise<boolean>;
  /** The files of one type. Order unspecified; never lists temp files (names starting `TEMP_PREFIX`). */
  list(type: FileType): AsyncIterable<FileInfo>;
  /** BACKEND_NOT_FOUND if absent. */
  stat(h: Handle): Promise<FileInfo>;
  /**
   * The whole file, or exactly `range.length` bytes from `range.offset`. A range reaching past the
   * end of the file is BACKEND_IO (a short read); an absent file is BACKEND_NOT_FOUND.
   */
  read(h: Handle, range?: { offset: number; length: number }): Promise<Buffer>;
  /**
   * Store the concatenation of `data`, replacing any existing file. Atomic (a reader sees the old
   * file or the whole new one, never part of it) and durable once the promise resolves. A failed
   * write leaves the previous state (and no temp file behind, unless the process dies).
   */
  write(h: Handle, data: readonly Uint8Array[]): Promise<void>;
  /** BACKEND_NOT_FOUND if absent. Atomic, but not necessarily durable when it resolves. */
  remove(h: Handle): Promise<void>;
  /**
   * Whether `compose` would share blocks with files of `source` (default: this backend) rather
   * than copy them: the storage is probed once. False, never an error, when it cannot. For
   * `repack` (the source files are deleted afterwards, and the space of their parts that were not
   * cloned must come free) it is also false where sharing part of a file keeps all of it
   * allocated: Btrfs frees an extent only once no clone refers to any part of it.
   */
  canClone(source?: Backend, use?: CloneUse): Promise<boolean>;
  /**
   * Writes a new file of `type` (not `config`) holding `segments` in order, and names it by the
   * SHA-256 of its bytes, which it reads back once they are durable. `range` segments name files
   * of `source` (default: this backend). Atomic and durable like `write` (a temp file, synced,
   * renamed); a failure leaves no file behind. A range past the end of its file is BACKEND_IO, an
   * absent one BACKEND_NOT_FOUND, an invalid handle or range USAGE, checked before any I/O.
   */
  compose(type: FileType, segments: readonly Segment[], source?: Backend): Promise<ComposeResult>;
  /**
   * Where a file rests on this machine's file systems, so that a local backend can clone from it;
   * undefined when its bytes are not in a local file (an object store).
   */
  localPath(h: Handle): string | undefined;
  /**
   * Until when the storage refuses to remove this file (an object lock's retention on S3), or
   * undefined when it would remove it now. Always undefined for storage without such a lock.
   * BACKEND_NOT_FOUND if absent is not promised: an absent file is simply not retained.
   */
  retainedUntil(h: Handle): Promise<Date | undefined>;
  /**
   * Removes temp files (`TEMP_PREFIX`) left by processes that died mid-write, when they were last
   * changed more than `olderThanMs` ago: younger ones may belong to a write in progress. Returns
   * how many were removed; 0 for storage that has no temp files (object stores write whole).
   */
  removeStaleTempFiles(olderThanMs: number): Promise<number>;
  /** Release resources. No other method may be called afterwards. */
  close(): Promise<void>;
}
