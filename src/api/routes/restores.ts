/**
 * Restores: a restore point, or some paths of it, written into a folder of the server.
 *
 * | Route                 | Who may call it                                                      |
 * |-----------------------|----------------------------------------------------------------------|
 * | POST /api/v1/restores | restore-operator and up, into the tenant's restore roots (the system |
 * |                       | administrator: anywhere); with pluginOptions (they name programs the |
 * |                       | server runs): administrator                                          |
 *
 * Roles: viewer < restore-operator < operator < administrator (src/api/auth.ts); the system
 * administrator may call every route, in whatever tenant it is logged on to.
 */
import { Type, type Static } from '@sinclair/typebox';
import { startRestore, type RestoreParams } from '../../jobs/index.ts';
import { ACCEPTED_TASK, problems } from '../answers.ts';
import { demand, guardOf, type ApiRoutes } from '../context.ts';
import { taskView } from '../views.ts';
import { accepted } from './tasks.ts';

const RestoreInput = Type.Object(
  {
    repository: Type.String({ minLength: 1, maxLength: 128, description: 'repository id or name' }),
    snapshot: Type.String({
      minLength: 1,
      maxLength: 64,
      description: 'restore point id (or a unique prefix), or "latest"',
    }),
    target: Type.String({ minLength: 1, maxLength: 4096, description: 'an absolute folder on the server' }),
    paths: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 4096 }), { maxItems: 10000 })),
    replace: Type.Optional(Type.Union(['always', 'ifnewer', 'ifolder', 'never'].map((s) => Type.Literal(s)))),
    delete: Type.Optional(Type.Boolean()),
    verify: Type.Optional(Type.Boolean()),
    asFiles: Type.Optional(
      Type.Boolean({
        description:
          "restore plugins' entries (a bpipe dump) as plain files under the target; no plugin runs",
      }),
    ),
    pluginOptions: Type.Optional(
      Type.Array(Type.String({ minLength: 1, maxLength: 4096 }), {
        maxItems: 32,
        description:
          'directives whose options replace those stored, e.g. "bpipe:writer=psql otherdb" (administrators only: they name programs)',
      }),
    ),
  },
  { additionalProperties: false },
);

export const restoreRoutes: ApiRoutes = (app, { ctx }, done) => {
  const { catalog, runner } = ctx;

  app.post(
    '/api/v1/restores',
    {
      config: { permission: 'restore' },
      schema: {
        tags: ['restores'],
        operationId: 'startRestore',
        summary: 'Restore a restore point (or some paths of it) into a folder: 202 with a task',
        body: RestoreInput,
        // 404: a restore point in the recycle bin is gone for a tenant user.
        response: { 202: ACCEPTED_TASK, ...problems(404, 422) },
      },
    },
    async (request, reply) => {
      const c = demand(request, 'restore');
      const b = request.body as Static<typeof RestoreInput>;
      // Overrides name programs the server runs (a bpipe writer): only administrators give them.
      if (b.pluginOptions?.length) demand(request, 'admin');
      const params: RestoreParams = {
        snapshot: b.snapshot,
        target: b.target,
        ...(b.paths ? { paths: b.paths } : {}),
        ...(b.replace ? { replace: b.replace as NonNullable<RestoreParams['replace']> } : {}),
        ...(b.delete ? { delete: true } : {}),
        ...(b.verify ? { verify: true } : {}),
        ...(b.asFiles ? { asFiles: true } : {}),
        ...(b.pluginOptions?.length ? { pluginOptions: b.pluginOptions } : {}),
      };
      const { run, task } = await startRestore(catalog, c, b.repository, params, await guardOf(ctx, c));
      runner.poke();
      return accepted(reply, taskView({ ...task, run }, c));
    },
  );

  done();
};
