import type { Command } from 'commander';
import type { Plugin } from '../plugins/index.ts';
import { makeOutput } from './output.ts';
import type { GlobalOptions } from './context.ts';
import { addPluginFlags, openRegistry, pluginLog, type PluginFlags } from './plugin-flags.ts';

function optionLine(name: string, p: Plugin): string[] {
  const spec = p.options[name];
  if (spec === undefined) return [];
  const kind = spec.type === 'enum' ? (spec.values ?? []).join('|') : spec.type;
  const flags = [
    spec.required ? 'required' : undefined,
    spec.default !== undefined ? `default ${String(spec.default)}` : undefined,
    spec.secret ? 'secret' : undefined,
  ].filter((x) => x !== undefined);
  return [
    `    ${name}=<${kind}>${flags.length ? ` (${flags.join(', ')})` : ''}`,
    `        ${spec.description}`,
  ];
}

export function registerPlugins(program: Command): void {
  const command = program
    .command('plugins')
    .description('list the plugins (built-in and from --plugin-dir) and their options')
    .addHelpText(
      'after',
      `
A command plugin is a backup source: cairn backup --source 'NAME:key=value:key=value'.
An option plugin is called for each file: cairn backup PATH --option-plugin 'NAME:key=value'.
Plugins of a plugin folder are started to learn their options. See docs/plugin-api.md.`,
    )
    .action(async (flags: PluginFlags, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const out = makeOutput(g);
      const registry = await openRegistry(flags, pluginLog(out));
      try {
        const listed = [];
        for (const entry of registry.list()) {
          const p = await registry.get(entry.name);
          listed.push({ entry, p });
        }
        if (out.json) {
          process.stdout.write(
            JSON.stringify(
              listed.map(({ entry, p }) => ({
                name: p.name,
                kind: p.kind,
                source: entry.source,
                ...(entry.file ? { file: entry.file } : {}),
                version: p.version,
                api_version: p.apiVersion,
                description: p.description,
                ...(p.levels ? { levels: p.levels } : {}),
                options: p.options,
              })),
            ) + '\n',
          );
          return;
        }
        for (const { entry, p } of listed) {
          out.line(
            `${p.name} (${p.kind} plugin, ${entry.source}${entry.file ? ` ${entry.file}` : ''}, version ${p.version || '?'}, API ${p.apiVersion})`,
          );
          out.line(`    ${p.description}`);
          for (const name of Object.keys(p.options)) for (const l of optionLine(name, p)) out.line(l);
        }
      } finally {
        await registry.close();
      }
    });
  addPluginFlags(command);
}
