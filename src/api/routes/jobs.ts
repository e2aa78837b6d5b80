/**
 * Jobs of the caller's tenant: their definitions, starting and cancelling their runs, and the
 * next run times of a schedule.
 *
 * | Route                            | Who may call it                                              |
 * |----------------------------------|--------------------------------------------------------------|
 * | GET    /api/v1/jobs              | any role (viewer and up)                                     |
 * | POST   /api/v1/jobs              | administrator, within the tenant's source roots, scripts and |
 * |                                  | webhook allow-list (the system administrator: any)           |
 * | GET    /api/v1/jobs/{id}         | any role                                                     |
 * | PUT    /api/v1/jobs/{id}         | administrator, within the same limits as POST                |
 * | DELETE /api/v1/jobs/{id}         | administrator (its restore points stay)                      |
 * | POST   /api/v1/jobs/{id}/start   | operator and up                                              |
 * | POST   /api/v1/jobs/{id}/cancel  | operator and up                                              |
 * | POST   /api/v1/schedules/preview | any role                                                     |
 *
 * Roles: viewer < restore-operator < operator < administrator (src/api/auth.ts); the system
 * administrator may call every route, in whatever tenant it is logged on to.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { JobRow } from '../../catalog/index.ts';
import { CairnError } from '../../errors.ts';
import {
  createJob,
  deleteJob,
  JobInputSchema,
  LevelSchema,
  nextRuns,
  ScheduleSchema,
  startJob,
  updateJob,
  type JobInput,
  type Level,
} from '../../jobs/index.ts';
import {
  ACCEPTED_TASK,
  answer,
  JobSchema,
  LOCATION,
  noContent,
  Page,
  problems,
  ref,
  RunSchema,
  SchedulePreviewSchema,
} from '../answers.ts';
import { callerOf, demand, guardOf, type ApiContext, type ApiRoutes, type Caller } from '../context.ts';
import { API, jobView, taskView } from '../views.ts';
import { cancelRun } from './runs.ts';
import { Id, Paging } from './schemas.ts';
import { accepted } from './tasks.ts';

const StartInput = Type.Object(
  { level: Type.Optional(LevelSchema) },
  { additionalProperties: false, description: 'what this run changes of its job' },
);

const SchedulePreview = Type.Object(
  { schedule: ScheduleSchema, count: Type.Optional(Type.Integer({ minimum: 1, maximum: 50 })) },
  { additionalProperties: false },
);

/** The caller's tenant's job `id`, else NOT_FOUND. */
export async function jobOf(ctx: ApiContext, c: Caller, id: string): Promise<JobRow> {
  const j = await ctx.catalog.job(c.tenantId, id);
  if (!j) throw new CairnError('NOT_FOUND', `No job ${id} in this tenant`);
  return j;
}

export const jobRoutes: ApiRoutes = (app, { ctx }, done) => {
  const { catalog, runner } = ctx;

  const fullJob = async (c: Caller, id: string) => {
    const j = await jobOf(ctx, c, id);
    return jobView(
      j,
      await catalog.repository(c.tenantId, j.repository_id),
      await catalog.lastRun(c.tenantId, j.id),
      c,
    );
  };

  app.get(
    '/api/v1/jobs',
    {
      config: { permission: 'read' },
      schema: {
        tags: ['jobs'],
        operationId: 'listJobs',
        summary: 'Jobs of this tenant',
        response: { 200: answer(Page(ref(JobSchema)), 'A page of jobs') },
        querystring: Type.Object(
          { ...Paging, name: Type.Optional(Type.String({ maxLength: 64 })) },
          { additionalProperties: false },
        ),
      },
    },
    async (request) => {
      const c = callerOf(request);
      const p = await catalog.listJobs(c.tenantId, request.query as { skip?: number; name?: string });
      const data = [];
      for (const j of p.data)
        data.push(
          jobView(
            j,
            await catalog.repository(c.tenantId, j.repository_id),
            await catalog.lastRun(c.tenantId, j.id),
            c,
          ),
        );
      return { data, pagination: p.pagination };
    },
  );

  app.post(
    '/api/v1/jobs',
    {
      config: { permission: 'admin' },
      schema: {
        tags: ['jobs'],
        operationId: 'createJob',
        summary: 'Create a job',
        body: JobInputSchema,
        response: { 201: answer(ref(JobSchema), 'Created', LOCATION), ...problems(409, 422) },
      },
    },
    async (request, reply) => {
      const c = demand(request, 'admin');
      const job = await createJob(
        catalog,
        c,
        request.body as JobInput,
        'api',
        ctx.plugins,
        await guardOf(ctx, c),
      );
      return reply
        .code(201)
        .header('location', `${API}/jobs/${job.id}`)
        .send(await fullJob(c, job.id));
    },
  );

  app.get(
    '/api/v1/jobs/:id',
    {
      config: { permission: 'read' },
      schema: {
        tags: ['jobs'],
        operationId: 'getJob',
        summary: 'A job, with its next and last run',
        params: Id,
        response: { 200: answer(ref(JobSchema), 'The job') },
      },
    },
    async (request) => fullJob(callerOf(request), (request.params as { id: string }).id),
  );

  app.put(
    '/api/v1/jobs/:id',
    {
      config: { permission: 'admin' },
      schema: {
        tags: ['jobs'],
        operationId: 'replaceJob',
        summary: 'Replace a job’s definition',
        params: Id,
        body: JobInputSchema,
        response: { 200: answer(ref(JobSchema), 'The job as it is now'), ...problems(409, 422) },
      },
    },
    async (request) => {
      const c = demand(request, 'admin');
      const job = await updateJob(
        catalog,
        c,
        (request.params as { id: string }).id,
        request.body as JobInput,
        ctx.plugins,
        await guardOf(ctx, c),
      );
      return fullJob(c, job.id);
    },
  );

  app.delete(
    '/api/v1/jobs/:id',
    {
      config: { permission: 'admin' },
      schema: {
        tags: ['jobs'],
        operationId: 'deleteJob',
        summary: 'Delete a job (its restore points stay in the repository)',
        params: Id,
        response: { 204: noContent('Deleted; its restore points and runs stay'), ...problems(409) },
      },
    },
    async (request, reply) => {
      const c = demand(request, 'admin');
      await deleteJob(catalog, c, (request.params as { id: string }).id);
      return reply.code(204).send();
    },
  );

  app.post(
    '/api/v1/jobs/:id/start',
    {
      config: { permission: 'operate' },
      schema: {
        tags: ['jobs'],
        operationId: 'startJob',
        summary: 'Start a run now (optionally at another level: {"level": "full"}): 202 with a task to poll',
        params: Id,
        body: StartInput,
        'x-body-optional': true,
        response: { 202: ACCEPTED_TASK, ...problems(409) },
      },
      // The body is optional: none is {}.
      preValidation: (request, _reply, done) => {
        request.body ??= {};
        done();
      },
    },
    async (request, reply) => {
      const c = demand(request, 'operate');
      const { level } = request.body as { level?: Level };
      const { run, task } = await startJob(
        catalog,
        c,
        (request.params as { id: string }).id,
        level ? { level } : {},
      );
      runner.poke();
      return accepted(reply, taskView({ ...task, run }, c));
    },
  );

  app.post(
    '/api/v1/jobs/:id/cancel',
    {
      config: { permission: 'operate' },
      schema: {
        tags: ['jobs'],
        operationId: 'cancelJob',
        summary: 'Cancel the job’s queued or running run',
        params: Id,
        response: {
          202: answer(ref(RunSchema), 'Cancelling: the run, which ends as canceled'),
          ...problems(409),
        },
      },
    },
    async (request, reply) => {
      const c = demand(request, 'operate');
      const j = await jobOf(ctx, c, (request.params as { id: string }).id);
      const active = await catalog.activeRunOf(j.id);
      if (!active)
        throw new CairnError('CONFLICT', `Cannot cancel job ${j.name}: it has no queued or running run`);
      return cancelRun(ctx, request, active.id, reply);
    },
  );

  app.post(
    '/api/v1/schedules/preview',
    {
      config: { permission: 'read' },
      schema: {
        tags: ['jobs'],
        operationId: 'previewSchedule',
        summary: 'The next run times of a schedule',
        body: SchedulePreview,
        response: { 200: answer(ref(SchedulePreviewSchema), 'The next run times'), ...problems(422) },
      },
    },
    (request) => {
      const b = request.body as Static<typeof SchedulePreview>;
      return { nextRuns: nextRuns(b.schedule, catalog.now(), b.count ?? 5).map((d) => d.toISOString()) };
    },
  );

  done();
};
