/**
 * Asynchronous tasks: an action that takes time (a run, a restore) answers 202 with a task, which
 * the client polls until it is finished.
 *
 * | Route                  | Who may call it                                                    |
 * |------------------------|--------------------------------------------------------------------|
 * | GET /api/v1/tasks/{id} | any role (viewer and up); another tenant's task is not found (404) |
 *
 * Roles: viewer < restore-operator < operator < administrator (src/api/auth.ts); the system
 * administrator may call every route, in whatever tenant it is logged on to.
 */
import type { FastifyReply } from 'fastify';
import { CairnError } from '../../errors.ts';
import { callerOf, type ApiRoutes } from '../context.ts';
import { answer, ref, TaskSchema } from '../answers.ts';
import { API, taskView } from '../views.ts';
import { Id } from './schemas.ts';

/** The answer of an action: 202, the task, and where to poll it. */
export function accepted(reply: FastifyReply, view: ReturnType<typeof taskView>): FastifyReply {
  return reply.code(202).header('location', `${API}/tasks/${view.id}`).send(view);
}

export const taskRoutes: ApiRoutes = (app, { ctx }, done) => {
  const { catalog } = ctx;

  app.get(
    '/api/v1/tasks/:id',
    {
      config: { permission: 'read' },
      schema: {
        tags: ['tasks'],
        operationId: 'getTask',
        summary: 'An asynchronous task: running, then finished with a result',
        params: Id,
        response: { 200: answer(ref(TaskSchema), 'The task') },
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

  done();
};
