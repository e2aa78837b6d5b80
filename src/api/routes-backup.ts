/** Repositories and their restore points, jobs, runs (with log and live events), tasks, restores. */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { CairnError } from '../errors.ts';
import {
  measure,
  createJob,
  createRepository,
  deleteJob,
  JobInputSchema,
  LevelSchema,
  nextRuns,
  openRepository,
  refOf,
  RepositoryInputSchema,
  ScheduleSchema,
  startJob,
  startRestore,
  updateJob,
  type JobInput,
  type Level,
  type RepositoryInput,
  type RestoreParams,
} from '../jobs/index.ts';
import { simulate, validateInput } from '../simulate/index.ts';
import { callerOf, demand, guardOf, type ApiContext, type Caller } from './context.ts';
import { problemOf, sendProblem } from './problem.ts';
import { API, jobView, repositoryView, runView, taskView } from './views.ts';

const Id = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) }, { additionalProperties: false });
const Paging = {
  skip: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000 })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500 })),
};
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

const StartInput = Type.Object(
  { level: Type.Optional(LevelSchema) },
  { additionalProperties: false, description: 'what this run changes of its job' },
);

const SchedulePreview = Type.Object(
  { schedule: ScheduleSchema, count: Type.Optional(Type.Integer({ minimum: 1, maximum: 50 })) },
  { additionalProperties: false },
);

function accepted(reply: FastifyReply, view: ReturnType<typeof taskView>): FastifyReply {
  return reply.code(202).header('location', `${API}/tasks/${view.id}`).send(view);
}

export function registerBackupRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const { catalog, runner } = ctx;

  const repositoryOf = async (c: Caller, id: string) => {
    const r = await catalog.repository(c.tenantId, id);
    if (!r) throw new CairnError('NOT_FOUND', `No repository ${id} in this tenant`);
    return r;
  };

  // --- repositories ---

  app.get(
    '/api/v1/repositories',
    {
      config: { permission: 'read' },
      schema: {
        tags: ['repositories'],
        summary: 'Repositories of this tenant',
        querystring: Type.Object(Paging, { additionalProperties: false }),
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
        summary: 'Register (and with create: true, initialise) a repository',
        body: RepositoryInputSchema,
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
      schema: { tags: ['repositories'], summary: 'A repository', params: Id },
    },
    async (request) => {
      const c = callerOf(request);
      return repositoryView(await repositoryOf(c, (request.params as { id: string }).id), c);
    },
  );

  app.delete(
    '/api/v1/repositories/:id',
    {
      config: { permission: 'admin' },
      schema: {
        tags: ['repositories'],
        summary: 'Forget a repository (its data stays where it is)',
        params: Id,
      },
    },
    async (request, reply) => {
      const c = demand(request, 'admin');
      const r = await repositoryOf(c, (request.params as { id: string }).id);
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
    '/api/v1/repositories/:id/snapshots',
    {
      config: { permission: 'read' },
      schema: {
        tags: ['repositories'],
        summary: 'Restore points in the repository, newest first (read from the repository itself)',
        params: Id,
        querystring: Type.Object(
          { ...Paging, job: Type.Optional(Type.String({ maxLength: 64 })) },
          { additionalProperties: false },
        ),
      },
    },
    async (request) => {
      const c = callerOf(request);
      const r = await repositoryOf(c, (request.params as { id: string }).id);
      const q = request.query as { skip?: number; limit?: number; job?: string };
      const open = await openRepository(refOf(r, ctx.tenancy), {
        lock: 'none',
        command: 'list',
        index: false,
      });
      try {
        const { snapshots, damaged } = await open.repo.listSnapshots();
        const filtered = snapshots.filter((s) => !q.job || s.tags.includes(`job:${q.job}`)).reverse();
        const skip = q.skip ?? 0;
        const limit = q.limit ?? 50;
        const data = filtered.slice(skip, skip + limit).map((s) => ({
          id: s.id,
          time: s.time,
          host: s.host,
          paths: s.paths,
          tags: s.tags,
          job: s.tags.find((t) => t.startsWith('job:'))?.slice(4) ?? null,
          summary: s.summary ?? null,
          links: [
            { rel: 'self', href: `${API}/repositories/${r.id}/snapshots/${s.id}`, method: 'GET' },
            { rel: 'restore', href: `${API}/restores`, method: 'POST' },
          ],
        }));
        return {
          data,
          pagination: { total: filtered.length, count: data.length, skip, limit },
          // Snapshot files that cannot be read, whatever the job filter: their tags are unknown.
          damaged: damaged.map((d) => ({ id: d.id, reason: d.reason, code: d.error.code })),
        };
      } finally {
        await open.close();
      }
    },
  );

  app.get(
    '/api/v1/repositories/:id/snapshots/:snapshot',
    {
      config: { permission: 'read' },
      schema: {
        tags: ['repositories'],
        summary: 'One restore point',
        params: Type.Object(
          { id: Type.String({ maxLength: 64 }), snapshot: Type.String({ minLength: 1, maxLength: 64 }) },
          { additionalProperties: false },
        ),
      },
    },
    async (request) => {
      const c = callerOf(request);
      const p = request.params as { id: string; snapshot: string };
      const r = await repositoryOf(c, p.id);
      const open = await openRepository(refOf(r, ctx.tenancy), {
        lock: 'none',
        command: 'list',
        index: false,
      });
      try {
        const s = await open.repo.findSnapshot(p.snapshot);
        return {
          id: s.id,
          time: s.time,
          host: s.host,
          paths: s.paths,
          tags: s.tags,
          summary: s.summary ?? null,
          links: [{ rel: 'restore', href: `${API}/restores`, method: 'POST' }],
        };
      } finally {
        await open.close();
      }
    },
  );

  // --- jobs ---

  const jobOf = async (c: Caller, id: string) => {
    const j = await catalog.job(c.tenantId, id);
    if (!j) throw new CairnError('NOT_FOUND', `No job ${id} in this tenant`);
    return j;
  };
  const fullJob = async (c: Caller, id: string) => {
    const j = await jobOf(c, id);
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
        summary: 'Jobs of this tenant',
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
      schema: { tags: ['jobs'], summary: 'Create a job', body: JobInputSchema },
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
      schema: { tags: ['jobs'], summary: 'A job, with its next and last run', params: Id },
    },
    async (request) => fullJob(callerOf(request), (request.params as { id: string }).id),
  );

  app.put(
    '/api/v1/jobs/:id',
    {
      config: { permission: 'admin' },
      schema: { tags: ['jobs'], summary: 'Replace a job’s definition', params: Id, body: JobInputSchema },
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
        summary: 'Delete a job (its restore points stay in the repository)',
        params: Id,
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
        summary: 'Start a run now (optionally at another level: {"level": "full"}): 202 with a task to poll',
        params: Id,
        body: StartInput,
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
      schema: { tags: ['jobs'], summary: 'Cancel the job’s queued or running run', params: Id },
    },
    async (request, reply) => {
      const c = demand(request, 'operate');
      const j = await jobOf(c, (request.params as { id: string }).id);
      const active = await catalog.activeRunOf(j.id);
      if (!active)
        throw new CairnError('CONFLICT', `Cannot cancel job ${j.name}: it has no queued or running run`);
      return cancelRun(c, active.id, reply);
    },
  );

  app.post(
    '/api/v1/schedules/preview',
    {
      config: { permission: 'read' },
      schema: { tags: ['jobs'], summary: 'The next run times of a schedule', body: SchedulePreview },
    },
    (request) => {
      const b = request.body as Static<typeof SchedulePreview>;
      return { nextRuns: nextRuns(b.schedule, catalog.now(), b.count ?? 5).map((d) => d.toISOString()) };
    },
  );

  // --- runs ---

  const runOf = async (c: Caller, id: string) => {
    const r = await catalog.run(c.tenantId, id);
    if (!r) throw new CairnError('NOT_FOUND', `No run ${id} in this tenant`);
    return r;
  };

  const cancelRun = async (c: Caller, id: string, reply: FastifyReply) => {
    const r = await runOf(c, id);
    if (r.kind === 'restore') demand({ caller: c } as FastifyRequest, 'restore');
    const outcome = await catalog.requestCancel(c.tenantId, id);
    if (outcome === 'ended')
      throw new CairnError('CONFLICT', `Cannot cancel run ${id}: it has ended (${r.state})`);
    if (outcome === 'requested') runner.cancel(id);
    await catalog.audit({ tenantId: c.tenantId, user: c.userName, action: 'run.cancel', object: id });
    return reply.code(202).send(runView(await runOf(c, id), runner.live(id), c));
  };

  app.get(
    '/api/v1/runs',
    {
      config: { permission: 'read' },
      schema: { tags: ['runs'], summary: 'Runs, newest first, with filters', querystring: RunQuery },
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
      schema: { tags: ['runs'], summary: 'A run with its statistics and live progress', params: Id },
    },
    async (request) => {
      const c = callerOf(request);
      const r = await runOf(c, (request.params as { id: string }).id);
      return runView(r, runner.live(r.id), c);
    },
  );

  app.get(
    '/api/v1/runs/:id/log',
    {
      config: { permission: 'read' },
      schema: {
        tags: ['runs'],
        summary: 'The run’s log; ?after=SEQ returns only newer entries',
        params: Id,
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
      const r = await runOf(c, (request.params as { id: string }).id);
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
      schema: { tags: ['runs'], summary: 'Cancel a queued or running run', params: Id },
    },
    async (request, reply) => {
      const c = callerOf(request);
      const r = await runOf(c, (request.params as { id: string }).id);
      demand(request, r.kind === 'restore' ? 'restore' : 'operate');
      return cancelRun(c, r.id, reply);
    },
  );

  app.get(
    '/api/v1/runs/:id/events',
    {
      config: { permission: 'read' },
      schema: {
        tags: ['runs'],
        summary: 'Server-sent events: progress, log and state of a run until it ends',
        params: Id,
      },
    },
    async (request, reply) => {
      const c = callerOf(request);
      const r = await runOf(c, (request.params as { id: string }).id);
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
        void runOf(c, r.id).then((now) => {
          send('run', runView(now, runner.live(r.id), c));
          if (now.state !== 'queued' && now.state !== 'running') close();
        });
      };
      const keepAlive = setInterval(() => raw.write(': keep-alive\n\n'), 15000);
      const close = () => {
        clearInterval(keepAlive);
        runner.off('progress', onProgress);
        runner.off('log', onLog);
        runner.off('state', onState);
        raw.end();
      };
      runner.on('progress', onProgress);
      runner.on('log', onLog);
      runner.on('state', onState);
      request.raw.on('close', close);
    },
  );

  // --- tasks and restores ---

  app.get(
    '/api/v1/tasks/:id',
    {
      config: { permission: 'read' },
      schema: {
        tags: ['tasks'],
        summary: 'An asynchronous task: running, then finished with a result',
        params: Id,
      },
    },
    async (request) => {
      const c = callerOf(request);
      const t = await catalog.task(c.tenantId, (request.params as { id: string }).id);
      if (!t)
        throw new CairnError('NOT_FOUND', `No task ${(request.params as { id: string }).id} in this tenant`);
      return taskView(t, c);
    },
  );

  app.post(
    '/api/v1/restores',
    {
      config: { permission: 'restore' },
      schema: {
        tags: ['restores'],
        summary: 'Restore a restore point (or some paths of it) into a folder: 202 with a task',
        body: RestoreInput,
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

  app.post(
    '/api/v1/simulations',
    {
      config: { permission: 'read' },
      schema: {
        tags: ['simulations'],
        summary:
          'Run the restore point simulator: the storage a backup style and retention need (docs/simulator.md)',
        body: Type.Object({}, { additionalProperties: true }),
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
        params: Id,
        body: Type.Object({}, { additionalProperties: true }),
      },
    },
    async (request, reply) => {
      const c = callerOf(request);
      const job = await jobOf(c, (request.params as { id: string }).id);
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

  app.get(
    '/api/v1/dashboard',
    {
      config: { permission: 'read' },
      schema: { tags: ['runs'], summary: 'Runs of the last 24 hours by state, and the next scheduled runs' },
    },
    async (request) => {
      const c = callerOf(request);
      const since = new Date(catalog.now().getTime() - 24 * 3600 * 1000).toISOString();
      const jobs = await catalog.listJobs(c.tenantId, { limit: 500 });
      return {
        since,
        runs: await catalog.runCounts(c.tenantId, since),
        nextRuns: jobs.data
          .filter((j) => j.next_run_at && j.enabled === 1)
          .sort((a, b) => (a.next_run_at ?? '').localeCompare(b.next_run_at ?? ''))
          .slice(0, 10)
          .map((j) => ({ job: { id: j.id, name: j.name }, at: j.next_run_at })),
      };
    },
  );
}
