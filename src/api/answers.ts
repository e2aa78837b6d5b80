/**
 * The schemas of the API's answers: what views.ts, tenants.ts and the routes return, as the
 * OpenAPI document shows them and as Fastify serializes them.
 *
 * Fastify serializes an answer through its schema (fast-json-stringify), which writes only the
 * properties the schema lists and coerces values to the type given: a property missing here is
 * silently dropped from the answer, a null where a string is declared becomes "". Every property
 * a view returns must therefore be listed with its exact type. The tests' server checks each
 * answer against its schema (openapi.ts, `checkAnswers`), so a view that gains a field fails
 * there until its schema does too. A part that is open by design (a run's statistics, the
 * simulator's figures, the dashboard) says so with `additionalProperties: true`, which is written
 * as it is.
 *
 * Each named schema has an `$id`: it is added to Fastify once (`SHARED_SCHEMAS`) and becomes a
 * component of the OpenAPI document (`#/components/schemas/Task`), which a client generator turns
 * into a named type.
 */
import { Type, type TObject, type TProperties, type TSchema, type TUnsafe } from '@sinclair/typebox';
import { ERRORS, type ErrorCode } from '../errors.ts';
import { JobSpecSchema } from '../jobs/index.ts';
import { ROLES } from './auth.ts';

/** A reference to a named schema below (Fastify and the OpenAPI document resolve it by `$id`). */
export function ref<T extends TSchema>(schema: T): TUnsafe<T['static']> {
  if (!schema.$id) throw new Error('ref: the schema has no $id');
  return Type.Unsafe<T['static']>({ $ref: `${schema.$id}#` });
}

type Primitive = 'string' | 'integer' | 'number' | 'boolean';

/** A value or null, as OpenAPI 3.1 writes it (`type: ["string", "null"]`). */
function maybe<T>(type: Primitive, options: Record<string, unknown> = {}): TUnsafe<T | null> {
  return Type.Unsafe<T | null>({ ...options, type: [type, 'null'] });
}
const StringOrNull = (options: Record<string, unknown> = {}) => maybe<string>('string', options);
const IntegerOrNull = (options: Record<string, unknown> = {}) => maybe<number>('integer', options);
const BooleanOrNull = (options: Record<string, unknown> = {}) => maybe<boolean>('boolean', options);
/** An object or null. */
const OrNull = <T extends TSchema>(schema: T, description?: string) =>
  Type.Union([schema, Type.Null()], description ? { description } : {});

const Time = (description?: string) =>
  Type.String({ format: 'date-time', ...(description ? { description } : {}) });
const TimeOrNull = (description?: string) =>
  StringOrNull({ format: 'date-time', ...(description ? { description } : {}) });
const Bytes = (description?: string) => Type.Integer({ minimum: 0, ...(description ? { description } : {}) });

export const LinkSchema = Type.Object(
  {
    rel: Type.String({ description: 'what the link does: self, start, cancel, edit, delete, restore, log…' }),
    href: Type.String(),
    method: Type.Union(['GET', 'POST', 'PUT', 'PATCH', 'DELETE'].map((m) => Type.Literal(m))),
  },
  {
    $id: 'Link',
    additionalProperties: false,
    description: 'What the caller may do next: only what its role allows is listed',
    examples: [{ rel: 'start', href: '/api/v1/jobs/6f1c…/start', method: 'POST' }],
  },
);
const Links = Type.Array(ref(LinkSchema));

export const PaginationSchema = Type.Object(
  {
    total: Type.Integer({ minimum: 0, description: 'items in all pages' }),
    count: Type.Integer({ minimum: 0, description: 'items in this page' }),
    skip: Type.Integer({ minimum: 0 }),
    limit: Type.Integer({ minimum: 1 }),
  },
  { $id: 'Pagination', additionalProperties: false, examples: [{ total: 3, count: 3, skip: 0, limit: 50 }] },
);

/** A listing: `{data, pagination}`. */
export function Page<T extends TSchema>(item: T) {
  return Type.Object({ data: Type.Array(item), pagination: ref(PaginationSchema) });
}

export const ProblemSchema = Type.Object(
  {
    type: Type.String({ description: 'urn:cairn:problem: and the code in lower case with dashes' }),
    title: Type.String({ description: 'what the code means (errors.md)' }),
    status: Type.Integer({ minimum: 400, maximum: 599 }),
    detail: Type.String({ description: 'what went wrong, naming the object and the reason' }),
    instance: Type.String({ description: 'the path of the request' }),
    code: Type.Union(
      (Object.keys(ERRORS) as ErrorCode[]).map((c) => Type.Literal(c)),
      { description: "Cairn's stable error code (docs/errors.md)" },
    ),
    errors: Type.Optional(
      Type.Array(
        Type.Object(
          {
            path: Type.String({ description: 'the field, e.g. body.retention.keepDaily' }),
            message: Type.String(),
          },
          { additionalProperties: false },
        ),
        { description: 'for input that is not valid: each field and what is wrong with it' },
      ),
    ),
  },
  {
    $id: 'Problem',
    additionalProperties: false,
    description: 'An RFC 9457 problem (application/problem+json) with Cairn’s error code',
    examples: [
      {
        type: 'urn:cairn:problem:not-found',
        title: ERRORS.NOT_FOUND.summary,
        status: 404,
        detail: 'No job 00000000-0000-0000-0000-000000000000 in this tenant',
        instance: '/api/v1/jobs/00000000-0000-0000-0000-000000000000',
        code: 'NOT_FOUND',
      },
    ],
  },
);

export const EntryPointSchema = Type.Object(
  { version: Type.Literal('v1'), links: Links },
  { $id: 'EntryPoint', additionalProperties: false },
);

const UserSummary = Type.Object(
  {
    id: Type.String(),
    name: Type.String({ description: 'the name in its tenant' }),
    logonName: Type.String({ description: 'the name to log on with: NAME@TENANT or a plain name' }),
    systemAdmin: Type.Boolean(),
  },
  { additionalProperties: false },
);
const TenantRef = Type.Object({ id: Type.String(), name: StringOrNull() }, { additionalProperties: false });
const Role = StringOrNull({
  enum: [...ROLES, null],
  description: 'the role in this tenant; null for a system administrator without one',
});

export const SessionSchema = Type.Object(
  {
    id: Type.String(),
    user: UserSummary,
    tenant: TenantRef,
    role: Role,
    idleTimeoutSeconds: Type.Integer({ minimum: 0 }),
    csrfToken: Type.Optional(
      Type.String({ description: 'with ?cookie=true: send it as X-CSRF-Token with every change' }),
    ),
    createdAt: Time(),
    links: Links,
  },
  {
    $id: 'Session',
    additionalProperties: false,
    description: 'A new session; its token is in the X-Cairn-Session header of the answer',
  },
);

export const CurrentSessionSchema = Type.Object(
  {
    id: StringOrNull({ description: 'null when the caller uses an API key' }),
    via: Type.Union([Type.Literal('session'), Type.Literal('cookie'), Type.Literal('api-key')]),
    user: Type.Object(
      {
        id: StringOrNull(),
        name: Type.String(),
        logonName: Type.Optional(Type.String()),
        systemAdmin: Type.Boolean(),
      },
      { additionalProperties: false },
    ),
    tenant: TenantRef,
    role: Role,
    csrfToken: Type.Optional(Type.String({ description: 'for a browser session (cookie)' })),
    links: Links,
  },
  { $id: 'CurrentSession', additionalProperties: false },
);

export const ApiKeySchema = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    userId: Type.String(),
    createdAt: Time(),
    lastUsedAt: TimeOrNull(),
    links: Links,
  },
  { $id: 'ApiKey', additionalProperties: false },
);

export const NewApiKeySchema = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    key: Type.String({ description: 'cairn_key_…: shown this once, stored only as a hash' }),
    createdAt: Time(),
    links: Links,
  },
  { $id: 'NewApiKey', additionalProperties: false },
);

export const UserSchema = Type.Object(
  {
    id: Type.String(),
    name: Type.String({ description: 'as its tenant knows it' }),
    tenant: StringOrNull({ description: 'the tenant it belongs to; null for a plain name' }),
    logonName: Type.String(),
    role: Role,
    systemAdmin: Type.Boolean(),
    disabled: Type.Boolean(),
    createdAt: Time(),
    links: Links,
  },
  { $id: 'User', additionalProperties: false },
);

export const AuditEntrySchema = Type.Object(
  {
    id: Type.String(),
    at: Time(),
    user: Type.String(),
    action: Type.String({ examples: ['logon', 'job.create', 'run.cancel'] }),
    object: Type.String(),
    detail: Type.Unknown({ description: 'what the action changed; its shape depends on the action' }),
  },
  { $id: 'AuditEntry', additionalProperties: false },
);

export const TenantSchema = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    storageRoot: StringOrNull(),
    quotaBytes: IntegerOrNull({ description: 'null: no limit' }),
    usageBytes: IntegerOrNull({ description: 'as last measured; null: never measured' }),
    sourceRoots: Type.Array(Type.String()),
    restoreRoots: Type.Array(Type.String()),
    webhookAllow: Type.Array(Type.String()),
    maxRuns: IntegerOrNull(),
    bandwidthBytesPerSecond: IntegerOrNull(),
    protectionDays: Type.Integer({ minimum: 0 }),
    volumeBytes: IntegerOrNull({ description: "its own volume's size; null: a folder of the data disk" }),
    volumeImage: StringOrNull(),
    volumeMounted: BooleanOrNull({ description: 'whether its volume is mounted now; null without one' }),
    createdAt: Time(),
    updatedAt: TimeOrNull(),
    links: Links,
  },
  { $id: 'Tenant', additionalProperties: false },
);

export const RepositorySchema = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    location: StringOrNull({ description: 'where it lies: shown to the system administrator only' }),
    storage: Type.Union([Type.Literal('tenant'), Type.Literal('server')], {
      description: "tenant: made in the tenant's storage root with a key of its own",
    }),
    maxConcurrent: Type.Integer({ minimum: 1 }),
    origin: Type.String({ description: 'api or config' }),
    createdAt: Time(),
    links: Links,
  },
  {
    $id: 'Repository',
    additionalProperties: false,
    examples: [
      {
        id: '0b6d…',
        name: 'main',
        location: null,
        storage: 'tenant',
        maxConcurrent: 2,
        origin: 'api',
        createdAt: '2026-01-05T10:00:00.000Z',
        links: [{ rel: 'self', href: '/api/v1/repositories/0b6d…', method: 'GET' }],
      },
    ],
  },
);

export const ProvisionedTenantSchema = Type.Object(
  {
    ...TenantSchema.properties,
    repository: OrNull(ref(RepositorySchema), 'the first repository; null: none was asked for'),
    admin: OrNull(
      Type.Object(
        {
          name: Type.String(),
          logon: Type.String({ description: 'the name to log on with (NAME@TENANT)' }),
          password: Type.String({ description: 'shown this once, kept nowhere' }),
          shownOnce: Type.Literal(true),
        },
        { additionalProperties: false },
      ),
      'the first administrator; null: none was asked for',
    ),
  },
  { $id: 'ProvisionedTenant', additionalProperties: false },
);

export const ScriptSchema = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    description: Type.String(),
    command: Type.Optional(
      Type.Array(Type.String(), { description: 'system administrators only: the program and arguments' }),
    ),
    timeoutSeconds: Type.Optional(IntegerOrNull({ description: 'system administrators only' })),
    tenants: Type.Optional(
      Type.Array(Type.String(), { description: 'system administrators only: who may use it; "*": all' }),
    ),
    origin: Type.Optional(Type.String({ description: 'system administrators only' })),
    links: Type.Optional(Links),
    createdAt: Time(),
    updatedAt: Time(),
  },
  { $id: 'Script', additionalProperties: false },
);

const LastRun = Type.Object(
  {
    id: Type.String(),
    state: Type.String(),
    queuedAt: Time(),
    endedAt: TimeOrNull(),
    href: Type.String(),
  },
  { additionalProperties: false },
);

export const JobSchema = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    repository: Type.Object(
      { id: Type.String(), name: StringOrNull({ description: 'null when it is gone' }) },
      { additionalProperties: false },
    ),
    ...JobSpecSchema.properties,
    enabled: Type.Boolean(),
    origin: Type.String({ description: 'api or config' }),
    nextRun: TimeOrNull('the next scheduled run; null without a schedule'),
    lastRun: OrNull(LastRun),
    createdAt: Time(),
    updatedAt: Time(),
    links: Links,
  },
  { $id: 'Job', additionalProperties: false, description: 'A job: its definition, next and last run' },
);

const RunStates = ['queued', 'running', 'success', 'warning', 'failed', 'canceled'] as const;
const RunState = Type.Union(
  RunStates.map((s) => Type.Literal(s)),
  { description: 'queued and running are active; the others are final' },
);

export const RunSchema = Type.Object(
  {
    id: Type.String(),
    job: Type.Object(
      { id: StringOrNull({ description: 'null for a restore' }), name: Type.String() },
      { additionalProperties: false },
    ),
    repository: Type.Object({ id: Type.String() }, { additionalProperties: false }),
    kind: Type.Union([Type.Literal('backup'), Type.Literal('restore')]),
    state: RunState,
    result: StringOrNull(),
    trigger: Type.String({ description: 'schedule, manual, retry or api' }),
    attempt: Type.Integer({ minimum: 1 }),
    queuedAt: Time(),
    notBefore: Time(),
    startedAt: TimeOrNull(),
    endedAt: TimeOrNull(),
    message: StringOrNull(),
    errorCode: StringOrNull({ description: "a failed or canceled run's error code (errors.md)" }),
    snapshotId: StringOrNull({ description: 'the restore point a backup made or a restore read' }),
    stats: OrNull(
      Type.Object({}, { additionalProperties: true }),
      'counts, bytes, load shares and throughput samples of an ended run',
    ),
    progress: OrNull(
      Type.Object(
        {
          phase: Type.String(),
          files: Type.Integer({ minimum: 0 }),
          bytes: Bytes(),
          currentFile: Type.String(),
          bytesPerSecond: Type.Number({ minimum: 0 }),
          elapsedSeconds: Type.Number({ minimum: 0 }),
        },
        { additionalProperties: false },
      ),
      'while it runs',
    ),
    links: Links,
  },
  { $id: 'Run', additionalProperties: false, description: 'A backup or restore run' },
);

export const TaskSchema = Type.Object(
  {
    id: Type.String(),
    operation: Type.String({ examples: ['StartJob', 'Restore'] }),
    state: Type.Union([Type.Literal('running'), Type.Literal('finished')]),
    result: StringOrNull({
      enum: [...RunStates, null],
      description: "when finished: its run's final state (success, warning, failed, canceled)",
    }),
    message: StringOrNull(),
    createdAt: Time(),
    links: Links,
  },
  {
    $id: 'Task',
    additionalProperties: false,
    description: 'An action that takes time: poll GET /api/v1/tasks/{id} until its state is finished',
    examples: [
      {
        id: '2a71…',
        operation: 'StartJob',
        state: 'running',
        result: null,
        message: null,
        createdAt: '2026-01-05T10:00:00.000Z',
        links: [
          { rel: 'self', href: '/api/v1/tasks/2a71…', method: 'GET' },
          { rel: 'run', href: '/api/v1/runs/91d0…', method: 'GET' },
        ],
      },
    ],
  },
);

const SnapshotSummary = OrNull(
  Type.Object(
    {
      filesNew: Type.Integer(),
      filesChanged: Type.Integer(),
      filesUnmodified: Type.Integer(),
      dirsNew: Type.Integer(),
      dirsChanged: Type.Integer(),
      dirsUnmodified: Type.Integer(),
      dataBlobs: Type.Integer(),
      treeBlobs: Type.Integer(),
      dataAdded: Bytes(),
      dataAddedPacked: Bytes(),
      totalFilesProcessed: Type.Integer(),
      totalBytesProcessed: Bytes(),
      backupStart: Type.String(),
      backupEnd: Type.String(),
      warnings: Type.Integer(),
    },
    // As the repository's snapshot file holds it: another writer may add figures.
    { additionalProperties: true },
  ),
  'the backup’s figures; null when the snapshot has none',
);

const SnapshotCore = {
  id: Type.String({ description: 'the full id; a unique prefix or "latest" also names it' }),
  time: Time(),
  host: Type.String(),
  paths: Type.Array(Type.String()),
  tags: Type.Array(Type.String()),
};

export const SnapshotSchema = Type.Object(
  {
    ...SnapshotCore,
    job: StringOrNull({ description: 'the job that made it (its job: tag)' }),
    summary: SnapshotSummary,
    links: Links,
  },
  { $id: 'Snapshot', additionalProperties: false, description: 'A restore point' },
);

export const SnapshotDetailSchema = Type.Object(
  { ...SnapshotCore, summary: SnapshotSummary, links: Links },
  { $id: 'SnapshotDetail', additionalProperties: false },
);

const EntryType = Type.Union(['file', 'dir', 'symlink', 'other'].map((t) => Type.Literal(t)));

export const TreeSchema = Type.Object(
  {
    snapshot: Type.String(),
    path: Type.String(),
    entries: Type.Array(
      Type.Object(
        {
          name: Type.String(),
          path: Type.String(),
          type: EntryType,
          size: Bytes('0 for anything but a file'),
          mtime: Time(),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { $id: 'Tree', additionalProperties: false, description: 'The entries of a folder of a restore point' },
);

export const SearchResultSchema = Type.Object(
  {
    data: Type.Array(
      Type.Object(
        {
          snapshot: Type.String(),
          time: Time(),
          path: Type.String(),
          type: EntryType,
          size: Bytes(),
          mtime: Time(),
        },
        { additionalProperties: false },
      ),
    ),
    truncated: Type.Boolean({ description: 'true when the limit cut the result short' }),
  },
  { $id: 'SearchResult', additionalProperties: false },
);

export const RepositoryUsageSchema = Type.Object(
  {
    bytes: Bytes('what the repository stores'),
    capacityBytes: IntegerOrNull(),
    freeBytes: IntegerOrNull(),
    capacityOf: StringOrNull({
      enum: ['file-system', 'quota', null],
      description: 'what capacityBytes and freeBytes are',
    }),
    snapshots: Type.Integer({ minimum: 0 }),
    growth: Type.Array(
      Type.Object(
        { time: Time(), snapshot: Type.String(), addedBytes: Bytes() },
        { additionalProperties: false },
      ),
    ),
  },
  { $id: 'RepositoryUsage', additionalProperties: false },
);

export const TenantUsageSchema = Type.Object(
  {
    tenant: Type.Object({ id: Type.String(), name: Type.String() }, { additionalProperties: false }),
    quotaBytes: maybe<number>('number', { description: 'null: no quota' }),
    usageBytes: Type.Number({
      description: "the sum of the repositories' stored sizes as last measured, less recycledBytes",
    }),
    recycledBytes: Type.Number({
      description:
        'stored bytes only restore points in recycle bins need (insider protection): kept, not counted',
    }),
    usedPercent: maybe<number>('number'),
    measuredAt: TimeOrNull('the oldest measurement in the sum'),
    repositories: Type.Array(
      Type.Object(
        {
          id: Type.String(),
          name: Type.String(),
          storedBytes: maybe<number>('number'),
          recycledBytes: Type.Number({ description: 'of which only restore points in its recycle bin need' }),
          measuredAt: TimeOrNull(),
          href: Type.String(),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { $id: 'TenantUsage', additionalProperties: false },
);

export const RunLogSchema = Type.Object(
  {
    data: Type.Array(
      Type.Object(
        {
          seq: Type.Integer({ minimum: 0 }),
          at: Time(),
          level: Type.String({ examples: ['info', 'warn', 'error'] }),
          message: Type.String(),
        },
        { additionalProperties: false },
      ),
    ),
    total: Type.Integer({ minimum: 0, description: 'entries the run has logged' }),
  },
  { $id: 'RunLog', additionalProperties: false },
);

export const DashboardSchema = Type.Object(
  {
    since: Time(),
    runs: Type.Record(Type.String(), Type.Integer({ minimum: 0 }), {
      description: 'runs since then by state',
    }),
    nextRuns: Type.Array(
      Type.Object(
        {
          job: Type.Object({ id: Type.String(), name: Type.String() }, { additionalProperties: false }),
          at: TimeOrNull(),
        },
        { additionalProperties: false },
      ),
    ),
  },
  // Open: the dashboard grows as the web UI's front page does.
  { $id: 'Dashboard', additionalProperties: true },
);

export const RecycleEntrySchema = Type.Object(
  {
    tenant: Type.Object({ id: Type.String(), name: Type.String() }, { additionalProperties: false }),
    repository: Type.Object({ id: Type.String(), name: Type.String() }, { additionalProperties: false }),
    snapshot: Type.String({ description: "the restore point's id: restore it with POST /restores as usual" }),
    snapshotTime: Time(),
    job: Type.String(),
    deletedAt: Time(),
    deletedBy: Type.String(),
    purgeAfter: Time("when it is purged, under the tenant's protection period now"),
    links: Links,
  },
  { $id: 'RecycleEntry', additionalProperties: false },
);

/** The simulator's answer: its figures are open (docs/simulator.md describes them). */
const SimulationProperties = {
  input: Type.Object({}, { additionalProperties: true, description: 'the input with every default' }),
  points: Type.Integer({ description: 'restore points kept' }),
  runs: Type.Integer(),
  firstRun: Type.String(),
  lastRun: Type.String(),
  worstCase: Type.Object({ run: Type.Integer(), at: Type.String() }, { additionalProperties: false }),
  files: Type.Array(Type.Object({}, { additionalProperties: true })),
  totals: Type.Object({}, { additionalProperties: true }),
  log: Type.Array(Type.Object({}, { additionalProperties: true })),
  bandwidth: Type.Object({}, { additionalProperties: true }),
};

export const SimulationSchema = Type.Object(SimulationProperties, {
  $id: 'Simulation',
  additionalProperties: false,
  description: 'The storage a backup style and retention need (docs/simulator.md)',
});

export const MeasuredSimulationSchema = Type.Object(
  {
    measured: Type.Object(
      {},
      {
        additionalProperties: true,
        description: "the figures measured from the job's runs",
      },
    ),
    ...SimulationProperties,
  },
  { $id: 'MeasuredSimulation', additionalProperties: false },
);

export const SchedulePreviewSchema = Type.Object(
  { nextRuns: Type.Array(Time()) },
  { $id: 'SchedulePreview', additionalProperties: false },
);

/** Every named schema, added to Fastify (and so to the OpenAPI document's components) once. */
export const SHARED_SCHEMAS: readonly TObject<TProperties>[] = [
  LinkSchema,
  PaginationSchema,
  ProblemSchema,
  EntryPointSchema,
  SessionSchema,
  CurrentSessionSchema,
  ApiKeySchema,
  NewApiKeySchema,
  UserSchema,
  AuditEntrySchema,
  TenantSchema,
  ProvisionedTenantSchema,
  RepositorySchema,
  ScriptSchema,
  JobSchema,
  RunSchema,
  TaskSchema,
  SnapshotSchema,
  SnapshotDetailSchema,
  TreeSchema,
  SearchResultSchema,
  RepositoryUsageSchema,
  TenantUsageSchema,
  RunLogSchema,
  DashboardSchema,
  RecycleEntrySchema,
  SimulationSchema,
  MeasuredSimulationSchema,
  SchedulePreviewSchema,
];

// ---------------------------------------------------------------------------------------------
// The `response` of a route: its answers by status. Errors are added by kind of route in
// openapi.ts (401 and 403 where a logon is needed, 400 for input, 404 for an id…); a route names
// those only it can answer with `problems(409, 422)`.

/** The problem+json answer of an error status. */
export function problemAnswer(status: number | 'default', description?: string) {
  return {
    description: description ?? STATUS_TEXT[status] ?? 'An error',
    content: { 'application/problem+json': { schema: ref(ProblemSchema) } },
  };
}

const STATUS_TEXT: Record<string | number, string> = {
  400: 'The request is not valid: malformed JSON, a field of the wrong type or unknown (USAGE)',
  401: 'No valid session or API key (AUTH_REQUIRED), or a wrong user name or password (AUTH_FAILED)',
  403: 'The role does not allow it, or the CSRF token is missing (FORBIDDEN)',
  404: 'No such object in this tenant (NOT_FOUND and the like)',
  409: 'The object exists already or its state forbids this (CONFLICT and the like)',
  413: 'The body is larger than the server accepts (TOO_LARGE)',
  415: 'The body is not application/json (USAGE)',
  422: 'Well formed, but a value is not acceptable (INVALID_INPUT and the like)',
  429: 'Too many failed attempts: wait for Retry-After (RATE_LIMITED)',
  500: 'An unexpected failure on the server, or damaged repository data',
  502: 'A program or the storage the server called failed',
  503: 'The catalog or the storage cannot be reached, or the server is stopping',
  507: 'No space left, or the tenant’s quota is used up',
  default: 'Any other error, as a problem',
};

/** Error answers a route has beyond those its kind brings (see openapi.ts). */
export function problems(...statuses: number[]): Record<number, ReturnType<typeof problemAnswer>> {
  return Object.fromEntries(statuses.map((s) => [s, problemAnswer(s)]));
}

/** A success answer: its schema and what it means (and, as OpenAPI has it, its headers). */
export function answer<T extends TSchema>(
  schema: T,
  description: string,
  headers?: Record<string, { type: 'string'; description: string }>,
): T {
  return { ...schema, description, ...(headers ? { headers } : {}) };
}

/** The answer of a route that answers no body (204). */
export function noContent(description: string) {
  return { type: 'null', description } as const;
}

/** The Location header of a 201 or 202. */
export const LOCATION = {
  location: { type: 'string', description: 'the new object (201) or the task to poll (202)' },
} as const;

/** An action's 202 answer: the task to poll. */
export const ACCEPTED_TASK = answer(
  ref(TaskSchema),
  'Accepted: the task to poll until it is finished',
  LOCATION,
);
