/**
 * The repository: one object that opens a backend with a key and reads and writes blobs, trees
 * and snapshots. Writing is pipelined: saveBlob() returns once the blob is accepted; compression
 * runs on the thread pool, packs are written in the background, and flush() waits for all of it
 * and writes the index. Errors of background work surface at the next saveBlob() or flush().
 */
import { randomBytes } from 'node:crypto';
import { CairnError, reason } from '../errors.ts';
import { release } from '../memory.ts';
import type { Backend, Handle } from '../backend/index.ts';
import {
  DEFAULT_CHUNKER_PARAMS,
  FastCdcChunker,
  gearTable,
  validateChunkerParams,
  type Chunker,
  type ChunkerParams,
} from '../chunker/index.ts';
import { DEFAULT_COMPRESSION, type CompressOptions } from '../compress/index.ts';
import {
  blobId,
  DecryptError,
  generateMasterKey,
  sha256,
  type MasterKey,
  type ScryptParams,
} from '../crypto/index.ts';
import { native } from '../native/index.ts';
import { openStoredBlob } from './blob.ts';
import { openConfig, readEnvelope, writeConfig, type RepoConfig } from './config.ts';
import {
  BLOB_TYPE,
  FORMAT_VERSION,
  corrupt,
  isHexId,
  openFile,
  sealFile,
  type BlobEntry,
  type BlobType,
} from './format.ts';
import {
  decodeIndex,
  encodeIndex,
  encodeIndexOf,
  encodeIndexPack,
  type IndexContent,
  type IndexPack,
} from './index-file.ts';
import { openKeySlots, writeKeySlot, type KeySlotInfo, type Secret } from './keys.ts';
import { Limiter } from './limiter.ts';
import { MasterIndex, type Location } from './master-index.ts';
import { PackWriter, type BlobSource } from './pack.ts';
import { INLINE_LIMIT, SealPool, sealInline, type Sealed } from './seal-pool.ts';
import { describeFilter, filterIsEmpty, matchesFilter, type SnapshotFilter } from './filter.ts';
import type { DamagedSnapshot, Snapshot, SnapshotInfo } from './snapshot.ts';
import type { WriteMonitor } from './stages.ts';
import type { WritePace } from './throttle.ts';
import { decodeTree, encodeTree, type Tree } from './tree.ts';

/** One index file as read: its name, the packs it names and the index files it supersedes. */
export interface IndexFile {
  readonly name: string;
  readonly packs: readonly IndexPack[];
  readonly supersedes: readonly string[];
}

export interface InitOptions {
  readonly chunker?: Partial<ChunkerParams>;
  /** Target pack size in bytes (16 MiB by default; 64 KiB to 1 GiB). */
  readonly packSize?: number;
  readonly alignment?: number;
  readonly compression?: CompressOptions;
  readonly scrypt?: ScryptParams;
  readonly now?: Date;
  /**
   * The chunker's gear secret (64 hex characters), to chunk like another repository so that the
   * same files make the same chunks in both (init --from-repo). Random by default.
   */
  readonly chunkerSecret?: string;
  /** The master key, to share it with another repository (init --from-repo --copy-keys). */
  readonly masterKey?: MasterKey;
}

export const DEFAULT_PACK_SIZE = 16 * 1024 * 1024;
/** A pack of this many packs' blobs is written as one index file during a long backup. */
const PACKS_PER_INDEX = 64;
/**
 * Uncompressed bytes that may wait for compression at once: enough to keep every worker thread
 * busy (about 16 chunks of the default 1 MiB). 64 MiB was no faster on 2 cores and held 48 MiB
 * more at the peak of a first backup.
 */
const COMPRESS_BUDGET = 16 * 1024 * 1024;
/** Finished packs that may be in the course of being written at once. */
const UPLOADS = 2;

export interface WriteStats {
  dataBlobs: number;
  treeBlobs: number;
  /** Plaintext bytes of new blobs. */
  bytesAdded: number;
  /** Stored (compressed, sealed) bytes of new blobs. */
  bytesStored: number;
  packs: number;
  /** Sealed bytes of blobs taken from other packs (saveFrom) that share blocks with them. */
  bytesCloned: number;
  /** Sealed bytes of blobs taken from other packs that were copied. */
  bytesCopied: number;
  /** Bytes of packs assembled from other packs, read back to name them. */
  bytesReadBack: number;
}

/**
 * A limit on the bytes one writer may add to its repository (a tenant's quota, in the server).
 * The repository asks it before every pack it writes and refuses the pack, with QUOTA_EXCEEDED,
 * when `reserve` says no; index files and the snapshot are only `charge`d: they are small, and
 * refusing them would leave packs no index names (the next backup could not use them).
 * Implementations may share one budget between several writers (threads included).
 */
export interface WriteBudget {
  /** Takes `bytes` from the budget and says true, or takes nothing and says false. */
  reserve(bytes: number): boolean;
  /** Takes `bytes` whether or not they fit. */
  charge(bytes: number): void;
  /** The refusal's message: which limit, what was used, what the refused pack of `bytes` needed. */
  refusal(bytes: number): string;
}

/** A sealed blob that rests in a pack of some backend: its trailer entry and where it is. */
export interface StoredBlob {
  readonly entry: BlobEntry;
  readonly pack: string;
}

export class Repository {
  readonly backend: Backend;
  readonly config: RepoConfig;
  readonly key: MasterKey;
  readonly slot: KeySlotInfo | undefined;
  readonly index = new MasterIndex();
  readonly chunker: Chunker;
  readonly stats: WriteStats = {
    dataBlobs: 0,
    treeBlobs: 0,
    bytesAdded: 0,
    bytesStored: 0,
    packs: 0,
    bytesCloned: 0,
    bytesCopied: 0,
    bytesReadBack: 0,
  };
  /** Set by a running backup: times sealing and writing, counts bytes written. */
  monitor: WriteMonitor | undefined;
  /**
   * Set by a backup that a quota limits: a pack that does not fit is not written, the write fails
   * with QUOTA_EXCEEDED and no later pack is written (so no snapshot can be).
   */
  budget: WriteBudget | undefined;
  /**
   * Set by a run whose tenant has a bandwidth limit: every pack, index file and snapshot waits for
   * its bytes before it is written (the wait counts as the write stage's time).
   */
  pace: WritePace | undefined;

  private readonly writers: Record<BlobType, PackWriter>;
  /** Packs assembled from blobs that rest in other packs (saveFrom), and the backend they rest in. */
  private composing: { source: Backend; writers: Record<BlobType, PackWriter> } | undefined;
  private readonly inflight = new Set<string>();
  private readonly tasks = new Set<Promise<void>>();
  private readonly compressLimiter = new Limiter(COMPRESS_BUDGET);
  private readonly uploadLimiter = new Limiter(UPLOADS);
  /** Durable packs in no index file yet, each encoded as an index file holds it (compact). */
  private pendingIndex: Buffer[] = [];
  /** Packs written in this session, kept only when asked (recordWrittenPacks: prune). */
  private written: IndexPack[] | undefined;
  private failure: unknown;
  private pool: SealPool | undefined;
  private readonly indexFiles = new Set<string>();

  private constructor(backend: Backend, config: RepoConfig, key: MasterKey, slot: KeySlotInfo | undefined) {
    this.backend = backend;
    this.config = config;
    this.key = key;
    this.slot = slot;
    this.chunker = new FastCdcChunker(
      config.chunker,
      gearTable(Buffer.from(config.chunker.secret, 'hex')),
      native?.gearCut,
    );
    this.writers = {
      data: new PackWriter(BLOB_TYPE.data, config.alignment),
      tree: new PackWriter(BLOB_TYPE.tree, config.alignment),
    };
  }

  static async init(backend: Backend, secret: Secret, options: InitOptions = {}): Promise<Repository> {
    const chunker = { ...DEFAULT_CHUNKER_PARAMS, ...options.chunker };
    validateChunkerParams(chunker);
    const alignment = options.alignment ?? backend.features.alignment;
    if (
      !Number.isInteger(alignment) ||
      alignment < 1 ||
      alignment > 1 << 20 ||
      (alignment & (alignment - 1)) !== 0
    ) {
      throw new CairnError(
        'USAGE',
        `Cannot create a repository: alignment ${alignment} is not a power of two from 1 to 1 MiB`,
      );
    }
    const packSize = options.packSize ?? DEFAULT_PACK_SIZE;
    if (!Number.isInteger(packSize) || packSize < 64 * 1024 || packSize > 1 << 30) {
      throw new CairnError(
        'USAGE',
        `Cannot create a repository: pack size ${packSize} is outside 64 KiB to 1 GiB`,
      );
    }
    if (options.chunkerSecret !== undefined && !/^[0-9a-f]{64}$/.test(options.chunkerSecret)) {
      throw new CairnError(
        'USAGE',
        'Cannot create a repository: the chunker secret must be 64 hex characters',
      );
    }
    const now = options.now ?? new Date();
    const config: RepoConfig = {
      version: FORMAT_VERSION,
      id: randomBytes(32).toString('hex'),
      created: now.toISOString(),
      chunker: { ...chunker, secret: options.chunkerSecret ?? randomBytes(32).toString('hex') },
      packSize,
      alignment,
      compression: options.compression ?? DEFAULT_COMPRESSION,
      idAlgorithm: 'hmac-sha256',
    };
    await backend.create();
    const key = options.masterKey ?? generateMasterKey();
    // The slot goes first: a config without a slot would be a repository nobody can open.
    await writeKeySlot(backend, key, secret, { ...(options.scrypt ? { scrypt: options.scrypt } : {}), now });
    await writeConfig(backend, key, config);
    return new Repository(backend, config, key, undefined);
  }

  static async open(backend: Backend, secret: Secret): Promise<Repository> {
    const env = await readEnvelope(backend);
    const { master, slot } = await openKeySlots(backend, secret);
    return new Repository(backend, openConfig(backend, master, env), master, slot);
  }

  // ---- index ---------------------------------------------------------------------------------

  /**
   * Loads every index file. With `tolerant`, damaged files are returned instead of thrown (for
   * `check`); otherwise the first damaged file throws INDEX_CORRUPT.
   */
  async loadIndex(options: { tolerant?: boolean } = {}): Promise<{ files: number; errors: CairnError[] }> {
    const { files, damaged } = await this.readIndexFiles(undefined, options);
    const superseded = new Set(files.flatMap((l) => l.supersedes));
    const live = files.filter((l) => !superseded.has(l.name));
    this.index.reserve(live.reduce((n, l) => n + l.packs.reduce((m, p) => m + p.entries.length, 0), 0));
    for (const l of live) {
      this.indexFiles.add(l.name);
      for (const p of l.packs) this.index.addPack(p.id, p.entries);
    }
    return { files: files.length, errors: damaged.map((d) => d.error) };
  }

  /**
   * Reads and decodes index files, 8 at a time: those named, or every one there is; returned
   * sorted by name (the order readers add them in), superseded ones included. With `tolerant`,
   * a damaged file is returned among `damaged`; otherwise the first one throws INDEX_CORRUPT.
   */
  async readIndexFiles(
    names?: readonly string[],
    options: { tolerant?: boolean; onRead?: (done: number, total: number) => void } = {},
  ): Promise<{ files: IndexFile[]; damaged: { name: string; error: CairnError }[] }> {
    const files: IndexFile[] = [];
    const damaged: { name: string; error: CairnError }[] = [];
    const limiter = new Limiter(8);
    const seen = new Set<string>();
    let done = 0;
    let total = 0;
    // Listing every file: a collector (prune) that runs beside this reader writes the index file
    // that replaces others before it removes them, so a listed file that is gone when read was
    // superseded, and a fresh listing names its replacement. Read until a round loses nothing.
    for (let round = 0; ; round++) {
      let batch: readonly string[];
      if (names !== undefined) batch = names;
      else {
        const listed: string[] = [];
        for await (const f of this.backend.list('index')) if (!seen.has(f.name)) listed.push(f.name);
        batch = listed;
      }
      for (const name of batch) seen.add(name);
      total += batch.length;
      let vanished = 0;
      await Promise.all(
        batch.map((name) =>
          limiter.run(async () => {
            try {
              files.push({
                name,
                ...this.decodeIndexFile(name, await this.backend.read({ type: 'index', name })),
              });
            } catch (err) {
              if (
                names === undefined &&
                err instanceof CairnError &&
                err.code === 'BACKEND_NOT_FOUND' &&
                round < 8
              ) {
                vanished++;
              } else {
                const e =
                  err instanceof CairnError
                    ? err
                    : corrupt('INDEX_CORRUPT', `index file ${name}`, reason(err), err);
                if (!options.tolerant) throw e;
                damaged.push({ name, error: e });
              }
            }
            options.onRead?.(++done, total);
          }),
        ),
      );
      if (names !== undefined || vanished === 0) break;
    }
    return { files: files.sort((x, y) => x.name.localeCompare(y.name)), damaged };
  }

  decodeIndexFile(
    name: string,
    bytes: Buffer,
  ): { packs: readonly IndexPack[]; supersedes: readonly string[] } {
    const what = `index file ${name}`;
    if (!sha256(bytes).equals(Buffer.from(name, 'hex'))) {
      throw corrupt('INDEX_CORRUPT', what, 'its content does not match its name (SHA-256)');
    }
    let plain: Buffer;
    try {
      plain = openFile(this.key, 'index', bytes);
    } catch (err) {
      throw corrupt('INDEX_CORRUPT', what, 'it does not authenticate with the repository key', err);
    }
    try {
      return decodeIndex(plain);
    } catch (err) {
      throw corrupt('INDEX_CORRUPT', what, reason(err), err);
    }
  }

  // ---- writing -------------------------------------------------------------------------------

  /**
   * Stores a blob unless the repository already has it (or it is on its way). Resolves when the
   * blob is accepted, not when it is durable: call flush() for that. `added` tells whether this
   * call stored it. `data` is handed over: it may be moved to a worker thread (detached), so the
   * caller must not use it afterwards.
   */
  async saveBlob(type: BlobType, data: Buffer, id?: Buffer): Promise<{ id: Buffer; added: boolean }> {
    this.throwIfFailed();
    const blob = id ?? blobId(this.key, data);
    const hex = blob.toString('hex');
    if (this.inflight.has(hex) || this.index.has(blob)) return { id: blob, added: false };
    this.inflight.add(hex);
    const size = data.length;
    await this.compressLimiter.acquire(size);
    this.track(this.storeBlob(type, blob, data).finally(() => this.compressLimiter.release(size)));
    return { id: blob, added: true };
  }

  async saveTree(tree: Tree): Promise<{ id: Buffer; added: boolean }> {
    return this.saveBlob('tree', encodeTree(tree));
  }

  /** `data` may be moved to a worker thread: it is unusable (detached) afterwards. */
  private async storeBlob(type: BlobType, id: Buffer, data: Buffer): Promise<void> {
    const t = BLOB_TYPE[type];
    const clock = this.monitor?.clock;
    let sealed: Sealed;
    if (data.length < INLINE_LIMIT) {
      clock?.begin('seal');
      try {
        sealed = sealInline(this.key, this.config.compression, t, id, data);
      } finally {
        clock?.end('seal');
      }
    } else {
      sealed = await this.workers().seal(t, id, data);
      if (sealed.timing) clock?.record('seal', sealed.timing.hashed, sealed.timing.end);
    }
    await this.addSealed(type, id, sealed);
  }

  /**
   * Stores a blob that was already compressed and sealed (by the seal pool, under this
   * repository's key) unless the repository has it. Like saveBlob, durable only after flush().
   */
  async saveSealed(type: BlobType, id: Buffer, sealed: Sealed): Promise<{ added: boolean }> {
    this.throwIfFailed();
    const hex = id.toString('hex');
    if (this.inflight.has(hex) || this.index.has(id)) return { added: false };
    this.inflight.add(hex);
    await this.addSealed(type, id, sealed);
    return { added: true };
  }

  /**
   * Copies a stored blob into a new pack although the index has it (prune's repacking): the
   * sealed bytes stay valid in any pack, their additional data names only type and id.
   */
  async repackBlob(type: BlobType, id: Buffer, sealed: Sealed): Promise<void> {
    this.throwIfFailed();
    const hex = id.toString('hex');
    if (this.inflight.has(hex)) return;
    this.inflight.add(hex);
    await this.addSealed(type, id, sealed);
  }

  /**
   * Stores a blob by taking its sealed bytes from a pack of `source` (default: this repository's
   * backend), without reading them: the backend clones them where it can share blocks, else
   * copies them (`stats.bytesCloned`, `stats.bytesCopied`). Only for blobs sealed under this
   * repository's key. Skipped when the index has the blob, unless `force` (prune's repacking).
   * Like saveBlob, durable only after flush().
   */
  async saveFrom(
    type: BlobType,
    blob: StoredBlob,
    options: { source?: Backend; force?: boolean } = {},
  ): Promise<{ added: boolean }> {
    this.throwIfFailed();
    const { entry } = blob;
    const hex = entry.id.toString('hex');
    if (this.inflight.has(hex) || (options.force !== true && this.index.has(entry.id)))
      return { added: false };
    const source = options.source ?? this.backend;
    if (this.composing !== undefined && this.composing.source !== source) await this.finishComposed();
    this.composing ??= {
      source,
      writers: {
        data: new PackWriter(BLOB_TYPE.data, this.config.alignment),
        tree: new PackWriter(BLOB_TYPE.tree, this.config.alignment),
      },
    };
    this.inflight.add(hex);
    const from: BlobSource = { pack: blob.pack, offset: entry.offset };
    const writer = this.composing.writers[type];
    writer.addFrom(entry.codec, entry.id, entry.length, entry.rawLength, from);
    if (type === 'data') this.stats.dataBlobs++;
    else this.stats.treeBlobs++;
    this.stats.bytesAdded += entry.rawLength;
    this.stats.bytesStored += entry.length;
    if (writer.size >= this.config.packSize) await this.finishComposed(type);
    return { added: true };
  }

  /**
   * Keeps the packs written from now on, with their entries, for writtenPacks(). Off by default:
   * a backup has no use for them, and their entries were most of its heap.
   */
  recordWrittenPacks(): void {
    this.written ??= [];
  }

  /** Packs written since recordWrittenPacks(), durable and indexed (after flush). */
  writtenPacks(): readonly IndexPack[] {
    if (this.written === undefined) {
      throw new CairnError('INTERNAL', 'Cannot list the packs written: they were not being recorded');
    }
    return this.written;
  }

  /** Writes an index file with this content; returns its name once it is durable. */
  async writeIndexFile(content: IndexContent): Promise<string> {
    const bytes = sealFile(this.key, 'index', encodeIndex(content), false);
    const name = sha256(bytes).toString('hex');
    await this.pace?.take(bytes.length, 'index');
    await this.backend.write({ type: 'index', name }, [bytes]);
    return name;
  }

  private async addSealed(type: BlobType, id: Buffer, { codec, sealed, rawLength }: Sealed): Promise<void> {
    const writer = this.writers[type];
    if (type === 'data') this.stats.dataBlobs++;
    else this.stats.treeBlobs++;
    this.stats.bytesAdded += rawLength;
    this.stats.bytesStored += sealed.length;
    // The writer owns the sealed bytes from here (a small blob's are copied and freed now).
    writer.add(codec, id, [sealed], rawLength);
    if (writer.size >= this.config.packSize) await this.finishPack(type);
  }

  /** The worker threads that compress and seal (started on first use). */
  workers(): SealPool {
    return (this.pool ??= new SealPool(this.key, this.config.compression));
  }

  /** Stops the worker threads. The repository can still read afterwards; writing starts them again. */
  async close(): Promise<void> {
    const pool = this.pool;
    this.pool = undefined;
    await pool?.close();
  }

  private async finishPack(type: BlobType): Promise<void> {
    const writer = this.writers[type];
    if (writer.count === 0) return;
    this.writers[type] = new PackWriter(BLOB_TYPE[type], this.config.alignment);
    const pack = writer.finish(this.key);
    if (!this.fits(pack.size)) {
      for (const part of pack.parts) release(part);
      for (const slab of pack.slabs) release(slab);
      this.refuse(pack.size);
    }
    await this.uploadLimiter.acquire();
    this.track(
      (async () => {
        try {
          await this.timedWrite({ type: 'data', name: pack.id }, pack.parts);
        } finally {
          this.uploadLimiter.release();
        }
        // Durable: its sealed blobs are not read again, so their memory goes back now.
        for (const part of pack.parts) release(part);
        for (const slab of pack.slabs) release(slab);
        await this.packWritten(pack.id, pack.entries);
      })(),
    );
  }

  /**
   * Has the backend assemble the packs of blobs taken from other packs: of `type` (a full one),
   * or of both types when none is named (flush, or another source comes).
   */
  private async finishComposed(type?: BlobType): Promise<void> {
    const c = this.composing;
    if (c === undefined) return;
    if (type === undefined) this.composing = undefined;
    for (const t of type === undefined ? (['data', 'tree'] as const) : [type]) {
      const writer = c.writers[t];
      if (writer.count === 0) continue;
      c.writers[t] = new PackWriter(BLOB_TYPE[t], this.config.alignment);
      const pack = writer.compose(this.key);
      if (!this.fits(pack.size)) this.refuse(pack.size);
      await this.uploadLimiter.acquire();
      this.track(
        (async () => {
          let r;
          try {
            await this.pace?.take(pack.size, 'pack');
            r = await this.backend.compose('data', pack.segments, c.source);
          } finally {
            this.uploadLimiter.release();
          }
          if (r.size !== pack.size) {
            throw new CairnError(
              'INTERNAL',
              `Cannot write a pack: the backend wrote ${r.size} bytes, its layout has ${pack.size}`,
            );
          }
          this.stats.bytesCloned += r.bytesCloned;
          this.stats.bytesCopied += r.bytesCopied;
          this.stats.bytesReadBack += r.bytesRead;
          await this.packWritten(r.name, pack.entries);
        })(),
      );
    }
  }

  /** Once a pack is durable: the index knows its blobs, and an index file is written when due. */
  private async packWritten(id: string, entries: readonly BlobEntry[]): Promise<void> {
    this.stats.packs++;
    this.index.addPack(id, entries);
    for (const e of entries) this.inflight.delete(e.id.toString('hex'));
    this.pendingIndex.push(encodeIndexPack({ id, entries }));
    this.written?.push({ id, entries });
    if (this.pendingIndex.length >= PACKS_PER_INDEX) await this.writeIndex();
  }

  /** Writes an index file for packs that are durable and not yet in one. */
  private async writeIndex(): Promise<void> {
    if (this.pendingIndex.length === 0) return;
    const packs = this.pendingIndex;
    this.pendingIndex = [];
    const bytes = sealFile(this.key, 'index', encodeIndexOf([], packs), false);
    const name = sha256(bytes).toString('hex');
    this.budget?.charge(bytes.length);
    await this.timedWrite({ type: 'index', name }, [bytes]);
    this.indexFiles.add(name);
  }

  /** Whether a pack of `bytes` may be written: always, unless a budget says no. */
  private fits(bytes: number): boolean {
    return this.budget === undefined || this.budget.reserve(bytes);
  }

  /**
   * Fails the writing for good: the error is kept, so that the next saveBlob or flush throws it
   * and salvage() only indexes the packs already written — no snapshot can follow.
   */
  private refuse(bytes: number): never {
    const err = new CairnError(
      'QUOTA_EXCEEDED',
      this.budget?.refusal(bytes) ?? `Cannot write a pack of ${bytes} bytes: over budget`,
    );
    this.failure ??= err;
    throw err;
  }

  /** A backend write, timed as the write stage and counted while a backup watches. */
  private async timedWrite(handle: Handle, parts: readonly Uint8Array[]): Promise<void> {
    const monitor = this.monitor;
    const bytes = parts.reduce((n, p) => n + p.byteLength, 0);
    const kind = handle.type === 'index' ? 'index' : 'pack';
    if (monitor === undefined) {
      await this.pace?.take(bytes, kind);
      return this.backend.write(handle, parts);
    }
    monitor.clock.begin('write');
    try {
      await this.pace?.take(bytes, kind);
      await this.backend.write(handle, parts);
    } finally {
      monitor.clock.end('write');
    }
    monitor.written(bytes);
  }

  private track(p: Promise<void>): void {
    const t: Promise<void> = p
      .catch((err: unknown) => {
        this.failure ??= err;
      })
      .finally(() => this.tasks.delete(t));
    this.tasks.add(t);
  }

  private throwIfFailed(): void {
    if (this.failure !== undefined) {
      throw this.failure instanceof Error ? this.failure : new Error(reason(this.failure));
    }
  }

  private async drain(): Promise<void> {
    while (this.tasks.size > 0) await Promise.all([...this.tasks]);
  }

  /** Waits for every accepted blob to be in a durable pack named by a durable index file. */
  async flush(): Promise<void> {
    await this.drain();
    this.throwIfFailed();
    await this.finishPack('data');
    await this.finishPack('tree');
    await this.finishComposed();
    await this.drain();
    this.throwIfFailed();
    await this.writeIndex();
  }

  /**
   * After a failed or cancelled backup: makes durable and indexes whatever can be, so the next
   * backup need not upload it again. With no earlier failure this is flush(); after one, packs
   * already written still get their index file. May throw a new error, never the earlier one.
   */
  async salvage(): Promise<void> {
    await this.drain();
    if (this.failure === undefined) await this.flush();
    else await this.writeIndex();
  }

  // ---- reading -------------------------------------------------------------------------------

  lookup(id: Buffer): Location | undefined {
    return this.index.get(id);
  }

  async loadBlob(type: BlobType, id: Buffer): Promise<Buffer> {
    const loc = this.index.get(id);
    if (loc === undefined || loc.type !== BLOB_TYPE[type]) {
      throw new CairnError(
        'BLOB_MISSING',
        `Cannot load ${type} blob ${id.toString('hex')}: it is in no index`,
      );
    }
    const sealed = await this.backend.read(
      { type: 'data', name: loc.pack },
      { offset: loc.offset, length: loc.length },
    );
    return this.openBlob(id, loc, sealed);
  }

  /** Decrypts, decompresses and verifies one stored blob. Throws BLOB_CORRUPT naming the pack. */
  openBlob(id: Buffer, loc: Location, sealed: Buffer): Buffer {
    return openStoredBlob(this.key, id, loc, sealed);
  }

  async loadTree(id: string): Promise<Tree> {
    const raw = await this.loadBlob('tree', Buffer.from(id, 'hex'));
    try {
      return decodeTree(raw);
    } catch (err) {
      throw new CairnError('BLOB_CORRUPT', `Cannot read tree ${id}: ${reason(err)}`, { cause: err });
    }
  }

  // ---- snapshots -----------------------------------------------------------------------------

  /** Writes a snapshot manifest. Call only after flush(): the crash rule. */
  async saveSnapshot(snapshot: Snapshot): Promise<string> {
    const bytes = sealFile(this.key, 'snapshot', Buffer.from(JSON.stringify(snapshot)));
    const id = sha256(bytes).toString('hex');
    this.budget?.charge(bytes.length);
    await this.pace?.take(bytes.length, 'snapshot');
    await this.backend.write({ type: 'snapshots', name: id }, [bytes]);
    return id;
  }

  async loadSnapshot(id: string): Promise<SnapshotInfo> {
    const bytes = await this.backend.read({ type: 'snapshots', name: id });
    const what = `snapshot ${id}`;
    if (!sha256(bytes).equals(Buffer.from(id, 'hex'))) {
      throw corrupt('SNAPSHOT_CORRUPT', what, 'its content does not match its name (SHA-256)');
    }
    let snap: Snapshot;
    try {
      snap = JSON.parse(openFile(this.key, 'snapshot', bytes).toString('utf8')) as Snapshot;
    } catch (err) {
      throw corrupt(
        'SNAPSHOT_CORRUPT',
        what,
        err instanceof DecryptError ? 'it does not authenticate' : reason(err),
        err,
      );
    }
    if (snap.version !== 1 || typeof snap.tree !== 'string') {
      throw corrupt('SNAPSHOT_CORRUPT', what, 'unknown manifest version');
    }
    return { ...snap, id };
  }

  /**
   * Every readable snapshot, oldest first; the files that cannot be read are returned as
   * `damaged` (by id) and their errors as `errors` (in the same order).
   */
  async listSnapshots(): Promise<{
    snapshots: SnapshotInfo[];
    errors: CairnError[];
    damaged: DamagedSnapshot[];
  }> {
    const names: string[] = [];
    for await (const f of this.backend.list('snapshots')) if (isHexId(f.name)) names.push(f.name);
    const snapshots: SnapshotInfo[] = [];
    const damaged: DamagedSnapshot[] = [];
    const limiter = new Limiter(8);
    await Promise.all(
      names.map((n) =>
        limiter.run(async () => {
          try {
            snapshots.push(await this.loadSnapshot(n));
          } catch (err) {
            if (!(err instanceof CairnError)) throw err;
            const prefix = `Cannot read snapshot ${n}: `;
            const why = err.message.startsWith(prefix) ? err.message.slice(prefix.length) : err.message;
            damaged.push({ id: n, reason: why, error: err });
          }
        }),
      ),
    );
    snapshots.sort((a, b) => a.time.localeCompare(b.time) || a.id.localeCompare(b.id));
    damaged.sort((a, b) => a.id.localeCompare(b.id));
    return { snapshots, errors: damaged.map((d) => d.error), damaged };
  }

  /**
   * The snapshot file an id or unique id prefix names, readable or damaged. Throws USAGE for
   * what is not a hex id, SNAPSHOT_NOT_FOUND when no file has that id and SNAPSHOT_AMBIGUOUS
   * when several do (damaged ones count: their names are known).
   */
  async resolveSnapshotId(ref: string): Promise<SnapshotInfo | DamagedSnapshot> {
    if (!/^[0-9a-f]{1,64}$/.test(ref)) {
      throw new CairnError(
        'USAGE',
        `Cannot find snapshot "${ref}": a snapshot is named by "latest" or a hex id (prefix)`,
      );
    }
    const { snapshots, damaged } = await this.listSnapshots();
    const found = [...snapshots, ...damaged].filter((s) => s.id.startsWith(ref));
    if (found.length === 0)
      throw new CairnError('SNAPSHOT_NOT_FOUND', `Cannot find snapshot ${ref}: no snapshot has that id`);
    if (found.length > 1) {
      throw new CairnError(
        'SNAPSHOT_AMBIGUOUS',
        `Cannot find snapshot ${ref}: it matches ${found.length} snapshots; give more characters`,
      );
    }
    return found[0] as SnapshotInfo | DamagedSnapshot;
  }

  /**
   * "latest" or an id prefix. `filter` narrows "latest" only (an id names one snapshot).
   *
   * A snapshot file that cannot be read is never passed over: named by id it throws
   * SNAPSHOT_CORRUPT (or the storage's error) with the reason; and as its time, host, paths
   * and tags are unknown it may be the newest of any filter, so "latest" throws
   * SNAPSHOT_CORRUPT naming every such file rather than answer with an older snapshot.
   */
  async findSnapshot(
    ref: string,
    filter?: SnapshotFilter | ((s: SnapshotInfo) => boolean),
  ): Promise<SnapshotInfo> {
    if (ref !== 'latest') {
      const found = await this.resolveSnapshotId(ref);
      if (isDamaged(found)) throw damagedError(found);
      return found;
    }
    const { snapshots, damaged } = await this.listSnapshots();
    const matches =
      filter === undefined
        ? () => true
        : typeof filter === 'function'
          ? filter
          : (s: SnapshotInfo) => matchesFilter(s, filter);
    const narrowed = filter !== undefined && (typeof filter === 'function' || !filterIsEmpty(filter));
    if (damaged.length > 0) {
      const one = damaged.length === 1;
      const list = damaged.map((d) => `${d.id} (${d.reason})`).join(', ');
      const unknown = narrowed ? 'time, host, paths and tags are' : 'time is';
      throw new CairnError(
        'SNAPSHOT_CORRUPT',
        `Cannot find the latest snapshot: ${one ? `snapshot file ${(damaged[0] as DamagedSnapshot).id} cannot be read (${(damaged[0] as DamagedSnapshot).reason})` : `${damaged.length} snapshot files cannot be read: ${list}`}; ` +
          `${one ? 'its' : 'their'} ${unknown} unknown, so ${one ? 'it' : 'any of them'} may be the newest. ` +
          `Name a snapshot by id instead, or remove a damaged file with "cairn forget ${(damaged[0] as DamagedSnapshot).id.slice(0, 8)}", and run "cairn check"`,
      );
    }
    const pool = snapshots.filter(matches);
    const last = pool[pool.length - 1];
    if (last === undefined) {
      const what =
        filter !== undefined && typeof filter !== 'function' && !filterIsEmpty(filter)
          ? ` of ${describeFilter(filter)}`
          : narrowed
            ? ' that matches'
            : '';
      throw new CairnError(
        'SNAPSHOT_NOT_FOUND',
        `Cannot find the latest snapshot: the repository has none${what}`,
      );
    }
    return last;
  }

  /** Blob entries of packs indexed in this session's index files (for check). */
  indexFileNames(): readonly string[] {
    return [...this.indexFiles];
  }
}

export type { BlobEntry };

/** Whether a resolved snapshot file is a damaged one. */
export function isDamaged(s: SnapshotInfo | DamagedSnapshot): s is DamagedSnapshot {
  return 'error' in s && !('tree' in s);
}

/** The error for using a damaged snapshot file: its reason, and what the user can do. */
export function damagedError(d: DamagedSnapshot): CairnError {
  // A storage error (not the file's bytes) keeps its own code: retrying may help.
  const damaged = d.error.code === 'SNAPSHOT_CORRUPT';
  return new CairnError(
    d.error.code,
    `Cannot use snapshot ${d.id}: its file ${damaged ? 'is damaged' : 'cannot be read'} (${d.reason}); ` +
      `"cairn forget ${d.id.slice(0, 8)}" removes it (the data it named stays until "cairn prune"), "cairn check" looks for other damage`,
    { cause: d.error },
  );
}
