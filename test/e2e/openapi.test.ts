/**
 * The OpenAPI document as a client generator sees it: valid OpenAPI 3.1 by a maintained
 * validator, every operation with a stable id, a tag and its answers (problem+json for every
 * error); a typed client generated from the live server's document (openapi-typescript) compiles
 * with tsc and drives a real flow over HTTP (openapi-fetch): log on, a repository, a job started
 * (202 and a task), its restore point, a restore, a typed 404 problem. And the errors Fastify and
 * Node answer themselves (414, 415, 405, 404, 400, 413, 431) are problems with Cairn's code.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { Validator } from '@seriousme/openapi-schema-validator';
import openapiTS, { astToString } from 'openapi-typescript';
import { ADMIN, assertProblem, http, logon, testServer, type TestServer } from './server-api.testing.ts';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const METHODS = ['get', 'put', 'post', 'delete', 'patch'] as const;

interface Answer {
  $ref?: string;
  description?: string;
  content?: Record<string, { schema?: { $ref?: string; type?: string } }>;
}
interface Operation {
  operationId?: string;
  tags?: string[];
  security?: unknown[];
  requestBody?: { required?: boolean };
  responses: Record<string, Answer>;
}
type Doc = {
  openapi: string;
  paths: Record<string, Partial<Record<(typeof METHODS)[number], Operation>>>;
  components: { schemas: Record<string, unknown>; responses: Record<string, Answer> };
  tags: { name: string }[];
};

function operations(doc: Doc): { method: string; path: string; op: Operation }[] {
  return Object.entries(doc.paths).flatMap(([p, item]) =>
    METHODS.flatMap((m) => (item[m] ? [{ method: m.toUpperCase(), path: p, op: item[m] }] : [])),
  );
}

/** What test/fixtures/openapi-client/flow.ts exports (not imported here: it needs the generated types). */
type Flow = (input: {
  baseUrl: string;
  user: string;
  password: string;
  source: string;
  repository: string;
  target: string;
}) => Promise<{
  role: string | null;
  backup: { result: string | null };
  snapshots: { id: string; paths: string[] }[];
  restore: { result: string | null };
  problem: { code: string; status: number };
  steps: string[];
}>;

/** The routes each module of src/api/routes/ lists in its header table, as `METHOD /path`. */
function headerTables(): Set<string> {
  const dir = path.join(ROOT, 'src', 'api', 'routes');
  const routes = new Set<string>();
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.ts'))) {
    for (const line of readFileSync(path.join(dir, f), 'utf8').split('\n')) {
      const m = /^ \* \| (GET|POST|PUT|PATCH|DELETE)\s+(\/api\/v1\S*)/.exec(line);
      if (m) routes.add(`${m[1]} ${m[2]!.replace(/\[[^\]]*\]$/, '')}`);
    }
  }
  return routes;
}

describe('the OpenAPI document', () => {
  let s: TestServer;
  let doc: Doc;

  before(async () => {
    s = await testServer();
    const answer = await http(s.url, 'GET', '/api/openapi.json');
    assert.equal(answer.status, 200);
    doc = answer.body as Doc;
  });
  after(() => s.close());

  it('is valid OpenAPI 3.1, its references resolved', async () => {
    assert.equal(doc.openapi, '3.1.0');
    const validator = new Validator();
    const result = await validator.validate(doc);
    assert.deepEqual(result.errors, undefined, JSON.stringify(result.errors, null, 1)?.slice(0, 3000));
    assert.equal(result.valid, true);
    assert.equal(validator.version, '3.1');
    // Every reference names a component that is there.
    const refs = JSON.stringify(doc).match(/"\$ref":"[^"]+"/g) ?? [];
    assert.ok(refs.length > 100);
    for (const r of new Set(refs)) {
      const [, kind, name] = /#\/components\/(schemas|responses)\/([^"]+)"/.exec(r) ?? [];
      assert.ok(kind && name && doc.components[kind as 'schemas'][name], `${r} resolves to a component`);
    }
    assert.deepEqual(Object.keys(doc.components.responses).sort(), [
      'BadGateway',
      'BadRequest',
      'Conflict',
      'Forbidden',
      'InsufficientStorage',
      'InternalServerError',
      'NotFound',
      'PayloadTooLarge',
      'Problem',
      'ServiceUnavailable',
      'TooManyRequests',
      'Unauthorized',
      'UnprocessableEntity',
      'UnsupportedMediaType',
    ]);
  });

  it('gives every operation a stable camelCase id, a tag and every answer with its schema', () => {
    const ops = operations(doc);
    const ids = ops.map((o) => o.op.operationId);
    assert.equal(new Set(ids).size, ops.length, 'operation ids are unique');
    const tags = new Set(doc.tags.map((t) => t.name));
    for (const { method, path: p, op } of ops) {
      const name = `${method} ${p}`;
      assert.match(op.operationId ?? '', /^[a-z][A-Za-z0-9]*$/, name);
      assert.ok(op.tags?.length === 1 && tags.has(op.tags[0]!), `${name} has a known tag`);
      const statuses = Object.keys(op.responses);
      assert.ok(!statuses.includes('200') || !op.responses['200']?.description?.startsWith('Default'), name);
      const ok = statuses.filter((c) => /^2/.test(c));
      assert.ok(ok.length > 0, `${name} documents a success`);
      for (const c of ok) {
        const r = op.responses[c]!;
        assert.ok(r.description && r.description !== 'Default Response', `${name} ${c} says what it is`);
        if (c === '204') assert.equal(r.content, undefined, `${name} 204 has no body`);
        else {
          const media = Object.entries(r.content ?? {});
          assert.ok(media.length > 0, `${name} ${c} has a body`);
          for (const [type, m] of media)
            assert.ok(m.schema && (m.schema.$ref || m.schema.type), `${name} ${c} ${type} has a schema`);
        }
      }
      // Every error is a problem, and the errors of its kind are all there.
      const errors = statuses.filter((c) => !/^2/.test(c));
      for (const c of errors) {
        // A shared answer of components.responses (NotFound, Conflict…).
        const shared = /^#\/components\/responses\/(\w+)$/.exec(op.responses[c]?.$ref ?? '')?.[1];
        assert.ok(shared, `${name} ${c} refers to a shared problem answer`);
        assert.equal(
          doc.components.responses[shared]?.content?.['application/problem+json']?.schema?.$ref,
          '#/components/schemas/Problem',
          `${name} ${c} is a problem`,
        );
      }
      assert.ok(errors.includes('default') && errors.includes('500') && errors.includes('503'), name);
      const loggedOn = !(Array.isArray(op.security) && op.security.length === 0);
      if (loggedOn) assert.ok(errors.includes('401') && errors.includes('403'), `${name}: 401, 403`);
      if (p.includes('{')) assert.ok(errors.includes('404'), `${name}: 404`);
      if (method !== 'GET')
        assert.ok(
          ['400', '413', '415'].every((c) => errors.includes(c)),
          name,
        );
    }
    // Named answers are components: a generator makes named types of them.
    for (const name of ['Problem', 'Task', 'Job', 'Run', 'Repository', 'Snapshot', 'User', 'Tenant'])
      assert.ok(doc.components.schemas[name], name);
    // The start of a job may be sent without a body.
    assert.equal(doc.paths['/api/v1/jobs/{id}/start']?.post?.requestBody?.required, false);
    assert.equal(doc.paths['/api/v1/jobs']?.post?.requestBody?.required, true);
  });

  it('has exactly the operations the route modules list in their headers', () => {
    const documented = new Set(operations(doc).map((o) => `${o.method} ${o.path}`));
    const listed = headerTables();
    assert.deepEqual([...documented].sort(), [...listed].sort());
    assert.equal(documented.size, 55);
  });

  it('generates a typed client that compiles with tsc and drives a real flow', async (t) => {
    const dir = path.join(s.dir, 'client');
    mkdirSync(dir);
    // The types from the live server's document, as a user would generate them.
    writeFileSync(path.join(dir, 'api.ts'), astToString(await openapiTS(doc as never)));
    copyFileSync(path.join(ROOT, 'test', 'fixtures', 'openapi-client', 'flow.ts'), path.join(dir, 'flow.ts'));
    symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
    writeFileSync(
      path.join(dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'es2024',
          lib: ['es2024', 'dom'],
          module: 'nodenext',
          moduleResolution: 'nodenext',
          strict: true,
          noUncheckedIndexedAccess: true,
          exactOptionalPropertyTypes: true,
          allowImportingTsExtensions: true,
          verbatimModuleSyntax: true,
          noEmit: true,
          skipLibCheck: true,
          types: ['node'],
        },
        files: ['flow.ts', 'api.ts'],
      }),
    );
    writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ type: 'module', private: true }));
    const started = Date.now();
    const tsc = await promisify(execFile)(
      process.execPath,
      [path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', dir],
      { cwd: dir },
    ).catch((err: { stdout?: string; code?: number }) => ({ stdout: err.stdout ?? '', failed: err.code }));
    assert.ok(!('failed' in tsc), `the generated client compiles:\n${tsc.stdout}`);
    t.diagnostic(`tsc: ${Date.now() - started} ms`);

    const source = path.join(s.dir, 'source');
    mkdirSync(path.join(source, 'sub'), { recursive: true });
    writeFileSync(path.join(source, 'a.txt'), 'alpha\n');
    writeFileSync(path.join(source, 'sub', 'b.bin'), Buffer.alloc(100_000, 7));
    const { flow } = (await import(pathToFileURL(path.join(dir, 'flow.ts')).href)) as { flow: Flow };
    const result = await flow({
      baseUrl: s.url,
      user: ADMIN.user,
      password: ADMIN.password,
      source,
      repository: path.join(s.dir, 'repo'),
      target: path.join(s.dir, 'restored'),
    });
    t.diagnostic(result.steps.join('\n'));
    assert.equal(result.role, 'administrator');
    assert.equal(result.backup.result, 'success', JSON.stringify(result.backup));
    assert.equal(result.snapshots.length, 1);
    assert.deepEqual(result.snapshots[0]?.paths, [source]);
    assert.equal(result.restore.result, 'success', JSON.stringify(result.restore));
    const restored = path.join(s.dir, 'restored', source.replace(/^\//, ''));
    assert.equal(readFileSync(path.join(restored, 'a.txt'), 'utf8'), 'alpha\n');
    assert.deepEqual(readFileSync(path.join(restored, 'sub', 'b.bin')), Buffer.alloc(100_000, 7));
    assert.equal(result.problem.code, 'NOT_FOUND');
    assert.equal(result.problem.status, 404);
    assert.match(
      result.steps.find((x) => x.startsWith('getJob')) ?? '',
      /404 NOT_FOUND application\/problem\+json/,
    );
  });
});

/** Sends raw bytes and reads the whole answer (for what fetch will not send). */
function raw(url: string, bytes: string): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port) }, () => socket.write(bytes));
    let answer = '';
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => (answer += d));
    socket.on('end', () => resolve(answer));
    socket.on('error', reject);
  });
}

function rawProblem(answer: string, status: number): { code: string; status: number; detail: string } {
  const [head = '', body = ''] = answer.split('\r\n\r\n');
  assert.match(head, new RegExp(`^HTTP/1.1 ${status} `), head);
  assert.match(head, /content-type: application\/problem\+json/i, head);
  assert.match(head, /x-content-type-options: nosniff/i, head);
  const p = JSON.parse(body) as { code: string; status: number; detail: string };
  assert.equal(p.status, status);
  return p;
}

describe('errors the framework answers itself', () => {
  let s: TestServer;
  let token: string;

  before(async () => {
    s = await testServer();
    token = await logon(s.url);
  });
  after(() => s.close());

  it('answers a path segment longer than the router takes with 414 problem+json', async () => {
    const long = await http(s.url, 'GET', `/api/v1/jobs/${'x'.repeat(300)}`, { token });
    assertProblem(long, 414, 'USAGE', /longer than 200 characters/);
    assert.equal(long.headers.get('x-content-type-options'), 'nosniff');
    // Up to the router's limit the schema answers: 400, naming the field.
    assertProblem(
      await http(s.url, 'GET', `/api/v1/jobs/${'x'.repeat(100)}`, { token }),
      400,
      'USAGE',
      /params\.id/,
    );
  });

  it('answers a body that is not JSON with 415, and malformed JSON with 400', async () => {
    assertProblem(
      await http(s.url, 'POST', '/api/v1/jobs', {
        token,
        raw: 'name=x',
        headers: { 'content-type': 'text/plain' },
      }),
      415,
      'USAGE',
      /text\/plain is not accepted/,
    );
    assertProblem(
      await http(s.url, 'POST', '/api/v1/jobs', { token, raw: '{"name": ' }),
      400,
      'USAGE',
      /not valid JSON/,
    );
  });

  it('answers an unknown route 404 and a method its path does not allow 405 with Allow', async () => {
    assertProblem(
      await http(s.url, 'GET', '/api/v1/nothing-here', { token }),
      404,
      'NOT_FOUND',
      /There is no GET/,
    );
    assertProblem(await http(s.url, 'GET', '/api/nothing', { token }), 404, 'NOT_FOUND');
    const wrong = await http(s.url, 'DELETE', '/api/v1/jobs', { token });
    assertProblem(wrong, 405, 'USAGE', /does not allow DELETE/);
    assert.equal(wrong.headers.get('allow'), 'GET, HEAD, POST');
    const onId = await http(s.url, 'POST', '/api/v1/tasks/abc', { token });
    assertProblem(onId, 405, 'USAGE');
    assert.equal(onId.headers.get('allow'), 'GET, HEAD');
    // Without a logon nothing is told about routes: 401.
    assertProblem(await http(s.url, 'DELETE', '/api/v1/jobs'), 401, 'AUTH_REQUIRED');
  });

  it('answers a bad percent-encoding in the path with 400', async () => {
    assertProblem(
      await http(s.url, 'GET', '/api/v1/jobs/%E0%A4%A', { token }),
      400,
      'USAGE',
      /percent-encoding/,
    );
  });

  it('answers an oversized body with 413', async () => {
    assertProblem(
      await http(s.url, 'POST', '/api/v1/api-keys', {
        token,
        raw: JSON.stringify({ name: 'x'.repeat(2 << 20) }),
      }),
      413,
      'TOO_LARGE',
    );
  });

  it('answers headers larger than Node takes with 431, and what is not HTTP with 400', async () => {
    const big = await raw(
      s.url,
      `GET /api/v1 HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\nConnection: close\r\n\r\n`,
    );
    assert.equal(rawProblem(big, 431).code, 'USAGE');
    const garbage = await raw(s.url, 'HELLO THERE\r\n\r\n');
    assert.equal(rawProblem(garbage, 400).code, 'USAGE');
  });
});
