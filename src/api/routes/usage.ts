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
import { Type } from '@sinclair/typebox';
import { tenantUsage } from '../../jobs/index.ts';
import { callerOf, type ApiRoutes } from '../context.ts';
import { API } from '../views.ts';

const RepositoryUsage = Type.Object({
  id: Type.String(),
  name: Type.String(),
  storedBytes: Type.Union([Type.Number(), Type.Null()]),
  recycledBytes: Type.Number({ description: 'of which only restore points in its recycle bin need' }),
  measuredAt: Type.Union([Type.String(), Type.Null()]),
  href: Type.String(),
});

const UsageAnswer = Type.Object({
  tenant: Type.Object({ id: Type.String(), name: Type.String() }),
  quotaBytes: Type.Union([Type.Number(), Type.Null()], { description: 'null: no quota' }),
  usageBytes: Type.Number({
    description: "the sum of the repositories' stored sizes as last measured, less recycledBytes",
  }),
  recycledBytes: Type.Number({
    description:
      'stored bytes only restore points in recycle bins need (insider protection): kept, not counted',
  }),
  usedPercent: Type.Union([Type.Number(), Type.Null()]),
  measuredAt: Type.Union([Type.String(), Type.Null()], { description: 'the oldest measurement in the sum' }),
  repositories: Type.Array(RepositoryUsage),
});

export const usageRoutes: ApiRoutes = (app, { ctx }, done) => {
  app.get(
    `${API}/usage`,
    {
      config: { permission: 'read' },
      schema: {
        tags: ['repositories'],
        summary: "The caller's tenant: its quota, its usage and each repository's stored size",
        description:
          'Stored sizes are what the storage lists (after deduplication and compression), measured after every backup, retention and prune and at the server start.',
        response: { 200: UsageAnswer },
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
