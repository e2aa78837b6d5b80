/**
 * The caller's tenant's storage: its quota, its usage and what each of its repositories stores.
 *
 * | Route             | Who may call it                                   |
 * |-------------------|---------------------------------------------------|
 * | GET /api/v1/usage | any role (viewer and up), for its own tenant only |
 *
 * Roles: viewer < restore-operator < operator < administrator (src/api/auth.ts); the system
 * administrator may call every route, in whatever tenant it is logged on to.
 */
import { tenantUsage } from '../../jobs/index.ts';
import { answer, ref, TenantUsageSchema } from '../answers.ts';
import { callerOf, type ApiRoutes } from '../context.ts';
import { API } from '../views.ts';

export const usageRoutes: ApiRoutes = (app, { ctx }, done) => {
  app.get(
    `${API}/usage`,
    {
      config: { permission: 'read' },
      schema: {
        tags: ['repositories'],
        operationId: 'getUsage',
        summary: "The caller's tenant: its quota, its usage and each repository's stored size",
        description:
          'Stored sizes are what the storage lists (after deduplication and compression), measured after every backup, retention and prune and at the server start.',
        response: { 200: answer(ref(TenantUsageSchema), 'The quota, the usage and each repository') },
      },
    },
    async (request) => {
      const u = await tenantUsage(ctx.catalog, callerOf(request).tenantId);
      return {
        ...u,
        repositories: u.repositories.map((r) => ({ ...r, href: `${API}/repositories/${r.id}` })),
      };
    },
  );

  done();
};
