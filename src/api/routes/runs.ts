/**
 * Runs (backups and restores) of the caller's tenant: their list, statistics, log and live
 * events, cancelling one, and the dashboard's summary.
 *
 * | Route                         | Who may call it                                               |
 * |-------------------------------|---------------------------------------------------------------|
 * | GET  /api/v1/runs             | any role (viewer and up)                                      |
 * | GET  /api/v1/runs/{id}        | any role                                                      |
 * | GET  /api/v1/runs/{id}/log    | any role                                                      |
 * | GET  /api/v1/runs/{id}/events | any role                                                      |
 * | POST /api/v1/runs/{id}/cancel | a backup: operator and up; a restore: restore-operator and up |
 * | GET  /api/v1/dashboard        | any role                                                      |
 *
 * Roles: viewer < restore-operator < operator < administrator (src/api/auth.ts); the system
 * administrator may call every route, in whatever tenant it is logged on to.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { RunRow } from '../../catalog/index.ts';
import { CairnError } from '../../errors.ts';
import { OVERDUE_GRACE_SECONDS, watchJobs } from '../../jobs/index.ts';
import { answer, DashboardSchema, Page, problems, ref, RunLogSchema, RunSchema } from '../answers.ts';
import { callerOf, demand, type ApiContext, type ApiRoutes, type Caller } from '../context.ts';
import { runView } from '../views.ts';
import { Id, Paging } from './schemas.ts';

const RunQuery = Type.Object(
  {
    ...Paging,
    job: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    state: Type.Optional(
      Type.Union(
        ['queued', 'running', 'success', 'warning', 'failed', 'canceled'].map((s) => Type.Literal(s)),
      ),
    ),
    kind: Type.Optional(Type.Union([Type.Literal('backup'), Type.Literal('restore')])),
    since: Type.Optional(Type.String({ pattern: '^[0-9]{4}-[0-9]{2}-[0-9]{2}', maxLength: 40 })),
  },
  { additionalProperties: false },
);

/** The caller's tenant's run `id`, else NOT_FOUND. */
export async function runOf(ctx: ApiContext, c: Caller, id: string): Promise<RunRow> {
  const r = await ctx.catalog.run(c.tenantId, id);
  if (!r) throw new CairnError('NOT_FOUND', `No run ${id} in this tenant`);
  return r;
}

/**
 * Cancels a queued or running run (a restore needs `restore`): 202 with the run, or CONFLICT
 * when it has ended. The caller has been checked for `operate` or `restore` already.
 */
export async function cancelRun(
  ctx: ApiContext,
  request: FastifyRequest,
  id: string,
  reply: FastifyReply,
): Promise<FastifyReply> {
  const { catalog, runner } = ctx;
  const c = callerOf(request);
  const r = await runOf(ctx, c, id);
  if (r.kind === 'restore') demand(request, 'restore');
  const outcome = await catalog.requestCancel(c.tenantId, id);
  if (outcome === 'ended')
    throw new CairnError('CONFLICT', `Cannot cancel run ${id}: it has ended (${r.state})`);
  if (outcome === 'requested') runner.cancel(id);
  await catalog.audit({ tenantId: c.tenantId, user: c.userName, action: 'run.cancel', object: id });
  return reply.code(202).send(runView(await runOf(ctx, c, id), runner.live(id), c));
}

export const runRoutes: ApiRoutes = (app, { ctx }, done) => {
  const { catalog, runner } = ctx;
  // Event streams end when the server stops: an open one would hold its stop up for good.
  const streams = new Set<() => void>();
  app.addHook('preClose', (next) => {
    for (const close of [...streams]) close();
    next();
  });

  app.get(
    '/api/v1/runs',
    {
      config: { permission: 'read' },
      schema: {
        tags: ['runs'],
        operationId: 'listRuns',
        summary: 'Runs, newest first, with filters',
        querystring: RunQuery,
        response: { 200: answer(Page(ref(RunSchema)), 'A page of runs') },
      },
    },
    async (request) => {
      const c = callerOf(request);
      const q = request.query as Static<typeof RunQuery>;
      const p = await catalog.listRuns(c.tenantId, {
        ...(q.skip !== undefined ? { skip: q.skip } : {}),
        ...(q.limit !== undefined ? { limit: q.limit } : {}),
        ...(q.job ? { jobId: q.job } : {}),
        ...(q.state ? { state: q.state } : {}),
        ...(q.kind ? { kind: q.kind } : {}),
        ...(q.since ? { since: q.since } : {}),
      });
      return { data: p.data.map((r) => runView(r, runner.live(r.id), c)), pagination: p.pagination };
    },
  );

  app.get(
    '/api/v1/runs/:id',
    {
      config: { permission: 'read' },
      schema: {
        tags: ['runs'],
        operationId: 'getRun',
        summary: 'A run with its statistics and live progress',
        params: Id,
        response: { 200: answer(ref(RunSchema), 'The run') },
      },
    },
    async (request) => {
      const c = callerOf(request);
      const r = await runOf(ctx, c, (request.params as { id: string }).id);
      return runView(r, runner.live(r.id), c);
    },
  );

  app.get(
    '/api/v1/runs/:id/log',
    {
      config: { permission: 'read' },
      schema: {
        tags: ['runs'],
        operationId: 'getRunLog',
        summary: 'The run’s log; ?after=SEQ returns only newer entries',
        params: Id,
        response: { 200: answer(ref(RunLogSchema), 'Log entries, oldest first') },
        querystring: Type.Object(
          {
            after: Type.Optional(Type.Integer({ minimum: 0 })),
            limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 5000 })),
          },
          { additionalProperties: false },
        ),
      },
    },
    async (request) => {
      const c = callerOf(request);
      const r = await runOf(ctx, c, (request.params as { id: string }).id);
      const q = request.query as { after?: number; limit?: number };
      const rows = await catalog.runLog(r.id, q.after ?? 0, q.limit ?? 1000);
      return {
        data: rows.map((l) => ({ seq: l.seq, at: l.at, level: l.level, message: l.message })),
        total: r.log_count,
      };
    },
  );

  app.post(
    '/api/v1/runs/:id/cancel',
    {
      config: { permission: 'read' },
      schema: {
        tags: ['runs'],
        operationId: 'cancelRun',
        summary: 'Cancel a queued or running run',
        params: Id,
        response: {
          202: answer(ref(RunSchema), 'Cancelling: the run, which ends as canceled'),
          ...problems(409),
        },
      },
    },
    async (request, reply) => {
      const c = callerOf(request);
      const r = await runOf(ctx, c, (request.params as { id: string }).id);
      demand(request, r.kind === 'restore' ? 'restore' : 'operate');
      return cancelRun(ctx, request, r.id, reply);
    },
  );

  app.get(
    '/api/v1/runs/:id/events',
    {
      config: { permission: 'read' },
      schema: {
        tags: ['runs'],
        operationId: 'streamRunEvents',
        summary: 'Server-sent events: progress, log and state of a run until it ends',
        params: Id,
        response: {
          200: {
            description:
              'A text/event-stream: `run` events (a Run, first at once and at each change of state), `progress` (phase, files, bytes, currentFile, rate, elapsedSeconds, samples) and `log` (level, message, at); it ends with the run',
            content: { 'text/event-stream': { schema: { type: 'string' } } },
          },
        },
      },
    },
    async (request, reply) => {
      const c = callerOf(request);
      const r = await runOf(ctx, c, (request.params as { id: string }).id);
      reply.hijack();
      const raw = reply.raw;
      raw.writeHead(200, {
        'content-type': 'text/event-stream',
        'cache-control': 'no-store',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
      });
      const send = (event: string, data: unknown) =>
        raw.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
      send('run', runView(r, runner.live(r.id), c));
      if (r.state !== 'queued' && r.state !== 'running') {
        raw.end();
        return;
      }
      const onProgress = (p: { runId: string; tenantId: string }) => {
        if (p.runId === r.id) send('progress', { ...p, tenantId: undefined });
      };
      const onLog = (l: { runId: string; level: string; message: string; at: string }) => {
        if (l.runId === r.id) send('log', { level: l.level, message: l.message, at: l.at });
      };
      const onState = (s: { id: string; state: string }) => {
        if (s.id !== r.id) return;
        void runOf(ctx, c, r.id).then((now) => {
          send('run', runView(now, runner.live(r.id), c));
          if (now.state !== 'queued' && now.state !== 'running') close();
        });
      };
      const keepAlive = setInterval(() => raw.write(': keep-alive\n\n'), 15000);
      const close = () => {
        streams.delete(close);
        clearInterval(keepAlive);
        runner.off('progress', onProgress);
        runner.off('log', onLog);
        runner.off('state', onState);
        raw.end();
      };
      runner.on('progress', onProgress);
      runner.on('log', onLog);
      runner.on('state', onState);
      streams.add(close);
      request.raw.on('close', close);
    },
  );

  app.get(
    '/api/v1/dashboard',
    {
      config: { permission: 'read' },
      schema: {
        tags: ['runs'],
        operationId: 'getDashboard',
        summary:
          'Runs of the last 24 hours by state, the next scheduled runs, and the overdue jobs (no successful run within their expected interval)',
        response: { 200: answer(ref(DashboardSchema), 'The summary') },
      },
    },
    async (request) => {
      const c = callerOf(request);
      const now = catalog.now();
      const since = new Date(now.getTime() - 24 * 3600 * 1000).toISOString();
      const jobs = await catalog.listJobs(c.tenantId, { limit: 500 });
      const graceMs = (ctx.overdueGraceSeconds ?? OVERDUE_GRACE_SECONDS) * 1000;
      const overdue = (await watchJobs(catalog, { now, graceMs, tenantId: c.tenantId }))
        .filter((w) => w.overdue)
        .sort((a, b) => a.dueAt.localeCompare(b.dueAt));
      return {
        since,
        runs: await catalog.runCounts(c.tenantId, since),
        nextRuns: jobs.data
          .filter((j) => j.next_run_at && j.enabled === 1)
          .sort((a, b) => (a.next_run_at ?? '').localeCompare(b.next_run_at ?? ''))
          .slice(0, 10)
          .map((j) => ({ job: { id: j.id, name: j.name }, at: j.next_run_at })),
        overdue: overdue.map((w) => ({
          job: { id: w.job.id, name: w.job.name },
          lastSuccess: w.lastSuccess,
          dueAt: w.dueAt,
          overdueAt: w.overdueAt,
        })),
      };
    },
  );

  done();
};
