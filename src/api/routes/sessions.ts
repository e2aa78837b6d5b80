/**
 * Logon and logoff: the entry point, sessions, and who the caller is.
 *
 * | Route                           | Who may call it                                               |
 * |---------------------------------|---------------------------------------------------------------|
 * | GET    /api/v1                  | anyone (no logon)                                             |
 * | POST   /api/v1/sessions         | anyone with a user name and password (HTTP Basic; the logon   |
 * |                                 | brake applies); a user logs on only to a tenant it has a role |
 * |                                 | in, a system administrator to any                             |
 * | GET    /api/v1/sessions/current | any role in the tenant (viewer and up)                        |
 * | DELETE /api/v1/sessions/current | any role; a session only (an API key is revoked, not logged   |
 * |                                 | off: 400)                                                     |
 *
 * Roles: viewer < restore-operator < operator < administrator (src/api/auth.ts); the system
 * administrator may call every route, in whatever tenant it is logged on to.
 */
import { Type } from '@sinclair/typebox';
import { splitUserName, type UserRow } from '../../catalog/index.ts';
import { CairnError } from '../../errors.ts';
import { NameSchema } from '../../jobs/index.ts';
import { CSRF_COOKIE, csrfTokenOf, newToken, SESSION_COOKIE, tokenHash, verifyPassword } from '../auth.ts';
import {
  answer,
  CurrentSessionSchema,
  EntryPointSchema,
  noContent,
  problems,
  ref,
  SessionSchema,
} from '../answers.ts';
import { callerOf, type ApiRoutes } from '../context.ts';
import { problemOf, sendProblem } from '../problem.ts';
import { API } from '../views.ts';

const LogonQuery = Type.Object(
  {
    tenant: Type.Optional(NameSchema),
    cookie: Type.Optional(
      Type.Boolean({
        description: 'also set the session cookie (browsers); send X-CSRF-Token with changes',
      }),
    ),
  },
  { additionalProperties: false },
);

/** A user as a session shows it: the short name, and the name to log on with. */
function userSummary(u: UserRow) {
  return {
    id: u.id,
    name: splitUserName(u.name).name,
    logonName: u.name,
    systemAdmin: u.system_admin === 1,
  };
}

function basicCredentials(header: string | undefined): { user: string; password: string } | undefined {
  if (!header || !/^Basic\s+/i.test(header)) return undefined;
  const decoded = Buffer.from(header.replace(/^Basic\s+/i, ''), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon <= 0) return undefined;
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

export const sessionRoutes: ApiRoutes = (app, { ctx }, done) => {
  const { catalog } = ctx;

  app.get(
    '/api/v1',
    {
      config: { permission: 'public' },
      schema: {
        tags: ['session'],
        operationId: 'getEntryPoint',
        summary: 'The entry point: where to log on',
        security: [],
        response: { 200: answer(ref(EntryPointSchema), 'Links to the logon and the documentation') },
      },
    },
    () => ({
      version: 'v1',
      links: [
        { rel: 'logon', href: `${API}/sessions`, method: 'POST' },
        { rel: 'openapi', href: '/api/openapi.json', method: 'GET' },
        { rel: 'docs', href: '/api/docs', method: 'GET' },
      ],
    }),
  );

  app.post(
    '/api/v1/sessions',
    {
      config: { permission: 'logon' },
      schema: {
        tags: ['session'],
        operationId: 'logOn',
        summary: 'Log on with HTTP Basic; the session token comes back in X-Cairn-Session',
        security: [{ basic: [] }],
        querystring: LogonQuery,
        response: {
          201: answer(ref(SessionSchema), 'Logged on', {
            'x-cairn-session': {
              type: 'string',
              description: 'the session token (cairn_s_…): send it in X-Cairn-Session with every request',
            },
          }),
          ...problems(429),
        },
      },
    },
    async (request, reply) => {
      const creds = basicCredentials(request.headers.authorization);
      const instance = '/api/v1/sessions';
      const q = request.query as { tenant?: string; cookie?: boolean };
      // A browser's page logs on with ?cookie=true: a Basic challenge would make the browser open
      // its own password dialog instead of letting the page show the error.
      const challenge: Record<string, string> =
        q.cookie === true ? {} : { 'www-authenticate': 'Basic realm="cairn"' };
      if (!creds)
        return sendProblem(
          reply,
          problemOf(
            'AUTH_REQUIRED',
            'Send the user name and password with HTTP Basic authentication',
            instance,
          ),
          challenge,
        );
      // alice@acme, or alice with ?tenant=acme: the user alice of tenant acme.
      const typed = splitUserName(creds.user);
      if (typed.tenant !== null && q.tenant !== undefined && typed.tenant !== q.tenant)
        throw new CairnError(
          'USAGE',
          `The user name names tenant ${typed.tenant} but ?tenant= names ${q.tenant}: give one`,
        );
      const tenantName = typed.tenant ?? q.tenant;
      const address = request.ip;
      const wait = ctx.limiter.retryAfter(typed.name, address);
      if (wait > 0)
        return sendProblem(
          reply,
          problemOf(
            'RATE_LIMITED',
            `Too many failed logons for ${typed.name}; try again in ${wait} s`,
            instance,
          ),
          { 'retry-after': String(wait) },
        );
      const home = ctx.homeTenant ?? 'default';
      const candidates = await catalog.logonCandidates(typed.name, tenantName, home);
      // Checked against a dummy hash when there is no such user: the answer takes as long.
      let user = candidates[0];
      let ok = await verifyPassword(creds.password, user?.password_hash);
      for (const other of candidates.slice(1)) {
        if (ok) break;
        user = other;
        ok = await verifyPassword(creds.password, other.password_hash);
      }
      if (!ok || !user || user.disabled) {
        ctx.limiter.failed(typed.name, address);
        await catalog.audit({
          tenantId: null,
          user: creds.user,
          action: 'logon.failed',
          object: 'session',
          detail: { address },
        });
        return sendProblem(
          reply,
          problemOf('AUTH_FAILED', 'The user name or password is wrong', instance),
          challenge,
        );
      }
      ctx.limiter.succeeded(typed.name, address);
      const roles = await catalog.rolesOf(user.id);
      const systemAdmin = user.system_admin === 1;
      // The tenant asked for, else the one a tenant's user belongs to, else (a plain name) the
      // home tenant when the user may work there, else its first role.
      const wanted = tenantName ?? splitUserName(user.name).tenant ?? undefined;
      let tenantId: string | undefined;
      if (wanted !== undefined) {
        const t = await catalog.tenantByName(wanted);
        tenantId = t && (systemAdmin || roles.some((r) => r.tenant_id === t.id)) ? t.id : undefined;
        if (!tenantId)
          throw new CairnError('FORBIDDEN', `Cannot log on to tenant ${wanted}: the user has no role there`);
      } else {
        const h = await catalog.tenantByName(home);
        tenantId =
          h && (systemAdmin || roles.some((r) => r.tenant_id === h.id))
            ? h.id
            : (roles[0]?.tenant_id ?? (systemAdmin ? (await catalog.ensureTenant(home)).id : undefined));
      }
      if (!tenantId)
        throw new CairnError('FORBIDDEN', `Cannot log on: user ${typed.name} has no role in any tenant`);
      const token = newToken('cairn_s_');
      const session = await catalog.createSession({
        tokenHash: tokenHash(token),
        userId: user.id,
        tenantId,
        idleSeconds: ctx.idleSeconds,
      });
      await catalog.audit({
        tenantId,
        user: user.name,
        action: 'logon',
        object: session.id,
        detail: { address },
      });
      const tenant = await catalog.tenant(tenantId);
      if (q.cookie) {
        const secure = request.protocol === 'https';
        void reply.setCookie(SESSION_COOKIE, token, {
          path: '/',
          httpOnly: true,
          sameSite: 'strict',
          secure,
        });
        void reply.setCookie(CSRF_COOKIE, csrfTokenOf(token), {
          path: '/',
          httpOnly: false,
          sameSite: 'strict',
          secure,
        });
      }
      return reply
        .code(201)
        .header('x-cairn-session', token)
        .send({
          id: session.id,
          user: userSummary(user),
          tenant: { id: tenantId, name: tenant?.name ?? null },
          role: roles.find((r) => r.tenant_id === tenantId)?.role ?? null,
          idleTimeoutSeconds: session.idle_seconds,
          ...(q.cookie ? { csrfToken: csrfTokenOf(token) } : {}),
          createdAt: session.created_at,
          links: [
            { rel: 'logoff', href: `${API}/sessions/current`, method: 'DELETE' },
            { rel: 'jobs', href: `${API}/jobs`, method: 'GET' },
            { rel: 'runs', href: `${API}/runs`, method: 'GET' },
            { rel: 'repositories', href: `${API}/repositories`, method: 'GET' },
          ],
        });
    },
  );

  app.get(
    '/api/v1/sessions/current',
    {
      config: { permission: 'read' },
      schema: {
        tags: ['session'],
        operationId: 'getCurrentSession',
        summary: 'Who am I',
        response: { 200: answer(ref(CurrentSessionSchema), 'The caller, its tenant and role') },
      },
    },
    async (request) => {
      const c = callerOf(request);
      const tenant = await catalog.tenant(c.tenantId);
      const user = c.userId ? await catalog.user(c.userId) : undefined;
      return {
        id: c.sessionId ?? null,
        via: c.via,
        user: user ? userSummary(user) : { id: c.userId, name: c.userName, systemAdmin: c.systemAdmin },
        tenant: { id: c.tenantId, name: tenant?.name ?? null },
        role: c.role ?? null,
        ...(c.via === 'cookie' ? { csrfToken: csrfTokenOf(request.cookies[SESSION_COOKIE] ?? '') } : {}),
        links: [{ rel: 'logoff', href: `${API}/sessions/current`, method: 'DELETE' }],
      };
    },
  );

  app.delete(
    '/api/v1/sessions/current',
    {
      config: { permission: 'read' },
      schema: {
        tags: ['session'],
        operationId: 'logOff',
        summary: 'Log off',
        response: { 204: noContent('Logged off: the session token is no longer valid') },
      },
    },
    async (request, reply) => {
      const c = callerOf(request);
      if (!c.sessionId)
        throw new CairnError('USAGE', 'An API key is not a session: delete the key to revoke it');
      await catalog.deleteSession(c.sessionId);
      await catalog.audit({ tenantId: c.tenantId, user: c.userName, action: 'logoff', object: c.sessionId });
      void reply.clearCookie(SESSION_COOKIE, { path: '/' }).clearCookie(CSRF_COOKIE, { path: '/' });
      return reply.code(204).send();
    },
  );

  done();
};
