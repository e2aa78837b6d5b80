/**
 * The plugin host: turns directives into plugin uses, runs a backup with command plugins' entries
 * and option plugins' calls beside the walk of plain paths, keeps each plugin's state in the
 * snapshot, and at restore hands each plugin back the entries it made (with the directive stored
 * in the snapshot, or an override of it). The CLI and the server both use these functions.
 */
import { promises as fs } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { CairnError, reason } from '../errors.ts';
import {
  backupPlan,
  fileContent,
  makeFolders,
  restore,
  type BackupLevel,
  type BackupOptions,
  type BackupResult,
  type Diverted,
  type FileHooks,
  type Repository,
  type RestoreOptions,
  type RestoreSummary,
  type SnapshotInfo,
  type SnapshotPlugin,
  type TreeNode,
  type VirtualEntry,
} from '../repo/index.ts';
import type {
  BackupContext,
  CommandPlugin,
  FileCalls,
  LogLevel,
  OptionPlugin,
  Options,
  Plugin,
  PriorRun,
  RestoreContext,
  RestoreEntry,
  WalkedFile,
} from './api.ts';
import {
  mergeDirective,
  normalKey,
  overrideApplies,
  parseDirective,
  storedDirective,
  validateOptions,
  type Directive,
} from './directive.ts';
import type { PluginRegistry } from './registry.ts';

/** One directive resolved: its plugin, its checked options, and the text to store. */
export interface PluginUse {
  readonly plugin: Plugin;
  readonly directive: Directive;
  readonly options: Options;
  /** The directive as stored in the snapshot (options marked secret left out). */
  readonly stored: string;
}

export type PluginLog = (plugin: string, level: LogLevel, message: string) => void;

export const LEVELS: readonly BackupLevel[] = ['full', 'incremental', 'differential'];

/** The 1-based column of an option's value in a directive (0 when it is not given). */
function columnOf(d: Directive): (option: string) => number {
  return (option) => {
    const o = d.options.find((x) => normalKey(x.key) === normalKey(option));
    return o === undefined ? 0 : o.valueAt + 1;
  };
}

/**
 * Parses a directive and checks it against its plugin's options (starting an out-of-process
 * plugin to learn them). `kind` says where it was given: a backup source names a command plugin,
 * --option-plugin an option plugin.
 */
export async function resolveUse(
  registry: PluginRegistry,
  text: string,
  kind: Plugin['kind'],
): Promise<PluginUse> {
  const directive = parseDirective(text);
  const plugin = await registry.get(directive.name);
  if (plugin.kind !== kind) {
    throw new CairnError(
      'PLUGIN_INCOMPATIBLE',
      plugin.kind === 'option'
        ? `Cannot use ${plugin.name} as a backup source: it is an option plugin (give it with --option-plugin)`
        : `Cannot use ${plugin.name} with --option-plugin: it is a command plugin (give it as a backup source, --source)`,
    );
  }
  const options = validateOptions(directive, plugin.options);
  plugin.check?.(options, columnOf(directive));
  return { plugin, directive, options, stored: storedDirective(directive, plugin.options) };
}

/** Whether `p` is `root` or lies below it. */
function within(p: string, root: string): boolean {
  return p === root || root === '/' || p.startsWith(`${root}/`);
}

/** The paths of a snapshot that no command plugin made: those of the walk. */
export function walkedPaths(s: Pick<SnapshotInfo, 'paths' | 'plugins'>): string[] {
  const made = (s.plugins ?? []).filter((r) => r.kind === 'command').flatMap((r) => r.paths);
  return s.paths.filter((p) => !made.some((m) => within(p, m)));
}

/** The command directives of a snapshot, in order. */
function commandDirectives(s: Pick<SnapshotInfo, 'plugins'>): string[] {
  return (s.plugins ?? []).filter((r) => r.kind === 'command').map((r) => r.directive);
}

/**
 * Whether a snapshot was made from the same sources: the same host, walked paths and command
 * directives (as stored). Its plugins' state is what the next run of those sources builds on.
 */
export function sameSources(
  s: SnapshotInfo,
  host: string,
  paths: readonly string[],
  commands: readonly PluginUse[],
): boolean {
  return (
    s.host === host &&
    JSON.stringify(walkedPaths(s)) === JSON.stringify([...paths]) &&
    JSON.stringify(commandDirectives(s)) === JSON.stringify(commands.map((c) => c.stored))
  );
}

/** What a backup of some sources builds on. */
export interface BackupSetup {
  /** The level the backup runs at (a full when there was no full before). */
  readonly level: BackupLevel;
  /** The level asked for was raised to full: no full backup of these sources exists. */
  readonly upgraded: boolean;
  /** The latest snapshot of the same sources. */
  readonly previous?: SnapshotInfo;
  /** The latest full backup of the same sources. */
  readonly previousFull?: SnapshotInfo;
  /** The snapshot whose files are compared (unchanged files not read): none at level full. */
  readonly parent?: SnapshotInfo;
}

export interface PluginBackupRequest {
  /** Plain paths to walk, absolute and normalised (repo's normalisePaths). */
  readonly paths: readonly string[];
  /** Command plugin uses (backup sources), in order. */
  readonly commands: readonly PluginUse[];
  /** Option plugin uses. */
  readonly optionUses?: readonly PluginUse[];
  /** The level asked for (default incremental). */
  readonly level?: BackupLevel;
  /** The host name recorded (default this machine's). */
  readonly host?: string;
  /** The id of the server's run, given to plugins (labels). */
  readonly run?: string;
  readonly onLog?: PluginLog;
}

/**
 * Finds what a backup builds on among the repository's snapshots (oldest first, as
 * listSnapshots returns them): Bareos' rule, an incremental or differential without an earlier
 * full of the same sources becomes a full.
 */
export function prepareBackup(snapshots: readonly SnapshotInfo[], request: PluginBackupRequest): BackupSetup {
  const host = request.host ?? hostname();
  const same = snapshots.filter((s) => sameSources(s, host, request.paths, request.commands));
  const previous = same.at(-1);
  const full = (s: SnapshotInfo) =>
    (s.plugins ?? []).filter((r) => r.kind === 'command').every((r) => r.level === 'full');
  const previousFull = same.filter(full).at(-1);
  const asked = request.level ?? 'incremental';
  const upgraded = asked !== 'full' && request.commands.length > 0 && previousFull === undefined;
  const level = upgraded ? 'full' : asked;
  for (const use of request.commands) {
    const levels = use.plugin.levels;
    if (levels !== undefined && !levels.includes(level)) {
      throw new CairnError(
        'PLUGIN_INCOMPATIBLE',
        `Cannot back up ${use.plugin.name} at level ${level}: it backs up at ${levels.join(', ')}`,
      );
    }
  }
  const parent = level === 'full' ? undefined : previous;
  return {
    level,
    upgraded,
    ...(previous ? { previous } : {}),
    ...(previousFull ? { previousFull } : {}),
    ...(parent ? { parent } : {}),
  };
}

/** The record of the i-th plugin of a kind in a snapshot, as a prior run for that plugin. */
function priorRun(
  s: SnapshotInfo | undefined,
  kind: Plugin['kind'],
  i: number,
  stored: string,
): PriorRun | undefined {
  if (s === undefined) return undefined;
  const r = (s.plugins ?? []).filter((x) => x.kind === kind)[i];
  if (r === undefined || r.directive !== stored) return undefined;
  return { snapshot: s.id, time: s.time, level: r.level, state: r.state };
}

/**
 * Reads an iterable of byte chunks into caller buffers, FileHandle.read style; `close` ends the
 * iteration early (a generator's finally runs: bpipe stops its reader).
 */
function readerOf(data: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): {
  read: NonNullable<VirtualEntry['read']>;
  close: () => Promise<void>;
} {
  const it: AsyncIterator<Uint8Array> | Iterator<Uint8Array> =
    Symbol.asyncIterator in data ? data[Symbol.asyncIterator]() : data[Symbol.iterator]();
  let pending: Buffer | undefined;
  let done = false;
  const close = async () => {
    if (done) return;
    done = true;
    await it.return?.();
  };
  const read = async (buf: Buffer, offset: number, length: number): Promise<number> => {
    for (;;) {
      if (pending !== undefined && pending.length > 0) {
        const n = Math.min(length, pending.length);
        pending.copy(buf, offset, 0, n);
        pending = pending.subarray(n);
        return n;
      }
      if (done) return 0;
      const r = await it.next();
      if (r.done) {
        done = true;
        return 0;
      }
      pending = Buffer.from(r.value.buffer, r.value.byteOffset, r.value.byteLength);
    }
  };
  return { read, close };
}

/** Outermost paths of a list: sorted, without duplicates or paths inside others. */
function outermost(paths: readonly string[]): string[] {
  const sorted = [...new Set(paths)].sort();
  return sorted.filter((p) => !sorted.some((q) => q !== p && within(p, q)));
}

export interface PluginBackupResult extends BackupResult {
  readonly level: BackupLevel;
}

/**
 * Runs a backup: the command plugins' entries first (one plugin after another, each entry's bytes
 * read whole before the next), then the walk of the paths with the option plugins' calls; the
 * snapshot records each plugin's directive, level, paths and state. A plugin that fails fails the
 * backup, and no snapshot is written.
 */
export async function backupWithPlugins(
  repo: Repository,
  request: PluginBackupRequest,
  setup: BackupSetup,
  options: Omit<BackupOptions, 'parent' | 'hooks'> & { readonly force?: boolean } = {},
): Promise<PluginBackupResult> {
  const host = request.host ?? options.host ?? hostname();
  const signal = options.signal ?? new AbortController().signal;
  const log = request.onLog ?? (() => undefined);
  const { level } = setup;
  const contextFor = (
    use: PluginUse,
    kind: Plugin['kind'],
    i: number,
    keep: (s: unknown) => void,
  ): BackupContext => {
    const previous = priorRun(setup.previous, kind, i, use.stored);
    const previousFull = priorRun(setup.previousFull, kind, i, use.stored);
    const since = level === 'incremental' ? previous : level === 'differential' ? previousFull : undefined;
    return {
      options: use.options,
      directive: use.directive.text,
      signal,
      level,
      host,
      ...(request.run === undefined ? {} : { run: request.run }),
      log: (lvl, message) => log(use.plugin.name, lvl, message),
      ...(previous ? { previous } : {}),
      ...(previousFull ? { previousFull } : {}),
      ...(since ? { since } : {}),
      setState: keep,
    };
  };

  const commands = request.commands;
  const made: string[][] = commands.map(() => []);
  const plain: string[][] = commands.map(() => []);
  // The tree entries marked keep are taken from: the snapshot of the run this one builds on.
  const sinceSnapshot =
    level === 'incremental' ? setup.previous : level === 'differential' ? setup.previousFull : undefined;
  const states: unknown[] = commands.map(() => undefined);
  async function* entries(): AsyncGenerator<VirtualEntry> {
    let current: (() => Promise<void>) | undefined;
    try {
      yield* allEntries((close) => (current = close));
    } finally {
      // The archiver stopped early (a failure, a cancel): the entry being read is let go.
      await current?.().catch(() => undefined);
    }
  }
  async function* allEntries(reading: (close: () => Promise<void>) => void): AsyncGenerator<VirtualEntry> {
    for (const [i, use] of commands.entries()) {
      const plugin = use.plugin as CommandPlugin;
      const ctx = contextFor(use, 'command', i, (s) => (states[i] = s));
      for await (const e of plugin.backup(ctx)) {
        if (typeof e.path !== 'string' || !e.path.startsWith('/')) {
          throw new CairnError(
            'PLUGIN_FAILED',
            `Plugin ${plugin.name} made an entry with the path ${JSON.stringify(e.path)}: entry paths are absolute`,
          );
        }
        const p = path.posix.normalize(e.path).replace(/\/+$/, '') || '/';
        made[i]?.push(p);
        if (e.plain === true) plain[i]?.push(p);
        let keepFrom: string | undefined;
        if (e.keep === true) {
          if (e.source !== undefined || e.data !== undefined) {
            throw new CairnError(
              'PLUGIN_FAILED',
              `Plugin ${plugin.name} made the entry ${p} with keep and a source or data: a kept entry is read from the earlier snapshot only`,
            );
          }
          if (ctx.since === undefined || sinceSnapshot === undefined) {
            throw new CairnError(
              'PLUGIN_FAILED',
              `Plugin ${plugin.name} asked to keep ${p} from an earlier backup, but this ${level} backup builds on none`,
            );
          }
          keepFrom = sinceSnapshot.tree;
        }
        const reader = e.type === 'file' && e.data && e.source === undefined ? readerOf(e.data) : undefined;
        if (reader) reading(reader.close);
        yield {
          path: p,
          type: e.type,
          ...(keepFrom === undefined ? {} : { keepFrom }),
          ...(e.source === undefined ? {} : { source: e.source }),
          ...(e.exclude === undefined ? {} : { exclude: e.exclude }),
          ...(e.volatile === true ? { volatile: true } : {}),
          ...(e.mode === undefined ? {} : { mode: e.mode }),
          ...(e.uid === undefined ? {} : { uid: e.uid }),
          ...(e.gid === undefined ? {} : { gid: e.gid }),
          ...(e.mtimeMs === undefined ? {} : { mtimeMs: e.mtimeMs }),
          ...(e.linkTarget === undefined ? {} : { linkTarget: e.linkTarget }),
          ...(reader ? { read: reader.read } : {}),
        };
      }
    }
  }

  const optionUses = request.optionUses ?? [];
  const calls: FileCalls[] = optionUses.map((use, i) =>
    (use.plugin as OptionPlugin).start(contextFor(use, 'option', i, () => undefined)),
  );
  const walked = (p: string, node: TreeNode): WalkedFile => ({
    path: p,
    type: node.type,
    size: node.size,
    mode: node.mode,
    mtimeMs: Number(BigInt(node.mtimeNs) / 1_000_000n),
  });
  const hooks: FileHooks | undefined =
    calls.length === 0
      ? undefined
      : {
          before: (p, node) => {
            const f = walked(p, node);
            for (const c of calls) if (c.before?.(f) === 'skip') return 'skip';
            return undefined;
          },
          after: (p, node) => {
            const f = walked(p, node);
            for (const c of calls) c.after?.(f);
          },
        };

  const records = (): SnapshotPlugin[] => [
    ...commands.map((use, i) => ({
      name: use.plugin.name,
      kind: 'command' as const,
      directive: use.stored,
      apiVersion: use.plugin.apiVersion,
      level,
      paths: outermost(made[i] ?? []),
      ...((plain[i]?.length ?? 0) > 0 ? { plain: outermost(plain[i] ?? []) } : {}),
      ...(states[i] === undefined ? {} : { state: states[i] }),
    })),
    ...optionUses.map((use, i) => {
      const state = calls[i]?.end?.();
      return {
        name: use.plugin.name,
        kind: 'option' as const,
        directive: use.stored,
        apiVersion: use.plugin.apiVersion,
        level,
        paths: [],
        ...(state === undefined ? {} : { state }),
      };
    }),
  ];

  const { force, ...rest } = options;
  const parent = force ? undefined : setup.parent;
  const result = await backupPlan(
    repo,
    { paths: request.paths, ...(commands.length > 0 ? { entries: entries() } : {}), plugins: records },
    { ...rest, host, signal, ...(parent ? { parent } : {}), ...(hooks ? { hooks } : {}) },
  );
  return { ...result, level };
}

export interface PluginRestoreOptions extends RestoreOptions {
  readonly registry: PluginRegistry;
  /** Directives whose options replace those stored for the plugin uses they apply to. */
  readonly overrides?: readonly string[];
  /** Restore the plugins' entries as plain files; no plugin runs. */
  readonly asFiles?: boolean;
  readonly onLog?: PluginLog;
}

export interface PluginRestoreCount {
  readonly name: string;
  /** The directive stored in the snapshot (overrides are not shown: they may hold secrets). */
  readonly directive: string;
  /** Entries handed to the plugin (or, with dry run, that would be). */
  readonly entries: number;
  /** Of which the plugin took, the host wrote as plain files, and the plugin skipped. */
  readonly restored: number;
  readonly core: number;
  readonly skipped: number;
}

export interface PluginRestoreSummary extends RestoreSummary {
  readonly plugins: readonly PluginRestoreCount[];
}

interface Prepared {
  readonly record: SnapshotPlugin;
  readonly plugin: CommandPlugin;
  readonly directive: Directive;
  readonly options: Options;
}

/** The uses of command plugins in a snapshot, with overrides applied and options checked. */
async function prepareRestore(
  snapshot: SnapshotInfo,
  registry: PluginRegistry,
  overrides: readonly string[],
): Promise<Prepared[]> {
  const records = (snapshot.plugins ?? []).filter((r) => r.kind === 'command');
  const parsed = overrides.map((o) => ({ text: o, directive: parseDirective(o), used: false }));
  const prepared: Prepared[] = [];
  for (const record of records) {
    let plugin: Plugin;
    try {
      plugin = await registry.get(record.name);
    } catch (err) {
      if (err instanceof CairnError && err.code === 'PLUGIN_NOT_FOUND') {
        throw new CairnError(
          'PLUGIN_NOT_FOUND',
          `${err.message}. Snapshot ${snapshot.id.slice(0, 8)} has entries of ${record.name} (${record.paths.join(', ')}): give the plugin directory, or restore them as plain files with --as-files`,
          { cause: err },
        );
      }
      throw err;
    }
    if (plugin.kind !== 'command') {
      throw new CairnError(
        'PLUGIN_INCOMPATIBLE',
        `Plugin ${plugin.name} is not a command plugin here: it cannot restore`,
      );
    }
    let directive = parseDirective(record.directive);
    for (const o of parsed) {
      if (!overrideApplies(directive, o.directive, plugin.options)) continue;
      validateOptions(o.directive, plugin.options, { requireAll: false });
      o.used = true;
      directive = mergeDirective(directive, o.directive);
    }
    const options = validateOptions(directive, plugin.options);
    plugin.check?.(options, columnOf(directive));
    prepared.push({ record, plugin, directive, options });
  }
  const unused = parsed.find((o) => !o.used);
  if (unused) {
    const uses = records.map((r) => r.directive.split(':')[0]).join(', ');
    throw new CairnError(
      'PLUGIN_DIRECTIVE_INVALID',
      `Cannot use --plugin-options ${unused.directive.name}:...: it applies to no plugin use of snapshot ${snapshot.id.slice(0, 8)} (${uses === '' ? 'it has none' : `it has ${uses}`})`,
    );
  }
  return prepared;
}

function entryOf(repo: Repository, d: Diverted): RestoreEntry {
  const n = d.node;
  return {
    path: d.path,
    type: n.type,
    mode: n.mode,
    uid: n.uid,
    gid: n.gid,
    size: n.size,
    mtimeMs: Number(BigInt(n.mtimeNs) / 1_000_000n),
    ...(n.linkTarget === undefined ? {} : { linkTarget: n.linkTarget }),
    data: n.type === 'file' ? fileContent(repo, n) : (async function* () {})(),
  };
}

/** Writes an entry a plugin left to the host ("core") as a plain file, folder or symlink. */
async function writePlain(repo: Repository, dest: string, node: TreeNode): Promise<void> {
  try {
    makeFolders(path.dirname(dest));
    if (node.type === 'dir') {
      makeFolders(dest);
      await fs.chmod(dest, node.mode & 0o7777);
      return;
    }
    await fs.rm(dest, { force: true, recursive: true });
    if (node.type === 'symlink') {
      await fs.symlink(node.linkTarget ?? '', dest);
      return;
    }
    if (node.type !== 'file') return;
    const fh = await fs.open(dest, 'wx', 0o600);
    try {
      for await (const chunk of fileContent(repo, node)) await fh.write(chunk);
      if (process.getuid?.() === 0) await fh.chown(node.uid, node.gid).catch(() => undefined);
      await fh.chmod(node.mode & 0o7777);
      const t = Number(BigInt(node.mtimeNs) / 1_000_000n) / 1000;
      await fh.utimes(t, t);
    } finally {
      await fh.close();
    }
  } catch (err) {
    if (err instanceof CairnError) throw err;
    throw new CairnError('TARGET_UNWRITABLE', `Cannot restore ${dest}: ${reason(err)}`, { cause: err });
  }
}

/**
 * Restores a snapshot: the restorer writes what the walk backed up; each command plugin is then
 * handed the entries it made, in snapshot order (bpipe feeds them to its writer). With asFiles,
 * or for a snapshot without plugins, this is a plain restore.
 */
export async function restoreWithPlugins(
  repo: Repository,
  snapshot: SnapshotInfo,
  target: string,
  options: PluginRestoreOptions,
): Promise<PluginRestoreSummary> {
  const { registry, overrides = [], asFiles = false, onLog, ...restoreOptions } = options;
  if (asFiles && overrides.length > 0) {
    throw new CairnError(
      'USAGE',
      'Cannot restore with --plugin-options and --as-files: no plugin runs with --as-files',
    );
  }
  const prepared = asFiles ? [] : await prepareRestore(snapshot, registry, overrides);
  if (prepared.length === 0)
    return { ...(await restore(repo, snapshot, target, restoreOptions)), plugins: [] };

  const roots = walkedPaths(snapshot);
  const owner = (p: string): Prepared | undefined => {
    // The most specific use whose paths hold p.
    let best: Prepared | undefined;
    let bestLength = -1;
    for (const u of prepared) {
      for (const r of u.record.paths) {
        if (within(p, r) && r.length > bestLength) {
          best = u;
          bestLength = r.length;
        }
      }
    }
    return best;
  };
  // Entries a plugin asked to be restored as plain files are written by the restorer, like walked
  // paths; other plugin entries go to the plugin, and a folder holding only those is not made.
  const plainRoots = [...roots, ...prepared.flatMap((u) => u.record.plain ?? [])];
  const divert = (p: string, node: TreeNode): boolean =>
    node.type === 'dir'
      ? !plainRoots.some((r) => within(p, r) || within(r, p))
      : owner(p) !== undefined && !plainRoots.some((r) => within(p, r));
  const summary = await restore(repo, snapshot, target, { ...restoreOptions, divert });

  const root = path.resolve(target);
  const sub = path.posix.normalize(`/${restoreOptions.subpath ?? '/'}`).replace(/\/+$/, '') || '/';
  const destOf = (p: string) =>
    p === sub ? path.join(root, path.posix.basename(p)) : path.join(root, path.posix.relative(sub, p));
  const destinationOf = (p: string): string | undefined => {
    const n = path.posix.normalize(`/${p}`).replace(/\/+$/, '') || '/';
    return within(n, sub) ? destOf(n) : undefined;
  };
  const counts: PluginRestoreCount[] = [];
  const signal = restoreOptions.signal ?? new AbortController().signal;
  for (const u of prepared) {
    const mine = summary.diverted.filter((d) => owner(d.path) === u);
    const count = {
      name: u.plugin.name,
      directive: u.record.directive,
      entries: mine.length,
      restored: 0,
      core: 0,
      skipped: 0,
    };
    counts.push(count);
    // A plugin with plain entries runs even when it has no other: it may finish their restore.
    if ((mine.length === 0 && (u.record.plain ?? []).length === 0) || restoreOptions.dryRun) continue;
    const ctx: RestoreContext = {
      options: u.options,
      directive: u.directive.text,
      signal,
      log: (level, message) => onLog?.(u.plugin.name, level, message),
      snapshot,
      target: root,
      state: u.record.state,
      level: u.record.level,
      destinationOf,
    };
    const session = await u.plugin.restore(ctx);
    try {
      for (const d of mine) {
        signal.throwIfAborted();
        const status = await session.entry(entryOf(repo, d));
        if (status === 'core') {
          await writePlain(repo, destOf(d.path), d.node);
          count.core++;
        } else if (status === 'skip') count.skipped++;
        else count.restored++;
      }
    } catch (err) {
      await session.end(err).catch(() => undefined);
      throw err;
    }
    await session.end();
  }
  return { ...summary, plugins: counts };
}
