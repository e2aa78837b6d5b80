/**
 * The audit log of the caller's tenant: who did what, newest first.
 *
 * | Route             | Who may call it |
 * |-------------------|-----------------|
 * | GET /api/v1/audit | administrator   |
 *
 * Roles: viewer < restore-operator < operator < administrator (src/api/auth.ts); the system
 * administrator may call every route, in whatever tenant it is logged on to.
 */
import { answer, AuditEntrySchema, Page, ref } from '../answers.ts';
import { demand, type ApiRoutes } from '../context.ts';
import { PagingQuery } from './schemas.ts';

export const auditRoutes: ApiRoutes = (app, { ctx }, done) => {
  const { catalog } = ctx;

  app.get(
    '/api/v1/audit',
    {
      config: { permission: 'admin' },
      schema: {
        tags: ['users'],
        operationId: 'listAuditEntries',
        summary: 'Who did what, newest first',
        querystring: PagingQuery,
        response: { 200: answer(Page(ref(AuditEntrySchema)), 'A page of the audit log') },
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

  done();
};
