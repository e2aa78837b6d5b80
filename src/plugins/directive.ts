/**
 * Directives: `name:key=value:key=value`, Bareos' plugin strings. Parsed once, keeping where each
 * key and value starts, so that every error can name the option, its column and what was
 * expected. `\:` is a colon inside a value and `\\` a backslash; any other backslash is kept as
 * it is (so `printf 'a\n'` needs no doubling). Keys are matched to a plugin's options without
 * regard to case, `_` or `-` (`db_host`, `dbHost` and `DBHOST` are one option).
 *
 * Error messages never repeat the directive, nor the value of an option marked secret.
 */
import { posix } from 'node:path';
import { CairnError } from '../errors.ts';
import type { OptionSchema, OptionSpec, Options, OptionValue } from './api.ts';

export interface DirectiveOption {
  /** The key as written. */
  readonly key: string;
  /** The value with escapes resolved. */
  readonly value: string;
  /** Index of the key's first character in the directive (0-based). */
  readonly keyAt: number;
  /** Index of the value's first character (just after "="). */
  readonly valueAt: number;
}

export interface Directive {
  /** The text as given. */
  readonly text: string;
  readonly name: string;
  readonly options: readonly DirectiveOption[];
}

const NAME = /^[A-Za-z][A-Za-z0-9_.-]*$/;
const KEY = /^[A-Za-z][A-Za-z0-9_-]*$/;

function invalid(message: string): CairnError {
  return new CairnError('PLUGIN_DIRECTIVE_INVALID', message);
}

/**
 * Whether a backup source is a directive rather than a path: a plugin name, then a colon. A
 * path that starts with "/", "." or "~" is always a path.
 */
export function isDirective(source: string): boolean {
  return /^[A-Za-z][A-Za-z0-9_.-]*:/.test(source) && !/^[./~]/.test(source);
}

/** Parses a directive; throws PLUGIN_DIRECTIVE_INVALID naming the column of the first problem. */
export function parseDirective(text: string): Directive {
  const colon = text.indexOf(':');
  const name = colon < 0 ? text : text.slice(0, colon);
  if (name.length === 0) {
    throw invalid('Cannot read a plugin directive: it has no plugin name before its first ":" (column 1)');
  }
  if (!NAME.test(name)) {
    throw invalid(
      `Cannot read a plugin directive: "${name.slice(0, 40)}" (column 1) is not a plugin name: expected a letter, then letters, digits, ".", "_" or "-"`,
    );
  }
  const what = `the ${name} directive`;
  const options: DirectiveOption[] = [];
  if (colon < 0) return { text, name, options };
  let i = colon + 1;
  for (;;) {
    // One option: from i up to the next unescaped colon or the end.
    const start = i;
    let raw = '';
    let value = '';
    let eq = -1;
    while (i < text.length && text[i] !== ':') {
      const c = text[i] as string;
      if (c === '\\') {
        const next = text[i + 1];
        if (next === undefined) {
          throw invalid(
            `Cannot read ${what}: it ends with a lone backslash (column ${i + 1}): write \\\\ for a backslash, \\: for a colon`,
          );
        }
        const literal = next === ':' || next === '\\' ? next : `\\${next}`;
        if (eq < 0) raw += literal;
        else value += literal;
        i += 2;
        continue;
      }
      if (c === '=' && eq < 0) {
        eq = i;
        i++;
        continue;
      }
      if (eq < 0) raw += c;
      else value += c;
      i++;
    }
    if (i === start) {
      throw invalid(
        `Cannot read ${what}: an empty option at column ${start + 1} (two colons in a row, or a colon at the end; write \\: for a colon in a value)`,
      );
    }
    if (eq < 0) {
      throw invalid(
        `Cannot read ${what}: expected key=value at column ${start + 1}, found "${raw.slice(0, 40)}" without "="`,
      );
    }
    if (!KEY.test(raw)) {
      throw invalid(
        raw.length === 0
          ? `Cannot read ${what}: an option at column ${start + 1} has no name before "="`
          : `Cannot read ${what}: "${raw.slice(0, 40)}" at column ${start + 1} is not an option name: expected a letter, then letters, digits, "_" or "-"`,
      );
    }
    const dup = options.find((o) => normalKey(o.key) === normalKey(raw));
    if (dup) {
      throw invalid(
        `Cannot read ${what}: option "${raw}" at column ${start + 1} is given twice (first at column ${dup.keyAt + 1})`,
      );
    }
    options.push({ key: raw, value, keyAt: start, valueAt: eq + 1 });
    if (i >= text.length) break;
    i++; // the colon
    if (i >= text.length) {
      throw invalid(
        `Cannot read ${what}: an empty option at column ${i + 1} (a colon at the end; write \\: for a colon in a value)`,
      );
    }
  }
  return { text, name, options };
}

/** "db_host", "dbHost" and "DB-HOST" are one key. */
export function normalKey(key: string): string {
  return key.replace(/[_-]/g, '').toLowerCase();
}

/** A value with ":" and "\" escaped, to be put into a directive. */
export function escapeValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/:/g, '\\:');
}

/** The directive text for a name and options (escaping values). */
export function formatDirective(name: string, options: readonly (readonly [string, string])[]): string {
  return [name, ...options.map(([k, v]) => `${k}=${escapeValue(v)}`)].join(':');
}

function expected(spec: OptionSpec): string {
  switch (spec.type) {
    case 'integer':
      return `an integer${spec.min !== undefined ? ` ≥ ${spec.min}` : ''}${spec.max !== undefined ? ` ≤ ${spec.max}` : ''}`;
    case 'boolean':
      return 'yes or no (also true/false, on/off, 1/0)';
    case 'enum':
      return `one of ${(spec.values ?? []).join(', ')}`;
    case 'size':
      return 'a size such as 512, 64K, 100M or 2G (bytes, powers of 1024)';
    case 'path':
      return 'a path';
    default:
      return 'a value';
  }
}

const SIZE_UNITS: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/** The typed value of an option's text, or undefined when it is not one. */
function convert(spec: OptionSpec, text: string): OptionValue | undefined {
  switch (spec.type) {
    case 'integer': {
      if (!/^-?\d{1,15}$/.test(text)) return undefined;
      return Number(text);
    }
    case 'boolean': {
      const t = text.toLowerCase();
      if (['yes', 'true', 'on', '1'].includes(t)) return true;
      if (['no', 'false', 'off', '0'].includes(t)) return false;
      return undefined;
    }
    case 'enum':
      return (spec.values ?? []).find((v) => v.toLowerCase() === text.toLowerCase());
    case 'size': {
      const m = /^(\d{1,15}(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?$/i.exec(text);
      if (!m) return undefined;
      return Math.round(Number(m[1]) * (SIZE_UNITS[(m[2] ?? '').toLowerCase()] ?? 1));
    }
    case 'path':
      return text.includes('\0') ? undefined : text;
    default:
      return text;
  }
}

/**
 * The option values of a directive checked against a plugin's schema, defaults filled in. With
 * `requireAll` false (an override given at restore), required options may be missing.
 */
export function validateOptions(
  d: Directive,
  schema: OptionSchema,
  { requireAll = true }: { requireAll?: boolean } = {},
): Options {
  const known = new Map(Object.keys(schema).map((k) => [normalKey(k), k]));
  const values: Record<string, OptionValue> = {};
  const where = `the ${d.name} directive`;
  for (const o of d.options) {
    const canonical = known.get(normalKey(o.key));
    if (canonical === undefined) {
      const names = Object.keys(schema);
      throw invalid(
        `Cannot use ${where}: unknown option "${o.key}" at column ${o.keyAt + 1}; ${d.name} takes ${names.length === 0 ? 'no options' : names.join(', ')}`,
      );
    }
    const spec = schema[canonical] as OptionSpec;
    const shown = spec.secret ? 'the value given' : `"${o.value.slice(0, 60)}"`;
    if (o.value.length === 0) {
      throw invalid(
        `Cannot use ${where}: option ${canonical} at column ${o.keyAt + 1} has no value: expected ${expected(spec)}`,
      );
    }
    const v = convert(spec, o.value);
    if (v === undefined) {
      throw invalid(
        `Cannot use ${where}: option ${canonical} at column ${o.valueAt + 1}: expected ${expected(spec)}, found ${shown}`,
      );
    }
    if (
      typeof v === 'number' &&
      ((spec.min !== undefined && v < spec.min) || (spec.max !== undefined && v > spec.max))
    ) {
      throw invalid(
        `Cannot use ${where}: option ${canonical} at column ${o.valueAt + 1}: expected ${expected(spec)}${spec.type === 'size' ? ` (bytes: ${spec.min ?? 0}–${spec.max ?? '∞'})` : ''}, found ${shown}`,
      );
    }
    values[canonical] = v;
  }
  for (const [name, spec] of Object.entries(schema)) {
    if (values[name] !== undefined) continue;
    if (spec.default !== undefined) values[name] = spec.default;
    else if (spec.required && requireAll) {
      throw invalid(
        `Cannot use ${where}: option ${name} is missing: expected ${expected(spec)} (${spec.description})`,
      );
    }
  }
  return values;
}

/** The directive to store in a snapshot: as given, without the options marked secret. */
export function storedDirective(d: Directive, schema: OptionSchema): string {
  const secret = new Set(
    Object.entries(schema)
      .filter(([, s]) => s.secret)
      .map(([k]) => normalKey(k)),
  );
  if (!d.options.some((o) => secret.has(normalKey(o.key)))) return d.text;
  return formatDirective(
    d.name,
    d.options.filter((o) => !secret.has(normalKey(o.key))).map((o) => [o.key, o.value] as const),
  );
}

/**
 * A stored directive with an override's options (Bareos' plugin options at restore): options
 * the override gives replace the stored ones, the others stay. The result is a new directive
 * text, parsed again, so its columns are its own.
 */
export function mergeDirective(stored: Directive, override: Directive): Directive {
  const given = new Map(override.options.map((o) => [normalKey(o.key), o]));
  const pairs: [string, string][] = stored.options.map((o) => {
    const over = given.get(normalKey(o.key));
    if (over) given.delete(normalKey(o.key));
    return [o.key, over ? over.value : o.value];
  });
  for (const o of given.values()) pairs.push([o.key, o.value]);
  return parseDirective(formatDirective(stored.name, pairs));
}

/** An identity value compared: paths as absolute, normalised paths ("MYSQL/a" is "/MYSQL/a"). */
function identityOf(spec: OptionSpec, text: string): OptionValue | undefined {
  return spec.type === 'path' ? posix.normalize(`/${text}`) : convert(spec, text);
}

/**
 * Whether an override applies to a stored use of a plugin: when it gives an identity option
 * (bpipe's file), only to the use with the same value.
 */
export function overrideApplies(stored: Directive, override: Directive, schema: OptionSchema): boolean {
  if (stored.name.toLowerCase() !== override.name.toLowerCase()) return false;
  for (const [name, spec] of Object.entries(schema)) {
    if (!spec.identity) continue;
    const o = override.options.find((x) => normalKey(x.key) === normalKey(name));
    if (o === undefined) continue;
    const s = stored.options.find((x) => normalKey(x.key) === normalKey(name));
    if (s === undefined || identityOf(spec, s.value) !== identityOf(spec, o.value)) return false;
  }
  return true;
}
