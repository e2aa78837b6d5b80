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
  /** Whether the backend can copy a file server-side without moving its bytes through us. */
  readonly clone: boolean;
  /** The I/O size, in bytes, that reads and writes are cheapest in multiples of. */
  readonly alignment: number;
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
  /** Release resources. No other method may be called afterwards. */
  close(): Promise<void>;
}
