/**
 * Tenants: the system administrator's own resource. A tenant's users never see or change their
 * tenant here (its quota and usage are at GET /api/v1/usage).
 *
 * | Route                       | Who may call it                                                   |
 * |-----------------------------|-------------------------------------------------------------------|
 * | GET    /api/v1/tenants      | system administrator                                              |
 * | POST   /api/v1/tenants      | system administrator (the first administrator's password is shown |
 * |                             | once)                                                             |
 * | GET    /api/v1/tenants/{id} | system administrator (by id or name)                              |
 * | PATCH  /api/v1/tenants/{id} | system administrator                                              |
 * | DELETE /api/v1/tenants/{id} | system administrator; not the tenant it is logged on to (409)     |
 *
 * The `system` permission, which no role of a tenant grants (src/api/auth.ts).
 */
import { Type, type Static } from '@sinclair/typebox';
import { CairnError } from '../../errors.ts';
import { NameSchema } from '../../jobs/index.ts';
import {
  answer,
  LOCATION,
  noContent,
  problems,
  ProvisionedTenantSchema,
  ref,
  TenantSchema,
} from '../answers.ts';
import { demand, type ApiRoutes } from '../context.ts';
import { changeTenant, provisionTenant, removeTenant, tenantView } from '../tenants.ts';
import { API, repositoryView } from '../views.ts';
import { Id } from './schemas.ts';

const Folder = Type.String({ minLength: 1, maxLength: 4096, pattern: '^/' });

const Settings = {
  storageRoot: Type.Optional(
    Type.Union([Type.String({ minLength: 1, maxLength: 4096 }), Type.Null()], {
      description:
        "where the tenant's repositories are made: a folder or s3:http(s)://HOST/BUCKET/PREFIX (default: tenants/NAME in the server's data directory)",
    }),
  ),
  quotaBytes: Type.Optional(
    Type.Union([Type.Integer({ minimum: 0, maximum: 2 ** 53 }), Type.Null()], {
      description: 'bytes all its repositories may hold after deduplication and compression; null: no limit',
    }),
  ),
  sourceRoots: Type.Optional(
    Type.Array(Folder, {
      maxItems: 100,
      description: 'folders of this machine its jobs may read (none by default)',
    }),
  ),
  restoreRoots: Type.Optional(
    Type.Array(Folder, { maxItems: 100, description: 'folders of this machine its restores may write into' }),
  ),
  webhookAllow: Type.Optional(
    Type.Array(Type.String({ pattern: '^https?://', maxLength: 2048 }), {
      maxItems: 100,
      description: "URL prefixes its jobs' webhooks may call",
    }),
  ),
  maxRuns: Type.Optional(
    Type.Union([Type.Integer({ minimum: 1, maximum: 1000 }), Type.Null()], {
      description:
        'its runs (backups with their retention, restores) at once on all servers sharing the catalog; more wait queued; null: no limit of its own',
    }),
  ),
  bandwidthBytesPerSecond: Type.Optional(
    Type.Union([Type.Integer({ minimum: 1024, maximum: 2 ** 53 }), Type.Null()], {
      description:
        'bytes a second all its runs together may write to its repositories (at least 1 KiB/s); slows them, never fails them; null: no limit',
    }),
  ),
  volumeBytes: Type.Optional(
    Type.Integer({
      minimum: 1,
      maximum: 2 ** 53,
      description:
        'a volume of its own: a sparse XFS image in the data directory, loop-mounted on the storage root (the server must run as root; at least 300 MiB, whole MiB). Given on a tenant that has one, it grows it: XFS cannot shrink',
    }),
  ),
  protectionDays: Type.Optional(
    Type.Integer({
      minimum: 0,
      maximum: 3650,
      description:
        'insider protection: days a restore point its retention forgets stays in its recycle bin (hidden from the tenant, outside its quota, restorable by the system administrator) before it is purged; 0: removed at once',
    }),
  ),
};

const TenantInput = Type.Object(
  {
    name: NameSchema,
    ...Settings,
    repository: Type.Optional(
      Type.Union([NameSchema, Type.Null()], {
        description: 'the first repository (default "main"); null: none',
      }),
    ),
    admin: Type.Optional(
      Type.Union([NameSchema, Type.Null()], {
        description:
          'the first administrator (default "admin"), whose password the answer shows once; null: none',
      }),
    ),
  },
  { additionalProperties: false },
);

const TenantPatch = Type.Object(Settings, { additionalProperties: false });

export const tenantRoutes: ApiRoutes = (app, { ctx }, done) => {
  const { catalog } = ctx;

  const tenantOf = async (id: string) => {
    const t = (await catalog.tenant(id)) ?? (await catalog.tenantByName(id));
    if (!t) throw new CairnError('NOT_FOUND', `No tenant ${id}`);
    return t;
  };

  app.get(
    '/api/v1/tenants',
    {
      config: { permission: 'system' },
      schema: {
        tags: ['tenants'],
        operationId: 'listTenants',
        summary: 'Every tenant (system administrators)',
        response: { 200: answer(Type.Object({ data: Type.Array(ref(TenantSchema)) }), 'Every tenant') },
      },
    },
    async (request) => {
      demand(request, 'system');
      return { data: (await catalog.listTenants()).map(tenantView) };
    },
  );

  app.post(
    '/api/v1/tenants',
    {
      config: { permission: 'system' },
      schema: {
        tags: ['tenants'],
        summary:
          'Provision a tenant in one step: its limits, storage root, a first repository with its own key, and an administrator whose password is shown once',
        operationId: 'createTenant',
        body: TenantInput,
        response: {
          201: answer(
            ref(ProvisionedTenantSchema),
            'Created, with its first repository and administrator (whose password is shown this once)',
            LOCATION,
          ),
          ...problems(409, 422, 503, 507),
        },
      },
    },
    async (request, reply) => {
      const c = demand(request, 'system');
      const p = await provisionTenant(
        catalog,
        ctx.tenancy,
        request.body as Static<typeof TenantInput>,
        c.userName,
      );
      return reply
        .code(201)
        .header('location', `${API}/tenants/${p.tenant.id}`)
        .header('cache-control', 'no-store')
        .send({
          ...tenantView(p.tenant),
          repository: p.repository ? repositoryView(p.repository, c) : null,
          admin: p.admin
            ? { name: p.admin.name, logon: p.admin.logon, password: p.admin.password, shownOnce: true }
            : null,
        });
    },
  );

  app.get(
    '/api/v1/tenants/:id',
    {
      config: { permission: 'system' },
      schema: {
        tags: ['tenants'],
        operationId: 'getTenant',
        summary: 'A tenant (by id or name)',
        params: Id,
        response: { 200: answer(ref(TenantSchema), 'The tenant') },
      },
    },
    async (request) => {
      demand(request, 'system');
      return tenantView(await tenantOf((request.params as { id: string }).id));
    },
  );

  app.patch(
    '/api/v1/tenants/:id',
    {
      config: { permission: 'system' },
      schema: {
        tags: ['tenants'],
        operationId: 'updateTenant',
        summary: "Change a tenant's limits and roots",
        params: Id,
        body: TenantPatch,
        response: { 200: answer(ref(TenantSchema), 'The tenant as it is now'), ...problems(409, 422, 507) },
      },
    },
    async (request) => {
      const c = demand(request, 'system');
      const t = await tenantOf((request.params as { id: string }).id);
      return tenantView(
        await changeTenant(catalog, ctx.tenancy, t, request.body as Static<typeof TenantPatch>, c.userName),
      );
    },
  );

  app.delete(
    '/api/v1/tenants/:id',
    {
      config: { permission: 'system' },
      schema: {
        tags: ['tenants'],
        operationId: 'deleteTenant',
        summary: 'Delete a tenant that has no repositories left, with its users, jobs and runs',
        params: Id,
        response: { 204: noContent('Deleted'), ...problems(409, 422) },
      },
    },
    async (request, reply) => {
      const c = demand(request, 'system');
      const t = await tenantOf((request.params as { id: string }).id);
      if (t.id === c.tenantId)
        throw new CairnError('CONFLICT', `Cannot delete tenant ${t.name}: you are logged on to it`);
      await removeTenant(catalog, t, c.userName);
      return reply.code(204).send();
    },
  );

  done();
};
