import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';

import { CachedBackend, cacheRoot } from './cache.ts';
import { FaultBackend } from './fault.ts';
import { listNames } from './conformance.testing.ts';
import { LocalBackend } from './local.ts';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('CachedBackend', () => {
  it('serves index and snapshot files from the cache once read or written, checked by their hash', async (t) => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'cairn-cache-'));
    t.after(() => fs.rm(dir, { recursive: true, force: true }));
    const local = new LocalBackend(path.join(dir, 'repo'));
    await local.create();
    const fault = new FaultBackend(local);
    const cached = new CachedBackend(fault);
    const bytes = Buffer.from('an index file');
    const h = { type: 'index' as const, name: sha(bytes) };
    await local.write(h, [bytes]);

    // Before attach: a plain wrapper.
    assert.deepEqual(await cached.read(h), bytes);
    assert.deepEqual(cached.stats, { hits: 0, misses: 0 });

    cached.attach(path.join(dir, 'cache', 'repo-id'));
    assert.deepEqual(await cached.read(h), bytes);
    assert.deepEqual(await cached.read(h), bytes);
    assert.deepEqual(cached.stats, { hits: 1, misses: 1 });
    assert.equal(fault.calls.read, 2, 'the second read came from the cache');

    // Written files are cached on the way; packs and ranges are never cached.
    const snap = Buffer.from('a snapshot');
    await cached.write({ type: 'snapshots', name: sha(snap) }, [snap]);
    assert.deepEqual(await cached.read({ type: 'snapshots', name: sha(snap) }), snap);
    assert.equal(fault.calls.read, 2);
    const pack = { type: 'data' as const, name: sha(Buffer.from('p')) };
    await cached.write(pack, [Buffer.from('p')]);
    await cached.read(pack);
    assert.equal(fault.calls.read, 3);

    // A damaged cached copy is dropped and fetched again.
    await fs.writeFile(path.join(dir, 'cache', 'repo-id', 'index', h.name), 'damaged');
    assert.deepEqual(await cached.read(h), bytes);
    assert.equal(fault.calls.read, 4);
    assert.deepEqual(await fs.readFile(path.join(dir, 'cache', 'repo-id', 'index', h.name)), bytes);

    // A complete listing drops cached files the backend no longer has; remove drops its own.
    await local.remove(h);
    assert.deepEqual(await listNames(cached, 'index'), []);
    assert.deepEqual(await fs.readdir(path.join(dir, 'cache', 'repo-id', 'index')), []);
    await cached.remove({ type: 'snapshots', name: sha(snap) });
    assert.deepEqual(await fs.readdir(path.join(dir, 'cache', 'repo-id', 'snapshots')), []);
  });

  it('lives under $XDG_CACHE_HOME/cairn, or ~/.cache/cairn', () => {
    assert.equal(cacheRoot({ XDG_CACHE_HOME: '/var/cache/me' }), '/var/cache/me/cairn');
    assert.equal(cacheRoot({ XDG_CACHE_HOME: 'relative' }), path.join(os.homedir(), '.cache', 'cairn'));
    assert.equal(cacheRoot({}), path.join(os.homedir(), '.cache', 'cairn'));
  });
});
