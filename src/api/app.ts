/**
 * The HTTP server: Fastify with JSON-schema validation (no coercion of bodies, unknown fields
 * rejected), an OpenAPI 3.1 document built from the same schemas, authentication on every route
 * that is not marked public, and RFC 9457 problems for every error.
 */
import fastifyCookie from '@fastify/cookie';
import fastifyStatic from '@fastify/static';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import { Ajv } from 'ajv';
import { STATUS_CODES, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import { CairnError } from '../errors.ts';
import { VERSION } from '../version.ts';
import { allows, csrfTokenOf, SESSION_COOKIE, tokenHash } from './auth.ts';
import type { ApiContext, Caller } from './context.ts';
import { SHARED_SCHEMAS } from './answers.ts';
import { answerChecker, documentRoute, finishDocument, TAGS, type AnswerFailure } from './openapi.ts';
import { problemFor, problemOf, sendProblem } from './problem.ts';
import { apiKeyRoutes } from './routes/api-keys.ts';
import { auditRoutes } from './routes/audit.ts';
import { jobRoutes } from './routes/jobs.ts';
import { recycleBinRoutes } from './routes/recycle-bin.ts';
import { repositoryRoutes } from './routes/repositories.ts';
import { restoreRoutes } from './routes/restores.ts';
import { runRoutes } from './routes/runs.ts';
import { scriptRoutes } from './routes/scripts.ts';
import { sessionRoutes } from './routes/sessions.ts';
import { simulationRoutes } from './routes/simulations.ts';
import { snapshotRoutes } from './routes/snapshots.ts';
import { taskRoutes } from './routes/tasks.ts';
import { tenantRoutes } from './routes/tenants.ts';
import { usageRoutes } from './routes/usage.ts';
import { userRoutes } from './routes/users.ts';

export interface AppOptions {
  /** Largest accepted request body (default 1 MiB). */
  readonly bodyLimit?: number;
  /** Log requests to stderr (off in tests). */
  readonly logRequests?: boolean;
  /**
   * Check every answer against its route's response schema and report each mismatch (tests):
   * a field the schema does not list, a value of another type, a status it does not document.
   */
  readonly checkAnswers?: AnswerFailure;
}

const bodyAjv = new Ajv({
  allErrors: true,
  strict: false,
  coerceTypes: false,
  removeAdditional: false,
  useDefaults: true,
});
const queryAjv = new Ajv({
  allErrors: true,
  strict: false,
  coerceTypes: true,
  removeAdditional: false,
  useDefaults: true,
});

/**
 * The web UI's policy: its own script and stylesheet only (the build has no inline script or
 * style element; React sets `style` through the CSSOM, which a policy does not block), pictures
 * from itself and from blob: URLs (the simulator draws its PNG from one), requests to itself.
 */
export const UI_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' blob:",
  "connect-src 'self'",
  "font-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/** The API's answers are data, never a page: nothing in them may load or run, nor be framed. */
export const API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/** Answers that carry a tenant's data: never kept by a browser or a proxy. */
function carriesData(url: string): boolean {
  return url.startsWith('/api/v1') || url.startsWith('/metrics') || url.startsWith('/healthz');
}

function isApi(url: string): boolean {
  return url.startsWith('/api/') || carriesData(url);
}

/** The headers every answer carries, set on the raw response (see the first onRequest hook). */
function secure(url: string, raw: ServerResponse): void {
  raw.setHeader('x-content-type-options', 'nosniff');
  raw.setHeader('x-frame-options', 'DENY');
  raw.setHeader('referrer-policy', 'no-referrer');
  raw.setHeader('content-security-policy', isApi(url) ? API_CSP : UI_CSP);
  if (carriesData(url)) raw.setHeader('cache-control', 'no-store');
}

/**
 * A request Node's HTTP parser refused before Fastify saw it (headers too large: 431, a timeout:
 * 408, not HTTP: 400): a problem too, written on the socket as Fastify's own handler would.
 */
function clientError(err: Error & { code?: string }, socket: Duplex): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, detail] =
    err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? [408, 'The request did not arrive in time']
      : err.code === 'HPE_HEADER_OVERFLOW'
        ? [431, 'The request line and headers are larger than the server accepts (16 KiB)']
        : [400, 'The request is not valid HTTP'];
  const body = JSON.stringify(problemOf('USAGE', detail, '', { status }));
  if (socket.writable)
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\n` +
        `Content-Type: application/problem+json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
        `X-Content-Type-Options: nosniff\r\nContent-Security-Policy: ${API_CSP}\r\n` +
        `Cache-Control: no-store\r\nConnection: close\r\n\r\n${body}`,
    );
  socket.destroy(err);
}

/** A route's path as a pattern of the paths it serves (`:id` is one segment, `*` the rest). */
function pathPattern(url: string): RegExp {
  const parts = url
    .split(/(:[A-Za-z0-9_]+|\*)/)
    .map((p) => (p.startsWith(':') ? '[^/]+' : p === '*' ? '.*' : p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
  return new RegExp(`^${parts.join('')}$`);
}

async function authenticate(ctx: ApiContext, request: FastifyRequest): Promise<Caller | undefined> {
  const header = request.headers['x-cairn-session'];
  const auth = request.headers.authorization;
  let token: string | undefined = typeof header === 'string' ? header : undefined;
  if (!token && typeof auth === 'string' && /^Bearer\s+/i.test(auth))
    token = auth.replace(/^Bearer\s+/i, '').trim();
  let viaCookie = false;
  const cookie = request.cookies[SESSION_COOKIE];
  if (!token && cookie) {
    token = cookie;
    viaCookie = true;
  }
  if (!token) return undefined;
  // A browser sends its cookie with any request a page makes, so a change must also carry the
  // CSRF token (double submit: derived from the session token, which only our page can read).
  if (viaCookie && !['GET', 'HEAD', 'OPTIONS'].includes(request.method)) {
    const sent = request.headers['x-csrf-token'];
    if (typeof sent !== 'string' || sent !== csrfTokenOf(token))
      throw new CairnError('FORBIDDEN', 'The X-CSRF-Token header is missing or wrong for this session');
  }
  const hash = tokenHash(token);
  if (token.startsWith('cairn_key_')) {
    const key = await ctx.catalog.useApiKey(hash);
    if (!key) return undefined;
    const user = await ctx.catalog.user(key.user_id);
    if (!user || user.disabled) return undefined;
    return {
      tenantId: key.tenant_id,
      userId: user.id,
      userName: `${user.name} (key ${key.name})`,
      role: await ctx.catalog.roleOf(user.id, key.tenant_id),
      systemAdmin: user.system_admin === 1,
      via: 'api-key',
    };
  }
  const session = await ctx.catalog.useSession(hash);
  if (!session) return undefined;
  const user = await ctx.catalog.user(session.user_id);
  if (!user || user.disabled) return undefined;
  return {
    tenantId: session.tenant_id,
    userId: user.id,
    userName: user.name,
    role: await ctx.catalog.roleOf(user.id, session.tenant_id),
    systemAdmin: user.system_admin === 1,
    sessionId: session.id,
    via: viaCookie ? 'cookie' : 'session',
  };
}

export async function buildApp(ctx: ApiContext, options: AppOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({
    logger: options.logRequests
      ? { level: 'info', redact: ['req.headers.authorization', 'req.headers["x-cairn-session"]'] }
      : false,
    bodyLimit: options.bodyLimit ?? 1024 * 1024,
    // Ids are UUIDs; a long path is an attack or a mistake.
    routerOptions: { maxParamLength: 200 },
    return503OnClosing: true,
    ajv: { customOptions: { allErrors: true } },
    // Errors of the router itself: a path segment longer than maxParamLength (414), a path that
    // is not valid percent-encoding (400). Problems like any other (Fastify's are plain JSON).
    frameworkErrors: (err, request, reply) => {
      const instance = request.url.split('?')[0] ?? '';
      secure(request.url, reply.raw);
      const code = (err as Error & { code?: string }).code;
      void sendProblem(
        reply,
        code === 'FST_ERR_MAX_PARAM_LENGTH'
          ? problemOf('USAGE', 'A part of the path is longer than 200 characters', instance, { status: 414 })
          : code === 'FST_ERR_BAD_URL'
            ? problemOf('USAGE', 'The path is not a valid URL (a bad percent-encoding)', instance)
            : problemFor(err, request),
      );
    },
    clientErrorHandler: clientError,
  });
  // The API takes JSON only: a text/plain body (which Fastify parses by default) is 415 like any
  // other type, not a string that fails the body's schema.
  app.removeContentTypeParser('text/plain');
  app.setValidatorCompiler(({ schema, httpPart }) =>
    httpPart === 'body' ? bodyAjv.compile(schema) : queryAjv.compile(schema),
  );
  // First of all hooks, before any plugin, so that every answer has them: errors, 404s, the static
  // files, the Swagger UI and the hijacked event streams (hence on the raw response: Node merges
  // these with the headers a handler sets, and a handler's own value wins, as the Swagger UI's CSP).
  app.addHook('onRequest', (request, reply, done) => {
    secure(request.url, reply.raw);
    done();
  });

  // Every route of the API is documented (openapi.ts) and its paths known, to tell a method the
  // path does not allow (405) from a path that does not exist (404).
  const operationIds = new Map<string, string>();
  const allowed: { pattern: RegExp; methods: Set<string> }[] = [];
  app.addHook('onRoute', (route) => {
    documentRoute(route, operationIds);
    if (!isApi(route.url)) return;
    const pattern = pathPattern(route.url);
    let entry = allowed.find((a) => a.pattern.source === pattern.source);
    if (!entry) allowed.push((entry = { pattern, methods: new Set() }));
    for (const m of Array.isArray(route.method) ? route.method : [route.method]) entry.methods.add(m);
  });
  // The answers' schemas, by name: components of the OpenAPI document.
  for (const schema of SHARED_SCHEMAS) app.addSchema(schema);
  if (options.checkAnswers) answerChecker(app, options.checkAnswers);

  await app.register(fastifyCookie);
  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Cairn server API',
        version: VERSION,
        description:
          "Log on with POST /api/v1/sessions (HTTP Basic); send the token from the X-Cairn-Session header on every request (or as Authorization: Bearer). Actions answer 202 with a task to poll (GET /api/v1/tasks/{id}). Every error is an RFC 9457 problem (application/problem+json) with Cairn's stable error code (docs/errors.md). Operation ids are stable: a generated client names its methods after them.",
      },
      components: {
        securitySchemes: {
          session: { type: 'apiKey', in: 'header', name: 'X-Cairn-Session' },
          bearer: { type: 'http', scheme: 'bearer' },
          basic: { type: 'http', scheme: 'basic' },
        },
      },
      security: [{ session: [] }, { bearer: [] }],
      tags: TAGS,
    },
    transformObject: (d) => ('openapiObject' in d ? finishDocument(d.openapiObject) : d.swaggerObject),
    // Named schemas (answers.ts) keep their names: #/components/schemas/Task, not def-7.
    refResolver: {
      buildLocalReference: (json, _baseUri, _fragment, i) =>
        typeof json.$id === 'string' ? json.$id : `def-${i}`,
    },
  });
  await app.register(fastifySwaggerUi, {
    routePrefix: '/api/docs',
    // The plugin's own policy (its page has inline scripts of known hashes), framed by nobody.
    staticCSP: true,
    transformStaticCSP: (csp) => csp.replace(/frame-ancestors [^;]*/, "frame-ancestors 'none'"),
  });

  app.addHook('onRequest', async (request, reply) => {
    const need = request.routeOptions.config?.permission;
    if (need === 'public' || need === 'logon' || request.url.startsWith('/api/docs')) return;
    // The web UI's files are public; the data they show comes from the API, which is not.
    if (
      ctx.webRoot &&
      need === undefined &&
      !request.url.startsWith('/api/') &&
      !request.url.startsWith('/metrics')
    )
      return;
    let caller: Caller | undefined;
    try {
      caller = await authenticate(ctx, request);
    } catch (err) {
      if (err instanceof CairnError)
        return sendProblem(reply, problemOf(err.code, err.message, request.url.split('?')[0] ?? ''));
      throw err;
    }
    if (!caller) {
      return sendProblem(
        reply,
        problemOf(
          'AUTH_REQUIRED',
          'Log on first (POST /api/v1/sessions) and send the session token in X-Cairn-Session',
          request.url.split('?')[0] ?? '',
        ),
        { 'www-authenticate': 'Bearer realm="cairn"' },
      );
    }
    request.caller = caller;
    if (need && !allows(caller.role, caller.systemAdmin, need)) {
      return sendProblem(
        reply,
        problemOf(
          'FORBIDDEN',
          `Cannot ${request.method} ${request.url.split('?')[0] ?? ''}: the role ${caller.role ?? '(none)'} does not allow ${need}`,
          request.url.split('?')[0] ?? '',
        ),
      );
    }
  });

  app.setErrorHandler((err, request, reply) => {
    const p = problemFor(err, request);
    if (p.status >= 500) request.log.error(err);
    if (p.status >= 500 && !(err instanceof CairnError)) {
      process.stderr.write(
        `cairn server: ${request.method} ${request.url} failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
      );
    }
    return sendProblem(reply, p);
  });
  if (ctx.webRoot) {
    // The web UI: the built app's files; any other page path gets index.html (client routing).
    await app.register(fastifyStatic, {
      root: ctx.webRoot,
      prefix: '/',
      wildcard: false,
      index: 'index.html',
    });
  }
  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0] ?? '';
    if (ctx.webRoot && request.method === 'GET' && !path.startsWith('/api/') && !path.startsWith('/metrics'))
      return reply.type('text/html').sendFile('index.html');
    const methods = new Set(allowed.filter((a) => a.pattern.test(path)).flatMap((a) => [...a.methods]));
    if (methods.size > 0) {
      const allow = [...methods].sort().join(', ');
      return sendProblem(
        reply,
        problemOf('USAGE', `${path} does not allow ${request.method}: it allows ${allow}`, path, {
          status: 405,
        }),
        { allow },
      );
    }
    return sendProblem(reply, problemOf('NOT_FOUND', `There is no ${request.method} ${path}`, path));
  });

  app.get('/api/openapi.json', { config: { permission: 'public' }, schema: { hide: true } }, () =>
    app.swagger(),
  );
  app.get('/healthz', { config: { permission: 'public' }, schema: { hide: true } }, async () => {
    await ctx.catalog.ping();
    return { status: 'ok', version: VERSION, running: ctx.runner.running };
  });
  // Every tenant's job names and sizes are in it: for the system administrator only.
  app.get(
    '/metrics',
    { config: { permission: 'system' }, schema: { hide: true } },
    async (_request, reply) => {
      if (!ctx.metrics) throw new CairnError('NOT_FOUND', 'Metrics are not enabled on this server');
      const text = await ctx.metrics.render();
      return reply.type(ctx.metrics.contentType).send(text);
    },
  );

  // One plugin per resource (src/api/routes/), each listing its routes and who may call them. A
  // plugin's context inherits what is set above: the hooks (headers, authentication), the error
  // and validator handlers, and @fastify/swagger's collection of routes for the OpenAPI document.
  for (const routes of [
    sessionRoutes,
    apiKeyRoutes,
    userRoutes,
    auditRoutes,
    tenantRoutes,
    scriptRoutes,
    repositoryRoutes,
    snapshotRoutes,
    usageRoutes,
    jobRoutes,
    runRoutes,
    taskRoutes,
    restoreRoutes,
    simulationRoutes,
    recycleBinRoutes,
  ])
    await app.register(routes, { ctx });
  return app;
}
