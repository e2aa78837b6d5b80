/**
 * API keys: tokens for programs, each acting as its user with that user's role in the tenant.
 *
 * | Route                        | Who may call it                                                 |
 * |------------------------------|-----------------------------------------------------------------|
 * | GET    /api/v1/api-keys      | any role (viewer and up): its own keys; an administrator: every |
 * |                              | key of the tenant                                               |
 * | POST   /api/v1/api-keys      | any role, for itself (the key gets the caller's user and role;  |
 * |                              | shown once)                                                     |
 * | DELETE /api/v1/api-keys/{id} | any role: its own keys; an administrator: any key of the tenant |
 * |                              | (another's key is not found: 404)                               |
 *
 * Roles: viewer < restore-operator < operator < administrator (src/api/auth.ts); the system
 * administrator may call every route, in whatever tenant it is logged on to.
 */
import { Type, type Static } from '@sinclair/typebox';
import { CairnError } from '../../errors.ts';
import { newToken, tokenHash } from '../auth.ts';
import { answer, ApiKeySchema, NewApiKeySchema, noContent, ref } from '../answers.ts';
import { callerOf, type ApiRoutes } from '../context.ts';
import { API } from '../views.ts';
import { Id } from './schemas.ts';

const ApiKeyInput = Type.Object(
  { name: Type.String({ minLength: 1, maxLength: 64 }) },
  { additionalProperties: false },
);

export const apiKeyRoutes: ApiRoutes = (app, { ctx }, done) => {
  const { catalog } = ctx;

  app.get(
    '/api/v1/api-keys',
    {
      config: { permission: 'read' },
      schema: {
        tags: ['session'],
        operationId: 'listApiKeys',
        summary: 'Your API keys (all of the tenant for administrators)',
        response: {
          200: answer(
            Type.Object({ data: Type.Array(ref(ApiKeySchema)) }),
            'The keys (never the keys themselves)',
          ),
        },
      },
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
        operationId: 'createApiKey',
        summary: 'Create an API key with your role; the key is shown once',
        body: ApiKeyInput,
        response: { 201: answer(ref(NewApiKeySchema), 'Created: the key is in the answer, this once') },
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
      schema: {
        tags: ['session'],
        operationId: 'deleteApiKey',
        summary: 'Revoke an API key',
        params: Id,
        response: { 204: noContent('Revoked') },
      },
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

  done();
};
