/**
 * The API's representations of catalog rows, each with `links` (rel, href, method) that tell a
 * client what it may do next, as in Veeam's Enterprise Manager API. Links are filtered by the
 * caller's role: a viewer sees no `start` link.
 */
import {
  splitUserName,
  type JobRow,
  type RepositoryRow,
  type RunRow,
  type TaskRow,
  type UserRow,
} from '../catalog/index.ts';
import type { JobSpec, LiveProgress } from '../jobs/index.ts';
import { allows, type Permission } from './auth.ts';
import type { Caller } from './context.ts';

export interface Link {
  readonly rel: string;
  readonly href: string;
  readonly method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
}

export const API = '/api/v1';

function linkSet(caller: Caller, items: [Permission, Link][]): Link[] {
  return items.filter(([need]) => allows(caller.role, caller.systemAdmin, need)).map(([, l]) => l);
}

export function repositoryView(r: RepositoryRow, caller: Caller) {
  const self = `${API}/repositories/${r.id}`;
  return {
    id: r.id,
    name: r.name,
    // Where it lies on the server is the system administrator's business.
    location: caller.systemAdmin ? r.location : null,
    storage: r.wrapped_key ? 'tenant' : 'server',
    maxConcurrent: r.max_concurrent,
    origin: r.origin,
    createdAt: r.created_at,
    links: linkSet(caller, [
      ['read', { rel: 'self', href: self, method: 'GET' }],
      ['read', { rel: 'snapshots', href: `${self}/snapshots`, method: 'GET' }],
      ['restore', { rel: 'restore', href: `${API}/restores`, method: 'POST' }],
      ['admin', { rel: 'delete', href: self, method: 'DELETE' }],
    ]),
  };
}

export function jobView(
  j: JobRow,
  repo: RepositoryRow | undefined,
  last: RunRow | undefined,
  caller: Caller,
) {
  const self = `${API}/jobs/${j.id}`;
  const spec = JSON.parse(j.spec) as JobSpec;
  return {
    id: j.id,
    name: j.name,
    repository: { id: j.repository_id, name: repo?.name ?? null },
    ...spec,
    enabled: j.enabled === 1,
    origin: j.origin,
    nextRun: j.next_run_at,
    lastRun: last
      ? {
          id: last.id,
          state: last.state,
          queuedAt: last.queued_at,
          endedAt: last.ended_at,
          href: `${API}/runs/${last.id}`,
        }
      : null,
    createdAt: j.created_at,
    updatedAt: j.updated_at,
    links: linkSet(caller, [
      ['read', { rel: 'self', href: self, method: 'GET' }],
      ['read', { rel: 'runs', href: `${API}/runs?job=${j.id}`, method: 'GET' }],
      ['read', { rel: 'repository', href: `${API}/repositories/${j.repository_id}`, method: 'GET' }],
      ['operate', { rel: 'start', href: `${self}/start`, method: 'POST' }],
      ['operate', { rel: 'cancel', href: `${self}/cancel`, method: 'POST' }],
      ['admin', { rel: 'edit', href: self, method: 'PUT' }],
      ['admin', { rel: 'delete', href: self, method: 'DELETE' }],
    ]),
  };
}

const ACTIVE = new Set(['queued', 'running']);

export function runView(r: RunRow, live: LiveProgress | undefined, caller: Caller) {
  const self = `${API}/runs/${r.id}`;
  const links: [Permission, Link][] = [
    ['read', { rel: 'self', href: self, method: 'GET' }],
    ['read', { rel: 'log', href: `${self}/log`, method: 'GET' }],
    ['read', { rel: 'events', href: `${self}/events`, method: 'GET' }],
  ];
  if (r.job_id) links.push(['read', { rel: 'job', href: `${API}/jobs/${r.job_id}`, method: 'GET' }]);
  if (ACTIVE.has(r.state))
    links.push([
      r.kind === 'restore' ? 'restore' : 'operate',
      { rel: 'cancel', href: `${self}/cancel`, method: 'POST' },
    ]);
  if (r.snapshot_id)
    links.push([
      'read',
      {
        rel: 'snapshot',
        href: `${API}/repositories/${r.repository_id}/snapshots/${r.snapshot_id}`,
        method: 'GET',
      },
    ]);
  const stats = r.stats ? (JSON.parse(r.stats) as Record<string, unknown>) : null;
  return {
    id: r.id,
    job: { id: r.job_id, name: r.job_name },
    repository: { id: r.repository_id },
    kind: r.kind,
    state: r.state,
    result: r.result,
    trigger: r.trigger,
    attempt: r.attempt,
    queuedAt: r.queued_at,
    notBefore: r.not_before,
    startedAt: r.started_at,
    endedAt: r.ended_at,
    message: r.message,
    /** The registry code (errors.md) of a failed or canceled run's error; null otherwise. */
    errorCode: typeof stats?.errorCode === 'string' ? stats.errorCode : null,
    snapshotId: r.snapshot_id,
    stats,
    progress: live
      ? {
          phase: live.phase,
          files: live.files,
          bytes: live.bytes,
          currentFile: live.currentFile,
          bytesPerSecond: live.rate,
          elapsedSeconds: Math.round(live.elapsedSeconds * 10) / 10,
        }
      : null,
    links: linkSet(caller, links),
  };
}

export function taskView(t: TaskRow & { run: RunRow }, caller: Caller) {
  const finished = !ACTIVE.has(t.run.state);
  return {
    id: t.id,
    operation: t.operation,
    state: finished ? 'finished' : 'running',
    result: finished ? t.run.state : null,
    message: finished ? t.run.message : null,
    createdAt: t.created_at,
    links: linkSet(caller, [
      ['read', { rel: 'self', href: `${API}/tasks/${t.id}`, method: 'GET' }],
      ['read', { rel: 'run', href: `${API}/runs/${t.run_id}`, method: 'GET' }],
    ]),
  };
}

/** A user: the name its tenant knows (`bob`), the tenant that scopes it and the name to log on with. */
export function userView(u: UserRow & { role?: string }, caller: Caller) {
  const { name, tenant } = splitUserName(u.name);
  const self = `${API}/users/${u.id}`;
  // A tenant's administrator cannot change a system administrator, nor itself through these links.
  const changeable = u.id !== caller.userId && (u.system_admin !== 1 || caller.systemAdmin);
  return {
    id: u.id,
    name,
    tenant,
    logonName: u.name,
    role: u.role ?? null,
    systemAdmin: u.system_admin === 1,
    disabled: u.disabled === 1,
    createdAt: u.created_at,
    links: linkSet(caller, [
      ['admin', { rel: 'self', href: self, method: 'GET' }],
      ...(changeable
        ? ([
            ['admin', { rel: 'edit', href: self, method: 'PATCH' }],
            ['admin', { rel: 'delete', href: self, method: 'DELETE' }],
          ] as [Permission, Link][])
        : []),
    ]),
  };
}
