/** The logon brake's rules on an injected clock: per name and address, per name, per address. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LogonLimiter } from './auth.ts';

const MIN = 60_000;

describe('LogonLimiter', () => {
  it('brakes one name from one address after 5 failures, for the rest of the minute', () => {
    const l = new LogonLimiter();
    for (let i = 0; i < 5; i++) {
      assert.equal(l.retryAfter('vera', '10.0.0.1', 1000 + i), 0);
      l.failed('vera', '10.0.0.1', 1000 + i);
    }
    assert.equal(l.retryAfter('vera', '10.0.0.1', 1010), 60);
    assert.equal(l.retryAfter('vera', '10.0.0.2', 1010), 0, 'another address may still try');
    assert.equal(l.retryAfter('otto', '10.0.0.1', 1010), 0, 'another name may still try');
    assert.equal(l.retryAfter('vera', '10.0.0.1', 999 + MIN), 1, 'until the first failure is a minute old');
    assert.equal(l.retryAfter('vera', '10.0.0.1', 1000 + MIN), 0);
  });

  it('brakes one name tried from many addresses after 20 failures in 15 minutes', () => {
    const l = new LogonLimiter();
    for (let i = 0; i < 20; i++) l.failed('vera', `10.0.1.${i}`, i * 1000);
    assert.ok(l.retryAfter('vera', '10.0.2.1', 20_000) > 14 * 60);
    assert.equal(l.retryAfter('otto', '10.0.2.1', 20_000), 0);
    assert.equal(l.retryAfter('vera', '10.0.2.1', 15 * MIN + 1000), 0, 'the window passes');
  });

  it('lets a name log on where it logged on before, while others attack it elsewhere', () => {
    const l = new LogonLimiter();
    l.succeeded('vera', '192.0.2.7', 0);
    for (let i = 0; i < 25; i++) l.failed('vera', `10.0.1.${i}`, 1000 + i);
    assert.ok(l.retryAfter('vera', '10.0.9.9', 2000) > 0, 'a new address is braked');
    assert.equal(l.retryAfter('vera', '192.0.2.7', 2000), 0, 'the known address is not');
    // 30 days later the address is no longer known.
    for (let i = 0; i < 20; i++) l.failed('vera', `10.0.3.${i}`, 31 * 24 * 60 * MIN + i);
    assert.ok(l.retryAfter('vera', '192.0.2.7', 31 * 24 * 60 * MIN + 100) > 0);
  });

  it('brakes each name of a spray from one address, but not a name that has not failed there', () => {
    const l = new LogonLimiter();
    for (let i = 0; i < 9; i++) l.failed(`user${i}`, '10.0.0.1', i * 1000);
    assert.equal(l.retryAfter('user0', '10.0.0.1', 10_000), 0, 'nine names are no spray');
    l.failed('user9', '10.0.0.1', 9000);
    // Ten names: each of them waits until its failure is 15 minutes old (or the spray ends).
    assert.equal(l.retryAfter('user0', '10.0.0.1', 10_000), 15 * 60 - 10);
    assert.equal(l.retryAfter('user9', '10.0.0.1', 10_000), 15 * 60 - 10, 'the spray ends first');
    assert.equal(l.retryAfter('user0', '10.0.0.2', 10_000), 0, 'from elsewhere a name may try');
    assert.equal(l.retryAfter('alice', '10.0.0.1', 10_000), 0, 'a name that has not failed may try');
    l.failed('alice', '10.0.0.1', 11_000);
    assert.ok(l.retryAfter('alice', '10.0.0.1', 11_000) > 0, 'once it failed, it waits too');
    // Past the window of the first names the spray is over.
    assert.equal(l.retryAfter('user9', '10.0.0.1', 9000 + 15 * MIN), 0);
  });

  it('forgets the failures of a name that logs on, and keeps its memory bounded', () => {
    const l = new LogonLimiter({ maxEntries: 50 });
    for (let i = 0; i < 4; i++) l.failed('vera', '10.0.0.1', i);
    l.succeeded('vera', '10.0.0.1', 10);
    for (let i = 0; i < 4; i++) l.failed('vera', '10.0.0.1', 20 + i);
    assert.equal(l.retryAfter('vera', '10.0.0.1', 30), 0, 'a good logon starts the count afresh');
    // A flood of names from many addresses: the oldest entries go, the newest stay.
    for (let i = 0; i < 10_000; i++) l.failed(`n${i}`, `10.1.${i >> 8}.${i & 255}`, 100 + i);
    for (let i = 0; i < 5; i++) l.failed('last', '10.9.9.9', 20_000 + i);
    assert.ok(l.retryAfter('last', '10.9.9.9', 20_010) > 0);
  });
});
