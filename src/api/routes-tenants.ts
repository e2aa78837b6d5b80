/**
 * Tenants and named scripts: the system administrator's own resources. Every route that changes
 * them needs the `system` permission, which only a system administrator holds; a tenant user may
 * list the scripts granted to its tenant (names and descriptions, not the commands).
 */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { ScriptRow } from '../catalog/index.ts';
import { CairnError } from '../errors.ts';
import { NamedScriptSchema, NameSchema, scriptsFor } from '../jobs/index.ts';
import { commandWords } from '../plugins/index.ts';
import { callerOf, demand, type ApiContext } from './context.ts';
import { changeTenant, provisionTenant, removeTenant, tenantView } from './tenants.ts';
import { API, repositoryView } from './views.ts';

const Id = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) }, { additionalProperties: false });
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

const ScriptPatch = Type.Partial(NamedScriptSchema, { additionalProperties: false });

function scriptView(s: ScriptRow, full: boolean) {
  const self = `${API}/scripts/${s.id}`;
  return {
    id: s.id,
    name: s.name,
    description: s.description,
    ...(full
      ? {
          command: JSON.parse(s.command) as string[],
          timeoutSeconds: s.timeout_seconds,
          tenants: JSON.parse(s.tenants) as string[],
          origin: s.origin,
          links: [
            { rel: 'self', href: self, method: 'GET' },
            { rel: 'edit', href: self, method: 'PATCH' },
            { rel: 'delete', href: self, method: 'DELETE' },
          ],
        }
      : {}),
    createdAt: s.created_at,
    updatedAt: s.updated_at,
  };
}

export function registerTenantRoutes(app: FastifyInstance, ctx: ApiContext): void {
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
      schema: { tags: ['tenants'], summary: 'Every tenant (system administrators)' },
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
        body: TenantInput,
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
      schema: { tags: ['tenants'], summary: 'A tenant (by id or name)', params: Id },
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
        summary: "Change a tenant's limits and roots",
        params: Id,
        body: TenantPatch,
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
        summary: 'Delete a tenant that has no repositories left, with its users, jobs and runs',
        params: Id,
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

  // --- named scripts ---

  app.get(
    '/api/v1/scripts',
    {
      config: { permission: 'read' },
      schema: {
        tags: ['scripts'],
        summary:
          "Programs jobs may name in runBefore, runAfter and hooks: every one for system administrators, the tenant's for others",
      },
    },
    async (request) => {
      const c = callerOf(request);
      if (c.systemAdmin) return { data: (await catalog.listScripts()).map((s) => scriptView(s, true)) };
      const tenant = await catalog.tenant(c.tenantId);
      return { data: tenant ? (await scriptsFor(catalog, tenant)).map((s) => scriptView(s, false)) : [] };
    },
  );

  app.post(
    '/api/v1/scripts',
    {
      config: { permission: 'system' },
      schema: {
        tags: ['scripts'],
        summary: 'Define a named script (system administrators)',
        body: NamedScriptSchema,
      },
    },
    async (request, reply) => {
      const c = demand(request, 'system');
      const b = request.body as Static<typeof NamedScriptSchema>;
      const row = await catalog.createScript({
        name: b.name,
        command: words(b.command),
        description: b.description ?? '',
        timeoutSeconds: b.timeoutSeconds ?? null,
        tenants: b.tenants ?? [],
        origin: 'api',
      });
      await catalog.audit({
        tenantId: null,
        user: c.userName,
        action: 'script.create',
        object: row.id,
        detail: { name: row.name, tenants: b.tenants ?? [] },
      });
      return reply.code(201).header('location', `${API}/scripts/${row.id}`).send(scriptView(row, true));
    },
  );

  app.patch(
    '/api/v1/scripts/:id',
    {
      config: { permission: 'system' },
      schema: { tags: ['scripts'], summary: 'Change a named script', params: Id, body: ScriptPatch },
    },
    async (request) => {
      const c = demand(request, 'system');
      const { id } = request.params as { id: string };
      const b = request.body as Partial<Static<typeof NamedScriptSchema>>;
      if (!(await catalog.script(id))) throw new CairnError('NOT_FOUND', `No script ${id}`);
      await catalog.updateScript(id, {
        ...(b.name !== undefined ? { name: b.name } : {}),
        ...(b.command !== undefined ? { command: words(b.command) } : {}),
        ...(b.description !== undefined ? { description: b.description } : {}),
        ...(b.timeoutSeconds !== undefined ? { timeoutSeconds: b.timeoutSeconds } : {}),
        ...(b.tenants !== undefined ? { tenants: b.tenants } : {}),
      });
      await catalog.audit({
        tenantId: null,
        user: c.userName,
        action: 'script.update',
        object: id,
        detail: { ...b },
      });
      const row = await catalog.script(id);
      if (!row) throw new CairnError('NOT_FOUND', `No script ${id}`);
      return scriptView(row, true);
    },
  );

  app.delete(
    '/api/v1/scripts/:id',
    {
      config: { permission: 'system' },
      schema: {
        tags: ['scripts'],
        summary: 'Withdraw a named script (jobs naming it fail until changed)',
        params: Id,
      },
    },
    async (request, reply) => {
      const c = demand(request, 'system');
      const { id } = request.params as { id: string };
      const row = await catalog.script(id);
      if (!row) throw new CairnError('NOT_FOUND', `No script ${id}`);
      await catalog.deleteScript(id);
      await catalog.audit({
        tenantId: null,
        user: c.userName,
        action: 'script.delete',
        object: id,
        detail: { name: row.name },
      });
      return reply.code(204).send();
    },
  );
}

function words(command: string | readonly string[]): string[] {
  try {
    return commandWords(command);
  } catch (err) {
    throw new CairnError('INVALID_INPUT', `command: ${err instanceof Error ? err.message : String(err)}`);
  }
}
