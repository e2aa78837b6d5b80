import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { CairnError } from '../errors.ts';
import type { OptionSchema } from './api.ts';
import {
  escapeValue,
  formatDirective,
  isDirective,
  mergeDirective,
  overrideApplies,
  parseDirective,
  storedDirective,
  validateOptions,
} from './directive.ts';

/** Asserts `fn` throws PLUGIN_DIRECTIVE_INVALID with a message matching `pattern`. */
function refuses(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof CairnError, String(err));
    assert.equal(err.code, 'PLUGIN_DIRECTIVE_INVALID');
    assert.match(err.message, pattern);
    return true;
  });
}

const SCHEMA: OptionSchema = {
  file: { type: 'path', required: true, identity: true, description: 'pseudo path' },
  reader: { type: 'string', required: true, description: 'reader' },
  writer: { type: 'string', description: 'writer' },
  switchWalTimeout: { type: 'integer', min: 1, max: 3600, default: 60, description: 'seconds' },
  switchWal: { type: 'boolean', default: true, description: 'switch' },
  mode: { type: 'enum', values: ['fast', 'spread'], description: 'mode' },
  limit: { type: 'size', min: 1024, description: 'limit' },
  dbPassword: { type: 'string', secret: true, description: 'password' },
};

describe('parseDirective', () => {
  it('reads the name and each option with the columns of key and value', () => {
    const text = 'bpipe:file=/MYSQL/dump.sql:reader=mysqldump --all:writer=mysql';
    const d = parseDirective(text);
    assert.equal(d.name, 'bpipe');
    assert.deepEqual(
      d.options.map((o) => [o.key, o.value]),
      [
        ['file', '/MYSQL/dump.sql'],
        ['reader', 'mysqldump --all'],
        ['writer', 'mysql'],
      ],
    );
    for (const o of d.options) {
      assert.equal(text.slice(o.keyAt, o.keyAt + o.key.length), o.key);
      assert.equal(text[o.valueAt - 1], '=');
    }
  });

  it('takes \\: as a colon and \\\\ as a backslash, keeps other backslashes and later "="', () => {
    const d = parseDirective(String.raw`bpipe:file=/a\:b:reader=printf 'x\n' a=b\\:writer=c\\\:d`);
    assert.deepEqual(
      d.options.map((o) => o.value),
      ['/a:b', String.raw`printf 'x\n' a=b\ `.trimEnd(), String.raw`c\:d`],
    );
  });

  it('accepts a name alone', () => {
    assert.deepEqual(parseDirective('maxsize').options, []);
  });

  it('names the column of each problem', () => {
    refuses(() => parseDirective(':a=b'), /no plugin name.*column 1/);
    refuses(() => parseDirective('9x:a=b'), /not a plugin name/);
    refuses(() => parseDirective('bpipe:file'), /expected key=value at column 7, found "file"/);
    refuses(() => parseDirective('bpipe:file=a::reader=b'), /empty option at column 14/);
    refuses(() => parseDirective('bpipe:file=a:'), /empty option at column 14.*colon at the end/);
    refuses(() => parseDirective('bpipe:file=a\\'), /lone backslash \(column 13\)/);
    refuses(() => parseDirective('bpipe:=a'), /column 7 has no name/);
    refuses(() => parseDirective('bpipe:fi le=a'), /"fi le" at column 7 is not an option name/);
    refuses(
      () => parseDirective('bpipe:file=a:FILE=b'),
      /"FILE" at column 14 is given twice \(first at column 7\)/,
    );
    refuses(() => parseDirective('pg:db_host=a:dbHost=b'), /given twice/);
  });
});

describe('isDirective', () => {
  it('tells directives from paths', () => {
    assert.equal(isDirective('bpipe:file=/a:reader=b'), true);
    assert.equal(isDirective('python3:module=x'), true);
    assert.equal(isDirective('/etc'), false);
    assert.equal(isDirective('./a:b'), false);
    assert.equal(isDirective('~/x:y'), false);
    assert.equal(isDirective('home'), false);
  });
});

describe('validateOptions', () => {
  const d = (text: string) => parseDirective(text);

  it('converts values, matches keys whatever their case, "_" or "-", and fills defaults', () => {
    const v = validateOptions(
      d('x:FILE=/a:reader=r:switch_wal_timeout=120:SWITCH-WAL=no:mode=FAST:limit=64K'),
      SCHEMA,
    );
    assert.deepEqual(v, {
      file: '/a',
      reader: 'r',
      switchWalTimeout: 120,
      switchWal: false,
      mode: 'fast',
      limit: 65536,
    });
    assert.equal(validateOptions(d('x:file=/a:reader=r:limit=1.5G'), SCHEMA).limit, 1.5 * 1024 ** 3);
  });

  it('names the option, its column and what was expected', () => {
    refuses(
      () => validateOptions(d('x:file=/a:raeder=r'), SCHEMA),
      /unknown option "raeder" at column 11; x takes file, reader, writer/,
    );
    refuses(() => validateOptions(d('x:file=/a'), SCHEMA), /option reader is missing/);
    refuses(
      () => validateOptions(d('x:file=/a:reader=r:switchWalTimeout=abc'), SCHEMA),
      /option switchWalTimeout at column 37: expected an integer ≥ 1 ≤ 3600, found "abc"/,
    );
    refuses(
      () => validateOptions(d('x:file=/a:reader=r:switchWalTimeout=0'), SCHEMA),
      /switchWalTimeout at column 37: expected an integer ≥ 1/,
    );
    refuses(() => validateOptions(d('x:file=/a:reader=r:switchWal=maybe'), SCHEMA), /expected yes or no/);
    refuses(() => validateOptions(d('x:file=/a:reader=r:mode=slow'), SCHEMA), /expected one of fast, spread/);
    refuses(() => validateOptions(d('x:file=/a:reader=r:limit=12Q'), SCHEMA), /expected a size/);
    refuses(() => validateOptions(d('x:file=/a:reader=r:limit=12'), SCHEMA), /expected a size/);
    refuses(() => validateOptions(d('x:file=:reader=r'), SCHEMA), /option file at column 3 has no value/);
  });

  it('never shows a secret value', () => {
    const schema: OptionSchema = { pin: { type: 'integer', secret: true, description: 'pin' } };
    assert.throws(
      () => validateOptions(d('x:pin=hunter2'), schema),
      (err: Error) => !err.message.includes('hunter2') && /the value given/.test(err.message),
    );
  });

  it('leaves required options to the stored directive for an override', () => {
    assert.deepEqual(validateOptions(d('x:writer=w'), SCHEMA, { requireAll: false }), {
      writer: 'w',
      switchWalTimeout: 60,
      switchWal: true,
    });
  });
});

describe('stored directives and overrides', () => {
  it('leaves secret options out of the stored directive', () => {
    assert.equal(storedDirective(parseDirective('x:file=/a:reader=r'), SCHEMA), 'x:file=/a:reader=r');
    assert.equal(
      storedDirective(parseDirective('x:file=/a\\:b:dbPassword=s3cret:reader=r'), SCHEMA),
      'x:file=/a\\:b:reader=r',
    );
  });

  it('replaces the stored options an override gives and keeps the others', () => {
    const merged = mergeDirective(
      parseDirective('bpipe:file=/a:reader=r:writer=w'),
      parseDirective('bpipe:WRITER=psql -c x\\:y:mode=fast'),
    );
    assert.deepEqual(
      merged.options.map((o) => [o.key, o.value]),
      [
        ['file', '/a'],
        ['reader', 'r'],
        ['writer', 'psql -c x:y'],
        ['mode', 'fast'],
      ],
    );
  });

  it('applies an override naming an identity option only to that use', () => {
    const a = parseDirective('bpipe:file=/db/a.sql:reader=r');
    const b = parseDirective('bpipe:file=/db/b.sql:reader=r');
    const o = parseDirective('bpipe:file=db/a.sql:writer=w');
    assert.equal(overrideApplies(a, o, SCHEMA), true);
    assert.equal(overrideApplies(b, o, SCHEMA), false);
    assert.equal(overrideApplies(b, parseDirective('bpipe:writer=w'), SCHEMA), true);
    assert.equal(overrideApplies(b, parseDirective('other:writer=w'), SCHEMA), false);
  });
});

describe('the directive parser under fuzzing', () => {
  const name = fc.stringMatching(/^[A-Za-z][A-Za-z0-9_.-]{0,8}$/);
  const key = fc.stringMatching(/^[A-Za-z][A-Za-z0-9_-]{0,8}$/);
  const value = fc.string({ unit: fc.constantFrom('a', ':', '\\', '=', ' ', 'é', 'n', "'", '"', '\n') });

  it('either parses or refuses with PLUGIN_DIRECTIVE_INVALID and a column, whatever the text', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: fc.constantFrom('a', 'b', ':', '=', '\\', ' ', '_', '1', '-', '.') }),
        (text) => {
          try {
            const d = parseDirective(text);
            assert.equal(d.text, text);
          } catch (err) {
            assert.ok(err instanceof CairnError, String(err));
            assert.equal(err.code, 'PLUGIN_DIRECTIVE_INVALID');
            assert.match(err.message, /column \d+/);
          }
        },
      ),
      { numRuns: 3000 },
    );
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme' }), (text) => {
        try {
          parseDirective(text);
        } catch (err) {
          assert.ok(err instanceof CairnError && err.code === 'PLUGIN_DIRECTIVE_INVALID', String(err));
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('reads back what formatDirective writes, with columns that point at each key and value', () => {
    const pairs = fc.uniqueArray(fc.tuple(key, value), {
      maxLength: 6,
      selector: ([k]) => k.replace(/[_-]/g, '').toLowerCase(),
    });
    fc.assert(
      fc.property(name, pairs, (n, opts) => {
        const text = formatDirective(n, opts);
        const d = parseDirective(text);
        assert.equal(d.name, n);
        assert.deepEqual(
          d.options.map((o) => [o.key, o.value]),
          opts,
        );
        for (const [i, o] of d.options.entries()) {
          assert.equal(text.slice(o.keyAt, o.keyAt + o.key.length), o.key);
          const raw = escapeValue(opts[i]![1]);
          assert.equal(text.slice(o.valueAt, o.valueAt + raw.length), raw);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('merges an override so that its values win and the others stay', () => {
    const pairs = fc.uniqueArray(
      fc.tuple(
        key,
        value.filter((v) => v.length > 0),
      ),
      {
        minLength: 1,
        maxLength: 5,
        selector: ([k]) => k.replace(/[_-]/g, '').toLowerCase(),
      },
    );
    fc.assert(
      fc.property(pairs, pairs, (stored, over) => {
        const merged = mergeDirective(
          parseDirective(formatDirective('p', stored)),
          parseDirective(formatDirective('p', over)),
        );
        const norm = (k: string) => k.replace(/[_-]/g, '').toLowerCase();
        const got = new Map(merged.options.map((o) => [norm(o.key), o.value]));
        for (const [k, v] of over) assert.equal(got.get(norm(k)), v);
        for (const [k, v] of stored)
          if (!over.some(([o]) => norm(o) === norm(k))) assert.equal(got.get(norm(k)), v);
      }),
      { numRuns: 1000 },
    );
  });
});
