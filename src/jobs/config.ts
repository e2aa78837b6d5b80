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

/** How many problems one report lists (the count says how many there are). */
const MAX_REPORTED = 50;

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Problems in the order their places appear in the file. */
function sortByPlace(problems: Problem[], doc: Document): Problem[] {
  const at = (p: Problem) => nodeAt(doc, p.path)?.range?.[0] ?? 0;
  return problems
    .map((p, i) => ({ p, i, at: at(p) }))
    .sort((a, b) => a.at - b.at || a.i - b.i)
    .map((x) => x.p);
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
    // Every syntax error at once: nothing else can be judged until they are gone.
    throw new CairnError(
      'CONFIG_INVALID',
      doc.errors.map((e) => `${where(e.pos[0])}: ${e.message.split('\n')[0]}`).join('\n'),
    );
  }
  const value: unknown = doc.toJS() ?? {};
  const report = (problems: Problem[]) => {
    const lines = problems.slice(0, MAX_REPORTED).map((p) => {
      const node = nodeAt(doc, p.path);
      return `${where(node?.range?.[0])}: ${formatPath(p.path)} ${p.message}`;
    });
    const more = problems.length > MAX_REPORTED ? `\n(and ${problems.length - MAX_REPORTED} more)` : '';
    const count = problems.length > 1 ? `${problems.length} problems:\n` : '';
    return new CairnError('CONFIG_INVALID', `${count}${lines.join('\n')}${more}`);
  };
  // Every problem of the file at once, in the file's order: the schema's, then the checks of each
  // entry the schema found sound (a malformed entry's own checks would only repeat its problem).
  const problems = validate(ConfigSchema, value);
  const unsound = (section: string, i: number) =>
    problems.some((p) => p.path[0] === section && p.path[1] === i);
  const root = (isPlainObject(value) ? value : {}) as Partial<ServerConfig>;
  // Every entry that is a map is checked, sound or not (its fields are checked for their type
  // where it matters), so that one run names every problem.
  const list = <T>(section: keyof ServerConfig): [T, number][] => {
    const xs: unknown = root[section];
    return Array.isArray(xs)
      ? (xs as unknown[]).flatMap((x, i) => (isPlainObject(x) ? [[x as T, i] as [T, number]] : []))
      : [];
  };
  const known = (path: readonly (string | number)[]) =>
    problems.some((p) => p.path.length === path.length && p.path.every((x, k) => x === path[k]));
  const add = (p: Problem) => {
    if (!known(p.path)) problems.push(p);
  };
  const scriptNames = new Set<string>();
  for (const [x, i] of list<NonNullable<ServerConfig['scripts']>[number]>('scripts')) {
    if (scriptNames.has(x.name))
      problems.push({ path: ['scripts', i, 'name'], message: `"${x.name}" is defined twice` });
    scriptNames.add(x.name);
    try {
      commandWords(x.command);
    } catch (err) {
      problems.push({ path: ['scripts', i, 'command'], message: reason(err) });
    }
  }
  const repoNames = new Set<string>();
  for (const [r, i] of list<NonNullable<ServerConfig['repositories']>[number]>('repositories')) {
    if (typeof r.name !== 'string') continue;
    if (repoNames.has(r.name))
      add({ path: ['repositories', i, 'name'], message: `"${r.name}" is defined twice` });
    repoNames.add(r.name);
  }
  const jobNames = new Set<string>();
  for (const [j, i] of list<NonNullable<ServerConfig['jobs']>[number]>('jobs')) {
    if (typeof j.name === 'string') {
      if (jobNames.has(j.name)) add({ path: ['jobs', i, 'name'], message: `"${j.name}" is defined twice` });
      jobNames.add(j.name);
    }
    if (typeof j.repository === 'string' && !repoNames.has(j.repository))
      add({
        path: ['jobs', i, 'repository'],
        message: `"${j.repository}" is not one of the repositories of this file (${[...repoNames].join(', ') || 'none'})`,
      });
    try {
      checkSpec(j);
    } catch (err) {
      // checkSpec names the field inside the job (sources[0], schedule.cron ...). On a job the
      // schema already found unsound it may stumble over what the schema reported: left out.
      const problem = jobProblem(i, err);
      if (problem) add(problem);
      else if (!unsound('jobs', i)) throw err;
    }
  }
  if (problems.length > 0) throw report(sortByPlace(problems, doc));
  const config = value as ServerConfig;
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
  const problems: Problem[] = [];
  for (const [i, j] of (config.jobs ?? []).entries()) {
    try {
      await checkJobPlugins(j, plugins);
    } catch (err) {
      const problem = report ? jobProblem(i, err) : undefined;
      if (!problem || !report) throw err;
      problems.push(problem);
    }
  }
  if (problems.length > 0 && report) throw report(problems);
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
