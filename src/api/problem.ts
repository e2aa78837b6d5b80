/**
 * Errors as RFC 9457 problem details (`application/problem+json`), with Cairn's stable error code.
 * The status comes from the error registry; nothing of a stack trace ever leaves the server.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { CairnError, ERRORS, type ErrorCode } from '../errors.ts';

export interface ProblemDetail {
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly detail: string;
  readonly instance: string;
  readonly code: ErrorCode;
  readonly errors?: readonly { path: string; message: string }[];
}

export function problemOf(
  code: ErrorCode,
  detail: string,
  instance: string,
  extra: { status?: number; errors?: { path: string; message: string }[] } = {},
): ProblemDetail {
  return {
    type: `urn:cairn:problem:${code.toLowerCase().replace(/_/g, '-')}`,
    title: ERRORS[code].summary,
    status: extra.status ?? ERRORS[code].http,
    detail,
    instance,
    code,
    ...(extra.errors ? { errors: extra.errors } : {}),
  };
}

export function sendProblem(
  reply: FastifyReply,
  p: ProblemDetail,
  headers: Record<string, string> = {},
): FastifyReply {
  return reply.code(p.status).headers(headers).type('application/problem+json').send(p);
}

interface AjvLikeError {
  instancePath?: string;
  keyword?: string;
  message?: string;
  params?: Record<string, unknown>;
}

function fieldPath(context: string, e: AjvLikeError): string {
  let p = (e.instancePath ?? '')
    .split('/')
    .filter(Boolean)
    .map((s) => (/^[0-9]+$/.test(s) ? `[${s}]` : `.${s}`))
    .join('');
  if (e.keyword === 'additionalProperties') p += `.${String(e.params?.additionalProperty)}`;
  if (e.keyword === 'required') p += `.${String(e.params?.missingProperty)}`;
  return `${context}${p}`;
}

function fieldMessage(e: AjvLikeError): string {
  switch (e.keyword) {
    case 'additionalProperties':
      return 'is not a known field';
    case 'required':
      return 'is required';
    default:
      return e.message ?? 'is not valid';
  }
}

/** The problem for any error a request met. */
export function problemFor(err: unknown, request: FastifyRequest): ProblemDetail {
  const instance = request.url.split('?')[0] ?? request.url;
  if (err instanceof CairnError) {
    // Server-side failures keep their code; the message names the object and reason, not internals.
    return problemOf(err.code, err.message, instance);
  }
  const fe = err as FastifyError & { validation?: AjvLikeError[]; validationContext?: string };
  if (fe.validation) {
    const seen = new Set<string>();
    const errors = fe.validation
      .filter((e) => e.keyword !== 'anyOf')
      .map((e) => ({ path: fieldPath(fe.validationContext ?? 'body', e), message: fieldMessage(e) }))
      .filter((e) => {
        const k = `${e.path} ${e.message}`;
        if (seen.has(k)) return false;
        seen.add(k);
        return true;
      })
      .slice(0, 20);
    const first = errors[0];
    return problemOf(
      'USAGE',
      first ? `${first.path} ${first.message}` : 'the request is not valid',
      instance,
      {
        errors,
      },
    );
  }
  const status = typeof fe.statusCode === 'number' ? fe.statusCode : 500;
  if (fe.code === 'FST_ERR_CTP_BODY_TOO_LARGE' || status === 413)
    return problemOf('TOO_LARGE', 'The request body is larger than the server accepts', instance);
  if (status === 415)
    return problemOf(
      'USAGE',
      `Content type ${String(request.headers['content-type'])} is not accepted: send application/json`,
      instance,
      {
        status: 415,
      },
    );
  if (status >= 400 && status < 500) {
    const detail =
      fe instanceof SyntaxError || fe.code === 'FST_ERR_CTP_INVALID_JSON_BODY'
        ? `The body is not valid JSON: ${fe.message}`
        : fe.message;
    return problemOf('USAGE', detail, instance, { status: status === 404 ? 404 : 400 });
  }
  return problemOf('INTERNAL', 'An unexpected failure on the server; it is logged there', instance);
}
