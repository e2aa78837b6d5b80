/** Logon sessions, API keys, users and the audit log. */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { CairnError } from '../errors.ts';
import { NameSchema } from '../jobs/index.ts';
import {
  CSRF_COOKIE,
  csrfTokenOf,
  hashPassword,
  newToken,
  ROLES,
  SESSION_COOKIE,
  tokenHash,
  verifyPassword,
} from './auth.ts';
import { callerOf, demand, type ApiContext } from './context.ts';
import { sendProblem, problemOf } from './problem.ts';
import { API, userView } from './views.ts';

const Id = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) }, { additionalProperties: false });
const Paging = {
  skip: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000 })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500 })),
};
const Role = Type.Union(ROLES.map((r) => Type.Literal(r)));

const UserInput = Type.Object(
  {
    name: NameSchema,
    password: Type.String({ minLength: 8, maxLength: 1024 }),
    role: Role,
  },
  { additionalProperties: false },
);

const ApiKeyInput = Type.Object(
  { name: Type.String({ minLength: 1, maxLength: 64 }) },
  { additionalProperties: false },
);

function basicCredentials(header: string | undefined): { user: string; password: string } | undefined {
  if (!header || !/^Basic\s+/i.test(header)) return undefined;
  const decoded = Buffer.from(header.replace(/^Basic\s+/i, ''), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon <= 0) return undefined;
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

export function registerAccessRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const { catalog } = ctx;

  app.get(
    '/api/v1',
    {
      config: { permission: 'public' },
      schema: { tags: ['session'], summary: 'The entry point: where to log on' },
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
        summary: 'Log on with HTTP Basic; the session token comes back in X-Cairn-Session',
        security: [{ basic: [] }],
        querystring: Type.Object(
          {
            tenant: Type.Optional(NameSchema),
            cookie: Type.Optional(
              Type.Boolean({
                description: 'also set the session cookie (browsers); send X-CSRF-Token with changes',
              }),
            ),
          },
          { additionalProperties: false },
        ),
      },
    },
    async (request, reply) => {
      const creds = basicCredentials(request.headers.authorization);
      const instance = '/api/v1/sessions';
      // A browser's page logs on with ?cookie=true: a Basic challenge would make the browser open
      // its own password dialog instead of letting the page show the error.
      const challenge: Record<string, string> =
        (request.query as { cookie?: boolean }).cookie === true
          ? {}
          : { 'www-authenticate': 'Basic realm="cairn"' };
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
      const address = request.ip;
      const wait = ctx.limiter.retryAfter(creds.user, address);
      if (wait > 0)
        return sendProblem(
          reply,
          problemOf(
            'RATE_LIMITED',
            `Too many failed logons for ${creds.user}; try again in ${wait} s`,
            instance,
          ),
          {
            'retry-after': String(wait),
          },
        );
      const user = await catalog.userByName(creds.user);
      const ok = await verifyPassword(creds.password, user?.password_hash);
      if (!ok || !user || user.disabled) {
        ctx.limiter.failed(creds.user, address);
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
      ctx.limiter.succeeded(creds.user, address);
      const roles = await catalog.rolesOf(user.id);
      const q = request.query as { tenant?: string; cookie?: boolean };
      let tenantId: string | undefined;
      if (q.tenant) {
        const all = await catalog.listTenants();
        tenantId = all.find((t) => t.name === q.tenant)?.id;
        if (!tenantId || (!roles.some((r) => r.tenant_id === tenantId) && user.system_admin !== 1))
          throw new CairnError(
            'FORBIDDEN',
            `Cannot log on to tenant ${q.tenant}: the user has no role there`,
          );
      } else {
        tenantId =
          roles[0]?.tenant_id ??
          (user.system_admin === 1 ? (await catalog.ensureTenant('default')).id : undefined);
      }
      if (!tenantId)
        throw new CairnError('FORBIDDEN', `Cannot log on: user ${user.name} has no role in any tenant`);
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
          user: { id: user.id, name: user.name, systemAdmin: user.system_admin === 1 },
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
    { config: { permission: 'read' }, schema: { tags: ['session'], summary: 'Who am I' } },
    async (request) => {
      const c = callerOf(request);
      const tenant = await catalog.tenant(c.tenantId);
      return {
        id: c.sessionId ?? null,
        via: c.via,
        user: { id: c.userId, name: c.userName, systemAdmin: c.systemAdmin },
        tenant: { id: c.tenantId, name: tenant?.name ?? null },
        role: c.role ?? null,
        ...(c.via === 'cookie' ? { csrfToken: csrfTokenOf(request.cookies[SESSION_COOKIE] ?? '') } : {}),
        links: [{ rel: 'logoff', href: `${API}/sessions/current`, method: 'DELETE' }],
      };
    },
  );

  app.delete(
    '/api/v1/sessions/current',
    { config: { permission: 'read' }, schema: { tags: ['session'], summary: 'Log off' } },
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

  app.get(
    '/api/v1/api-keys',
    {
      config: { permission: 'read' },
      schema: { tags: ['session'], summary: 'Your API keys (all of the tenant for administrators)' },
    },
    async (request) => {
      const c = callerOf(request);
      const isAdmin = c.systemAdmin || c.role === 'administrator';
      const keys = await catalog.listApiKeys(c.tenantId, isAdmin ? undefined : (c.userId ?? undefined));
      return {
        data: keys.map((k) => ({
          id: k.id,
          name: k.name,
          userId: k.user_id,
          createdAt: k.created_at,
          lastUsedAt: k.last_used_at,
          links: [{ rel: 'delete', href: `${API}/api-keys/${k.id}`, method: 'DELETE' }],
        })),
      };
    },
  );

  app.post(
    '/api/v1/api-keys',
    {
      config: { permission: 'read' },
      schema: {
        tags: ['session'],
        summary: 'Create an API key with your role; the key is shown once',
        body: ApiKeyInput,
      },
    },
    async (request, reply) => {
      const c = callerOf(request);
      if (!c.userId) throw new CairnError('FORBIDDEN', 'Cannot create an API key without a user');
      const body = request.body as Static<typeof ApiKeyInput>;
      const key = newToken('cairn_key_');
      const row = await catalog.createApiKey({
        tenantId: c.tenantId,
        userId: c.userId,
        name: body.name,
        keyHash: tokenHash(key),
      });
      await catalog.audit({
        tenantId: c.tenantId,
        user: c.userName,
        action: 'api-key.create',
        object: row.id,
        detail: { name: body.name },
      });
      return reply.code(201).send({
        id: row.id,
        name: row.name,
        key,
        createdAt: row.created_at,
        links: [{ rel: 'delete', href: `${API}/api-keys/${row.id}`, method: 'DELETE' }],
      });
    },
  );

  app.delete(
    '/api/v1/api-keys/:id',
    {
      config: { permission: 'read' },
      schema: { tags: ['session'], summary: 'Revoke an API key', params: Id },
    },
    async (request, reply) => {
      const c = callerOf(request);
      const { id } = request.params as { id: string };
      const keys = await catalog.listApiKeys(c.tenantId);
      const key = keys.find((k) => k.id === id);
      const isAdmin = c.systemAdmin || c.role === 'administrator';
      if (!key || (!isAdmin && key.user_id !== c.userId))
        throw new CairnError('NOT_FOUND', `Cannot revoke API key ${id}: no such key`);
      await catalog.deleteApiKey(c.tenantId, id);
      await catalog.audit({ tenantId: c.tenantId, user: c.userName, action: 'api-key.delete', object: id });
      return reply.code(204).send();
    },
  );

  app.get(
    '/api/v1/users',
    {
      config: { permission: 'admin' },
      schema: {
        tags: ['users'],
        summary: 'Users with a role in this tenant',
        querystring: Type.Object(Paging, { additionalProperties: false }),
      },
    },
    async (request) => {
      const c = demand(request, 'admin');
      const p = await catalog.listUsers(c.tenantId, request.query as { skip?: number; limit?: number });
      return { data: p.data.map((u) => userView(u, c)), pagination: p.pagination };
    },
  );

  app.post(
    '/api/v1/users',
    {
      config: { permission: 'admin' },
      schema: { tags: ['users'], summary: 'Create a user with a role in this tenant', body: UserInput },
    },
    async (request, reply) => {
      const c = demand(request, 'admin');
      const body = request.body as Static<typeof UserInput>;
      const user = await catalog.createUser({
        name: body.name,
        passwordHash: await hashPassword(body.password),
        systemAdmin: false,
      });
      await catalog.setRole(user.id, c.tenantId, body.role);
      await catalog.audit({
        tenantId: c.tenantId,
        user: c.userName,
        action: 'user.create',
        object: user.id,
        detail: { name: body.name, role: body.role },
      });
      return reply.code(201).send(userView({ ...user, role: body.role }, c));
    },
  );

  app.get(
    '/api/v1/users/:id',
    { config: { permission: 'admin' }, schema: { tags: ['users'], summary: 'A user', params: Id } },
    async (request) => {
      const c = demand(request, 'admin');
      const { id } = request.params as { id: string };
      const role = await catalog.roleOf(id, c.tenantId);
      const user = role ? await catalog.user(id) : undefined;
      if (!user || !role) throw new CairnError('NOT_FOUND', `No user ${id} in this tenant`);
      return userView({ ...user, role }, c);
    },
  );

  app.delete(
    '/api/v1/users/:id',
    { config: { permission: 'admin' }, schema: { tags: ['users'], summary: 'Delete a user', params: Id } },
    async (request, reply) => {
      const c = demand(request, 'admin');
      const { id } = request.params as { id: string };
      const role = await catalog.roleOf(id, c.tenantId);
      const user = role ? await catalog.user(id) : undefined;
      if (!user) throw new CairnError('NOT_FOUND', `No user ${id} in this tenant`);
      if (id === c.userId) throw new CairnError('CONFLICT', 'Cannot delete yourself');
      if (user.system_admin === 1 && !c.systemAdmin)
        throw new CairnError('FORBIDDEN', 'Only a system administrator can delete a system administrator');
      await catalog.deleteUser(id);
      await catalog.audit({
        tenantId: c.tenantId,
        user: c.userName,
        action: 'user.delete',
        object: id,
        detail: { name: user.name },
      });
      return reply.code(204).send();
    },
  );

  app.get(
    '/api/v1/audit',
    {
      config: { permission: 'admin' },
      schema: {
        tags: ['users'],
        summary: 'Who did what, newest first',
        querystring: Type.Object(Paging, { additionalProperties: false }),
      },
    },
    async (request) => {
      const c = demand(request, 'admin');
      const p = await catalog.listAudit(c.tenantId, request.query as { skip?: number; limit?: number });
      return {
        data: p.data.map((a) => ({
          id: a.id,
          at: a.at,
          user: a.user_name,
          action: a.action,
          object: a.object,
          detail: JSON.parse(a.detail) as unknown,
        })),
        pagination: p.pagination,
      };
    },
  );
}
