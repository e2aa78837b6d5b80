/** The flags that say where plugins come from, shared by backup, restore and plugins. */
import type { Command } from 'commander';
import { PluginRegistry, type LogLevel } from '../plugins/index.ts';
import { outcome, type Output } from './output.ts';

export interface PluginFlags {
  readonly pluginDir?: string;
  readonly pluginNames?: string;
}

export function addPluginFlags(cmd: Command): Command {
  return cmd
    .option(
      '--plugin-dir <dir>',
      'load more plugins from this folder: executables (any language, JSON-RPC) and .mjs modules (or $CAIRN_PLUGIN_DIR)',
    )
    .option('--plugin-names <names>', 'load only these plugins of the plugin folder (comma-separated)');
}

/** Plugin messages: info as lines (JSON lines with --json), warnings and errors as warnings. */
export function pluginLog(out: Output): (plugin: string, level: LogLevel, message: string) => void {
  return (plugin, level, message) => {
    if (level === 'info') {
      out.line(`${plugin}: ${message}`);
      out.emit({ message_type: 'plugin_log', plugin, level, message });
      return;
    }
    outcome.warnings++;
    out.warn(`${plugin}: ${message}`, { plugin, level });
  };
}

export function openRegistry(
  flags: PluginFlags,
  log: (plugin: string, level: LogLevel, message: string) => void,
): Promise<PluginRegistry> {
  const dir = flags.pluginDir ?? process.env.CAIRN_PLUGIN_DIR;
  const names = flags.pluginNames
    ?.split(',')
    .map((n) => n.trim())
    .filter((n) => n !== '');
  return PluginRegistry.open({
    ...(dir ? { pluginDir: dir } : {}),
    ...(names ? { pluginNames: names } : {}),
    onLog: log,
  });
}
