/**
 * The restore point simulator (docs/simulator.md): the storage a backup style and a retention
 * need, from figures given or measured from a job's runs. Nothing is changed.
 *
 * | Route                             | Who may call it          |
 * |-----------------------------------|--------------------------|
 * | POST /api/v1/simulations          | any role (viewer and up) |
 * | POST /api/v1/jobs/{id}/simulation | any role                 |
 *
 * Roles: viewer < restore-operator < operator < administrator (src/api/auth.ts); the system
 * administrator may call every route, in whatever tenant it is logged on to.
 */
import { Type } from '@sinclair/typebox';
import { CairnError } from '../../errors.ts';
import { measure } from '../../jobs/index.ts';
import { simulate, validateInput } from '../../simulate/index.ts';
import { answer, MeasuredSimulationSchema, problems, ref, SimulationSchema } from '../answers.ts';
import { callerOf, type ApiRoutes } from '../context.ts';
import { problemOf, sendProblem } from '../problem.ts';
import { jobOf } from './jobs.ts';
import { Id } from './schemas.ts';

export const simulationRoutes: ApiRoutes = (app, { ctx }, done) => {
  const { catalog } = ctx;

  app.post(
    '/api/v1/simulations',
    {
      config: { permission: 'read' },
      schema: {
        tags: ['simulations'],
        summary:
          'Run the restore point simulator: the storage a backup style and retention need (docs/simulator.md)',
        operationId: 'runSimulation',
        body: Type.Object({}, { additionalProperties: true }),
        response: { 200: answer(ref(SimulationSchema), 'The storage needed, run by run') },
      },
    },
    (request, reply) => {
      // The simulator's own validation names each field (points, gfs.weekly ...); no clock in the
      // engine, so "tomorrow 22:00 UTC" is chosen here when the input gives no start.
      const tomorrow = new Date(catalog.now().getTime() + 24 * 3600 * 1000);
      const defaultStart = `${tomorrow.toISOString().slice(0, 10)}T22:00`;
      const v = validateInput(request.body, { defaultStart });
      if (!v.ok) {
        const errors = v.errors.map((e) => ({
          path: e.path ? `body.${e.path}` : 'body',
          message: e.message,
        }));
        const first = errors[0];
        return sendProblem(
          reply,
          problemOf(
            'USAGE',
            first ? `${first.path}: ${first.message}` : 'the input is not valid',
            request.url,
            { errors },
          ),
        );
      }
      return simulate(v.input);
    },
  );

  app.post(
    '/api/v1/jobs/:id/simulation',
    {
      config: { permission: 'read' },
      schema: {
        tags: ['simulations'],
        summary:
          "The simulator in measured mode: change rate, reduction, size and interval from the job's runs",
        operationId: 'simulateJob',
        params: Id,
        body: Type.Object({}, { additionalProperties: true }),
        response: {
          200: answer(ref(MeasuredSimulationSchema), 'What was measured, and the storage needed'),
          ...problems(409),
        },
      },
    },
    async (request, reply) => {
      const c = callerOf(request);
      const job = await jobOf(ctx, c, (request.params as { id: string }).id);
      const runs = await catalog.listRuns(c.tenantId, { jobId: job.id, kind: 'backup', limit: 100 });
      const m = measure(runs.data);
      if (!m)
        throw new CairnError('CONFLICT', `Cannot measure job ${job.name}: it has no successful backup yet`);
      const overrides = request.body as Record<string, unknown>;
      const tomorrow = new Date(catalog.now().getTime() + 24 * 3600 * 1000);
      const v = validateInput(
        {
          style: 'cairn',
          usedBytes: m.usedBytes,
          changePercent: m.changePercent,
          reductionPercent: m.reductionPercent,
          intervalHours: m.intervalHours,
          ...overrides,
        },
        { defaultStart: `${tomorrow.toISOString().slice(0, 10)}T22:00` },
      );
      if (!v.ok) {
        const errors = v.errors.map((e) => ({
          path: e.path ? `body.${e.path}` : 'body',
          message: e.message,
        }));
        return sendProblem(
          reply,
          problemOf(
            'USAGE',
            `${errors[0]?.path ?? 'body'}: ${errors[0]?.message ?? 'not valid'}`,
            request.url,
            { errors },
          ),
        );
      }
      return { measured: m, ...simulate(v.input) };
    },
  );

  done();
};
