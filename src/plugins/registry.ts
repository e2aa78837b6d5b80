/**
 * Where plugins come from: the built-in ones, listed here and nowhere else, and those of a plugin
 * directory (Bareos' pluginDirectory, with pluginNames to load only some):
 *
 * - `NAME.mjs` or `NAME.js`: a JavaScript module run in this process; its default export (or
 *   its export `plugin`) is a plugin object of this API (api.ts);
 * - any other executable file (`NAME`, `NAME.py`, ...): an out-of-process plugin, started when a
 *   directive names it and spoken to over its standard input and output (process.ts).
 *
 * The name of a plugin in a directory is its file name up to the first dot. Other files (not
 * executable, hidden, folders) are left alone, so helpers and READMEs may sit beside plugins.
 */
import { constants, promises as fs } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { CairnError, reason } from '../errors.ts';
import { PLUGIN_API_VERSIONS, type LogLevel, type Plugin } from './api.ts';
import { bpipe } from './bpipe.ts';
import { maxsize } from './maxsize.ts';
import { postgresql } from './postgresql.ts';
import { startProcessPlugin } from './process.ts';

/** The built-in plugins. */
export const BUILTIN_PLUGINS: readonly Plugin[] = [bpipe, maxsize, postgresql];

export interface RegistryOptions {
  /** A folder of more plugins. */
  readonly pluginDir?: string;
  /** Load only these plugins of the folder (all when absent). */
  readonly pluginNames?: readonly string[];
  /** Where plugins' messages go when no run is under way (starting, stopping). */
  readonly onLog?: (plugin: string, level: LogLevel, message: string) => void;
  /** Built-in plugins to use instead of BUILTIN_PLUGINS (tests). */
  readonly builtins?: readonly Plugin[];
}

interface Found {
  readonly name: string;
  readonly file: string;
  readonly how: 'module' | 'process';
}

/** A summary for listings. */
export interface PluginListing {
  readonly name: string;
  readonly source: 'built-in' | 'module' | 'process';
  readonly file?: string;
}

function isPlugin(v: unknown): v is Plugin {
  if (typeof v !== 'object' || v === null) return false;
  const p = v as Record<string, unknown>;
  return (
    typeof p.name === 'string' &&
    (p.kind === 'command' || p.kind === 'option') &&
    typeof p.apiVersion === 'number' &&
    typeof p.options === 'object' &&
    p.options !== null &&
    (p.kind === 'command'
      ? typeof p.backup === 'function' && typeof p.restore === 'function'
      : typeof p.start === 'function')
  );
}

export class PluginRegistry {
  readonly #builtins: ReadonlyMap<string, Plugin>;
  readonly #found: ReadonlyMap<string, Found>;
  readonly #started = new Map<string, Promise<Plugin>>();
  readonly #onLog: (plugin: string, level: LogLevel, message: string) => void;

  private constructor(
    builtins: ReadonlyMap<string, Plugin>,
    found: ReadonlyMap<string, Found>,
    onLog: (plugin: string, level: LogLevel, message: string) => void,
  ) {
    this.#builtins = builtins;
    this.#found = found;
    this.#onLog = onLog;
  }

  /** The built-in plugins and those of the plugin directory (nothing is started yet). */
  static async open(options: RegistryOptions = {}): Promise<PluginRegistry> {
    const builtins = new Map((options.builtins ?? BUILTIN_PLUGINS).map((p) => [p.name.toLowerCase(), p]));
    const found = new Map<string, Found>();
    const wanted = options.pluginNames?.map((n) => n.toLowerCase());
    if (options.pluginDir !== undefined) {
      const dir = path.resolve(options.pluginDir);
      let names: string[];
      try {
        names = await fs.readdir(dir);
      } catch (err) {
        throw new CairnError('PLUGIN_NOT_FOUND', `Cannot read the plugin directory ${dir}: ${reason(err)}`, {
          cause: err,
        });
      }
      for (const fileName of names.sort()) {
        if (fileName.startsWith('.')) continue;
        const name = fileName.split('.')[0] as string;
        if (!/^[A-Za-z][A-Za-z0-9_-]*$/.test(name)) continue;
        const key = name.toLowerCase();
        if (wanted !== undefined && !wanted.includes(key)) continue;
        const file = path.join(dir, fileName);
        let how: Found['how'] | undefined;
        try {
          const st = await fs.stat(file);
          if (!st.isFile()) continue;
          if (/\.(mjs|js)$/.test(fileName)) how = 'module';
          else {
            await fs.access(file, constants.X_OK);
            how = 'process';
          }
        } catch {
          continue;
        }
        if (builtins.has(key)) {
          throw new CairnError(
            'PLUGIN_INCOMPATIBLE',
            `The plugin directory has ${fileName}, but ${name} is a built-in plugin: rename the file (or leave it out with --plugin-names)`,
          );
        }
        const before = found.get(key);
        if (before) {
          throw new CairnError(
            'PLUGIN_INCOMPATIBLE',
            `The plugin directory has two plugins named ${name}: ${path.basename(before.file)} and ${fileName}`,
          );
        }
        found.set(key, { name, file, how });
      }
      for (const n of wanted ?? []) {
        if (!found.has(n)) {
          throw new CairnError(
            'PLUGIN_NOT_FOUND',
            `Cannot load plugin ${n}: the plugin directory ${dir} has no executable or module of that name`,
          );
        }
      }
    } else if (wanted !== undefined && wanted.length > 0) {
      throw new CairnError('USAGE', 'Plugin names were given without a plugin directory (--plugin-dir)');
    }
    return new PluginRegistry(builtins, found, options.onLog ?? (() => undefined));
  }

  /** The plugins known, built-in first. */
  list(): PluginListing[] {
    return [
      ...[...this.#builtins.values()].map((p) => ({ name: p.name, source: 'built-in' as const })),
      ...[...this.#found.values()].map((f) => ({ name: f.name, source: f.how, file: f.file })),
    ];
  }

  /** The plugin of that name, started (an out-of-process plugin) or loaded (a module) on first use. */
  get(name: string): Promise<Plugin> {
    const key = name.toLowerCase();
    const builtin = this.#builtins.get(key);
    if (builtin) return Promise.resolve(builtin);
    const found = this.#found.get(key);
    if (found === undefined) {
      const known = this.list().map((p) => p.name);
      return Promise.reject(
        new CairnError(
          'PLUGIN_NOT_FOUND',
          `Cannot find a plugin named ${name}: the plugins here are ${known.join(', ')}${this.#found.size === 0 ? ' (give --plugin-dir for more)' : ''}`,
        ),
      );
    }
    let started = this.#started.get(key);
    if (started === undefined) {
      started = this.#load(found);
      started.catch(() => undefined);
      this.#started.set(key, started);
    }
    return started;
  }

  async #load(found: Found): Promise<Plugin> {
    const log = (level: LogLevel, message: string) => this.#onLog(found.name, level, message);
    if (found.how === 'process') return startProcessPlugin(found.file, found.name, log);
    let mod: Record<string, unknown>;
    try {
      mod = (await import(pathToFileURL(found.file).href)) as Record<string, unknown>;
    } catch (err) {
      throw new CairnError(
        'PLUGIN_INCOMPATIBLE',
        `Cannot load plugin ${found.name} (${found.file}): ${reason(err)}`,
        {
          cause: err,
        },
      );
    }
    const plugin = mod.default ?? mod.plugin;
    if (!isPlugin(plugin)) {
      throw new CairnError(
        'PLUGIN_INCOMPATIBLE',
        `The module ${found.file} exports no plugin: its default export (or "plugin") must have name, kind, apiVersion, options and backup/restore (command) or start (option)`,
      );
    }
    if (!PLUGIN_API_VERSIONS.includes(plugin.apiVersion)) {
      throw new CairnError(
        'PLUGIN_INCOMPATIBLE',
        `Plugin ${found.name} (${found.file}) is written for plugin API version ${plugin.apiVersion}; this Cairn speaks ${PLUGIN_API_VERSIONS.join(', ')}`,
      );
    }
    if (plugin.name.toLowerCase() !== found.name.toLowerCase()) {
      throw new CairnError(
        'PLUGIN_INCOMPATIBLE',
        `The module ${found.file} exports a plugin named ${plugin.name}: a plugin's file is named after it (${found.name})`,
      );
    }
    return plugin;
  }

  /** Stops the plugins that were started (out-of-process ones end their process). */
  async close(): Promise<void> {
    const started = [...this.#started.values()];
    this.#started.clear();
    for (const p of started) {
      try {
        await (await p).close?.();
      } catch {
        // It failed to start or to stop: its error was reported where it was used.
      }
    }
  }
}
