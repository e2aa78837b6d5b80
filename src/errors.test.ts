import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { CairnError, ERRORS } from './errors.ts';
import { errorsMarkdown } from './errors-doc.ts';

describe('error registry', () => {
  it('gives every code its own exit code', () => {
    const exits: number[] = Object.values(ERRORS).map((e) => e.exit);
    assert.equal(new Set(exits).size, exits.length);
    assert.ok(!exits.includes(0) && !exits.includes(3), 'exit codes 0 and 3 mean success');
  });

  it('is documented in docs/errors.md exactly as generated', () => {
    const doc = readFileSync(new URL('../docs/errors.md', import.meta.url), 'utf8');
    assert.equal(doc, errorsMarkdown(), 'run: node scripts/gen-errors-doc.ts');
  });

  it('carries the code and the cause', () => {
    const cause = new Error('disk');
    const e = new CairnError('BACKEND_IO', 'Cannot write data/ab: disk', { cause });
    assert.equal(e.code, 'BACKEND_IO');
    assert.equal(e.spec.exit, 50);
    assert.equal(e.cause, cause);
  });
});
