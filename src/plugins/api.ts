/**
 * The plugin API, version 1 (docs/plugin-api.md): what a plugin declares and what the host calls.
 *
 * A command plugin is named by a directive given as a backup source
 * (`cairn backup --source 'bpipe:file=/db.sql:reader=pg_dump db'`): it makes entries (pseudo
 * paths with metadata and bytes) at backup, and takes them back at restore. An option plugin is
 * named by `--option-plugin DIRECTIVE`: it is called before and after each file of the walk and
 * may leave files out. Both may keep a JSON state from one run to the next, stored in the
 * snapshot. Out-of-process plugins (process.ts) implement the same interface over a pipe.
 */
import type { BackupLevel, SnapshotInfo } from '../repo/index.ts';

/** The plugin API version this host speaks; a plugin built for another is refused. */
export const PLUGIN_API_VERSION = 1;

/** The versions this host accepts, newest first. */
export const PLUGIN_API_VERSIONS: readonly number[] = [1];

/** How an option's value is read from its directive text. */
export type OptionType = 'string' | 'integer' | 'boolean' | 'enum' | 'path' | 'size';

/** One option a plugin accepts in its directive. */
export interface OptionSpec {
  readonly type: OptionType;
  /** One line for `cairn plugins` and error messages. */
  readonly description: string;
  /** Must be given (at backup). */
  readonly required?: boolean;
  /** The value when the option is not given (already in its type). */
  readonly default?: OptionValue;
  /** The allowed values of an enum. */
  readonly values?: readonly string[];
  /** Bounds of an integer or size. */
  readonly min?: number;
  readonly max?: number;
  /**
   * A secret (a password): its value never appears in messages, logs or the directive stored in
   * the snapshot. Prefer an option naming a file that holds it.
   */
  readonly secret?: boolean;
  /**
   * Names one of several uses of the plugin in a snapshot (bpipe's file): an override given at
   * restore with this option applies only to the use with the same value.
   */
  readonly identity?: boolean;
}

/** A plugin's options by name (the canonical spelling, e.g. "switchWalTimeout"). */
export type OptionSchema = Readonly<Record<string, OptionSpec>>;

export type OptionValue = string | number | boolean;

/** Validated option values by canonical name, defaults filled in. */
export type Options = Readonly<Record<string, OptionValue>>;

/** What a plugin tells about itself. */
export interface PluginInfo {
  readonly name: string;
  readonly kind: 'command' | 'option';
  readonly apiVersion: number;
  readonly version: string;
  readonly description: string;
  readonly options: OptionSchema;
  /** The levels it can back up at (default all three). */
  readonly levels?: readonly BackupLevel[];
  /**
   * Checks option values that the schema cannot (a command line that does not split), before
   * anything runs; throws PLUGIN_DIRECTIVE_INVALID. `columnOf` gives an option's 1-based column
   * in the directive (0 when it was not given).
   */
  check?(options: Options, columnOf: (option: string) => number): void;
}

/** A message for the log of the run. */
export type LogLevel = 'info' | 'warning' | 'error';

/** The run a plugin's state comes from. */
export interface PriorRun {
  readonly snapshot: string;
  readonly time: string;
  readonly level: BackupLevel;
  readonly state: unknown;
}

/** What every call of a plugin gets. */
export interface PluginContext {
  readonly options: Options;
  /** The directive as given. */
  readonly directive: string;
  readonly signal: AbortSignal;
  readonly log: (level: LogLevel, message: string) => void;
}

export interface BackupContext extends PluginContext {
  readonly level: BackupLevel;
  /** The host name recorded in the snapshot. */
  readonly host: string;
  /** The run's id when a server runs the backup (a job run), for labels; undefined from the CLI. */
  readonly run?: string;
  /** The latest earlier snapshot of the same sources (any level). */
  readonly previous?: PriorRun;
  /** The latest earlier full backup of the same sources. */
  readonly previousFull?: PriorRun;
  /**
   * The run this one builds on: previous for an incremental, previousFull for a differential,
   * none for a full.
   */
  readonly since?: PriorRun;
  /** Keeps a JSON value in the snapshot; the next run gets it in previous.state. */
  readonly setState: (state: unknown) => void;
}

/** A file, folder or symlink a command plugin makes. */
export interface BackupEntry {
  /** Absolute pseudo path in the snapshot ("/MYSQL/dump.sql"). */
  readonly path: string;
  readonly type: 'file' | 'dir' | 'symlink';
  readonly mode?: number;
  readonly uid?: number;
  readonly gid?: number;
  readonly mtimeMs?: number;
  readonly linkTarget?: string;
  /**
   * A file's bytes (an async or plain iterable of chunks, a Readable): read whole before the next
   * entry is asked for. An error thrown while reading or at the end (a reader that exited
   * non-zero) fails the backup.
   */
  readonly data?: AsyncIterable<Uint8Array> | Iterable<Uint8Array>;
  /**
   * A real file, folder or symlink read into this entry's place when the entry is given, as a
   * walk would save it (metadata, everything inside a folder; unchanged files are read again):
   * a database's data folder between its start and stop calls. `type` and the metadata are then
   * the file system's.
   */
  readonly source?: string;
  /**
   * Left out of a source folder: patterns with a slash are taken from the source's top
   * (`pg_wal/*`), patterns without match a name at any depth (`pgsql_tmp*`).
   */
  readonly exclude?: readonly string[];
  /** The source belongs to a running program: files that change or vanish as it is read are no warning. */
  readonly volatile?: boolean;
  /**
   * Takes the entry (with everything inside it) as it is in the snapshot of `since`, reading
   * nothing: an incremental that carries the data folder of the full forward. Entries given later
   * may lie inside a kept folder (new WAL files beside the kept ones).
   */
  readonly keep?: boolean;
  /**
   * At restore the restorer writes this entry (and everything inside it) as plain files under the
   * target, with every detail of a walked file; the plugin is not handed it (but its restore
   * session still runs, and may finish the job: a database's recovery settings).
   */
  readonly plain?: boolean;
}

export interface RestoreContext extends PluginContext {
  /** The snapshot the entries come from. */
  readonly snapshot: SnapshotInfo;
  /** The restore target folder (absolute). */
  readonly target: string;
  /** The state the plugin kept at that backup. */
  readonly state: unknown;
  readonly level: BackupLevel;
  /**
   * Where a path of the snapshot is restored on this machine (the target joined with the path,
   * relative to a restored subpath); undefined when the restore does not cover it.
   */
  readonly destinationOf: (snapshotPath: string) => string | undefined;
}

/** An entry handed back to its plugin at restore; its bytes are verified as they are read. */
export interface RestoreEntry {
  readonly path: string;
  readonly type: 'file' | 'dir' | 'symlink' | 'fifo' | 'chardev' | 'blockdev' | 'socket';
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly size: number;
  readonly mtimeMs: number;
  readonly linkTarget?: string;
  /** A file's bytes (empty for other types). */
  readonly data: AsyncIterable<Buffer>;
}

/**
 * "restored": the plugin took the entry. "core": the host writes it as a plain file under the
 * target (Bareos' CF_CORE). "skip": nothing is written.
 */
export type RestoreStatus = 'restored' | 'core' | 'skip';

/** One restore of one use of a plugin. */
export interface RestoreSession {
  /** Called for each entry in snapshot order; a file's data is read before the next call. */
  entry(entry: RestoreEntry): Promise<RestoreStatus>;
  /** After the last entry, and also when the restore fails (`failed` set): release resources. */
  end(failed?: unknown): Promise<void>;
}

export interface CommandPlugin extends PluginInfo {
  readonly kind: 'command';
  /** Makes the entries of one backup, in order (a generator, async or not). */
  backup(ctx: BackupContext): AsyncIterable<BackupEntry> | Iterable<BackupEntry>;
  /** Starts the restore of the entries one backup made. */
  restore(ctx: RestoreContext): Promise<RestoreSession>;
  /** Ends the plugin (an out-of-process plugin's process); called once when the host is done. */
  close?(): Promise<void>;
}

/** The file an option plugin is asked about (its node as the walk found it). */
export interface WalkedFile {
  readonly path: string;
  readonly type: 'file' | 'dir' | 'symlink' | 'fifo' | 'chardev' | 'blockdev' | 'socket';
  readonly size: number;
  readonly mode: number;
  readonly mtimeMs: number;
}

/** The calls an option plugin makes around each file of one backup (synchronous). */
export interface FileCalls {
  /** Before an entry is saved: "skip" leaves it out (a folder with everything in it). */
  before?(file: WalkedFile): 'skip' | undefined;
  /** After a file is saved. */
  after?(file: WalkedFile): void;
  /** After the walk: the state to keep in the snapshot (undefined: none). */
  end?(): unknown;
}

export interface OptionPlugin extends PluginInfo {
  readonly kind: 'option';
  /** Starts one backup; `previous` is its state at the latest earlier snapshot of the same sources. */
  start(ctx: BackupContext): FileCalls;
  close?(): Promise<void>;
}

export type Plugin = CommandPlugin | OptionPlugin;
