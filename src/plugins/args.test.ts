import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ArgsError, showArgs, splitArgs } from './args.ts';

describe('splitArgs', () => {
  it('splits on blanks and honours quotes and backslashes, expanding nothing', () => {
    assert.deepEqual(splitArgs('pg_dump  -Fc\tmydb'), ['pg_dump', '-Fc', 'mydb']);
    assert.deepEqual(splitArgs(`sh -c 'seq 1 10 | tail -n 2'`), ['sh', '-c', 'seq 1 10 | tail -n 2']);
    assert.deepEqual(splitArgs(`echo "a \\"b\\" \\\\ \\n $HOME"`), ['echo', 'a "b" \\ \\n $HOME']);
    assert.deepEqual(splitArgs(`a\\ b c'd'"e" '' ""`), ['a b', 'cde', '', '']);
    assert.deepEqual(splitArgs('ls * ~ $X'), ['ls', '*', '~', '$X']);
    assert.deepEqual(splitArgs('   '), []);
  });

  it('refuses an unclosed quote or a trailing backslash, with the column', () => {
    const col = (line: string) => {
      try {
        splitArgs(line);
      } catch (err) {
        assert.ok(err instanceof ArgsError);
        return [err.message, err.column];
      }
      return undefined;
    };
    assert.deepEqual(col(`sh -c 'echo`), ['a single quote is not closed', 7]);
    assert.deepEqual(col(`echo "a`), ['a double quote is not closed', 6]);
    assert.deepEqual(col(`echo a\\`), ['a backslash ends the command line', 7]);
  });

  it('reads back any words that showArgs quotes (fuzzed)', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ unit: 'grapheme' }), { minLength: 1, maxLength: 6 }), (words) => {
        assert.deepEqual(splitArgs(showArgs(words)), words);
      }),
      { numRuns: 2000 },
    );
  });
});
