import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { CairnError } from '../errors.ts';
import { native } from '../native/index.ts';
import { backendConformance, listNames, rejectsWithCode, testName } from './conformance.testing.ts';
import type { Handle } from './index.ts';
import { CONFIG_HANDLE, TEMP_PREFIX } from './index.ts';
import { LocalBackend, errorCodeForErrno, fsError } from './local.ts';
import { RetryBackend } from './retry.ts';

async function tempDir(): Promise<string> {
  return fs.mkdtemp(path.join(os.tmpdir(), 'cairn-backend-'));
}

backendConformance('LocalBackend', async () => {
  const dir = await tempDir();
  return {
    backend: new LocalBackend(path.join(dir, 'repo')),
    cleanup: () => fs.rm(dir, { recursive: true, force: true }),
  };
});

backendConformance('RetryBackend(LocalBackend)', async () => {
  const dir = await tempDir();
  return {
    // No real waiting: short reads are BACKEND_IO and get retried.
    backend: new RetryBackend(new LocalBackend(path.join(dir, 'repo')), { sleep: async () => {} }),
    cleanup: () => fs.rm(dir, { recursive: true, force: true }),
  };
});

describe('LocalBackend', () => {
  let tmp: string;
  /** One created repository shared by the cases that do not need their own; names do not collide. */
  let repo: string;
  let b: LocalBackend;
  let count = 0;

  /** A directory path of its own, not yet made. */
  const freshPath = (): string => path.join(tmp, `repo-${++count}`);

  before(async () => {
    tmp = await tempDir();
    repo = freshPath();
    b = new LocalBackend(repo);
    await b.create();
  });

  after(async () => {
    await fs.rm(tmp, { recursive: true, force: true });
  });

  describe('packs kept open between ranged reads', () => {
    /** The descriptors of this process that point into `dir`. */
    const openIn = async (dir: string): Promise<number> => {
      let n = 0;
      for (const fd of await fs.readdir('/proc/self/fd')) {
        const target = await fs.readlink(path.join('/proc/self/fd', fd)).catch(() => '');
        if (target.startsWith(dir + path.sep)) n++;
      }
      return n;
    };
    const packs = (n: number, tag: string) =>
      Array.from({ length: n }, (_, i) => {
        const h: Handle = { type: 'data', name: testName(`${tag}-${i}`) };
        return { h, bytes: Buffer.from(`pack ${i} of ${tag}: `.repeat(50 + i)) };
      });

    it('reads the right bytes under concurrency with more packs than it keeps, and close frees them', async () => {
      const dir = freshPath();
      const lb = new LocalBackend(dir);
      await lb.create();
      const all = packs(150, 'many');
      for (const p of all) await lb.write(p.h, [p.bytes]);
      const reads = [];
      for (let round = 0; round < 3; round++) {
        for (const [i, p] of all.entries()) {
          const offset = (i * 7 + round) % 40;
          const length = 30 + round;
          reads.push(
            lb.read(p.h, { offset, length }).then((got) => {
              assert.deepEqual(got, p.bytes.subarray(offset, offset + length), `pack ${i}`);
            }),
          );
        }
      }
      await Promise.all(reads);
      const open = await openIn(dir);
      assert.ok(open > 0 && open <= 64, `${open} packs open`);
      await lb.close();
      assert.equal(await openIn(dir), 0);
      // Still usable after close: the pack is opened again.
      assert.deepEqual(await lb.read(all[0]!.h, { offset: 0, length: 4 }), Buffer.from('pack'));
      await lb.close();
    });

    it('a removed pack is not found, though it was open; nothing stays open a second after the last read', async () => {
      const dir = freshPath();
      const lb = new LocalBackend(dir);
      await lb.create();
      const [p] = packs(1, 'removed');
      await lb.write(p!.h, [p!.bytes]);
      assert.deepEqual(await lb.read(p!.h, { offset: 5, length: 1 }), Buffer.from('0'));
      await lb.remove(p!.h);
      await rejectsWithCode(lb.read(p!.h, { offset: 5, length: 1 }), 'BACKEND_NOT_FOUND');
      const [q] = packs(1, 'idle');
      await lb.write(q!.h, [q!.bytes]);
      await lb.read(q!.h, { offset: 0, length: 4 });
      assert.equal(await openIn(dir), 1);
      // Closed at the second tick of the once-a-second check at the latest; a second to spare.
      await new Promise((r) => setTimeout(r, 3000));
      assert.equal(await openIn(dir), 0);
    });
  });

  it('create makes the layout and files land where the layout says', async () => {
    const dir = freshPath();
    const local = new LocalBackend(dir);
    await local.create();
    assert.deepEqual((await fs.readdir(dir)).sort(), ['data', 'index', 'keys', 'locks', 'snapshots']);
    const subdirs = await fs.readdir(path.join(dir, 'data'));
    assert.equal(subdirs.length, 256);
    assert.ok(subdirs.includes('00') && subdirs.includes('ff'));

    const pack = testName('pack');
    await local.write({ type: 'data', name: pack }, [Buffer.from('p')]);
    await local.write({ type: 'keys', name: 'k1' }, [Buffer.from('k')]);
    await local.write(CONFIG_HANDLE, [Buffer.from('c')]);
    assert.equal(await fs.readFile(path.join(dir, 'data', pack.slice(0, 2), pack), 'utf8'), 'p');
    assert.equal(await fs.readFile(path.join(dir, 'keys', 'k1'), 'utf8'), 'k');
    assert.equal(await fs.readFile(path.join(dir, 'config'), 'utf8'), 'c');
    assert.equal(local.location, path.resolve(dir));
    assert.deepEqual(local.features, { clone: native !== undefined, alignment: 4096 });
  });

  it('create accepts an empty existing directory and refuses foreign contents', async () => {
    const dir = freshPath();
    await fs.mkdir(dir);
    const local = new LocalBackend(dir);
    await local.create();
    await fs.writeFile(path.join(dir, 'data', 'stray'), 'x');
    await fs.writeFile(path.join(dir, `${TEMP_PREFIX}config-write`), 'x');
    await local.create(); // only the top level is looked at, and temp files are tolerated

    const other = freshPath();
    await fs.mkdir(other);
    await fs.writeFile(path.join(other, 'notes.txt'), 'mine');
    await rejectsWithCode(new LocalBackend(other).create(), 'REPO_NOT_CAIRN');
    assert.deepEqual(await fs.readdir(other), ['notes.txt']);

    const file = freshPath();
    await fs.writeFile(file, 'x');
    await rejectsWithCode(new LocalBackend(file).create(), 'REPO_NOT_CAIRN');
  });

  it('every operation but create is BACKEND_NOT_FOUND naming the directory when it is absent', async () => {
    const dir = freshPath();
    const absent = new LocalBackend(dir);
    const h: Handle = { type: 'keys', name: 'k' };
    const ops: [string, () => Promise<unknown>][] = [
      ['exists', () => absent.exists(h)],
      ['stat', () => absent.stat(h)],
      ['read', () => absent.read(h)],
      ['ranged read', () => absent.read(h, { offset: 0, length: 1 })],
      ['write', () => absent.write(h, [Buffer.from('x')])],
      ['remove', () => absent.remove(h)],
      ['list', () => listNames(absent, 'keys')],
      ['list data', () => listNames(absent, 'data')],
      ['list config', () => listNames(absent, 'config')],
      ['removeStaleTempFiles', () => absent.removeStaleTempFiles(0)],
    ];
    for (const [op, run] of ops) {
      await assert.rejects(run(), (err: unknown) => {
        assert.ok(err instanceof CairnError, op);
        assert.equal(err.code, 'BACKEND_NOT_FOUND', `${op}: ${err.message}`);
        assert.match(err.message, /^Cannot /, op);
        assert.ok(err.message.includes(`${path.resolve(dir)} does not exist`), `${op}: ${err.message}`);
        return true;
      });
    }
    await assert.rejects(fs.stat(dir), { code: 'ENOENT' }); // nothing was made
  });

  it('messages name the file and the location', async () => {
    await assert.rejects(b.read({ type: 'index', name: 'abc' }), {
      code: 'BACKEND_NOT_FOUND',
      message: `Cannot read index/abc in ${path.resolve(repo)}: no such file`,
    });
  });

  it('a write whose folder was removed fails and leaves nothing behind', async () => {
    const name = `e7${testName('gone').slice(2)}`;
    const folder = path.join(repo, 'data', 'e7');
    await fs.rm(folder, { recursive: true });
    await rejectsWithCode(b.write({ type: 'data', name }, [Buffer.from('x')]), 'BACKEND_NOT_FOUND');
    await assert.rejects(fs.stat(folder), { code: 'ENOENT' });
    assert.ok(!(await listNames(b, 'data')).includes(name));
  });

  it('a write that fails after its temp file was written removes the temp file', async () => {
    // A non-empty directory where the file should go makes the final rename fail.
    const target = path.join(repo, 'locks', 'blocked');
    await fs.mkdir(target);
    await fs.writeFile(path.join(target, 'inner'), 'x');
    const before = await fs.readdir(path.join(repo, 'locks'));
    await rejectsWithCode(b.write({ type: 'locks', name: 'blocked' }, [Buffer.alloc(100_000)]), 'BACKEND_IO');
    assert.deepEqual(await fs.readdir(path.join(repo, 'locks')), before);
    assert.deepEqual(await fs.readdir(target), ['inner']);
  });

  it('temp files are not listed; removeStaleTempFiles removes only old ones', async () => {
    const pack = testName('real');
    await b.write({ type: 'data', name: pack }, [Buffer.from('real')]);
    await b.write({ type: 'snapshots', name: 's' }, [Buffer.from('snap')]);
    const sub = path.join(repo, 'data', pack.slice(0, 2));
    const old = [
      path.join(sub, `${TEMP_PREFIX}old`),
      path.join(repo, 'snapshots', `${TEMP_PREFIX}old`),
      path.join(repo, `${TEMP_PREFIX}old`),
    ];
    const fresh = [path.join(sub, `${TEMP_PREFIX}new`), path.join(repo, 'snapshots', `${TEMP_PREFIX}new`)];
    const hourAgo = new Date(Date.now() - 3_600_000);
    for (const file of [...old, ...fresh]) await fs.writeFile(file, 'partial');
    for (const file of old) await fs.utimes(file, hourAgo, hourAgo);

    const listed = [...(await listNames(b, 'data')), ...(await listNames(b, 'snapshots'))];
    assert.deepEqual(
      listed.filter((n) => n.startsWith(TEMP_PREFIX)),
      [],
    );
    assert.ok(listed.includes(pack) && listed.includes('s'));

    assert.equal(await b.removeStaleTempFiles(60_000), 3);
    for (const file of old) await assert.rejects(fs.stat(file), { code: 'ENOENT' });
    for (const file of fresh) await fs.stat(file);
    assert.deepEqual(await b.read({ type: 'data', name: pack }), Buffer.from('real'));
    assert.deepEqual(await b.read({ type: 'snapshots', name: 's' }), Buffer.from('snap'));

    assert.equal(await b.removeStaleTempFiles(0), 2);
    assert.deepEqual(await fs.readdir(sub), [pack]);
  });

  it('list skips folders and files in unexpected places', async () => {
    await fs.mkdir(path.join(repo, 'index', 'folder'));
    await b.write({ type: 'index', name: 'i1' }, [Buffer.from('i')]);
    assert.deepEqual(await listNames(b, 'index'), ['i1']);
  });

  it('errno codes map to error codes, keeping the cause', () => {
    assert.equal(errorCodeForErrno('ENOENT'), 'BACKEND_NOT_FOUND');
    assert.equal(errorCodeForErrno('ENOSPC'), 'NO_SPACE');
    assert.equal(errorCodeForErrno('EDQUOT'), 'NO_SPACE');
    assert.equal(errorCodeForErrno('EIO'), 'BACKEND_IO');
    assert.equal(errorCodeForErrno(undefined), 'BACKEND_IO');

    const enospc = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    const err = fsError(enospc, 'Cannot write data/ab in /r');
    assert.equal(err.code, 'NO_SPACE');
    assert.equal(err.message, 'Cannot write data/ab in /r: no space left on the device');
    assert.equal(err.cause, enospc);
    const eio = fsError(Object.assign(new Error('EIO: i/o error'), { code: 'EIO' }), 'Cannot read x');
    assert.equal(eio.code, 'BACKEND_IO');
    assert.equal(eio.spec.retryable, true);
    const passed = new CairnError('USAGE', 'already wrapped');
    assert.equal(fsError(passed, 'ignored'), passed);
  });
});
