/** Logon sessions, API keys, users and the audit log. */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { splitUserName, type UserRow } from '../catalog/index.ts';
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
import { retireInitialPassword } from './initial-password.ts';
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

const PasswordChange = Type.Object(
  {
    oldPassword: Type.String({ minLength: 1, maxLength: 1024 }),
    newPassword: Type.String({ minLength: 8, maxLength: 1024 }),
  },
  { additionalProperties: false },
);

const UserChange = Type.Object(
  {
    password: Type.Optional(Type.String({ minLength: 8, maxLength: 1024 })),
    role: Type.Optional(Role),
    disabled: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false, minProperties: 1 },
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
      const user = await catalog.userForLogon(typed.name, tenantName, home);
      // Checked against a dummy hash when there is no such user: the answer takes as long.
      const ok = await verifyPassword(creds.password, user?.password_hash);
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
    { config: { permission: 'read' }, schema: { tags: ['session'], summary: 'Who am I' } },
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
      const user = await catalog.createTenantUser({
        tenantId: c.tenantId,
        name: body.name,
        passwordHash: await hashPassword(body.password),
        role: body.role,
      });
      await catalog.audit({
        tenantId: c.tenantId,
        user: c.userName,
        action: 'user.create',
        object: user.id,
        detail: { name: user.name, role: body.role },
      });
      return reply.code(201).send(userView({ ...user, role: body.role }, c));
    },
  );

  app.put(
    '/api/v1/users/current/password',
    {
      config: { permission: 'read' },
      schema: {
        tags: ['users'],
        summary: 'Change your own password (give the old one); your other sessions end',
        body: PasswordChange,
      },
    },
    async (request, reply) => {
      const c = callerOf(request);
      const user = c.userId ? await catalog.user(c.userId) : undefined;
      if (!user) throw new CairnError('FORBIDDEN', 'Cannot change the password: the caller is no user');
      const body = request.body as Static<typeof PasswordChange>;
      // The old password is guessed like a logon: the same brake, on the same name.
      const name = splitUserName(user.name).name;
      const address = request.ip;
      const wait = ctx.limiter.retryAfter(name, address);
      if (wait > 0)
        return sendProblem(
          reply,
          problemOf(
            'RATE_LIMITED',
            `Too many wrong passwords for ${name}; try again in ${wait} s`,
            request.url.split('?')[0] ?? '',
          ),
          { 'retry-after': String(wait) },
        );
      if (!(await verifyPassword(body.oldPassword, user.password_hash))) {
        ctx.limiter.failed(name, address);
        await catalog.audit({
          tenantId: c.tenantId,
          user: c.userName,
          action: 'user.password.failed',
          object: user.id,
          detail: { address },
        });
        // 403, not 401: the session is fine, only the old password given is not.
        throw new CairnError('FORBIDDEN', 'Cannot change the password: the old password is wrong');
      }
      ctx.limiter.succeeded(name, address);
      if (body.newPassword === body.oldPassword)
        throw new CairnError('INVALID_INPUT', 'newPassword: is the same as the old password');
      await catalog.updateUser(user.id, { passwordHash: await hashPassword(body.newPassword) });
      const ended = await catalog.deleteSessionsOf(user.id, c.sessionId);
      const retired = await retireInitialPassword(ctx.initialPasswordFile, user.password_hash);
      await catalog.audit({
        tenantId: c.tenantId,
        user: c.userName,
        action: 'user.password',
        object: user.id,
        detail: { sessionsEnded: ended, ...(retired ? { initialPasswordFileRemoved: true } : {}) },
      });
      return reply.code(204).send();
    },
  );

  app.patch(
    '/api/v1/users/:id',
    {
      config: { permission: 'admin' },
      schema: {
        tags: ['users'],
        summary: "Reset a user's password, change its role, disable or enable it; a reset ends its sessions",
        params: Id,
        body: UserChange,
      },
    },
    async (request) => {
      const c = demand(request, 'admin');
      const { id } = request.params as { id: string };
      const body = request.body as Static<typeof UserChange>;
      const role = await catalog.roleOf(id, c.tenantId);
      const user = role ? await catalog.user(id) : undefined;
      if (!user || !role) throw new CairnError('NOT_FOUND', `No user ${id} in this tenant`);
      if (user.system_admin === 1 && !c.systemAdmin)
        throw new CairnError('FORBIDDEN', 'Only a system administrator can change a system administrator');
      if (id === c.userId) {
        if (body.password !== undefined)
          throw new CairnError(
            'CONFLICT',
            'Cannot reset your own password: change it with PUT /api/v1/users/current/password, which asks for the old one',
          );
        throw new CairnError('CONFLICT', 'Cannot change your own role or disable yourself');
      }
      if (body.password !== undefined || body.disabled !== undefined)
        await catalog.updateUser(id, {
          ...(body.password !== undefined ? { passwordHash: await hashPassword(body.password) } : {}),
          ...(body.disabled !== undefined ? { disabled: body.disabled } : {}),
        });
      if (body.role !== undefined) await catalog.setRole(id, c.tenantId, body.role);
      const ended =
        body.password !== undefined || body.disabled === true ? await catalog.deleteSessionsOf(id) : 0;
      const retired =
        body.password !== undefined &&
        (await retireInitialPassword(ctx.initialPasswordFile, user.password_hash));
      await catalog.audit({
        tenantId: c.tenantId,
        user: c.userName,
        action: 'user.change',
        object: id,
        detail: {
          name: user.name,
          ...(body.role !== undefined ? { role: body.role } : {}),
          ...(body.disabled !== undefined ? { disabled: body.disabled } : {}),
          ...(body.password !== undefined ? { passwordReset: true } : {}),
          sessionsEnded: ended,
          ...(retired ? { initialPasswordFileRemoved: true } : {}),
        },
      });
      const now = await catalog.user(id);
      return userView({ ...(now ?? user), role: body.role ?? role }, c);
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
