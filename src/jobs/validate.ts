/**
 * JSON-schema validation with messages a person can act on: each problem names the field path
 * (`jobs[0].schedule.cron`) and what was expected. Used for the YAML configuration; the API's
 * validator is configured the same way (no coercion, unknown fields rejected).
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import type { TSchema } from '@sinclair/typebox';

export const ajv = new Ajv({
  allErrors: true,
  strict: false,
  coerceTypes: false,
  removeAdditional: false,
  useDefaults: false,
});

export interface Problem {
  /** JSON path segments of the offending value (`['jobs', 0, 'schedule', 'cron']`). */
  readonly path: (string | number)[];
  readonly message: string;
}

const cache = new WeakMap<TSchema, ValidateFunction>();

function compiled(schema: TSchema): ValidateFunction {
  let v = cache.get(schema);
  if (!v) {
    v = ajv.compile(schema);
    cache.set(schema, v);
  }
  return v;
}

/** `['jobs', 0, 'cron']` → `jobs[0].cron`. */
export function formatPath(path: readonly (string | number)[]): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out ? `.${p}` : p;
  return out || '(the document)';
}

function segments(instancePath: string): (string | number)[] {
  if (!instancePath) return [];
  return instancePath
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^[0-9]+$/.test(s) ? Number(s) : s));
}

function describe(e: ErrorObject): Problem {
  const path = segments(e.instancePath);
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'additionalProperties':
      return { path: [...path, String(p.additionalProperty)], message: 'is not a known field' };
    case 'required':
      return { path: [...path, String(p.missingProperty)], message: 'is required' };
    case 'type':
      return { path, message: `must be ${String(p.type)}` };
    case 'enum':
    case 'const':
      return {
        path,
        message: `must be one of ${JSON.stringify(p.allowedValues ?? p.allowedValue)}`,
      };
    case 'pattern':
      return { path, message: `must match ${String(p.pattern)}` };
    default:
      return { path, message: e.message ?? e.keyword };
  }
}

/**
 * The problems of `value` against `schema`, fewest and most precise first: a union's alternatives
 * each complain, so only the errors under the deepest path are kept.
 */
export function validate(schema: TSchema, value: unknown): Problem[] {
  const v = compiled(schema);
  if (v(value)) return [];
  const all = (v.errors ?? []).filter((e) => e.keyword !== 'anyOf' && e.keyword !== 'if');
  const problems = all.map(describe);
  // Of a union, prefer the alternative's precise complaint over "must be null".
  const seen = new Set<string>();
  const out: Problem[] = [];
  for (const pr of problems) {
    const key = `${formatPath(pr.path)}: ${pr.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(pr);
  }
  const nonNull = out.filter((p) => p.message !== 'must be null');
  return nonNull.length > 0 ? nonNull : out;
}
