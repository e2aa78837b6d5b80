import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';

import { CairnError } from '../errors.ts';
import { listNames, rejectsWithCode, testName } from './conformance.testing.ts';
import { FaultBackend } from './fault.ts';
import type { FileType, Handle } from './index.ts';
import { LocalBackend } from './local.ts';
import { RetryBackend, isTransient } from './retry.ts';
import type { RetryOptions } from './retry.ts';

describe('RetryBackend', () => {
  let tmp: string;
  let local: LocalBackend;
  let fault: FaultBackend;
  let delays: number[];
  let retries: { op: string; target: Handle | FileType; attempt: number }[];

  /** A RetryBackend over `fault` whose sleeps are recorded, not waited. */
  function retrying(options: RetryOptions = {}): RetryBackend {
    return new RetryBackend(fault, {
      sleep: async (ms) => {
        delays.push(ms);
      },
      random: () => 0.5,
      onRetry: (op, target, attempt) => retries.push({ op, target, attempt }),
      ...options,
    });
  }

  const h: Handle = { type: 'data', name: testName('retry') };

  before(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'cairn-retry-'));
    local = new LocalBackend(path.join(tmp, 'repo'));
    await local.create();
    await local.write(h, [Buffer.from('payload')]);
  });

  after(async () => {
    await fs.rm(tmp, { recursive: true, force: true });
  });

  beforeEach(() => {
    fault = new FaultBackend(local);
    delays = [];
    retries = [];
  });

  it('retries a transient BACKEND_IO and succeeds', async () => {
    fault.failNext('read', 2);
    assert.deepEqual(await retrying().read(h), Buffer.from('payload'));
    assert.equal(fault.calls.read, 3);
    assert.deepEqual(delays, [100, 200]);
    assert.deepEqual(retries, [
      { op: 'read', target: h, attempt: 1 },
      { op: 'read', target: h, attempt: 2 },
    ]);
  });

  it('gives up after `attempts` attempts with the last error', async () => {
    fault.failNext('stat', Infinity);
    await assert.rejects(retrying({ attempts: 4 }).stat(h), (err: unknown) => {
      assert.ok(err instanceof CairnError);
      assert.equal(err.code, 'BACKEND_IO');
      assert.match(err.message, /injected fault #4$/);
      return true;
    });
    assert.equal(fault.calls.stat, 4);
    assert.equal(delays.length, 3);
  });

  it('retries compose, passes canClone and localPath through', async () => {
    fault.failNext('compose', 2);
    const r = await retrying().compose('index', [{ kind: 'range', from: h, offset: 0, length: 3 }]);
    assert.deepEqual(await local.read({ type: 'index', name: r.name }), Buffer.from('pay'));
    assert.equal(fault.calls.compose, 3);
    assert.equal(delays.length, 2);
    assert.equal(await retrying().canClone(undefined, 'repack'), await local.canClone(undefined, 'repack'));
    assert.equal(retrying().localPath(h), local.localPath(h));
  });

  it('uses 5 attempts by default', async () => {
    fault.failNext('write', Infinity);
    await rejectsWithCode(retrying().write(h, [Buffer.from('x')]), 'BACKEND_IO');
    assert.equal(fault.calls.write, 5);
    assert.deepEqual(await local.read(h), Buffer.from('payload'));
  });

  it('does not retry BACKEND_NOT_FOUND, NO_SPACE, USAGE or INTERRUPTED', async () => {
    const r = retrying();
    await rejectsWithCode(r.stat({ type: 'keys', name: 'absent' }), 'BACKEND_NOT_FOUND');
    await rejectsWithCode(r.read({ type: 'keys', name: 'a/b' }), 'USAGE');
    for (const code of ['NO_SPACE', 'USAGE', 'INTERRUPTED', 'BACKEND_NOT_FOUND'] as const) {
      fault.failNext('write', 1, code);
      await rejectsWithCode(r.write(h, [Buffer.from('x')]), code);
    }
    assert.equal(fault.calls.stat, 1);
    assert.equal(fault.calls.read, 1);
    assert.equal(fault.calls.write, 4);
    assert.deepEqual(delays, []);
  });

  it('does not retry errors that are not CairnErrors', async () => {
    let calls = 0;
    const inner = new FaultBackend(local);
    inner.exists = async () => {
      calls++;
      throw new TypeError('a bug');
    };
    await assert.rejects(new RetryBackend(inner, { sleep: async () => {} }).exists(h), TypeError);
    assert.equal(calls, 1);
    assert.equal(isTransient(new TypeError('x')), false);
  });

  it('delays grow exponentially up to maxDelayMs, with full jitter', async () => {
    fault.failNext('exists', 6);
    await retrying({ attempts: 7, baseDelayMs: 100, maxDelayMs: 1000, random: () => 0.999 }).exists(h);
    assert.deepEqual(delays, [99, 199, 399, 799, 999, 999]);

    const r = retrying({ baseDelayMs: 100, random: () => 0 });
    assert.equal(r.delayFor(3), 0);
    const seq = [0.9, 0.1];
    const jittered = retrying({ baseDelayMs: 100, random: () => seq.shift() ?? 0 });
    assert.deepEqual([jittered.delayFor(4), jittered.delayFor(4)], [720, 80]);
  });

  it('list is retried before its first item, not after', async () => {
    fault.failNext('list', 2);
    assert.ok((await listNames(retrying(), 'data')).includes(h.name));
    assert.equal(fault.calls.list, 3);

    fault.resetCounts();
    fault.failNext('list', 1, 'BACKEND_IO', undefined, { afterItems: 1 });
    const seen: string[] = [];
    await rejectsWithCode(
      (async () => {
        for await (const info of retrying().list('data')) seen.push(info.name);
      })(),
      'BACKEND_IO',
    );
    assert.deepEqual(seen, [h.name]);
    assert.equal(fault.calls.list, 1);
  });

  it('a retried remove whose first attempt landed succeeds', async () => {
    const doomed: Handle = { type: 'locks', name: 'doomed' };
    await local.write(doomed, [Buffer.from('x')]);
    fault.failNext('remove', 1, 'BACKEND_IO', undefined, { afterEffect: true });
    await retrying().remove(doomed);
    assert.equal(fault.calls.remove, 2);
    assert.equal(await local.exists(doomed), false);
    // Without an earlier failure, an absent file is still BACKEND_NOT_FOUND.
    await rejectsWithCode(retrying().remove(doomed), 'BACKEND_NOT_FOUND');
  });

  it('passes location and features through and rejects a bad attempts count', () => {
    const r = retrying();
    assert.equal(r.location, local.location);
    assert.deepEqual(r.features, local.features);
    assert.throws(() => new RetryBackend(local, { attempts: 0 }), { code: 'USAGE' });
  });
});
