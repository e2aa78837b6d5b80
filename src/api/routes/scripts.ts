/**
 * Named scripts: programs the system administrator defines and grants to tenants, which jobs name
 * in runBefore, runAfter and hooks.
 *
 * | Route                       | Who may call it                                                |
 * |-----------------------------|----------------------------------------------------------------|
 * | GET    /api/v1/scripts      | any role (viewer and up): the names and descriptions of the    |
 * |                             | scripts granted to its tenant; the system administrator: every |
 * |                             | script with its command and tenants                            |
 * | POST   /api/v1/scripts      | system administrator                                           |
 * | PATCH  /api/v1/scripts/{id} | system administrator                                           |
 * | DELETE /api/v1/scripts/{id} | system administrator                                           |
 *
 * Roles: viewer < restore-operator < operator < administrator (src/api/auth.ts); the system
 * administrator may call every route, in whatever tenant it is logged on to.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { ScriptRow } from '../../catalog/index.ts';
import { CairnError } from '../../errors.ts';
import { NamedScriptSchema, scriptsFor } from '../../jobs/index.ts';
import { commandWords } from '../../plugins/index.ts';
import { answer, LOCATION, noContent, problems, ref, ScriptSchema } from '../answers.ts';
import { callerOf, demand, type ApiRoutes } from '../context.ts';
import { API } from '../views.ts';
import { Id } from './schemas.ts';

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

function words(command: string | readonly string[]): string[] {
  try {
    return commandWords(command);
  } catch (err) {
    throw new CairnError('INVALID_INPUT', `command: ${err instanceof Error ? err.message : String(err)}`);
  }
}

export const scriptRoutes: ApiRoutes = (app, { ctx }, done) => {
  const { catalog } = ctx;

  app.get(
    '/api/v1/scripts',
    {
      config: { permission: 'read' },
      schema: {
        tags: ['scripts'],
        summary:
          "Programs jobs may name in runBefore, runAfter and hooks: every one for system administrators, the tenant's for others",
        operationId: 'listScripts',
        response: {
          200: answer(
            Type.Object({ data: Type.Array(ref(ScriptSchema)) }),
            'The scripts (with command, tenants and links for system administrators only)',
          ),
        },
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
        operationId: 'createScript',
        summary: 'Define a named script (system administrators)',
        body: NamedScriptSchema,
        response: { 201: answer(ref(ScriptSchema), 'Created', LOCATION), ...problems(409, 422) },
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
      schema: {
        tags: ['scripts'],
        operationId: 'updateScript',
        summary: 'Change a named script',
        params: Id,
        body: ScriptPatch,
        response: { 200: answer(ref(ScriptSchema), 'The script as it is now'), ...problems(409, 422) },
      },
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
        operationId: 'deleteScript',
        summary: 'Withdraw a named script (jobs naming it fail until changed)',
        params: Id,
        response: { 204: noContent('Withdrawn') },
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

  done();
};
