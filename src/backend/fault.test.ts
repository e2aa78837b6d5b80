import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';

import { listNames, rejectsWithCode, testName } from './conformance.testing.ts';
import { FaultBackend } from './fault.ts';
import type { Handle } from './index.ts';
import { LocalBackend } from './local.ts';

describe('FaultBackend', () => {
  let tmp: string;
  let local: LocalBackend;
  let fault: FaultBackend;
  const a: Handle = { type: 'data', name: testName('a') };
  const b: Handle = { type: 'data', name: testName('b') };
  const key: Handle = { type: 'keys', name: 'k' };

  before(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'cairn-fault-'));
    local = new LocalBackend(path.join(tmp, 'repo'));
    await local.create();
  });

  after(async () => {
    await fs.rm(tmp, { recursive: true, force: true });
  });

  beforeEach(async () => {
    for (const type of ['data', 'keys', 'index'] as const) {
      for (const name of await listNames(local, type)) await local.remove({ type, name });
    }
    await local.write(a, [Buffer.from('aaaa')]);
    await local.write(b, [Buffer.from('bbbb')]);
    fault = new FaultBackend(local);
  });

  it('passes everything through without rules, counting calls', async () => {
    assert.deepEqual(await fault.read(a), Buffer.from('aaaa'));
    assert.deepEqual(await fault.read(a, { offset: 1, length: 2 }), Buffer.from('aa'));
    await fault.write(key, [Buffer.from('k')]);
    assert.equal(await fault.exists(key), true);
    assert.deepEqual(await fault.stat(key), { name: 'k', size: 1 });
    assert.deepEqual(await listNames(fault, 'data'), [a.name, b.name].sort());
    await fault.remove(key);
    await fault.close();
    assert.deepEqual(fault.calls, {
      create: 0,
      exists: 1,
      stat: 1,
      read: 2,
      write: 1,
      remove: 1,
      list: 1,
      compose: 0,
      close: 1,
    });
    assert.equal(fault.injected, 0);
    assert.equal(fault.location, local.location);
  });

  it('failNext fails the next count calls of one op, then passes', async () => {
    fault.failNext('read', 2);
    await rejectsWithCode(fault.read(a), 'BACKEND_IO');
    await rejectsWithCode(fault.read(a), 'BACKEND_IO');
    assert.deepEqual(await fault.read(a), Buffer.from('aaaa'));
    assert.deepEqual(await fault.stat(a), { name: a.name, size: 4 }); // other ops untouched
    assert.equal(fault.calls.read, 3);
    assert.equal(fault.injected, 2);
  });

  it('failNext takes an error code and a filter', async () => {
    fault.failNext('stat', 1, 'NO_SPACE', (h) => h.name === b.name);
    assert.equal((await fault.stat(a)).size, 4);
    await assert.rejects(fault.stat(b), {
      code: 'NO_SPACE',
      message: `Cannot stat data/${b.name} in ${local.location}: injected fault #1`,
    });
    assert.equal((await fault.stat(b)).size, 4);
  });

  it('a failed write writes nothing; afterEffect writes and then fails', async () => {
    fault.failNext('write', 1);
    await rejectsWithCode(fault.write(key, [Buffer.from('new')]), 'BACKEND_IO');
    assert.equal(await local.exists(key), false);

    fault.clear();
    fault.failNext('write', 1, 'BACKEND_IO', undefined, { afterEffect: true });
    await rejectsWithCode(fault.write(a, [Buffer.from('new')]), 'BACKEND_IO');
    assert.deepEqual(await local.read(a), Buffer.from('new'));
  });

  it('failAfterWrites lets n writes through, then fails every later one', async () => {
    fault.failAfterWrites(2);
    await fault.write(key, [Buffer.from('1')]);
    await fault.write({ type: 'index', name: 'i' }, [Buffer.from('2')]);
    await rejectsWithCode(fault.write({ type: 'index', name: 'j' }, [Buffer.from('3')]), 'BACKEND_IO');
    await rejectsWithCode(fault.write(key, [Buffer.from('4')]), 'BACKEND_IO');
    assert.deepEqual(await listNames(local, 'index'), ['i']);
    assert.deepEqual(await local.read(key), Buffer.from('1'));
    assert.deepEqual(await fault.read(key), Buffer.from('1')); // reads still work
    fault.clear();
    await fault.write(key, [Buffer.from('5')]);
  });

  it('compose passes through, counts as a write, and takes fail rules of its own', async () => {
    const range = { kind: 'range' as const, from: a, offset: 1, length: 2 };
    const r = await fault.compose('data', [range, { kind: 'bytes', data: [Buffer.from('!')] }]);
    assert.deepEqual(await local.read({ type: 'data', name: r.name }), Buffer.from('aa!'));
    assert.equal(fault.calls.compose, 1);
    assert.equal(await fault.canClone(), await local.canClone());
    assert.equal(fault.localPath(a), local.localPath(a));

    fault.failNext('compose', 1, 'NO_SPACE');
    await assert.rejects(fault.compose('data', [range]), {
      code: 'NO_SPACE',
      message: `Cannot compose data in ${local.location}: injected fault #1`,
    });
    fault.clear();
    fault.failAfterWrites(1);
    await fault.write(key, [Buffer.from('1')]);
    await rejectsWithCode(fault.compose('data', [range]), 'BACKEND_IO');
    fault.clear();
  });

  it('corruptReads mutates matching reads only, count times', async () => {
    fault.corruptReads(
      (h) => h.name === a.name,
      (buf) => {
        buf[0] = buf[0]! ^ 0xff;
      },
      2,
    );
    assert.notDeepEqual(await fault.read(a), Buffer.from('aaaa'));
    assert.deepEqual(await fault.read(b), Buffer.from('bbbb'));
    const ranged = await fault.read(a, { offset: 2, length: 2 });
    assert.deepEqual(ranged, Buffer.from([0x61 ^ 0xff, 0x61]));
    assert.deepEqual(await fault.read(a), Buffer.from('aaaa'));
    assert.deepEqual(await local.read(a), Buffer.from('aaaa')); // stored bytes untouched
  });

  it('hides the local path of files while reads are failed or corrupted, so nothing reads around them', () => {
    assert.equal(fault.localPath(a), local.localPath(a));
    fault.failNext('write');
    assert.equal(fault.localPath(a), local.localPath(a), 'a write rule leaves reads alone');
    fault.clear();
    fault.failNext('read');
    assert.equal(fault.localPath(a), undefined);
    fault.clear();
    fault.corruptReads(
      () => true,
      () => undefined,
    );
    assert.equal(fault.localPath(a), undefined);
    fault.clear();
    assert.equal(fault.localPath(a), local.localPath(a));
  });

  it('list faults: before the first item, after some items, or after all', async () => {
    fault.failNext('list', 1, 'BACKEND_IO', (h) => h.type === 'data');
    assert.deepEqual(await listNames(fault, 'keys'), []);
    await rejectsWithCode(listNames(fault, 'data'), 'BACKEND_IO');

    fault.failNext('list', 1, 'BACKEND_IO', undefined, { afterItems: 1 });
    const seen: string[] = [];
    await rejectsWithCode(
      (async () => {
        for await (const info of fault.list('data')) seen.push(info.name);
      })(),
      'BACKEND_IO',
    );
    assert.equal(seen.length, 1);

    fault.failNext('list', 1, 'BACKEND_IO', undefined, { afterEffect: true });
    seen.length = 0;
    await rejectsWithCode(
      (async () => {
        for await (const info of fault.list('data')) seen.push(info.name);
      })(),
      'BACKEND_IO',
    );
    assert.equal(seen.length, 2);
    assert.deepEqual(await listNames(fault, 'data'), [a.name, b.name].sort());
  });

  it('rules given to the constructor fire in order', async () => {
    const f = new FaultBackend(local, [
      { kind: 'fail', op: 'remove', code: 'BACKEND_NOT_FOUND' },
      { kind: 'fail', op: 'remove', count: 2 },
    ]);
    await rejectsWithCode(f.remove(a), 'BACKEND_NOT_FOUND');
    await rejectsWithCode(f.remove(a), 'BACKEND_IO');
    await rejectsWithCode(f.remove(a), 'BACKEND_IO');
    assert.equal(await local.exists(a), true);
    await f.remove(a);
    assert.equal(await local.exists(a), false);
    assert.equal(f.injected, 3);
    f.resetCounts();
    assert.equal(f.calls.remove, 0);
    assert.equal(f.injected, 0);
  });
});
