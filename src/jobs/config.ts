/**
 * The declarative configuration file (`cairn server --config cairn.yaml`): repositories and jobs.
 * Every problem is reported with the file, line and column and the field's path, e.g.
 * `cairn.yaml:14:15: jobs[0].schedule.cron: "0 25 * * *" is not a valid cron expression`.
 */
import { readFileSync } from 'node:fs';
import { Type, type Static } from '@sinclair/typebox';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import { CairnError, reason } from '../errors.ts';
import { commandWords } from '../plugins/index.ts';
import { checkJobPlugins, type PluginSettings } from './plugins.ts';
import { checkSpec, JobInputSchema, NameSchema } from './spec.ts';
import { formatPath, validate, type Problem } from './validate.ts';

export const RepositoryConfigSchema = Type.Object(
  {
    name: NameSchema,
    location: Type.String({ minLength: 1, maxLength: 4096 }),
    passwordFile: Type.Optional(Type.String({ minLength: 1, maxLength: 4096 })),
    create: Type.Optional(Type.Boolean()),
    maxConcurrent: Type.Optional(Type.Integer({ minimum: 1, maximum: 64 })),
  },
  { additionalProperties: false },
);

/** A program the system administrator defines once, that jobs (tenants' too) name. */
export const NamedScriptSchema = Type.Object(
  {
    name: NameSchema,
    command: Type.Union([
      Type.String({
        minLength: 1,
        maxLength: 4096,
        description: 'one line, split into words as a shell would',
      }),
      Type.Array(Type.String({ minLength: 1, maxLength: 4096 }), { minItems: 1, maxItems: 64 }),
    ]),
    description: Type.Optional(Type.String({ maxLength: 1000 })),
    timeoutSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 7 * 86400 })),
    tenants: Type.Optional(
      Type.Array(Type.String({ minLength: 1, maxLength: 64 }), {
        maxItems: 10000,
        description: 'tenants whose jobs may name it ("*": all); none by default',
      }),
    ),
  },
  { additionalProperties: false },
);
export type NamedScript = Static<typeof NamedScriptSchema>;

export const ConfigSchema = Type.Object(
  {
    tenant: Type.Optional(NameSchema),
    pluginDirectory: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 4096,
        description: 'a folder of more plugins (Bareos pluginDirectory); --plugin-dir wins over it',
      }),
    ),
    pluginNames: Type.Optional(
      Type.Array(Type.String({ minLength: 1, maxLength: 64 }), {
        maxItems: 256,
        description: 'load only these plugins of the plugin directory (Bareos pluginNames)',
      }),
    ),
    overdueGraceMinutes: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: 7 * 24 * 60,
        description:
          'a scheduled job is overdue this long after the second scheduled time without a successful run (default 60)',
      }),
    ),
    scripts: Type.Optional(Type.Array(NamedScriptSchema)),
    repositories: Type.Optional(Type.Array(RepositoryConfigSchema)),
    jobs: Type.Optional(Type.Array(JobInputSchema)),
  },
  { additionalProperties: false },
);
export type ServerConfig = Static<typeof ConfigSchema>;

/** The node at a path: the value if it exists, else the nearest existing ancestor. */
function nodeAt(doc: Document, path: readonly (string | number)[]): Node | undefined {
  let node: unknown = doc.contents;
  for (const seg of path) {
    if (isMap(node)) {
      const pair = node.items.find((it) => isScalar(it.key) && it.key.value === seg);
      if (!pair) return node;
      node = pair.value ?? pair.key;
    } else if (isSeq(node) && typeof seg === 'number') {
      const item = node.items[seg];
      if (item === undefined) return node;
      node = item;
    } else {
      return node as Node | undefined;
    }
  }
  return node as Node | undefined;
}

/** A checked configuration's problem reporter: the same file, line and column for later checks. */
const reporters = new WeakMap<ServerConfig, (problems: Problem[]) => CairnError>();

/** The path of a field inside job i from a message that starts with it (`sources[1]: ...`). */
function jobProblem(i: number, err: unknown): Problem | undefined {
  const m = /^([A-Za-z]+)(\[(\d+)\])?(\.([A-Za-z]+))?: (.*)$/s.exec(reason(err));
  if (!m) return undefined;
  const path: (string | number)[] = ['jobs', i, m[1]!];
  if (m[3] !== undefined) path.push(Number(m[3]));
  if (m[5] !== undefined) path.push(m[5]);
  return { path, message: m[6]! };
}

export function parseConfig(text: string, file: string): ServerConfig {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const where = (offset: number | undefined) => {
    if (offset === undefined) return file;
    const { line, col } = lineCounter.linePos(offset);
    return `${file}:${line}:${col}`;
  };
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    throw new CairnError('CONFIG_INVALID', `${where(e.pos[0])}: ${e.message.split('\n')[0]}`);
  }
  const value: unknown = doc.toJS() ?? {};
  const report = (problems: Problem[]) => {
    const lines = problems.slice(0, 10).map((p) => {
      const node = nodeAt(doc, p.path);
      return `${where(node?.range?.[0])}: ${formatPath(p.path)} ${p.message}`;
    });
    const more = problems.length > 10 ? `\n(and ${problems.length - 10} more)` : '';
    return new CairnError('CONFIG_INVALID', `${lines.join('\n')}${more}`);
  };
  const problems = validate(ConfigSchema, value);
  if (problems.length > 0) throw report(problems);
  const config = value as ServerConfig;
  const scriptNames = new Set<string>();
  (config.scripts ?? []).forEach((x, i) => {
    if (scriptNames.has(x.name))
      throw report([{ path: ['scripts', i, 'name'], message: `"${x.name}" is defined twice` }]);
    scriptNames.add(x.name);
    try {
      commandWords(x.command);
    } catch (err) {
      throw report([{ path: ['scripts', i, 'command'], message: reason(err) }]);
    }
  });
  const repoNames = new Set<string>();
  (config.repositories ?? []).forEach((r, i) => {
    if (repoNames.has(r.name))
      throw report([{ path: ['repositories', i, 'name'], message: `"${r.name}" is defined twice` }]);
    repoNames.add(r.name);
  });
  const jobNames = new Set<string>();
  (config.jobs ?? []).forEach((j, i) => {
    if (jobNames.has(j.name))
      throw report([{ path: ['jobs', i, 'name'], message: `"${j.name}" is defined twice` }]);
    jobNames.add(j.name);
    if (!repoNames.has(j.repository))
      throw report([
        {
          path: ['jobs', i, 'repository'],
          message: `"${j.repository}" is not one of the repositories of this file (${[...repoNames].join(', ') || 'none'})`,
        },
      ]);
    try {
      checkSpec(j);
    } catch (err) {
      // checkSpec names the field inside the job (sources[0], schedule.cron ...).
      const problem = jobProblem(i, err);
      if (!problem) throw err;
      throw report([problem]);
    }
  });
  reporters.set(config, report);
  return config;
}

/** Where the plugins of a configuration come from: the flags win over the file, field by field. */
export function pluginSettingsOf(
  config: Pick<ServerConfig, 'pluginDirectory' | 'pluginNames'> | undefined,
  flags: PluginSettings = {},
  env: NodeJS.ProcessEnv = process.env,
): PluginSettings {
  const dir = flags.pluginDir ?? config?.pluginDirectory ?? env.CAIRN_PLUGIN_DIR;
  const names = flags.pluginNames ?? config?.pluginNames;
  return { ...(dir ? { pluginDir: dir } : {}), ...(names?.length ? { pluginNames: names } : {}) };
}

/**
 * Checks the plugin directives of a parsed configuration's jobs against the plugins' schemas,
 * reporting a problem with the file, line and column of the directive, e.g.
 * `cairn.yaml:9:22: jobs[0].sources[1] unknown option "raeder" at column 15; bpipe takes file, reader, writer`.
 */
export async function checkConfigPlugins(config: ServerConfig, plugins: PluginSettings): Promise<void> {
  const report = reporters.get(config);
  for (const [i, j] of (config.jobs ?? []).entries()) {
    try {
      await checkJobPlugins(j, plugins);
    } catch (err) {
      const problem = report ? jobProblem(i, err) : undefined;
      if (!problem || !report) throw err;
      throw report([problem]);
    }
  }
}

export function loadConfig(file: string): ServerConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new CairnError('CONFIG_INVALID', `Cannot read the configuration ${file}: ${reason(err)}`, {
      cause: err,
    });
  }
  return parseConfig(text, file);
}
