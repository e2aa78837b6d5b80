/**
 * The plugin host (docs/plugin-api.md): directives, the plugin API, the built-in plugins (bpipe,
 * maxsize), plugins from a plugin directory (JavaScript modules, or programs of any language
 * spoken to over JSON-RPC), and backup and restore with plugins. Below the front ends (cli/,
 * api/, jobs/), above repo/, which it drives through its public face and which knows nothing of it.
 */
export {
  PLUGIN_API_VERSION,
  PLUGIN_API_VERSIONS,
  type BackupContext,
  type BackupEntry,
  type CommandPlugin,
  type FileCalls,
  type LogLevel,
  type OptionPlugin,
  type OptionSchema,
  type OptionSpec,
  type OptionType,
  type Options,
  type OptionValue,
  type Plugin,
  type PluginContext,
  type PluginInfo,
  type PriorRun,
  type RestoreContext,
  type RestoreEntry,
  type RestoreSession,
  type RestoreStatus,
  type WalkedFile,
} from './api.ts';
export {
  escapeValue,
  formatDirective,
  isDirective,
  mergeDirective,
  parseDirective,
  storedDirective,
  validateOptions,
  type Directive,
  type DirectiveOption,
} from './directive.ts';
export { splitArgs, ArgsError } from './args.ts';
export {
  DEFAULT_SCRIPT_TIMEOUT_SECONDS,
  commandWords,
  runProgram,
  runScripts,
  scriptEnv,
  showCommand,
  type ProgramEnd,
  type ProgramOptions,
  type Script,
  type ScriptIO,
  type ScriptPhase,
  type ScriptPolicy,
} from './scripts.ts';
export { BUILTIN_PLUGINS, PluginRegistry, type PluginListing, type RegistryOptions } from './registry.ts';
export {
  LEVELS,
  backupWithPlugins,
  prepareBackup,
  resolveUse,
  restoreWithPlugins,
  sameSources,
  walkedPaths,
  type BackupSetup,
  type PluginBackupRequest,
  type PluginBackupResult,
  type PluginLog,
  type PluginRestoreCount,
  type PluginRestoreOptions,
  type PluginRestoreSummary,
  type PluginUse,
} from './host.ts';
