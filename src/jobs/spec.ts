/**
 * What a job is: the JSON schema of its specification, shared by the YAML configuration, the REST
 * API (validation and the OpenAPI document) and the catalog (stored as JSON). One schema, so a job
 * written in YAML and one posted to the API are checked by the same rules.
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { Cron } from 'croner';
import { CairnError } from '../errors.ts';
import { ArgsError, isDirective } from '../plugins/index.ts';
import { commandWords, DEFAULT_SCRIPT_TIMEOUT_SECONDS, type Script } from '../plugins/index.ts';

const Name = Type.String({
  minLength: 1,
  maxLength: 64,
  pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$',
  description: 'letters, digits, dot, dash and underscore; starts with a letter or digit',
});

export const NameSchema = Name;

const Count = Type.Integer({ minimum: 0, maximum: 100000 });

export const ScheduleSchema = Type.Object(
  {
    cron: Type.String({
      minLength: 1,
      maxLength: 200,
      description: 'a cron expression (5 or 6 fields), e.g. "0 2 * * *" for 02:00 every day',
    }),
    timezone: Type.Optional(
      Type.String({ minLength: 1, maxLength: 64, description: 'an IANA time zone such as Europe/Berlin' }),
    ),
    missed: Type.Optional(
      Type.Union([Type.Literal('run-once'), Type.Literal('skip')], {
        description: 'after downtime: run a missed time once (default) or skip it',
      }),
    ),
  },
  { additionalProperties: false },
);

export const RetentionSchema = Type.Object(
  {
    keepLast: Type.Optional(Count),
    keepHourly: Type.Optional(Count),
    keepDaily: Type.Optional(Count),
    keepWeekly: Type.Optional(Count),
    keepMonthly: Type.Optional(Count),
    keepYearly: Type.Optional(Count),
    keepWithin: Type.Optional(
      Type.String({ pattern: '^([0-9]+[ymwdh])+$', description: 'a duration such as 30d or 1y6m' }),
    ),
    prune: Type.Optional(Type.Boolean({ description: 'free the space of forgotten restore points at once' })),
  },
  { additionalProperties: false },
);

const ScriptNameOptions = {
  minLength: 1,
  maxLength: 64,
  pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$',
} as const;

export const HookSchema = Type.Object(
  {
    on: Type.Array(
      Type.Union([
        Type.Literal('start'),
        Type.Literal('end'),
        Type.Literal('success'),
        Type.Literal('failure'),
        Type.Literal('overdue'),
      ]),
      {
        minItems: 1,
        uniqueItems: true,
        description:
          "a run's start, end, success or failure; overdue: the job has had no successful run within its expected interval (docs/server.md)",
      },
    ),
    command: Type.Optional(
      Type.Array(Type.String({ minLength: 1, maxLength: 4096 }), {
        minItems: 1,
        maxItems: 64,
        description: 'program and arguments, run without a shell; the run is described in CAIRN_* variables',
      }),
    ),
    script: Type.Optional(
      Type.String({
        ...ScriptNameOptions,
        description:
          'a named script the system administrator defined (GET /api/v1/scripts), instead of a command',
      }),
    ),
    webhook: Type.Optional(
      Type.String({ pattern: '^https?://', maxLength: 2048, description: 'a URL that receives a JSON POST' }),
    ),
    timeoutSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 3600 })),
  },
  { additionalProperties: false },
);

export const LimitsSchema = Type.Object(
  {
    retries: Type.Optional(Type.Integer({ minimum: 0, maximum: 10 })),
    retryDelaySeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 86400 })),
    timeoutSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 7 * 86400 })),
  },
  { additionalProperties: false },
);

export const LevelSchema = Type.Union(
  [Type.Literal('full'), Type.Literal('incremental'), Type.Literal('differential')],
  {
    description:
      'full reads every file again and has every plugin back up in full; incremental (the default) and differential build on the last backup or the last full one (docs/plugin-api.md §4)',
  },
);

/** A program run before or after the backup (Bareos' client RunScript). */
export const ScriptSchema = Type.Object(
  {
    script: Type.Optional(
      Type.String({
        ...ScriptNameOptions,
        description:
          'a named script the system administrator defined (GET /api/v1/scripts), instead of a command; the only kind a tenant user may use',
      }),
    ),
    command: Type.Optional(
      Type.Union(
        [
          Type.String({
            minLength: 1,
            maxLength: 4096,
            description:
              'program and arguments in one line, split into words as a shell would (no shell runs it)',
          }),
          Type.Array(Type.String({ minLength: 1, maxLength: 4096 }), { minItems: 1, maxItems: 64 }),
        ],
        { description: 'the program and its arguments, run without a shell (system administrators only)' },
      ),
    ),
    onError: Type.Optional(
      Type.Union([Type.Literal('fail'), Type.Literal('warn')], {
        description:
          'fail: the run fails (runBefore: before anything is read); warn: a warning. Default: fail for runBefore, warn for runAfter',
      }),
    ),
    timeoutSeconds: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 7 * 86400,
        description: 'stopped and failed after this (default 3600)',
      }),
    ),
  },
  { additionalProperties: false },
);

const Path = Type.String({ minLength: 1, maxLength: 4096 });

/** The part of a job that is its behaviour (everything but name and repository). */
export const JobSpecSchema = Type.Object(
  {
    sources: Type.Array(Path, {
      minItems: 1,
      maxItems: 1000,
      description:
        'absolute paths to back up, and command plugin directives such as "bpipe:file=/db.sql:reader=pg_dump db" (docs/plugin-api.md)',
    }),
    optionPlugins: Type.Optional(
      Type.Array(Type.String({ minLength: 1, maxLength: 4096 }), {
        maxItems: 32,
        description: 'option plugin directives called for each file of the walk, e.g. "maxsize:size=1G"',
      }),
    ),
    level: Type.Optional(LevelSchema),
    exclude: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 4096 }), { maxItems: 1000 })),
    excludeCaches: Type.Optional(Type.Boolean()),
    oneFileSystem: Type.Optional(Type.Boolean()),
    tags: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 128 }), { maxItems: 32 })),
    schedule: Type.Optional(Type.Union([ScheduleSchema, Type.Null()])),
    retention: Type.Optional(RetentionSchema),
    hooks: Type.Optional(Type.Array(HookSchema, { maxItems: 16 })),
    runBefore: Type.Optional(
      Type.Array(ScriptSchema, {
        maxItems: 16,
        description: 'programs run before the backup reads anything; a failure fails the run (onError: fail)',
      }),
    ),
    runAfter: Type.Optional(
      Type.Array(ScriptSchema, {
        maxItems: 16,
        description:
          'programs run after the backup (and its retention), also after a failure, with CAIRN_RESULT; a failure is a warning (onError: warn)',
      }),
    ),
    limits: Type.Optional(LimitsSchema),
    enabled: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
export type JobSpec = Static<typeof JobSpecSchema>;
export type Retention = Static<typeof RetentionSchema>;
export type Hook = Static<typeof HookSchema>;
export type ScriptSpec = Static<typeof ScriptSchema>;
export type Level = Static<typeof LevelSchema>;
export type Schedule = Static<typeof ScheduleSchema>;

/** A job as the API takes it: the spec plus its name and repository (by id or name). */
export const JobInputSchema = Type.Composite(
  [Type.Object({ name: Name, repository: Type.String({ minLength: 1, maxLength: 128 }) }), JobSpecSchema],
  { additionalProperties: false },
);
export type JobInput = Static<typeof JobInputSchema>;

export const RepositoryInputSchema = Type.Object(
  {
    name: Name,
    location: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 4096,
        description:
          "a local directory or s3:…; left out, the repository is made in the tenant's storage root with a key of its own (system administrators only may give one)",
      }),
    ),
    password: Type.Optional(
      Type.String({ minLength: 8, maxLength: 1024, description: 'kept in a file of the data directory' }),
    ),
    passwordFile: Type.Optional(Type.String({ minLength: 1, maxLength: 4096 })),
    create: Type.Optional(
      Type.Boolean({ description: 'initialise the repository when the location is empty' }),
    ),
    maxConcurrent: Type.Optional(Type.Integer({ minimum: 1, maximum: 64 })),
  },
  { additionalProperties: false },
);
export type RepositoryInput = Static<typeof RepositoryInputSchema>;

/** Checks what a schema cannot: the cron expression and the time zone. Returns the next run. */
export function nextRunOf(schedule: Schedule | null | undefined, after: Date): Date | null {
  if (!schedule) return null;
  let cron: Cron;
  try {
    cron = new Cron(schedule.cron, {
      paused: true,
      ...(schedule.timezone ? { timezone: schedule.timezone } : {}),
    });
  } catch (err) {
    throw new CairnError(
      'INVALID_INPUT',
      `schedule.cron: "${schedule.cron}" is not a valid cron expression (${err instanceof Error ? err.message : String(err)})`,
    );
  }
  try {
    return cron.nextRun(after);
  } catch (err) {
    throw new CairnError(
      'INVALID_INPUT',
      `schedule.timezone: "${schedule.timezone ?? ''}" is not a known time zone (${err instanceof Error ? err.message : String(err)})`,
    );
  } finally {
    cron.stop();
  }
}

/** The next `n` run times of a schedule, for previews. */
export function nextRuns(schedule: Schedule, after: Date, n: number): Date[] {
  const out: Date[] = [];
  let t = after;
  for (let i = 0; i < n; i++) {
    const next = nextRunOf(schedule, t);
    if (!next) break;
    out.push(next);
    t = next;
  }
  return out;
}

/**
 * A job's runBefore or runAfter scripts as programs to run: commands split, defaults applied
 * (onError fail before, warn after; 3600 s). Throws USAGE naming the field when a command line
 * does not split.
 */
export function scriptsOf(spec: JobSpec, phase: 'before' | 'after'): Script[] {
  const field = phase === 'before' ? 'runBefore' : 'runAfter';
  return (spec[field] ?? []).map((s, i) => {
    if (s.command === undefined)
      throw new CairnError(
        'INVALID_INPUT',
        `${field}[${i}]: give a command or a script${s.script ? ` (script "${s.script}" is resolved by the server)` : ''}`,
      );
    let argv: string[];
    try {
      argv = commandWords(s.command);
    } catch (err) {
      if (!(err instanceof ArgsError)) throw err;
      throw new CairnError(
        'USAGE',
        `${field}[${i}].command: ${err.message} (column ${err.column}); expected a program and its arguments, quoted as in a shell (no shell runs them)`,
      );
    }
    return {
      label: `${field}[${i}]`,
      argv,
      onError: s.onError ?? (phase === 'before' ? 'fail' : 'warn'),
      timeoutSeconds: s.timeoutSeconds ?? DEFAULT_SCRIPT_TIMEOUT_SECONDS,
    };
  });
}

/** Checks what the schema cannot, without plugins (see checkJobPlugins for directives). */
export function checkSpec(spec: JobSpec): void {
  spec.sources.forEach((s, i) => {
    if (!isDirective(s) && !s.startsWith('/'))
      throw new CairnError(
        'INVALID_INPUT',
        `sources[${i}]: "${s}" is not an absolute path (nor a plugin directive such as bpipe:file=/db.sql:reader=...)`,
      );
  });
  nextRunOf(spec.schedule, new Date(0));
  (spec.hooks ?? []).forEach((h, i) => {
    const kinds = [h.command, h.script, h.webhook].filter((x) => x !== undefined).length;
    if (kinds !== 1)
      throw new CairnError('INVALID_INPUT', `hooks[${i}]: give one of command, script or webhook`);
  });
  for (const field of ['runBefore', 'runAfter'] as const) {
    (spec[field] ?? []).forEach((s, i) => {
      if ((s.command === undefined) === (s.script === undefined))
        throw new CairnError('INVALID_INPUT', `${field}[${i}]: give either a command or a script`);
    });
  }
  // Commands split into words (named scripts are resolved by the server when the job runs).
  for (const phase of ['before', 'after'] as const) {
    const field = phase === 'before' ? 'runBefore' : 'runAfter';
    scriptsOf({ ...spec, [field]: (spec[field] ?? []).filter((s) => s.command !== undefined) }, phase);
  }
}

export type { TSchema };
