/**
 * The REST API as the web UI uses it: one `api()` call that sends the session cookie, adds the
 * CSRF token to every change, and turns RFC 9457 problems into an ApiError carrying the server's
 * own message. Types mirror the JSON the server answers (docs/server.md).
 */

export const API = '/api/v1';

export interface Link {
  readonly rel: string;
  readonly href: string;
  readonly method: string;
}

export interface Problem {
  readonly type?: string;
  readonly title?: string;
  readonly status?: number;
  readonly detail?: string;
  readonly code?: string;
  readonly errors?: readonly { path: string; message: string }[];
}

export class ApiError extends Error {
  readonly status: number;
  readonly problem: Problem;
  constructor(status: number, problem: Problem) {
    super(problem.detail ?? problem.title ?? `The server answered ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

export interface Page<T> {
  readonly data: T[];
  readonly pagination: { total: number; count: number; skip: number; limit: number };
}

export interface Session {
  /** `name` as the tenant knows it; `logonName` as stored (NAME@TENANT for a tenant's users). */
  readonly user: { id?: string; name: string; logonName?: string; systemAdmin: boolean };
  readonly tenant: { id?: string; name: string | null };
  readonly role: Role | null;
  readonly csrfToken?: string;
}

export type Role = 'viewer' | 'restore-operator' | 'operator' | 'administrator';
export const ROLES: readonly Role[] = ['viewer', 'restore-operator', 'operator', 'administrator'];

export type RunState = 'queued' | 'running' | 'success' | 'warning' | 'failed' | 'canceled';
export const RUN_STATES: readonly RunState[] = [
  'failed',
  'warning',
  'canceled',
  'running',
  'queued',
  'success',
];

export interface Schedule {
  cron: string;
  timezone?: string;
  missed?: 'run-once' | 'skip';
}

export interface Retention {
  keepLast?: number;
  keepHourly?: number;
  keepDaily?: number;
  keepWeekly?: number;
  keepMonthly?: number;
  keepYearly?: number;
  keepWithin?: string;
  prune?: boolean;
}

export interface Limits {
  retries?: number;
  retryDelaySeconds?: number;
  timeoutSeconds?: number;
}

export interface Hook {
  on: string[];
  command?: string[];
  /** A named script (GET /api/v1/scripts) instead of a command. */
  script?: string;
  webhook?: string;
  timeoutSeconds?: number;
}

export type Level = 'full' | 'incremental' | 'differential';

/** A program run before or after a job's backup (runBefore, runAfter). */
export interface Script {
  /** A named script the system administrator defined (the only kind tenant users may use). */
  script?: string;
  /** The program itself (system administrators only). */
  command?: string | string[];
  onError?: 'fail' | 'warn';
  timeoutSeconds?: number;
}

export interface JobSpec {
  /** Absolute paths and command plugin directives (bpipe:file=/db.sql:reader=...). */
  sources: string[];
  optionPlugins?: string[];
  level?: Level;
  runBefore?: Script[];
  runAfter?: Script[];
  exclude?: string[];
  excludeCaches?: boolean;
  oneFileSystem?: boolean;
  tags?: string[];
  schedule?: Schedule | null;
  retention?: Retention;
  hooks?: Hook[];
  limits?: Limits;
  enabled?: boolean;
}

export interface JobInput extends JobSpec {
  name: string;
  repository: string;
}

export interface Job extends JobSpec {
  readonly id: string;
  readonly name: string;
  readonly repository: { id: string; name: string | null };
  readonly enabled: boolean;
  readonly origin?: string;
  readonly nextRun: string | null;
  readonly lastRun: { id: string; state: RunState; queuedAt: string; endedAt: string | null } | null;
  readonly links: Link[];
}

export interface Sample {
  readonly t: number;
  readonly bytes: number;
  readonly files: number;
  readonly rate: number;
}

export type Stage = 'source' | 'chunk' | 'seal' | 'write';

export interface RunStats {
  readonly filesProcessed?: number;
  readonly bytesProcessed?: number;
  readonly bytesAdded?: number;
  readonly bytesStored?: number;
  readonly filesNew?: number;
  readonly filesChanged?: number;
  readonly filesUnmodified?: number;
  readonly dirsNew?: number;
  readonly warnings?: number;
  readonly level?: Level;
  readonly durationSeconds?: number;
  readonly load?: Partial<Record<Stage, number>>;
  readonly bottleneck?: Stage;
  readonly throughput?: Sample[];
  readonly snapshotId?: string;
  readonly files?: number;
  readonly dirs?: number;
  readonly bytes?: number;
  readonly forgotten?: string[];
}

export interface Progress {
  readonly phase: string;
  readonly files: number;
  readonly bytes: number;
  readonly currentFile: string;
  readonly bytesPerSecond: number;
  readonly elapsedSeconds: number;
}

export interface Run {
  readonly id: string;
  readonly job: { id: string | null; name: string | null };
  readonly repository?: { id: string };
  readonly kind: 'backup' | 'restore';
  readonly state: RunState;
  readonly result: string | null;
  readonly trigger: string;
  readonly attempt: number;
  readonly queuedAt: string;
  readonly startedAt: string | null;
  readonly endedAt: string | null;
  readonly message: string | null;
  readonly snapshotId: string | null;
  readonly stats: RunStats | null;
  readonly progress: Progress | null;
  readonly links: Link[];
}

/** The `progress` event of /runs/{id}/events. */
export interface ProgressEvent {
  readonly phase: string;
  readonly files: number;
  readonly bytes: number;
  readonly currentFile: string;
  readonly rate: number;
  readonly elapsedSeconds: number;
  readonly samples?: Sample[];
}

export interface LogEntry {
  readonly seq?: number;
  readonly at: string;
  readonly level: string;
  readonly message: string;
}

export interface Task {
  readonly id: string;
  readonly operation?: string;
  readonly state: 'running' | 'finished';
  readonly result: string | null;
  readonly message: string | null;
  readonly links: Link[];
}

export interface Repository {
  readonly id: string;
  readonly name: string;
  /** Shown to system administrators only. */
  readonly location: string | null;
  /** `tenant`: made in the tenant's storage with a key of its own. */
  readonly storage?: 'tenant' | 'server';
  readonly maxConcurrent: number;
  readonly origin?: string;
  readonly createdAt: string;
  readonly links: Link[];
}

export interface Usage {
  readonly bytes: number;
  readonly capacityBytes: number | null;
  readonly freeBytes: number | null;
  /** What capacityBytes and freeBytes are: the file system (system administrators), the tenant's quota, none. */
  readonly capacityOf?: 'file-system' | 'quota' | null;
  readonly snapshots: number;
  readonly growth: { time: string; addedBytes: number }[];
}

/** GET /usage: the caller's tenant's quota and what its repositories store. */
export interface TenantUsage {
  readonly tenant: { id: string; name: string };
  readonly quotaBytes: number | null;
  readonly usageBytes: number;
  readonly usedPercent: number | null;
  readonly measuredAt: string | null;
  readonly repositories: {
    id: string;
    name: string;
    storedBytes: number | null;
    measuredAt: string | null;
  }[];
}

export interface Snapshot {
  readonly id: string;
  readonly time: string;
  readonly host: string;
  readonly paths: string[];
  readonly tags: string[];
  readonly job: string | null;
  readonly summary: {
    totalFilesProcessed?: number;
    totalBytesProcessed?: number;
    dataAdded?: number;
  } | null;
}

export type EntryType = 'file' | 'dir' | 'symlink' | 'other';

export interface TreeEntry {
  readonly name: string;
  readonly path: string;
  readonly type: EntryType;
  readonly size: number;
  readonly mtime: string;
}

export interface SearchHit {
  readonly snapshot: string;
  readonly time: string;
  readonly path: string;
  readonly type: EntryType;
  readonly size: number;
  readonly mtime: string;
}

export interface Dashboard {
  readonly since: string;
  readonly runs: Partial<Record<RunState, number>>;
  readonly nextRuns: { job: { id: string; name: string }; at: string }[];
  /** Scheduled jobs without a successful run within their expected interval (docs/server.md). */
  readonly overdue?: OverdueJob[];
}

export interface OverdueJob {
  readonly job: { id: string; name: string };
  /** When its last successful run ended; null: none since it was created. */
  readonly lastSuccess: string | null;
  /** The second scheduled time since, which passed without a successful run. */
  readonly dueAt: string;
  /** dueAt plus the server's grace: when it became overdue. */
  readonly overdueAt: string;
}

export interface User {
  readonly id: string;
  readonly name: string;
  /** The tenant that scopes the name (null: a plain name, such as a system administrator's). */
  readonly tenant: string | null;
  /** What the user types to log on: NAME@TENANT, or the plain name. */
  readonly logonName: string;
  readonly role: Role | null;
  readonly systemAdmin: boolean;
  readonly disabled: boolean;
  readonly createdAt: string;
  readonly links: Link[];
}

/** A tenant as the system administrator sees it (GET /api/v1/tenants). */
export interface Tenant {
  readonly id: string;
  readonly name: string;
  readonly storageRoot: string | null;
  readonly quotaBytes: number | null;
  /** null: not measured yet. */
  readonly usageBytes: number | null;
  readonly sourceRoots: string[];
  readonly restoreRoots: string[];
  readonly webhookAllow: string[];
  /** Its runs at once; null: no limit of its own. */
  readonly maxRuns: number | null;
  /** Bytes a second all its runs together may write to its repositories; null: no limit. */
  readonly bandwidthBytesPerSecond: number | null;
  readonly protectionDays: number;
  readonly createdAt: string;
  readonly links: Link[];
}

/** A restore point a protected tenant's retention forgot (GET /api/v1/recycle-bin). */
export interface RecycledPoint {
  readonly tenant: { id: string; name: string };
  readonly repository: { id: string; name: string };
  readonly snapshot: string;
  readonly snapshotTime: string;
  readonly job: string;
  readonly deletedAt: string;
  readonly deletedBy: string;
  readonly purgeAfter: string;
  readonly links: Link[];
}

/** POST /api/v1/tenants answers the first administrator's password, once. */
export interface ProvisionedTenant extends Tenant {
  readonly repository: Repository | null;
  readonly admin: { name: string; logon: string; password: string; shownOnce: boolean } | null;
}

/** A named script; command, tenants and links only for system administrators. */
export interface NamedScript {
  readonly id: string;
  readonly name: string;
  readonly description: string;
  readonly command?: string[];
  readonly timeoutSeconds?: number | null;
  readonly tenants?: string[];
  readonly origin?: string;
  readonly links?: Link[];
}

let csrfToken: string | undefined;
let onSignedOut: (() => void) | undefined;

/** Called when the server answers 401 to a page's request: the session has ended. */
export function whenSignedOut(handler: () => void): void {
  onSignedOut = handler;
}

function csrfFromCookie(): string | undefined {
  const m = /(?:^|;\s*)cairn_csrf=([^;]*)/.exec(document.cookie);
  return m?.[1] ? decodeURIComponent(m[1]) : undefined;
}

async function problemOf(res: Response): Promise<Problem> {
  const text = await res.text();
  try {
    const p = JSON.parse(text) as Problem;
    if (p && typeof p === 'object') return p;
  } catch {
    // not JSON: a proxy's page or an empty body
  }
  return { status: res.status, detail: text.trim() || `The server answered ${res.status} ${res.statusText}` };
}

export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (method !== 'GET') {
    const token = csrfToken ?? csrfFromCookie();
    if (token) headers['x-csrf-token'] = token;
  }
  if (body !== undefined) headers['content-type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(path.startsWith('/') ? path : `${API}/${path}`, {
      method,
      headers,
      credentials: 'same-origin',
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
  } catch (err) {
    throw new ApiError(0, {
      detail: `Cannot reach the Cairn server (${err instanceof Error ? err.message : String(err)})`,
    });
  }
  if (!res.ok) {
    const problem = await problemOf(res);
    if (res.status === 401 && !path.includes('sessions')) onSignedOut?.();
    throw new ApiError(res.status, problem);
  }
  if (res.status === 204) return undefined as T;
  const type = res.headers.get('content-type') ?? '';
  return (type.includes('json') ? await res.json() : await res.text()) as T;
}

export const get = <T>(path: string): Promise<T> => api<T>('GET', path);

/** Logs on with HTTP Basic, asking for the browser's cookie session. */
export async function logon(user: string, password: string): Promise<Session> {
  const bytes = new TextEncoder().encode(`${user}:${password}`);
  const basic = btoa(String.fromCharCode(...bytes));
  const res = await fetch(`${API}/sessions?cookie=true`, {
    method: 'POST',
    headers: { authorization: `Basic ${basic}`, accept: 'application/json' },
    credentials: 'same-origin',
  });
  if (!res.ok) throw new ApiError(res.status, await problemOf(res));
  const session = (await res.json()) as Session;
  csrfToken = session.csrfToken ?? csrfFromCookie();
  return session;
}

/** The current session, or undefined when nobody is logged on. */
export async function currentSession(): Promise<Session | undefined> {
  try {
    const s = await api<Session>('GET', 'sessions/current');
    csrfToken = s.csrfToken ?? csrfFromCookie();
    return s;
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return undefined;
    throw err;
  }
}

export async function logoff(): Promise<void> {
  try {
    await api('DELETE', 'sessions/current');
  } finally {
    csrfToken = undefined;
  }
}

export function hasLink(obj: { links?: Link[] } | null | undefined, rel: string): boolean {
  return obj?.links?.some((l) => l.rel === rel) ?? false;
}

export function query(params: Record<string, string | number | undefined | null | false>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params))
    if (v !== undefined && v !== null && v !== '' && v !== false) q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}

/** The run a task refers to (its `run` link). */
export function runIdOf(task: Task): string | undefined {
  const href = task.links.find((l) => l.rel === 'run')?.href;
  return href?.split('/').pop();
}

export function downloadUrl(repository: string, snapshot: string, path: string): string {
  return `${API}/repositories/${encodeURIComponent(repository)}/snapshots/${encodeURIComponent(snapshot)}/download${query({ path })}`;
}
