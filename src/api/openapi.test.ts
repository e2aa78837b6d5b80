/**
 * The document's rules and the answer checker on a small Fastify server of their own (over real
 * HTTP on 127.0.0.1): a route without an operation id or a success schema does not start; the
 * errors of a route's kind are added; an answer whose field its schema does not list (which the
 * serializer would drop), a null given as a string, or an undocumented status are caught.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Type } from '@sinclair/typebox';
import Fastify, { type FastifyInstance, type RouteOptions } from 'fastify';
import { answer, noContent, problems, ref, SHARED_SCHEMAS, TaskSchema } from './answers.ts';
import { answerChecker, difference, documentRoute } from './openapi.ts';
import { problemFor, sendProblem } from './problem.ts';

function route(schema: Record<string, unknown> | undefined, extra: Partial<RouteOptions> = {}): RouteOptions {
  const r: RouteOptions = { method: 'GET', url: '/api/v1/things/:id', handler: () => ({}), ...extra };
  if (schema) r.schema = schema;
  return r;
}

describe('documentRoute', () => {
  it('refuses an API route without a schema, an operation id, a known tag or a success', () => {
    const ids = new Map<string, string>();
    assert.throws(() => documentRoute(route(undefined), ids), /no schema/);
    const ok = { 200: answer(Type.Object({ a: Type.String() }), 'a thing') };
    assert.throws(() => documentRoute(route({ tags: ['jobs'], response: ok }), ids), /operationId/);
    assert.throws(
      () => documentRoute(route({ operationId: 'get_thing', tags: ['jobs'], response: ok }), ids),
      /camelCase/,
    );
    assert.throws(
      () => documentRoute(route({ operationId: 'getThing', tags: ['nope'], response: ok }), ids),
      /tags/,
    );
    assert.throws(
      () => documentRoute(route({ operationId: 'getThing', tags: ['jobs'], response: problems(409) }), ids),
      /no 2xx/,
    );
    // Hidden routes and files outside the API need nothing.
    documentRoute(route({ hide: true }), ids);
    documentRoute(route(undefined, { url: '/index.html' }), ids);
  });

  it('adds the errors of its kind, and refuses an operation id given twice', () => {
    const ids = new Map<string, string>();
    const get = route({
      operationId: 'getThing',
      tags: ['jobs'],
      params: Type.Object({ id: Type.String() }),
      response: { 200: answer(Type.Object({}), 'a thing'), ...problems(409) },
    });
    documentRoute(get, ids);
    const codes = Object.keys((get.schema as { response: object }).response).sort();
    assert.deepEqual(codes, ['200', '400', '401', '403', '404', '409', '500', '503', 'default']);
    const post = route(
      { operationId: 'logOn', tags: ['session'], response: { 201: answer(Type.Object({}), 'made') } },
      { method: 'POST', url: '/api/v1/open', config: { permission: 'public' } },
    );
    documentRoute(post, ids);
    assert.deepEqual(Object.keys((post.schema as { response: object }).response).sort(), [
      '201',
      '400',
      '413',
      '415',
      '500',
      '503',
      'default',
    ]);
    assert.throws(
      () =>
        documentRoute(
          route(
            { operationId: 'getThing', tags: ['jobs'], response: { 204: noContent('gone') } },
            { method: 'DELETE' },
          ),
          ids,
        ),
      /also GET/,
    );
  });
});

/** A server with the checker and one route answering what `give` returns. */
async function serve(
  response: Record<string, unknown>,
  give: () => { status: number; body?: unknown },
): Promise<{ app: FastifyInstance; url: string; failures: string[] }> {
  const failures: string[] = [];
  const app = Fastify();
  for (const s of SHARED_SCHEMAS) app.addSchema(s);
  answerChecker(app, (line) => failures.push(line));
  app.setErrorHandler((err, request, reply) => sendProblem(reply, problemFor(err, request)));
  app.addHook('onRoute', (r) => documentRoute(r, new Map()));
  app.get(
    '/api/v1/things/:id',
    { config: { permission: 'public' }, schema: { operationId: 'getThing', tags: ['jobs'], response } },
    async (_request, reply) => {
      const { status, body } = give();
      return reply.code(status).send(body);
    },
  );
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  assert.ok(address && typeof address === 'object');
  return { app, url: `http://127.0.0.1:${address.port}/api/v1/things/1`, failures };
}

describe('answerChecker', () => {
  const Thing = Type.Object({ name: Type.String(), note: Type.Union([Type.String(), Type.Null()]) });

  it('passes an answer its schema describes, and a documented 204', async () => {
    let give: { status: number; body?: unknown } = { status: 200, body: { name: 'a', note: null } };
    const s = await serve({ 200: answer(Thing, 'a thing'), 204: noContent('none') }, () => give);
    try {
      const res = await fetch(s.url);
      assert.equal(res.status, 200);
      assert.deepEqual(await res.json(), { name: 'a', note: null });
      give = { status: 204 };
      assert.equal((await fetch(s.url)).status, 204);
      assert.deepEqual(s.failures, []);
    } finally {
      await s.app.close();
    }
  });

  it('catches a field the schema does not list, which the serializer would drop', async () => {
    const s = await serve({ 200: answer(Thing, 'a thing') }, () => ({
      status: 200,
      body: { name: 'a', note: 'n', secretlyDropped: 1 },
    }));
    try {
      const res = await fetch(s.url);
      assert.equal(res.status, 500);
      const p = (await res.json()) as { code: string; detail: string };
      assert.equal(p.code, 'INTERNAL');
      assert.match(
        p.detail,
        /GET \/api\/v1\/things\/:id answered 200: the serializer changed it: answer\.secretlyDropped was dropped/,
      );
      assert.equal(s.failures.length, 1);
    } finally {
      await s.app.close();
    }
  });

  it('catches a value of another type and a required field left out', async () => {
    const Strict = Type.Object({ name: Type.String(), count: Type.Integer() });
    let body: unknown = { name: 'a', count: 1.5 };
    const s = await serve({ 200: answer(Strict, 'a thing') }, () => ({ status: 200, body }));
    try {
      assert.equal((await fetch(s.url)).status, 500);
      assert.match(s.failures[0] ?? '', /answer\/count must be integer/);
      body = { name: 'a' };
      assert.equal((await fetch(s.url)).status, 500);
      assert.match(s.failures.at(-1) ?? '', /must have required property 'count'/);
    } finally {
      await s.app.close();
    }
  });

  it('catches a status the route does not document, and checks a named schema by reference', async () => {
    const task = {
      id: 't',
      operation: 'StartJob',
      state: 'running',
      result: null,
      message: null,
      createdAt: '2026-01-01T00:00:00.000Z',
      links: [],
    };
    let give = { status: 202, body: task as unknown };
    const s = await serve({ 202: answer(ref(TaskSchema), 'a task') }, () => give);
    try {
      assert.equal((await fetch(s.url)).status, 202);
      assert.deepEqual(s.failures, []);
      give = { status: 202, body: { ...task, state: 'sleeping' } };
      assert.equal((await fetch(s.url)).status, 500);
      assert.match(s.failures[0] ?? '', /answer\/state must match a schema in anyOf/);
      give = { status: 201, body: task };
      assert.equal((await fetch(s.url)).status, 500);
      assert.match(s.failures.at(-1) ?? '', /answered 201: the status is not in its response schema/);
    } finally {
      await s.app.close();
    }
  });
});

describe('difference', () => {
  it('names the first place two answers differ', () => {
    assert.equal(difference({ a: [1, { b: 2 }] }, { a: [1, { b: 3 }] }, 'x'), 'x.a[1].b is 3, was 2');
    assert.equal(difference({ a: 1, b: 2 }, { a: 1 }, 'x'), 'x.b was dropped (its schema does not list it)');
    assert.equal(difference({ a: null }, { a: '' }, 'x'), 'x.a is "", was null');
  });
});
