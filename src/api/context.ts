/** What every route handler can reach, and the request's authenticated caller. */
import type { FastifyPluginCallback, FastifyRequest } from 'fastify';
import type { Catalog } from '../catalog/index.ts';
import { CairnError } from '../errors.ts';
import {
  confinementOf,
  type Actor,
  type Confinement,
  type PluginSettings,
  type Runner,
  type Tenancy,
} from '../jobs/index.ts';
import { allows, type LogonLimiter, type Permission } from './auth.ts';

export interface ApiContext {
  readonly catalog: Catalog;
  readonly runner: Runner;
  readonly secretsDir: string;
  readonly limiter: LogonLimiter;
  /** Idle time after which a session ends (seconds). */
  readonly idleSeconds: number;
  /** Renders the Prometheus exposition (absent: /metrics answers 404). */
  readonly metrics?: { render(): Promise<string>; contentType: string };
  /** The built web UI (web/dist), served at `/` when present. */
  readonly webRoot?: string;
  /** Where plugins come from, to check jobs' directives (the runner has the same). */
  readonly plugins?: PluginSettings;
  /** The server key and data directory: tenant repositories and tenants' limits. */
  readonly tenancy: Tenancy;
  /** The server's own tenant (`tenant` of the configuration, else `default`): where a plain name logs on. */
  readonly homeTenant?: string;
  /** The first administrator's password file, removed when that password changes. */
  readonly initialPasswordFile?: string;
  /** The grace of the overdue rule (seconds; default OVERDUE_GRACE_SECONDS): the dashboard's overdue jobs. */
  readonly overdueGraceSeconds?: number;
}

/**
 * The routes of one resource: a Fastify plugin, registered by buildApp with `{ ctx }`. Its module
 * (src/api/routes/) starts with the list of its routes and who may call each.
 */
export type ApiRoutes = FastifyPluginCallback<{ readonly ctx: ApiContext }>;

export interface Caller extends Actor {
  readonly role: string | undefined;
  readonly systemAdmin: boolean;
  /** The session's id (absent for API keys). */
  readonly sessionId?: string;
  readonly via: 'session' | 'cookie' | 'api-key';
}

declare module 'fastify' {
  interface FastifyRequest {
    caller?: Caller;
  }
  interface FastifyContextConfig {
    /** What the route needs; `public` routes need no logon. */
    permission?: Permission | 'public' | 'logon';
  }
}

export function callerOf(request: FastifyRequest): Caller {
  if (!request.caller) throw new CairnError('AUTH_REQUIRED', 'Log on first: POST /api/v1/sessions');
  return request.caller;
}

export function demand(request: FastifyRequest, need: Permission): Caller {
  const c = callerOf(request);
  if (!allows(c.role, c.systemAdmin, need)) {
    throw new CairnError(
      'FORBIDDEN',
      `Cannot ${request.method} ${request.url.split('?')[0] ?? ''}: the role ${c.role ?? '(none)'} does not allow ${need}`,
    );
  }
  return c;
}

/**
 * The limits a caller works within: none for the system administrator (who owns the machine),
 * its tenant's roots, scripts and allow-lists for everyone else (docs/security.md, "Trust model").
 */
export async function guardOf(ctx: ApiContext, c: Caller): Promise<Confinement | undefined> {
  return c.systemAdmin ? undefined : confinementOf(ctx.catalog, ctx.tenancy, c.tenantId);
}
