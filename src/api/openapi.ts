/**
 * The OpenAPI document's rules, applied to every route as it is added, so that no route can be
 * left undocumented:
 *
 * - a route that is not hidden needs an `operationId` (camelCase, stable: generated clients name
 *   their methods after it), a tag and at least one 2xx answer with its schema (answers.ts);
 * - the problem+json answers a route can give by its kind are added to it: 401 and 403 where a
 *   logon is needed; 400 where it takes input; 413 and 415 where it takes a body; 404 where its
 *   path names an object; 500, 503 and a `default` problem everywhere. A route names the others
 *   it gives itself (`problems(409, 422)`).
 *
 * And, for the tests, `answerChecker`: every answer of a route is compared with its schema, so a
 * field a view returns but its schema does not list (which Fastify's serializer would silently
 * drop) or a status the route does not document is a failure, not a quiet loss.
 */
import { STATUS_CODES } from 'node:http';
import { isDeepStrictEqual } from 'node:util';
import { Ajv, type ValidateFunction } from 'ajv';
import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from 'fastify';
import { CairnError } from '../errors.ts';
import { problemAnswer, SHARED_SCHEMAS } from './answers.ts';

/** The document's tags, in the order the API browser shows them. */
export const TAGS = [
  { name: 'session', description: 'Logon, logoff, who am I, API keys' },
  { name: 'users', description: "Users of the caller's tenant, their roles, the audit log" },
  { name: 'tenants', description: 'Tenants and their recycle bins (system administrators)' },
  { name: 'scripts', description: 'Named scripts jobs may run' },
  { name: 'repositories', description: 'Repositories, their restore points and usage' },
  { name: 'jobs', description: 'Backup jobs, starting and cancelling them, schedules' },
  { name: 'runs', description: 'Runs of backups and restores, their logs and events, the dashboard' },
  { name: 'tasks', description: 'Asynchronous tasks: what an action answers with 202' },
  { name: 'restores', description: 'Restoring a restore point into a folder of the server' },
  { name: 'simulations', description: 'The restore point simulator' },
];

const OPERATION_ID = /^[a-z][A-Za-z0-9]*$/;

declare module 'fastify' {
  interface FastifySchema {
    /** The body may be left out (Fastify then sees `{}`, see the route's preValidation). */
    'x-body-optional'?: boolean;
  }
}

/** The name of the shared problem answer of a status: `NotFound`, `Conflict`… */
function problemName(status: string): string {
  return status === 'default'
    ? 'Problem'
    : (STATUS_CODES[status] ?? `Status${status}`).replace(/[^A-Za-z]/g, '');
}

/**
 * The last touches of the document (@fastify/swagger's transformObject): an operation marked
 * `x-body-optional` does not require its body; the problem answers, the same for every operation
 * that gives them, are written once in `components.responses` (`NotFound`, `Conflict`…) and
 * referenced.
 */
export function finishDocument<T>(doc: T): T {
  const d = doc as {
    paths?: Record<string, Record<string, Record<string, unknown>>>;
    components?: { responses?: Record<string, unknown> };
  };
  const shared: Record<string, unknown> = {};
  for (const item of Object.values(d.paths ?? {}))
    for (const op of Object.values(item)) {
      if (op['x-body-optional'] === true) {
        delete op['x-body-optional'];
        const body = op.requestBody as { required?: boolean } | undefined;
        if (body) body.required = false;
      }
      const responses = (op.responses ?? {}) as Record<string, { content?: Record<string, unknown> }>;
      for (const [status, answer] of Object.entries(responses)) {
        if (!answer.content?.['application/problem+json']) continue;
        const name = problemName(status);
        shared[name] ??= answer;
        if (isDeepStrictEqual(shared[name], answer))
          responses[status] = { $ref: `#/components/responses/${name}` } as never;
      }
    }
  if (d.components) d.components.responses = { ...d.components.responses, ...shared };
  return doc;
}

type ResponseMap = Record<string, unknown>;

interface RouteSchema {
  hide?: boolean;
  operationId?: string;
  tags?: string[];
  body?: unknown;
  params?: unknown;
  querystring?: unknown;
  response?: ResponseMap;
}

/**
 * Checks a route's documentation and adds the error answers of its kind. Throws, so the server
 * does not start, when a route of the API is undocumented.
 */
export function documentRoute(route: RouteOptions, ids: Map<string, string>): void {
  const schema = route.schema as RouteSchema | undefined;
  const name = `${String(route.method)} ${route.url}`;
  if (!schema) {
    if (route.url.startsWith('/api/v1')) throw new Error(`${name}: no schema, so no OpenAPI documentation`);
    return;
  }
  if (schema.hide) return;
  if (!schema.operationId || !OPERATION_ID.test(schema.operationId))
    throw new Error(`${name}: the operationId must be camelCase (got ${String(schema.operationId)})`);
  // Fastify adds a HEAD route for each GET, with the same schema.
  if (route.method !== 'HEAD') {
    const seen = ids.get(schema.operationId);
    if (seen !== undefined && seen !== name)
      throw new Error(`${name}: operationId ${schema.operationId} is also ${seen}'s`);
    ids.set(schema.operationId, name);
  }
  if (!schema.tags?.length || !schema.tags.every((t) => TAGS.some((k) => k.name === t)))
    throw new Error(`${name}: give it one of the tags of TAGS`);
  const response = schema.response ?? {};
  if (!Object.keys(response).some((s) => /^2/.test(s)))
    throw new Error(`${name}: no 2xx answer in its response schema`);
  const permission = route.config?.permission;
  const methods = Array.isArray(route.method) ? route.method : [route.method];
  const takesBody = methods.some((m) => ['POST', 'PUT', 'PATCH', 'DELETE'].includes(m));
  const kinds: number[] = [];
  if (takesBody || schema.params || schema.querystring || schema.body) kinds.push(400);
  if (permission !== 'public') kinds.push(401, 403);
  if (schema.params) kinds.push(404);
  if (takesBody) kinds.push(413, 415);
  kinds.push(500, 503);
  for (const status of kinds) response[status] ??= problemAnswer(status);
  response.default ??= problemAnswer('default');
  schema.response = response;
}

/** What the checker found: one line each (the route, the status, what is wrong). */
export type AnswerFailure = (line: string) => void;

/** The schema a route declares for this status and content type, if any. */
function declared(request: FastifyRequest, reply: FastifyReply): object | null | undefined {
  const response = (request.routeOptions.schema as RouteSchema | undefined)?.response;
  if (!response) return undefined;
  const status = String(reply.statusCode);
  // `default` is the problem of any other error: a success must be documented by its status.
  const entry = (response[status] ??
    response[`${status[0]}xx`] ??
    (reply.statusCode >= 400 ? response.default : undefined)) as
    { content?: Record<string, { schema: unknown }> } | undefined;
  if (!entry?.content) return entry;
  const type = String(reply.getHeader('content-type') ?? '').split(';')[0] ?? '';
  return (entry.content[type]?.schema as object | undefined) ?? null;
}

/**
 * Compares every answer with the schema its route declares (tests only: it costs a validation
 * and a second serialization per answer). A 2xx that does not match becomes a 500 naming the
 * difference; every failure is also reported to `failed`.
 */
export function answerChecker(app: FastifyInstance, failed: AnswerFailure): void {
  const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false });
  for (const s of SHARED_SCHEMAS) ajv.addSchema(s);
  const compiled = new WeakMap<object, ValidateFunction>();
  // What preSerialization saw of an answer: its JSON as the handler meant it.
  const checked = new WeakMap<FastifyRequest, string>();
  const fail = (request: FastifyRequest, reply: FastifyReply, what: string) => {
    const line = `${request.method} ${request.routeOptions.url ?? request.url} answered ${reply.statusCode}: ${what}`;
    failed(line);
    if (reply.statusCode < 400)
      throw new CairnError('INTERNAL', `The answer does not match its schema: ${line}`);
  };
  const documented = (request: FastifyRequest) => {
    const schema = request.routeOptions.schema as RouteSchema | undefined;
    return schema?.response !== undefined && !schema.hide;
  };

  app.addHook('preSerialization', async (request, reply, payload: unknown) => {
    if (!documented(request)) return payload;
    checked.set(request, JSON.stringify(payload));
    const schema = declared(request, reply);
    if (schema === undefined) fail(request, reply, 'the status is not in its response schema');
    else if (schema === null)
      fail(request, reply, `the content type ${String(reply.getHeader('content-type'))} is not documented`);
    else {
      let validate = compiled.get(schema);
      if (!validate) {
        validate = ajv.compile(schema);
        compiled.set(schema, validate);
      }
      if (!validate(payload))
        fail(
          request,
          reply,
          `not valid: ${(validate.errors ?? [])
            .map(
              (e) =>
                `answer${e.instancePath} ${e.message ?? ''}${e.keyword === 'additionalProperties' ? ` (${String(e.params.additionalProperty)})` : ''}`,
            )
            .join('; ')}`,
        );
    }
    return payload;
  });

  app.addHook('onSend', async (request, reply, payload: unknown) => {
    if (!documented(request) || reply.statusCode === 304) return payload;
    if (declared(request, reply) === undefined && !checked.has(request))
      fail(request, reply, 'the status is not in its response schema');
    const before = checked.get(request);
    if (before !== undefined && typeof payload === 'string' && request.method !== 'HEAD') {
      const sent: unknown = JSON.parse(payload);
      const meant: unknown = JSON.parse(before);
      if (!isDeepStrictEqual(sent, meant))
        fail(request, reply, `the serializer changed it: ${difference(meant, sent, 'answer')}`);
    }
    return payload;
  });
}

/** The first place where two JSON values differ, for the failure's message. */
export function difference(meant: unknown, sent: unknown, at: string): string {
  if (
    typeof meant !== typeof sent ||
    Array.isArray(meant) !== Array.isArray(sent) ||
    meant === null ||
    sent === null
  )
    return `${at} is ${JSON.stringify(sent)}, was ${JSON.stringify(meant)}`;
  if (Array.isArray(meant) && Array.isArray(sent)) {
    if (meant.length !== sent.length) return `${at} has ${sent.length} items, had ${meant.length}`;
    for (let i = 0; i < meant.length; i++)
      if (!isDeepStrictEqual(meant[i], sent[i])) return difference(meant[i], sent[i], `${at}[${i}]`);
  } else if (typeof meant === 'object' && typeof sent === 'object') {
    const m = meant as Record<string, unknown>;
    const s = sent as Record<string, unknown>;
    for (const k of Object.keys(m)) {
      if (!(k in s)) return `${at}.${k} was dropped (its schema does not list it)`;
      if (!isDeepStrictEqual(m[k], s[k])) return difference(m[k], s[k], `${at}.${k}`);
    }
    for (const k of Object.keys(s)) if (!(k in m)) return `${at}.${k} was added`;
  }
  return `${at} is ${JSON.stringify(sent)}, was ${JSON.stringify(meant)}`;
}
