/**
 * A local cache of a remote backend's index and snapshot files, so that listing snapshots and
 * loading the index (every backup, every restore) do not download them again.
 *
 * Those files are named by the SHA-256 of their bytes and never change, so a cached copy is
 * valid as long as its hash matches its name (checked on every hit; a damaged copy is dropped
 * and fetched again). Writes go through to the backend and then into the cache; removes remove
 * both; a complete listing drops cached files the backend no longer has. Everything else passes
 * through. The cache folder is given by `attach` once the repository is known (it is keyed by
 * the repository's id); before that, and if the folder cannot be used, this is a plain wrapper.
 */

import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import type {
  Backend,
  BackendFeatures,
  CloneUse,
  ComposeResult,
  FileInfo,
  FileType,
  Handle,
  Segment,
} from './types.ts';
import { TEMP_PREFIX } from './handle.ts';

const CACHED: ReadonlySet<FileType> = new Set(['index', 'snapshots']);

/** `$XDG_CACHE_HOME/cairn` (default `~/.cache/cairn`): where repositories' caches live. */
export function cacheRoot(env: NodeJS.ProcessEnv = process.env): string {
  const xdg = env.XDG_CACHE_HOME;
  return path.join(
    xdg !== undefined && path.isAbsolute(xdg) ? xdg : path.join(os.homedir(), '.cache'),
    'cairn',
  );
}

export class CachedBackend implements Backend {
  readonly inner: Backend;
  #dir: string | undefined;
  /** Files served from the cache and files fetched into it, for tests and statistics. */
  readonly stats = { hits: 0, misses: 0 };

  constructor(inner: Backend) {
    this.inner = inner;
  }

  /** Caches under `dir` from now on (made when first needed). */
  attach(dir: string): void {
    this.#dir = dir;
  }

  get cacheDir(): string | undefined {
    return this.#dir;
  }

  get location(): string {
    return this.inner.location;
  }

  get features(): BackendFeatures {
    return this.inner.features;
  }

  create(): Promise<void> {
    return this.inner.create();
  }

  exists(h: Handle): Promise<boolean> {
    return this.inner.exists(h);
  }

  async *list(type: FileType): AsyncGenerator<FileInfo> {
    const dir = this.#folder(type);
    const seen = dir === undefined ? undefined : new Set<string>();
    for await (const info of this.inner.list(type)) {
      seen?.add(info.name);
      yield info;
    }
    // Only a complete listing may drop cached files (a consumer that stops early gets here never).
    if (dir === undefined || seen === undefined) return;
    try {
      for (const name of await fs.readdir(dir)) {
        if (!seen.has(name) && !name.startsWith(TEMP_PREFIX))
          await fs.rm(path.join(dir, name), { force: true });
      }
    } catch {
      // no cache folder yet
    }
  }

  stat(h: Handle): Promise<FileInfo> {
    return this.inner.stat(h);
  }

  async read(h: Handle, range?: { offset: number; length: number }): Promise<Buffer> {
    const dir = this.#folder(h.type);
    if (dir === undefined || range !== undefined || !/^[0-9a-f]{64}$/.test(h.name)) {
      return this.inner.read(h, range);
    }
    const file = path.join(dir, h.name);
    try {
      const bytes = await fs.readFile(file);
      if (createHash('sha256').update(bytes).digest('hex') === h.name) {
        this.stats.hits++;
        return bytes;
      }
      await fs.rm(file, { force: true });
    } catch {
      // not cached
    }
    const bytes = await this.inner.read(h);
    this.stats.misses++;
    // Only bytes that match their name are kept: a damaged download is the caller's to report.
    if (createHash('sha256').update(bytes).digest('hex') === h.name) await this.#store(dir, h.name, [bytes]);
    return bytes;
  }

  async write(h: Handle, data: readonly Uint8Array[]): Promise<void> {
    await this.inner.write(h, data);
    const dir = this.#folder(h.type);
    if (dir !== undefined && /^[0-9a-f]{64}$/.test(h.name)) await this.#store(dir, h.name, data);
  }

  async remove(h: Handle): Promise<void> {
    const dir = this.#folder(h.type);
    if (dir !== undefined) await fs.rm(path.join(dir, h.name), { force: true }).catch(() => {});
    await this.inner.remove(h);
  }

  canClone(source?: Backend, use?: CloneUse): Promise<boolean> {
    return this.inner.canClone(source, use);
  }

  compose(type: FileType, segments: readonly Segment[], source?: Backend): Promise<ComposeResult> {
    return this.inner.compose(type, segments, source);
  }

  localPath(h: Handle): string | undefined {
    return this.inner.localPath(h);
  }

  retainedUntil(h: Handle): Promise<Date | undefined> {
    return this.inner.retainedUntil(h);
  }

  removeStaleTempFiles(olderThanMs: number): Promise<number> {
    return this.inner.removeStaleTempFiles(olderThanMs);
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  #folder(type: FileType): string | undefined {
    return this.#dir !== undefined && CACHED.has(type) ? path.join(this.#dir, type) : undefined;
  }

  /** Writes a cache file by temp file and rename; a cache that cannot be written is skipped. */
  async #store(dir: string, name: string, data: readonly Uint8Array[]): Promise<void> {
    const temp = path.join(dir, TEMP_PREFIX + randomBytes(8).toString('hex'));
    try {
      await fs.mkdir(dir, { recursive: true, mode: 0o700 });
      await fs.writeFile(temp, data, { mode: 0o600 });
      await fs.rename(temp, path.join(dir, name));
    } catch {
      await fs.rm(temp, { force: true }).catch(() => {});
    }
  }
}
