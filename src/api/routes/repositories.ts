/**
 * Repositories of the caller's tenant and the space they use. Their restore points are in
 * snapshots.ts.
 *
 * | Route                                  | Who may call it                                            |
 * |----------------------------------------|------------------------------------------------------------|
 * | GET    /api/v1/repositories            | any role (viewer and up); the location is shown to the     |
 * |                                        | system administrator only                                  |
 * | POST   /api/v1/repositories            | administrator: a name only (made in the tenant's storage); |
 * |                                        | a location or password file: system administrator only     |
 * |                                        | (403 for others)                                           |
 * | GET    /api/v1/repositories/{id}       | any role                                                   |
 * | DELETE /api/v1/repositories/{id}       | administrator (its data stays where it is)                 |
 * | GET    /api/v1/repositories/{id}/usage | any role; capacity and free space: the tenant's quota, the |
 * |                                        | file system's to the system administrator only             |
 *
 * Roles: viewer < restore-operator < operator < administrator (src/api/auth.ts); the system
 * administrator may call every route, in whatever tenant it is logged on to.
 */
import { readdir, stat, statfs } from 'node:fs/promises';
import path from 'node:path';
import type { FastifyRequest } from 'fastify';
import type { RepositoryRow } from '../../catalog/index.ts';
import { CairnError } from '../../errors.ts';
import {
  checkRepositoryDeletable,
  hiddenFrom,
  createRepository,
  openRepository,
  refOf,
  RepositoryInputSchema,
  tenantUsage,
  type OpenRepo,
  type RepositoryInput,
} from '../../jobs/index.ts';
import type { SnapshotInfo } from '../../repo/index.ts';
import {
  answer,
  LOCATION,
  noContent,
  Page,
  problems,
  ref,
  RepositorySchema,
  RepositoryUsageSchema,
} from '../answers.ts';
import { callerOf, demand, type ApiContext, type ApiRoutes, type Caller } from '../context.ts';
import { API, repositoryView } from '../views.ts';
import { Id, PagingQuery } from './schemas.ts';

/** The caller's tenant's repository `id`, else NOT_FOUND (another tenant's is not found either). */
export async function repositoryOf(ctx: ApiContext, c: Caller, id: string): Promise<RepositoryRow> {
  const r = await ctx.catalog.repository(c.tenantId, id);
  if (!r) throw new CairnError('NOT_FOUND', `No repository ${id} in this tenant`);
  return r;
}

/**
 * Runs `fn` on the repository of the route's `:id`, opened without a lock (reads only), and
 * closes it at the end.
 */
export async function withRepository<T>(
  ctx: ApiContext,
  request: FastifyRequest,
  fn: (open: OpenRepo, row: RepositoryRow) => Promise<T>,
  index = true,
): Promise<T> {
  const row = await repositoryOf(ctx, callerOf(request), (request.params as { id: string }).id);
  const open = await openRepository(refOf(row, ctx.tenancy), { lock: 'none', command: 'browse', index });
  try {
    return await fn(open, row);
  } finally {
    await open.close();
  }
}

/** Bytes under a folder, counted by walking it (repositories are local directories). */
async function duBytes(dir: string): Promise<number> {
  let total = 0;
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true, recursive: true });
  } catch {
    return 0;
  }
  for (const e of entries) {
    if (!e.isFile()) continue;
    try {
      total += (await stat(path.join(e.parentPath, e.name))).size;
    } catch {
      /* removed meanwhile (prune) */
    }
  }
  return total;
}

export const repositoryRoutes: ApiRoutes = (app, { ctx }, done) => {
  const { catalog } = ctx;

  app.get(
    '/api/v1/repositories',
    {
      config: { permission: 'read' },
      schema: {
        tags: ['repositories'],
        operationId: 'listRepositories',
        summary: 'Repositories of this tenant',
        querystring: PagingQuery,
        response: { 200: answer(Page(ref(RepositorySchema)), 'A page of repositories') },
      },
    },
    async (request) => {
      const c = callerOf(request);
      const p = await catalog.listRepositories(c.tenantId, request.query as { skip?: number });
      return { data: p.data.map((r) => repositoryView(r, c)), pagination: p.pagination };
    },
  );

  app.post(
    '/api/v1/repositories',
    {
      config: { permission: 'admin' },
      schema: {
        tags: ['repositories'],
        operationId: 'createRepository',
        summary: 'Register (and with create: true, initialise) a repository',
        description:
          "A name alone makes the repository in the tenant's storage root with a key of its own. A location (and a password or password file) registers an existing repository, which is opened to check it, or with create: true makes one there (system administrators only).",
        body: RepositoryInputSchema,
        response: {
          201: answer(ref(RepositorySchema), 'Registered', LOCATION),
          // REPO_NOT_FOUND (404) for a location without a repository.
          ...problems(404, 409, 422, 502, 507),
        },
      },
    },
    async (request, reply) => {
      const c = demand(request, 'admin');
      const row = await createRepository(
        catalog,
        c,
        request.body as RepositoryInput,
        ctx.secretsDir,
        'api',
        ctx.tenancy,
        !c.systemAdmin,
      );
      return reply.code(201).header('location', `${API}/repositories/${row.id}`).send(repositoryView(row, c));
    },
  );

  app.get(
    '/api/v1/repositories/:id',
    {
      config: { permission: 'read' },
      schema: {
        tags: ['repositories'],
        operationId: 'getRepository',
        summary: 'A repository',
        params: Id,
        response: { 200: answer(ref(RepositorySchema), 'The repository') },
      },
    },
    async (request) => {
      const c = callerOf(request);
      return repositoryView(await repositoryOf(ctx, c, (request.params as { id: string }).id), c);
    },
  );

  app.delete(
    '/api/v1/repositories/:id',
    {
      config: { permission: 'admin' },
      schema: {
        tags: ['repositories'],
        operationId: 'deleteRepository',
        summary: 'Forget a repository (its data stays where it is)',
        params: Id,
        response: {
          204: noContent('Forgotten; its files are left where they are'),
          // CONFLICT: it holds restore points while its tenant is protected.
          ...problems(409),
        },
      },
    },
    async (request, reply) => {
      const c = demand(request, 'admin');
      const r = await repositoryOf(ctx, c, (request.params as { id: string }).id);
      // Insider protection: dropping a repository drops its key, so not while it holds points.
      await checkRepositoryDeletable(catalog, ctx.tenancy, r, c.systemAdmin);
      await catalog.deleteRepository(c.tenantId, r.id);
      await catalog.audit({
        tenantId: c.tenantId,
        user: c.userName,
        action: 'repository.delete',
        object: r.id,
        detail: { name: r.name },
      });
      return reply.code(204).send();
    },
  );

  app.get(
    '/api/v1/repositories/:id/usage',
    {
      config: { permission: 'read' },
      schema: {
        tags: ['repositories'],
        summary: 'Space used, free space and growth per restore point',
        description:
          "capacityOf says what capacityBytes and freeBytes are: `file-system`, the file system the repository lies on (the system administrator only); `quota`, the tenant's quota and what its usage leaves of it; null: none (a bucket, or a tenant without a quota).",
        operationId: 'getRepositoryUsage',
        params: Id,
        response: {
          200: answer(ref(RepositoryUsageSchema), 'The space used and the growth per restore point'),
          ...problems(409, 422, 502),
        },
      },
    },
    (request) =>
      withRepository(ctx, request, async (open, row) => {
        const c = callerOf(request);
        const hidden = await hiddenFrom(catalog, c.systemAdmin, row.id);
        const snapshots = (await open.repo.listSnapshots()).snapshots.filter((x) => !hidden.has(x.id));
        const s3 = /^s3:/i.test(row.location);
        let bytes = 0;
        if (s3) {
          // A bucket has no capacity to speak of: its objects' sizes are what it uses.
          for (const type of ['config', 'keys', 'data', 'index', 'snapshots'] as const)
            for await (const f of open.repo.backend.list(type)) bytes += f.size;
        } else bytes = await duBytes(row.location);
        let capacityBytes: number | null = null;
        let freeBytes: number | null = null;
        let capacityOf: 'file-system' | 'quota' | null = null;
        if (!c.systemAdmin) {
          // A tenant's room is its quota: the server's disk is the machine owner's business (and
          // tells of the other tenants). Used is the tenant's usage as last measured, the figure
          // its backups' quota starts from.
          const u = await tenantUsage(catalog, c.tenantId);
          if (u.quotaBytes !== null) {
            capacityBytes = u.quotaBytes;
            freeBytes = Math.max(0, u.quotaBytes - u.usageBytes);
            capacityOf = 'quota';
          }
        } else if (!s3) {
          const fs = await statfs(row.location);
          capacityBytes = fs.blocks * fs.bsize;
          freeBytes = fs.bavail * fs.bsize;
          capacityOf = 'file-system';
        }
        return {
          bytes,
          capacityBytes,
          freeBytes,
          capacityOf,
          snapshots: snapshots.length,
          growth: snapshots.map((s: SnapshotInfo) => ({
            time: s.time,
            snapshot: s.id,
            addedBytes: s.summary?.dataAddedPacked ?? 0,
          })),
        };
      }),
  );

  done();
};
