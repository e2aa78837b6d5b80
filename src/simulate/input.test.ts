import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isCairnError } from '../errors.ts';
import { checkInput, DEFAULTS, INPUT_SCHEMA, validateInput, type InputError } from './input.ts';
import { STYLES, WEEKDAYS } from './types.ts';

const START = '2024-01-01T22:00:00Z';

function errorsOf(value: unknown): readonly InputError[] {
  const v = validateInput(value);
  assert.equal(v.ok, false, 'expected the input to be refused');
  return v.ok ? [] : v.errors;
}

describe('input validation', () => {
  it('fills in RPS defaults and normalizes the start', () => {
    const v = validateInput({ start: '2024-01-01T22:00' });
    assert.ok(v.ok);
    assert.deepEqual(v.input, { ...DEFAULTS, points: 14, start: START });
    assert.equal(checkInput({ style: 'backup-copy', start: START }).points, 7);
    assert.equal(checkInput({ style: 'replica', start: START }).points, 7);
    assert.equal(checkInput({ start: '2024-03-05' }).start, '2024-03-05T00:00:00Z');
  });

  it('needs a start, or a default start from the caller', () => {
    assert.deepEqual(
      errorsOf({}).map((e) => e.path),
      ['start'],
    );
    const v = validateInput({}, { defaultStart: '2030-06-01T22:00:00.000Z' });
    assert.ok(v.ok && v.input.start === '2030-06-01T22:00:00Z');
    assert.match(
      errorsOf({ start: '2024-02-30T22:00' })[0]?.message ?? '',
      /expected a date and time in UTC/,
    );
    assert.equal(errorsOf({ start: 20240101 })[0]?.path, 'start');
  });

  it('refuses unknown fields and wrong types, naming each field', () => {
    const errors = errorsOf({
      start: START,
      used: 5,
      usedBytes: '1000',
      points: 'x',
      changePercent: 120,
      fastClone: 'yes',
      syntheticFullDays: ['sat', 'funday', 'sat'],
      gfs: { weekly: -1, fortnightly: 2 },
      activeFullMonthly: { week: 'first', weekday: 'sat', months: ['jan', 'janv'], day: 1 },
    });
    assert.deepEqual(
      errors.map((e) => e.path),
      [
        'used',
        'usedBytes',
        'points',
        'changePercent',
        'fastClone',
        'syntheticFullDays[1]',
        'syntheticFullDays[2]',
        'activeFullMonthly.day',
        'activeFullMonthly.months[1]',
        'gfs.fortnightly',
        'gfs.weekly',
      ],
    );
    const message = (path: string) => errors.find((e) => e.path === path)?.message;
    assert.equal(message('used'), 'unknown field');
    assert.equal(message('usedBytes'), 'expected a whole number of bytes, at least 1, got "1000"');
    assert.equal(message('points'), 'expected a number of points or 7d/5w/2m/1q/1y, got "x"');
    assert.equal(message('syntheticFullDays[1]'), `expected one of ${WEEKDAYS.join(', ')}, got "funday"`);
    assert.equal(message('syntheticFullDays[2]'), 'sat is listed twice');
    assert.equal(message('gfs.weekly'), 'expected a whole number from 0 to 520, got -1');
    assert.deepEqual(errorsOf([1, 2]), [{ path: '', message: 'expected an object, got [1,2]' }]);
  });

  it('refuses what does not apply to the style', () => {
    const paths = (value: object) =>
      errorsOf({ start: START, ...value }).map((e) => `${e.path}: ${e.message}`);
    assert.deepEqual(paths({ style: 'reverse', syntheticFullDays: ['sat'] }), [
      'syntheticFullDays: synthetic fulls are only for the incremental style',
    ]);
    assert.deepEqual(paths({ style: 'replica', activeFullDays: ['sat'] }), [
      'activeFullDays: scheduled active fulls are only for the incremental and reverse styles',
    ]);
    assert.deepEqual(paths({ gfs: { weekly: 4 } }), [
      'gfs: GFS archives are only for the backup-copy and cairn styles',
    ]);
    assert.deepEqual(paths({ style: 'backup-copy', gfsActiveFull: true }), [
      'gfsActiveFull: needs at least one GFS count (gfs.weekly, monthly, quarterly or yearly)',
    ]);
    assert.deepEqual(paths({ style: 'cairn', fastClone: true }), [
      'fastClone: fast clone is only for the incremental, reverse and backup-copy styles',
    ]);
    assert.deepEqual(paths({ style: 'replica', points: '5w' }), [
      'points: a replica keeps at most 28 restore points, not 35',
    ]);
    assert.match(
      paths({ intervalHours: 1, points: '1y', years: 10 })[0] ?? '',
      /^points: too large to simulate: 87601 runs/,
    );
  });

  it('checkInput throws one USAGE error listing every problem', () => {
    assert.throws(
      () => checkInput({ start: START, points: 0, reductionPercent: 0 }),
      (err: unknown) =>
        isCairnError(err, 'USAGE') &&
        err.message ===
          'points: expected a number of points or 7d/5w/2m/1q/1y, got 0; ' +
            'reductionPercent: expected a percentage above 0, up to 100 (100: no reduction), got 0',
    );
  });

  it('has a JSON schema naming the same fields and values', () => {
    const schema = JSON.parse(JSON.stringify(INPUT_SCHEMA)) as typeof INPUT_SCHEMA;
    assert.deepEqual(Object.keys(schema.properties).sort(), Object.keys(checkInput({ start: START })).sort());
    assert.deepEqual(schema.properties.style.enum, STYLES);
    assert.deepEqual(schema.properties.syntheticFullDays.items.enum, WEEKDAYS);
    assert.deepEqual(Object.keys(schema.properties.gfs.properties), [
      'weekly',
      'monthly',
      'quarterly',
      'yearly',
    ]);
    for (const [key, spec] of Object.entries(schema.properties)) {
      if ('default' in spec && key !== 'points')
        assert.deepEqual(spec.default, (DEFAULTS as Record<string, unknown>)[key], key);
    }
  });
});
