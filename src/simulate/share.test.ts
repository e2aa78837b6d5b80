import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isCairnError } from '../errors.ts';
import { checkInput, DEFAULTS } from './input.ts';
import {
  parseGfsText,
  parseIntervalText,
  parseMonthlyText,
  parsePointsText,
  parseSizeText,
  parseWeekdaysText,
  resolvePoints,
} from './parse.ts';
import { inputFromText, parseRpsQuery, parseShareQuery, toShareQuery } from './share.ts';
import { arbInput } from './testing.testing.ts';

const GiB = 1024 ** 3;
const START = '2024-01-01T22:00:00Z';

function usage(fn: () => unknown, message: string): void {
  assert.throws(fn, (err: unknown) => isCairnError(err, 'USAGE') && err.message === message);
}

describe('text values', () => {
  it('reads sizes as the other commands do: GB decimal, GiB and bare letters binary', () => {
    assert.equal(parseSizeText('1000GB', 'x'), 1000 * 1000 ** 3);
    assert.equal(parseSizeText('1.5TiB', 'x'), 1.5 * 1024 ** 4);
    assert.equal(parseSizeText('512g', 'x'), 512 * GiB);
    assert.equal(parseSizeText('4096', 'x'), 4096);
    usage(
      () => parseSizeText('lots', '--used'),
      '--used: expected a size like 1000GB, 1.5TiB or 500GiB, got "lots"',
    );
  });

  it('turns a retention period into runs as RPS does (a month is 31 days), rounding up', () => {
    assert.equal(parsePointsText('14', 'x'), 14);
    assert.equal(parsePointsText('2.5M', 'x'), '2.5m');
    // 2.5 × 31 = 77.5 days → 78; a year of 4-hourly runs 365 × 6 = 2190; 5 weeks twice a day 70.
    assert.equal(resolvePoints('2.5m', 24), 78);
    assert.equal(resolvePoints('1y', 4), 2190);
    assert.equal(resolvePoints('5w', 12), 70);
    assert.equal(resolvePoints('1q', 24), 92);
    usage(
      () => parsePointsText('x', '--points'),
      '--points: expected a number of points or 7d/5w/2m/1q/1y, got "x"',
    );
    usage(
      () => parsePointsText('0', 'r'),
      'r: expected a number of points or 7d/5w/2m/1q/1y (at least 1), got "0"',
    );
  });

  it('reads intervals, days, monthly schedules and GFS counts', () => {
    assert.equal(parseIntervalText('daily', 'x'), 24);
    assert.equal(parseIntervalText('D', 'x'), 24);
    assert.equal(parseIntervalText('4h', 'x'), 4);
    usage(
      () => parseIntervalText('5h', 'i'),
      'i: expected daily or every 1h, 2h, 3h, 4h, 6h, 8h or 12h, got "5h"',
    );
    assert.deepEqual(parseWeekdaysText('Saturday,mon', 'x'), ['mon', 'sat']);
    assert.deepEqual(parseWeekdaysText('none', 'x'), []);
    usage(
      () => parseWeekdaysText('sa', '--synthetic-full'),
      '--synthetic-full: expected days like sat or mon,thu (or none), got "sa"',
    );
    assert.deepEqual(parseMonthlyText('last-sun:jul,jan', 'x'), {
      week: 'last',
      weekday: 'sun',
      months: ['jan', 'jul'],
    });
    assert.equal(parseMonthlyText('first-sat', 'x')?.months.length, 12);
    assert.equal(parseMonthlyText('none', 'x'), null);
    assert.deepEqual(parseGfsText('1y,4w', 'x'), { weekly: 4, monthly: 0, quarterly: 0, yearly: 1 });
    assert.deepEqual(parseGfsText('4,12,0,1', 'x'), { weekly: 4, monthly: 12, quarterly: 0, yearly: 1 });
    usage(
      () => parseGfsText('4w,4w', '--gfs'),
      '--gfs: expected GFS counts like 4w,12m,0q,1y or 4,12,0,1 (or none), got "4w,4w"',
    );
  });
});

describe("Cairn's share string", () => {
  it('holds only what differs from the defaults, and the start', () => {
    assert.equal(
      toShareQuery(checkInput({ start: START })),
      'style=incremental&start=2024-01-01T22%3A00%3A00Z',
    );
    const input = checkInput({
      style: 'backup-copy',
      usedBytes: 2 * 1000 ** 4,
      gfs: { weekly: 4, monthly: 12, quarterly: 0, yearly: 1 },
      fastClone: true,
      start: START,
    });
    const query = toShareQuery(input);
    assert.equal(
      decodeURIComponent(query),
      'style=backup-copy&used=2TB&gfs=4w,12m,0q,1y&fast-clone=1&start=2024-01-01T22:00:00Z',
    );
    assert.deepEqual(parseShareQuery(query), input);
    assert.deepEqual(parseShareQuery(`https://cairn.example/simulate?${query}`), input);
  });

  it('reads back every input it writes', () => {
    fc.assert(
      fc.property(arbInput, (input) => {
        assert.deepEqual(parseShareQuery(toShareQuery(input)), input);
      }),
      { numRuns: 200 },
    );
  });

  it('names the parameter of every problem', () => {
    usage(() => parseShareQuery('style=incremental&start=2024-01-01&foo=1'), 'foo: unknown parameter');
    usage(() => parseShareQuery('points=3&points=4&start=2024-01-01'), 'points: given twice');
    usage(
      () => parseShareQuery('points=x&start=2024-01-01'),
      'points: expected a number of points or 7d/5w/2m/1q/1y, got "x"',
    );
    usage(
      () => parseShareQuery('style=reverse&synthetic-full=sat&start=2024-01-01'),
      'synthetic-full: synthetic fulls are only for the incremental style',
    );
    usage(
      () => parseShareQuery('style=cairn&gfs=600w&start=2024-01-01'),
      'gfs (weekly): expected a whole number from 0 to 520, got 600',
    );
    usage(
      () => parseShareQuery('style=cairn'),
      'start: required: the date of the first run, in UTC (2024-01-01T22:00:00Z)',
    );
  });

  it('builds an input from option text, over a base', () => {
    const base = checkInput({ style: 'reverse', points: 30, start: START });
    const input = inputFromText({ change: '5%', 'fast-clone': true }, { base });
    assert.deepEqual(input, { ...base, changePercent: 5, fastClone: true });
    usage(
      () =>
        inputFromText(
          { points: '99' },
          { base: checkInput({ style: 'replica', start: START }), label: (k) => `--${k}` },
        ),
      '--points: a replica keeps at most 28 restore points, not 99',
    );
  });
});

describe('RPS share links', () => {
  const opts = { defaultStart: START };

  it('reads the basic parameters with RPS defaults', () => {
    // s in GB as RPS counts them: binary.
    const { input, ignored } = parseRpsQuery('?m=1&s=1000&r=14&c=50&d=10&i=D&e', opts);
    assert.deepEqual(input, checkInput({ start: START }));
    assert.deepEqual(ignored, []);
    assert.equal(input.usedBytes, DEFAULTS.usedBytes);
  });

  it('reads sizes with units, periods, intervals and synthetic days', () => {
    const { input } = parseRpsQuery(
      'http://rps.dewin.me/?m=1&s=10tb&r=2w&c=40&d=5&i=4&sy=0,0,0,0,0,1,0&e',
      opts,
    );
    assert.equal(input.usedBytes, 10 * 1024 ** 4);
    assert.equal(input.points, '2w');
    assert.equal(input.reductionPercent, 40);
    assert.equal(input.changePercent, 5);
    assert.equal(input.intervalHours, 4);
    assert.deepEqual(input.syntheticFullDays, ['sat']);
    assert.equal(parseRpsQuery('m=1&s=500m', opts).input.usedBytes, 500 * 1024 ** 2);
    assert.equal(parseRpsQuery('m=1&s=1.5pb', opts).input.usedBytes, 1.5 * 1024 ** 5);
  });

  it('reads active fulls of reverse incremental: weekly days and monthly months (first Saturday)', () => {
    const { input } = parseRpsQuery('m=2&rw=0,0,0,0,0,1,0&rm=1,0,0,1,0,0,1,0,0,1,0,0&r=30', opts);
    assert.equal(input.style, 'reverse');
    assert.deepEqual(input.activeFullDays, ['sat']);
    assert.deepEqual(input.activeFullMonthly, {
      week: 'first',
      weekday: 'sat',
      months: ['jan', 'apr', 'jul', 'oct'],
    });
  });

  it('reads GFS, GFS active fulls, growth and fast clone', () => {
    const { input } = parseRpsQuery('m=3&r=7&g=4,12,0,1&gaf=1&dg=1&dgy=3&dgr=10&re=1', opts);
    assert.deepEqual(input.gfs, { weekly: 4, monthly: 12, quarterly: 0, yearly: 1 });
    assert.equal(input.gfsActiveFull, true);
    assert.equal(input.growthPercent, 10);
    assert.equal(input.years, 3);
    assert.equal(input.fastClone, true);
  });

  it('lists what it leaves out, and why', () => {
    const { input, ignored } = parseRpsQuery(
      'm=4&r=7&re=1&sy=0,0,0,0,0,1,0&dg=0&dgr=20&ctme=1&ctmd=30&x',
      opts,
    );
    assert.equal(input.style, 'replica');
    assert.equal(input.fastClone, false);
    assert.equal(input.growthPercent, 0);
    assert.deepEqual(ignored, [
      { param: 'dgr', reason: 'growth is off (dg is not 1)' },
      { param: 'sy', reason: 'RPS does not apply it to style 4' },
      { param: 're', reason: 'RPS does not apply it to style 4' },
      { param: 'ctme', reason: 'the capacity tier is not simulated' },
      { param: 'ctmd', reason: 'the capacity tier is not simulated' },
    ]);
  });

  it('names the parameter of every problem', () => {
    usage(
      () => parseRpsQuery('m=5', opts),
      'm: expected 1 (incremental), 2 (reverse incremental), 3 (backup copy job) or 4 (replica), got "5"',
    );
    usage(
      () => parseRpsQuery('m=1&sy=1,0', opts),
      'sy: expected 7 flags of 0 or 1 (Monday first), got "1,0"',
    );
    usage(() => parseRpsQuery('m=4&r=40', opts), 'r: a replica keeps at most 28 restore points, not 40');
    usage(
      () => parseRpsQuery('m=1&c=0', opts),
      'c: expected a percentage above 0, up to 100 (100: no reduction), got 0',
    );
    usage(
      () => parseRpsQuery('m=1'),
      'start: required: the date of the first run, in UTC (2024-01-01T22:00:00Z)',
    );
  });
});
