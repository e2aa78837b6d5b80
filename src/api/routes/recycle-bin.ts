/**
 * The recycle bins (insider protection): restore points a protected tenant's retention forgot,
 * kept hidden from the tenant until their protection ends. Only the system administrator lists
 * them, gives one back to its tenant or purges one early; a tenant user cannot see, restore or
 * purge them (for it they are gone), which is the point: a stolen tenant password cannot wipe a
 * tenant's backups at once.
 *
 * | Route                                                       | Who may call it       |
 * | ----------------------------------------------------------- | --------------------- |
 * | GET    /api/v1/recycle-bin[?tenant=NAME]                    | system administrator  |
 * | POST   /api/v1/recycle-bin/{repository}/{snapshot}/undelete | system administrator  |
 * | DELETE /api/v1/recycle-bin/{repository}/{snapshot}          | system administrator  |
 *
 * The system administrator restores one with the ordinary `POST /api/v1/restores`, logged on to
 * its tenant (`?tenant=NAME`): restores by a tenant user never reach into the bin.
 */
import { Type } from '@sinclair/typebox';
import type { RecycleRow } from '../../catalog/index.ts';
import { CairnError } from '../../errors.ts';
import { purgeAfter, purgeRecycled } from '../../jobs/index.ts';
import { answer, noContent, ref, RecycleEntrySchema } from '../answers.ts';
import { demand, type ApiRoutes } from '../context.ts';
import { API } from '../views.ts';

const Where = Type.Object(
  {
    repository: Type.String({ minLength: 1, maxLength: 64 }),
    snapshot: Type.String({ pattern: '^[0-9a-f]{64}$' }),
  },
  { additionalProperties: false },
);

export const recycleBinRoutes: ApiRoutes = (app, { ctx }, done) => {
  const { catalog } = ctx;

  const view = async (rows: readonly RecycleRow[]) => {
    const tenants = new Map((await catalog.listTenants()).map((t) => [t.id, t]));
    const repos = new Map((await catalog.allRepositories()).map((r) => [r.id, r]));
    return rows.map((r) => {
      const t = tenants.get(r.tenant_id);
      const self = `${API}/recycle-bin/${r.repository_id}/${r.snapshot_id}`;
      return {
        tenant: { id: r.tenant_id, name: t?.name ?? r.tenant_id },
        repository: { id: r.repository_id, name: repos.get(r.repository_id)?.name ?? r.repository_id },
        snapshot: r.snapshot_id,
        snapshotTime: r.snapshot_time,
        job: r.job_name,
        deletedAt: r.deleted_at,
        deletedBy: r.deleted_by,
        purgeAfter: purgeAfter(r, t?.protection_days ?? 0).toISOString(),
        links: [
          { rel: 'undelete', href: `${self}/undelete`, method: 'POST' },
          { rel: 'purge', href: self, method: 'DELETE' },
          { rel: 'restore', href: `${API}/restores`, method: 'POST' },
        ],
      };
    });
  };

  const entryOf = async (repositoryId: string, snapshot: string) => {
    const row = (await catalog.recycleBin({ repositoryId })).find((r) => r.snapshot_id === snapshot);
    if (!row)
      throw new CairnError(
        'NOT_FOUND',
        `No restore point ${snapshot.slice(0, 8)} in the recycle bin of repository ${repositoryId}`,
      );
    const repo = await catalog.repository(row.tenant_id, repositoryId);
    if (!repo) throw new CairnError('NOT_FOUND', `No repository ${repositoryId}`);
    return { row, repo };
  };

  app.get(
    `${API}/recycle-bin`,
    {
      config: { permission: 'system' },
      schema: {
        tags: ['tenants'],
        summary:
          "Restore points tenants' retention forgot, kept until their protection ends (system administrators)",
        querystring: Type.Object(
          { tenant: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })) },
          { additionalProperties: false },
        ),
        operationId: 'listRecycleBin',
        response: {
          200: answer(Type.Object({ data: Type.Array(ref(RecycleEntrySchema)) }), 'The entries, by tenant'),
        },
      },
    },
    async (request) => {
      demand(request, 'system');
      const name = (request.query as { tenant?: string }).tenant;
      let tenantId: string | undefined;
      if (name !== undefined) {
        const t = await catalog.tenantByName(name);
        if (!t) throw new CairnError('NOT_FOUND', `No tenant ${name}`);
        tenantId = t.id;
      }
      return { data: await view(await catalog.recycleBin(tenantId === undefined ? {} : { tenantId })) };
    },
  );

  app.post(
    `${API}/recycle-bin/:repository/:snapshot/undelete`,
    {
      config: { permission: 'system' },
      schema: {
        tags: ['tenants'],
        summary:
          'Give a restore point back to its tenant: it is listed and restorable again, and retention judges it again',
        operationId: 'undeleteRestorePoint',
        params: Where,
        response: { 200: answer(ref(RecycleEntrySchema), 'Given back: the entry as it was') },
      },
    },
    async (request) => {
      const c = demand(request, 'system');
      const p = request.params as { repository: string; snapshot: string };
      const { row, repo } = await entryOf(p.repository, p.snapshot);
      const [shown] = await view([row]);
      await catalog.unrecycle(repo.id, [row.snapshot_id]);
      await catalog.audit({
        tenantId: repo.tenant_id,
        user: c.userName,
        action: 'recycle.undelete',
        object: repo.id,
        detail: { repository: repo.name, snapshot: row.snapshot_id },
      });
      return shown;
    },
  );

  app.delete(
    `${API}/recycle-bin/:repository/:snapshot`,
    {
      config: { permission: 'system' },
      schema: {
        tags: ['tenants'],
        summary: 'Purge a restore point from the recycle bin now (its data goes at the next prune)',
        operationId: 'purgeRestorePoint',
        params: Where,
        response: { 204: noContent('Purged') },
      },
    },
    async (request, reply) => {
      const c = demand(request, 'system');
      const p = request.params as { repository: string; snapshot: string };
      const { row, repo } = await entryOf(p.repository, p.snapshot);
      await purgeRecycled(catalog, ctx.tenancy, repo, [row.snapshot_id]);
      await catalog.audit({
        tenantId: repo.tenant_id,
        user: c.userName,
        action: 'recycle.purge',
        object: repo.id,
        detail: {
          repository: repo.name,
          snapshots: [row.snapshot_id],
          reason: 'by the system administrator',
        },
      });
      return reply.code(204).send();
    },
  );
  done();
};
