/**
 * Users with a role in the caller's tenant, and one's own password.
 *
 * | Route                                 | Who may call it                                          |
 * |---------------------------------------|----------------------------------------------------------|
 * | GET    /api/v1/users                  | administrator                                            |
 * | POST   /api/v1/users                  | administrator (the user gets a role in this tenant only) |
 * | GET    /api/v1/users/{id}             | administrator; a user without a role here: 404           |
 * | PATCH  /api/v1/users/{id}             | administrator; not oneself (409); a system administrator |
 * |                                       | only by a system administrator (403)                     |
 * | DELETE /api/v1/users/{id}             | administrator; the same limits as PATCH                  |
 * | PUT    /api/v1/users/current/password | any role (viewer and up), for itself, with the old       |
 * |                                       | password (the logon brake applies)                       |
 *
 * Roles: viewer < restore-operator < operator < administrator (src/api/auth.ts); the system
 * administrator may call every route, in whatever tenant it is logged on to.
 */
import { Type, type Static } from '@sinclair/typebox';
import { splitUserName } from '../../catalog/index.ts';
import { CairnError } from '../../errors.ts';
import { NameSchema } from '../../jobs/index.ts';
import { hashPassword, ROLES, verifyPassword } from '../auth.ts';
import { answer, noContent, Page, problems, ref, UserSchema } from '../answers.ts';
import { callerOf, demand, type ApiRoutes } from '../context.ts';
import { retireInitialPassword } from '../initial-password.ts';
import { problemOf, sendProblem } from '../problem.ts';
import { userView } from '../views.ts';
import { Id, PagingQuery } from './schemas.ts';

const Role = Type.Union(ROLES.map((r) => Type.Literal(r)));

const UserInput = Type.Object(
  {
    name: NameSchema,
    password: Type.String({ minLength: 8, maxLength: 1024 }),
    role: Role,
  },
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

export const userRoutes: ApiRoutes = (app, { ctx }, done) => {
  const { catalog } = ctx;

  app.get(
    '/api/v1/users',
    {
      config: { permission: 'admin' },
      schema: {
        tags: ['users'],
        operationId: 'listUsers',
        summary: 'Users with a role in this tenant',
        querystring: PagingQuery,
        response: { 200: answer(Page(ref(UserSchema)), 'A page of users') },
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
      schema: {
        tags: ['users'],
        operationId: 'createUser',
        summary: 'Create a user with a role in this tenant',
        body: UserInput,
        response: { 201: answer(ref(UserSchema), 'Created'), ...problems(409) },
      },
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
        operationId: 'changeOwnPassword',
        summary: 'Change your own password (give the old one); your other sessions end',
        body: PasswordChange,
        response: {
          204: noContent('Changed; your other sessions have ended'),
          ...problems(422, 429),
        },
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
        operationId: 'updateUser',
        summary: "Reset a user's password, change its role, disable or enable it; a reset ends its sessions",
        params: Id,
        body: UserChange,
        response: { 200: answer(ref(UserSchema), 'The user as it is now'), ...problems(409) },
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
    {
      config: { permission: 'admin' },
      schema: {
        tags: ['users'],
        operationId: 'getUser',
        summary: 'A user',
        params: Id,
        response: { 200: answer(ref(UserSchema), 'The user') },
      },
    },
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
    {
      config: { permission: 'admin' },
      schema: {
        tags: ['users'],
        operationId: 'deleteUser',
        summary: 'Delete a user',
        params: Id,
        response: { 204: noContent('Deleted, with its sessions and API keys'), ...problems(409) },
      },
    },
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

  done();
};
