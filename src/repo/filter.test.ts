import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { describeFilter, filterIsEmpty, matchesFilter, parseTagSet, type SnapshotFilter } from './filter.ts';

const web = { host: 'web', paths: ['/etc', '/srv'], tags: ['daily', 'prod'] };
const db = { host: 'db', paths: ['/var/lib/pg'], tags: ['daily'] };
const bare = { host: 'web', paths: ['/etc'], tags: [] };

function chosen(f: SnapshotFilter): string[] {
  return [
    ['web', web],
    ['db', db],
    ['bare', bare],
  ]
    .filter(([, s]) => matchesFilter(s as typeof web, f))
    .map(([n]) => n as string);
}

describe('snapshot filter', () => {
  it('matches every snapshot when empty', () => {
    assert.ok(filterIsEmpty({}));
    assert.ok(filterIsEmpty({ hosts: [], tags: [], paths: [] }));
    assert.deepEqual(chosen({}), ['web', 'db', 'bare']);
  });

  it('takes any of several hosts', () => {
    assert.deepEqual(chosen({ hosts: ['db'] }), ['db']);
    assert.deepEqual(chosen({ hosts: ['db', 'web'] }), ['web', 'db', 'bare']);
    assert.deepEqual(chosen({ hosts: ['mail'] }), []);
  });

  it('needs every tag of a set, and any one of several sets', () => {
    assert.deepEqual(chosen({ tags: [['daily']] }), ['web', 'db']);
    assert.deepEqual(chosen({ tags: [['daily', 'prod']] }), ['web']);
    assert.deepEqual(chosen({ tags: [['prod'], ['missing']] }), ['web']);
    assert.deepEqual(chosen({ tags: [['missing', 'daily']] }), []);
  });

  it('takes an empty tag set for snapshots without tags', () => {
    assert.deepEqual(chosen({ tags: [parseTagSet('')] }), ['bare']);
    assert.deepEqual(chosen({ tags: [[], ['prod']] }), ['web', 'bare']);
  });

  it('needs every path given among the snapshot paths', () => {
    assert.deepEqual(chosen({ paths: ['/etc'] }), ['web', 'bare']);
    assert.deepEqual(chosen({ paths: ['/etc', '/srv'] }), ['web']);
    assert.deepEqual(chosen({ paths: ['/etc/'] }), []);
  });

  it('needs every criterion given', () => {
    assert.deepEqual(chosen({ hosts: ['web'], tags: [['daily']], paths: ['/etc'] }), ['web']);
    assert.deepEqual(chosen({ hosts: ['db'], paths: ['/etc'] }), []);
  });

  it('reads "a,b" as one set of two tags and drops blank parts', () => {
    assert.deepEqual(parseTagSet('a,b'), ['a', 'b']);
    assert.deepEqual(parseTagSet(' a , '), ['a']);
    assert.deepEqual(parseTagSet(''), []);
  });

  it('describes itself in words', () => {
    assert.equal(
      describeFilter({ hosts: ['a', 'b'], tags: [['x', 'y'], []], paths: ['/etc'] }),
      'host a or b, tags x and y or (none), path /etc',
    );
  });
});
