/**
 * Plugins in server jobs: a job's sources are absolute paths and command plugin directives (as
 * `cairn backup --source`), its optionPlugins option plugin directives. The server's plugin
 * directory and names (Bareos' pluginDirectory and pluginNames) say where plugins come from; each
 * run opens a registry of its own in its worker thread, and a job's directives are checked against
 * the plugins' schemas when it is created or changed.
 */
import { CairnError, isCairnError } from '../errors.ts';
import { isDirective, PluginRegistry, resolveUse, type LogLevel } from '../plugins/index.ts';
import type { JobSpec } from './spec.ts';

/** Where the server's plugins come from (besides the built-in ones). */
export interface PluginSettings {
  readonly pluginDir?: string;
  readonly pluginNames?: readonly string[];
}

/** A job's sources split: plain paths to walk, and command plugin directives (in order). */
export function sourcesOf(spec: Pick<JobSpec, 'sources'>): { paths: string[]; directives: string[] } {
  return {
    paths: spec.sources.filter((s) => !isDirective(s)),
    directives: spec.sources.filter(isDirective),
  };
}

/** Whether a job's backup goes through the plugin host. */
export function usesPlugins(spec: Pick<JobSpec, 'sources' | 'optionPlugins'>): boolean {
  return spec.sources.some(isDirective) || (spec.optionPlugins ?? []).length > 0;
}

export function openPlugins(
  settings: PluginSettings | undefined,
  onLog?: (plugin: string, level: LogLevel, message: string) => void,
): Promise<PluginRegistry> {
  return PluginRegistry.open({
    ...(settings?.pluginDir ? { pluginDir: settings.pluginDir } : {}),
    ...(settings?.pluginNames?.length ? { pluginNames: settings.pluginNames } : {}),
    ...(onLog ? { onLog } : {}),
  });
}

/** "Cannot use the bpipe directive: unknown option..." → "unknown option...": the field says the rest. */
function withoutPreamble(message: string): string {
  return message
    .replace(/^Cannot (?:use|read) (?:the \S+ directive|a plugin directive): /, '')
    .replace('(give it with --option-plugin)', '(give it in optionPlugins)')
    .replace('(give it as a backup source, --source)', '(give it in sources)');
}

/**
 * Parses a job's directives and checks them against their plugins' option schemas (starting an
 * out-of-process plugin to learn its options, then stopping it). A problem is a USAGE error
 * (400) whose message starts with the field: `sources[1]: unknown option "raeder" at column 15;
 * bpipe takes file, reader, writer`.
 */
export async function checkJobPlugins(
  spec: Pick<JobSpec, 'sources' | 'optionPlugins'>,
  settings: PluginSettings | undefined,
): Promise<void> {
  const uses: { field: string; text: string; kind: 'command' | 'option' }[] = [
    ...spec.sources.flatMap((s, i) =>
      isDirective(s) ? [{ field: `sources[${i}]`, text: s, kind: 'command' as const }] : [],
    ),
    ...(spec.optionPlugins ?? []).map((s, i) => ({
      field: `optionPlugins[${i}]`,
      text: s,
      kind: 'option' as const,
    })),
  ];
  if (uses.length === 0) return;
  // A plugin directory that cannot be read is the server's problem, not the job's: as it is.
  const registry = await openPlugins(settings);
  try {
    for (const u of uses) {
      try {
        await resolveUse(registry, u.text, u.kind);
      } catch (err) {
        if (!isCairnError(err)) throw err;
        throw new CairnError('USAGE', `${u.field}: ${withoutPreamble(err.message)}`, { cause: err });
      }
    }
  } finally {
    await registry.close();
  }
}
