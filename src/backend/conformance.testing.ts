/**
 * The tests every Backend must pass. Test support, not shipped.
 *
 * `make` returns a backend on fresh, empty storage that was not created yet, and a cleanup that
 * removes that storage. Cases share one created backend and use names of their own; the few that
 * need pristine storage make their own (creating a layout is slow on some disks).
 */

import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';

import { isCairnError } from '../errors.ts';
import type { ErrorCode } from '../errors.ts';
import type { Backend, FileType, Handle, Segment } from './index.ts';
import { CONFIG_HANDLE, FILE_TYPES, TEMP_PREFIX } from './handle.ts';

export interface BackendFixture {
  readonly backend: Backend;
  readonly cleanup: () => Promise<void>;
}

/** A pack-like name: 64 hex digits, derived from `seed`. */
export function testName(seed: string | number): string {
  return createHash('sha256').update(String(seed)).digest('hex');
}

/** Asserts that `promise` rejects with a CairnError of `code`. */
export async function rejectsWithCode(promise: Promise<unknown>, code: ErrorCode): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(isCairnError(err), `expected a CairnError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    return true;
  });
}

/** All names of one type, sorted. */
export async function listNames(backend: Backend, type: FileType): Promise<string[]> {
  const names: string[] = [];
  for await (const info of backend.list(type)) names.push(info.name);
  return names.sort();
}

function handleOf(type: FileType, seed: string | number): Handle {
  return type === 'config' ? CONFIG_HANDLE : { type, name: testName(`${type}-${seed}`) };
}

export function backendConformance(name: string, make: () => Promise<BackendFixture>): void {
  describe(`backend conformance: ${name}`, () => {
    const fixtures: BackendFixture[] = [];
    let b!: Backend;

    /** A created backend on storage of its own. */
    async function fresh(): Promise<Backend> {
      const fixture = await make();
      fixtures.push(fixture);
      await fixture.backend.create();
      return fixture.backend;
    }

    before(async () => {
      b = await fresh();
    });

    after(async () => {
      for (const fixture of fixtures) {
        await fixture.backend.close();
        await fixture.cleanup();
      }
    });

    // The first two cases share pristine storage; the first only reads it.
    let pristine: Promise<Backend> | undefined;

    it('fresh storage: every list is empty, the config is absent', async () => {
      const empty = await (pristine ??= fresh());
      for (const type of FILE_TYPES) assert.deepEqual(await listNames(empty, type), [], type);
      assert.equal(await empty.exists(CONFIG_HANDLE), false);
      await rejectsWithCode(empty.stat(CONFIG_HANDLE), 'BACKEND_NOT_FOUND');
      await rejectsWithCode(empty.read(CONFIG_HANDLE), 'BACKEND_NOT_FOUND');
      await rejectsWithCode(empty.remove(CONFIG_HANDLE), 'BACKEND_NOT_FOUND');
    });

    it('create again is allowed until a config exists, then REPO_EXISTS', async () => {
      const repo = await (pristine ??= fresh());
      await repo.create();
      await repo.write(CONFIG_HANDLE, [Buffer.from('cfg')]);
      await rejectsWithCode(repo.create(), 'REPO_EXISTS');
      assert.deepEqual(await repo.read(CONFIG_HANDLE), Buffer.from('cfg'));
    });

    it('write then read round-trips for every file type', async () => {
      for (const type of FILE_TYPES) {
        const h = handleOf(type, 'round-trip');
        const data = Buffer.from(`contents of ${type}`);
        await b.write(h, [data]);
        assert.equal(await b.exists(h), true, type);
        assert.deepEqual(await b.read(h), data, type);
        assert.ok((await listNames(b, type)).includes(h.name), type);
      }
    });

    it('a ranged read returns exactly the range', async () => {
      const h = handleOf('data', 'ranged');
      const data = randomBytes(10_000);
      await b.write(h, [data]);
      assert.deepEqual(await b.read(h, { offset: 100, length: 50 }), data.subarray(100, 150));
      assert.deepEqual(await b.read(h, { offset: 0, length: data.length }), data);
      assert.deepEqual(await b.read(h, { offset: 9_999, length: 1 }), data.subarray(9_999));
      assert.equal((await b.read(h, { offset: 5, length: 0 })).length, 0);
    });

    it('a read past the end is BACKEND_IO', async () => {
      const h = handleOf('data', 'short');
      await b.write(h, [Buffer.alloc(100, 7)]);
      await rejectsWithCode(b.read(h, { offset: 50, length: 51 }), 'BACKEND_IO');
      await rejectsWithCode(b.read(h, { offset: 200, length: 1 }), 'BACKEND_IO');
    });

    it('an invalid range is USAGE', async () => {
      const h = handleOf('data', 'bad-range');
      await b.write(h, [Buffer.alloc(10)]);
      await rejectsWithCode(b.read(h, { offset: -1, length: 1 }), 'USAGE');
      await rejectsWithCode(b.read(h, { offset: 0, length: 1.5 }), 'USAGE');
      await rejectsWithCode(b.read(h, { offset: 0, length: -1 }), 'USAGE');
    });

    it('stat gives the size; an absent file is BACKEND_NOT_FOUND', async () => {
      const h = handleOf('index', 'stat');
      await b.write(h, [Buffer.alloc(1234)]);
      assert.deepEqual(await b.stat(h), { name: h.name, size: 1234 });
      await b.write(CONFIG_HANDLE, []);
      assert.deepEqual(await b.stat(CONFIG_HANDLE), { name: 'config', size: 0 });
      await rejectsWithCode(b.stat(handleOf('index', 'absent')), 'BACKEND_NOT_FOUND');
      assert.equal(await b.exists(handleOf('index', 'absent')), false);
    });

    it('list sees written files with their sizes and not removed ones', async () => {
      const kept = [1, 2, 3].map((i) => handleOf('keys', `list-${i}`));
      const removed = handleOf('keys', 'list-removed');
      for (const [i, h] of [...kept, removed].entries()) await b.write(h, [Buffer.alloc(i + 1)]);
      await b.remove(removed);
      const sizes = new Map<string, number>();
      for await (const info of b.list('keys')) {
        assert.equal(sizes.has(info.name), false, `${info.name} listed twice`);
        sizes.set(info.name, info.size);
      }
      for (const [i, h] of kept.entries()) assert.equal(sizes.get(h.name), i + 1);
      assert.equal(sizes.has(removed.name), false);
    });

    it('list of data gives bare names, wherever the files rest', async () => {
      const handles = ['00', '7f', 'ff'].map((prefix) => ({
        type: 'data' as const,
        name: prefix + testName(prefix).slice(2),
      }));
      for (const h of handles) await b.write(h, [Buffer.from(h.name)]);
      const names = await listNames(b, 'data');
      for (const h of handles) assert.ok(names.includes(h.name), h.name);
    });

    it('write replaces an existing file', async () => {
      const h = handleOf('snapshots', 'replace');
      await b.write(h, [Buffer.alloc(5000, 1)]);
      await b.write(h, [Buffer.from('short')]);
      assert.deepEqual(await b.read(h), Buffer.from('short'));
      assert.equal((await b.stat(h)).size, 5);
      assert.equal((await listNames(b, 'snapshots')).filter((n) => n === h.name).length, 1);
    });

    it('remove then read is BACKEND_NOT_FOUND', async () => {
      const h = handleOf('locks', 'remove');
      await b.write(h, [Buffer.from('lock')]);
      await b.remove(h);
      await rejectsWithCode(b.read(h), 'BACKEND_NOT_FOUND');
      await rejectsWithCode(b.read(h, { offset: 0, length: 1 }), 'BACKEND_NOT_FOUND');
      await rejectsWithCode(b.stat(h), 'BACKEND_NOT_FOUND');
      assert.equal(await b.exists(h), false);
    });

    it('remove of an absent file is BACKEND_NOT_FOUND', async () => {
      await rejectsWithCode(b.remove(handleOf('keys', 'absent')), 'BACKEND_NOT_FOUND');
      await rejectsWithCode(b.remove(handleOf('data', 'absent')), 'BACKEND_NOT_FOUND');
    });

    it('a write of many buffers stores their concatenation', async () => {
      // More buffers than one writev takes (IOV_MAX is 1024), some of them empty.
      const parts = Array.from({ length: 3000 }, (_, i) => Buffer.alloc(i % 7, i % 251));
      const h = handleOf('data', 'many');
      await b.write(h, parts);
      assert.deepEqual(await b.read(h), Buffer.concat(parts));
      const none = handleOf('data', 'none');
      await b.write(none, []);
      assert.equal((await b.read(none)).length, 0);
    });

    it('a 20 MiB write round-trips', async () => {
      const data = randomBytes(20 * 1024 * 1024);
      const h = handleOf('data', 'big');
      await b.write(h, [data.subarray(0, 1), data.subarray(1, 12_345_678), data.subarray(12_345_678)]);
      assert.equal((await b.stat(h)).size, data.length);
      assert.ok((await b.read(h)).equals(data));
      const range = { offset: 10 * 1024 * 1024 + 3, length: 4 * 1024 * 1024 };
      assert.ok((await b.read(h, range)).equals(data.subarray(range.offset, range.offset + range.length)));
    });

    it('concurrent writes of different names all land, and list never shows temp files', async () => {
      const handles = [
        ...Array.from({ length: 40 }, (_, i) => handleOf('data', `concurrent-${i}`)),
        ...Array.from({ length: 10 }, (_, i) => handleOf('index', `concurrent-${i}`)),
      ];
      const writes = Promise.all(handles.map((h) => b.write(h, [Buffer.from(h.name)])));
      // List while the writes are in flight: their temp files must never show.
      const seen: string[] = [];
      for (const type of ['data', 'index'] as const) {
        for await (const info of b.list(type)) seen.push(info.name);
      }
      await writes;
      for (const type of ['data', 'index'] as const) seen.push(...(await listNames(b, type)));
      assert.deepEqual(
        seen.filter((n) => n.startsWith(TEMP_PREFIX)),
        [],
      );
      for (const h of handles) assert.deepEqual(await b.read(h), Buffer.from(h.name));
      const listed = new Set([...(await listNames(b, 'data')), ...(await listNames(b, 'index'))]);
      for (const h of handles) assert.ok(listed.has(h.name), h.name);
    });

    describe('compose', () => {
      const BLOCK = 4096;
      /** The bytes `segments` stand for, read straight from `source`. */
      async function expected(source: Backend, segments: readonly Segment[]): Promise<Buffer> {
        const parts: Buffer[] = [];
        for (const seg of segments) {
          if (seg.kind === 'bytes') parts.push(...seg.data.map((d) => Buffer.from(d)));
          else if (seg.kind === 'zeros') parts.push(Buffer.alloc(seg.length));
          else parts.push(await source.read(seg.from, seg));
        }
        return Buffer.concat(parts);
      }

      /** A pack-like source: aligned runs with zero padding between, then dense small pieces. */
      async function source(backend: Backend, seed: string): Promise<{ h: Handle; data: Buffer }> {
        const data = Buffer.concat([
          randomBytes(3 * BLOCK + 100), // an aligned run with a partial last block…
          Buffer.alloc(BLOCK - 100), // …then zero padding to the next block
          randomBytes(2 * BLOCK), // an aligned run of whole blocks
          randomBytes(5000), // dense small pieces, no alignment
          randomBytes(777),
        ]);
        const h = handleOf('data', `compose-source-${seed}`);
        await backend.write(h, [data]);
        return { h, data };
      }

      it('writes ranges, bytes and zeros in order, named by the SHA-256 of the result', async () => {
        const { h } = await source(b, 'order');
        const segments: Segment[] = [
          { kind: 'range', from: h, offset: 0, length: 3 * BLOCK + 100 },
          { kind: 'zeros', length: BLOCK - 100 },
          { kind: 'range', from: h, offset: 4 * BLOCK, length: 2 * BLOCK },
          { kind: 'range', from: h, offset: 6 * BLOCK + 10, length: 3000 },
          { kind: 'bytes', data: [Buffer.from('literal'), Buffer.alloc(0), Buffer.from(' bytes')] },
          { kind: 'zeros', length: 10 },
          { kind: 'range', from: h, offset: 0, length: 0 },
          { kind: 'bytes', data: [Buffer.from('end')] },
        ];
        const want = await expected(b, segments);
        const r = await b.compose('data', segments);
        assert.equal(r.name, createHash('sha256').update(want).digest('hex'));
        assert.equal(r.size, want.length);
        assert.equal(r.bytesRead, want.length);
        const ranges = 3 * BLOCK + 100 + 2 * BLOCK + 3000;
        assert.equal(r.bytesCloned + r.bytesCopied, ranges);
        if (!(await b.canClone())) assert.equal(r.bytesCloned, 0);
        assert.ok((await b.read({ type: 'data', name: r.name })).equals(want));
        assert.ok((await listNames(b, 'data')).includes(r.name));
        assert.equal((await b.stat({ type: 'data', name: r.name })).size, want.length);
      });

      it('shares the aligned ranges where the storage can clone, copies the unaligned ones', async (t) => {
        if (!(await b.canClone())) {
          t.skip('this storage cannot share blocks: compose copies (covered above)');
          return;
        }
        const { h } = await source(b, 'clone');
        const r = await b.compose('data', [
          { kind: 'range', from: h, offset: 0, length: 3 * BLOCK + 100 },
          { kind: 'zeros', length: BLOCK - 100 },
          { kind: 'range', from: h, offset: 4 * BLOCK, length: 2 * BLOCK },
          { kind: 'range', from: h, offset: 6 * BLOCK, length: 5000 },
          { kind: 'bytes', data: [Buffer.from('trailer')] },
        ]);
        // The first run's partial block is followed by zeros in both files: shared whole.
        assert.equal(r.bytesCloned, 3 * BLOCK + 100 + 2 * BLOCK + 4096);
        assert.equal(r.bytesCopied, 5000 - 4096);
      });

      it('takes ranges from another backend on storage of its own', async () => {
        const other = await fresh();
        const { h } = await source(other, 'other');
        const segments: Segment[] = [
          { kind: 'range', from: h, offset: 4 * BLOCK, length: 2 * BLOCK },
          { kind: 'range', from: h, offset: 17, length: 999 },
        ];
        const want = await expected(other, segments);
        const r = await b.compose('data', segments, other);
        assert.equal(typeof (await b.canClone(other)), 'boolean');
        assert.ok((await b.read({ type: 'data', name: r.name })).equals(want));
        assert.equal(await other.exists({ type: 'data', name: r.name }), false);
      });

      it('composes other file types too, and an empty file', async () => {
        const r = await b.compose('snapshots', [{ kind: 'bytes', data: [Buffer.from('snapshot')] }]);
        assert.deepEqual(await b.read({ type: 'snapshots', name: r.name }), Buffer.from('snapshot'));
        const empty = await b.compose('index', []);
        assert.equal(empty.name, createHash('sha256').digest('hex'));
        assert.equal((await b.read({ type: 'index', name: empty.name })).length, 0);
      });

      it('a range past the end is BACKEND_IO, an absent file BACKEND_NOT_FOUND, and nothing is stored', async () => {
        const { h, data } = await source(b, 'bad');
        const before = await listNames(b, 'data');
        await rejectsWithCode(
          b.compose('data', [
            { kind: 'bytes', data: [Buffer.from('x')] },
            { kind: 'range', from: h, offset: data.length - 10, length: 11 },
          ]),
          'BACKEND_IO',
        );
        await rejectsWithCode(
          b.compose('data', [
            { kind: 'range', from: handleOf('data', 'compose-absent'), offset: 0, length: 1 },
          ]),
          'BACKEND_NOT_FOUND',
        );
        assert.deepEqual(await listNames(b, 'data'), before);
      });

      it('invalid segments and the config are USAGE', async () => {
        const { h } = await source(b, 'usage');
        await rejectsWithCode(b.compose('config', [{ kind: 'bytes', data: [Buffer.from('c')] }]), 'USAGE');
        await rejectsWithCode(b.compose('bogus' as FileType, []), 'USAGE');
        await rejectsWithCode(
          b.compose('data', [{ kind: 'range', from: h, offset: -1, length: 1 }]),
          'USAGE',
        );
        await rejectsWithCode(
          b.compose('data', [{ kind: 'range', from: { type: 'data', name: 'a/b' }, offset: 0, length: 1 }]),
          'USAGE',
        );
        await rejectsWithCode(b.compose('data', [{ kind: 'zeros', length: 0.5 }]), 'USAGE');
      });
    });

    it('retainedUntil is undefined or a future date; an invalid handle is USAGE', async () => {
      const h = handleOf('data', 'retained');
      await b.write(h, [Buffer.from('r')]);
      const until = await b.retainedUntil(h);
      assert.ok(until === undefined || until.getTime() > Date.now(), String(until));
      await rejectsWithCode(b.retainedUntil({ type: 'data', name: 'a' }), 'USAGE');
    });

    it('invalid names are USAGE for every operation, and nothing is stored', async () => {
      const before = await Promise.all(FILE_TYPES.map((type) => listNames(b, type)));
      const invalid: Handle[] = [
        { type: 'keys', name: '' },
        { type: 'keys', name: 'a/b' },
        { type: 'keys', name: '..' },
        { type: 'keys', name: '.' },
        { type: 'index', name: 'a\0b' },
        { type: 'snapshots', name: `${TEMP_PREFIX}abc` },
        { type: 'data', name: 'a' },
        { type: 'data', name: '' },
        { type: 'config', name: 'other' },
        { type: 'bogus' as FileType, name: 'abc' },
      ];
      for (const h of invalid) {
        await rejectsWithCode(b.write(h, [Buffer.from('x')]), 'USAGE');
        await rejectsWithCode(b.read(h), 'USAGE');
        await rejectsWithCode(b.read(h, { offset: 0, length: 1 }), 'USAGE');
        await rejectsWithCode(b.stat(h), 'USAGE');
        await rejectsWithCode(b.exists(h), 'USAGE');
        await rejectsWithCode(b.remove(h), 'USAGE');
      }
      await rejectsWithCode(listNames(b, 'bogus' as FileType), 'USAGE');
      assert.deepEqual(await Promise.all(FILE_TYPES.map((type) => listNames(b, type))), before);
    });
  });
}
