import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { LocalBackend } from '../backend/index.ts';
import { FaultBackend } from '../backend/fault.ts';
import { sha256 } from '../crypto/index.ts';
import { isCairnError, type ErrorCode } from '../errors.ts';
import {
  FAST_SCRYPT,
  KiB,
  PASSWORD,
  SMALL,
  flipByte,
  initRepo,
  openRepo,
  seededBytes,
  tempDir,
} from './fixtures.testing.ts';
import { sealFile, type BlobEntry } from './format.ts';
import { encodeIndex } from './index-file.ts';
import { isDamaged, Repository } from './repository.ts';
import type { Snapshot } from './snapshot.ts';

function code(c: ErrorCode, message?: RegExp): (err: unknown) => boolean {
  return (err) => {
    assert.ok(isCairnError(err, c), `expected ${c}, got ${String(err)}`);
    if (message) assert.match(err.message, message);
    return true;
  };
}

function snapshot(time: string, host = 'h', tree = 'ab'.repeat(32)): Snapshot {
  return {
    version: 1,
    time,
    host,
    username: 'u',
    paths: ['/data'],
    tags: [],
    tree,
    programVersion: 'test',
  };
}

async function listNames(dir: string, type: 'index' | 'snapshots' | 'keys' | 'locks'): Promise<string[]> {
  return (await fs.readdir(path.join(dir, type))).filter((n) => !n.startsWith('.'));
}

async function packFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const sub of await fs.readdir(path.join(dir, 'data'))) {
    for (const f of await fs.readdir(path.join(dir, 'data', sub))) out.push(path.join(dir, 'data', sub, f));
  }
  return out;
}

describe('Repository', () => {
  it('opens what init created, with the same config and key', async (t) => {
    const dir = await tempDir(t);
    const created = await initRepo(dir);
    const opened = await openRepo(dir);
    assert.deepEqual(opened.config, created.config);
    assert.equal(opened.config.packSize, 256 * KiB);
    assert.equal(opened.config.alignment, 4096);
    assert.equal(opened.config.chunker.avgSize, 32 * KiB);
    assert.match(opened.config.chunker.secret, /^[0-9a-f]{64}$/);
    assert.equal(opened.slot?.kind, 'password');
    const { id } = await created.saveBlob('data', Buffer.from('hello'));
    await created.flush();
    await opened.loadIndex();
    assert.deepEqual(await opened.loadBlob('data', id), Buffer.from('hello'));
    await assert.rejects(
      Repository.open(new LocalBackend(dir), { password: 'y' }),
      code('REPO_WRONG_PASSWORD'),
    );
  });

  it('refuses to init over an existing repository and rejects bad parameters', async (t) => {
    const dir = await tempDir(t);
    await initRepo(dir);
    await assert.rejects(initRepo(dir), code('REPO_EXISTS'));
    const other = path.join(dir, 'other');
    await assert.rejects(initRepo(other, { ...SMALL, alignment: 3000 }), code('USAGE', /alignment/));
    await assert.rejects(initRepo(other, { ...SMALL, packSize: 1000 }), code('USAGE', /pack size/));
    await assert.rejects(
      initRepo(other, { ...SMALL, chunker: { minSize: 10, avgSize: 16, maxSize: 32 } }),
      code('USAGE', /minSize/),
    );
  });

  it('reports REPO_NOT_FOUND for an empty or absent directory', async (t) => {
    const dir = await tempDir(t);
    await assert.rejects(openRepo(dir), code('REPO_NOT_FOUND', /cairn init/));
    await assert.rejects(openRepo(path.join(dir, 'absent')), code('REPO_NOT_FOUND'));
  });

  it('reports REPO_NOT_CAIRN for a directory whose config is not a Cairn config', async (t) => {
    const dir = await tempDir(t);
    const configs = [
      // A restic repository's config.
      JSON.stringify({ version: 2, id: 'f'.repeat(64), chunker_polynomial: '3da3358b4dc173' }),
      'not json at all',
      'null',
      '42',
      '',
    ];
    for (const text of configs) {
      await fs.writeFile(path.join(dir, 'config'), text);
      await assert.rejects(openRepo(dir), code('REPO_NOT_CAIRN'), text);
    }
  });

  it('reports REPO_UNSUPPORTED_VERSION for a newer format before asking for a key', async (t) => {
    const dir = await tempDir(t);
    await initRepo(dir);
    const file = path.join(dir, 'config');
    const envelope = JSON.parse(await fs.readFile(file, 'utf8')) as Record<string, unknown>;
    await fs.writeFile(file, JSON.stringify({ ...envelope, version: 99 }));
    await assert.rejects(openRepo(dir), code('REPO_UNSUPPORTED_VERSION', /version 99.*upgrade/));
    // Even with a wrong password: the version is read first.
    await assert.rejects(
      Repository.open(new LocalBackend(dir), { password: 'wrong' }),
      code('REPO_UNSUPPORTED_VERSION'),
    );
  });

  it('reports CONFIG_CORRUPT when the sealed config is damaged or disagrees with its envelope', async (t) => {
    const dir = await tempDir(t);
    await initRepo(dir);
    const file = path.join(dir, 'config');
    const envelope = JSON.parse(await fs.readFile(file, 'utf8')) as { sealed: string; id: string };
    const sealed = Buffer.from(envelope.sealed, 'base64');
    sealed[20]! ^= 1;
    await fs.writeFile(file, JSON.stringify({ ...envelope, sealed: sealed.toString('base64') }));
    await assert.rejects(openRepo(dir), code('CONFIG_CORRUPT', /does not authenticate/));
    sealed[20]! ^= 1;
    await fs.writeFile(file, JSON.stringify({ ...envelope, sealed: sealed.toString('base64'), id: 'x' }));
    await assert.rejects(openRepo(dir), code('CONFIG_CORRUPT', /disagree/));
  });

  it('stores a blob once however often it is saved', async (t) => {
    const dir = await tempDir(t);
    const repo = await initRepo(dir);
    const data = seededBytes('dedup', 40 * KiB);
    const first = await repo.saveBlob('data', data);
    const again = await repo.saveBlob('data', Buffer.from(data));
    assert.equal(first.added, true);
    assert.equal(again.added, false);
    assert.ok(first.id.equals(again.id));
    await repo.flush();
    assert.equal((await repo.saveBlob('data', data)).added, false);
    await repo.flush();
    assert.equal(repo.stats.dataBlobs, 1);
    assert.equal(repo.stats.packs, 1);
    // A fresh open knows it from the index.
    const reopened = await openRepo(dir);
    await reopened.loadIndex();
    assert.equal((await reopened.saveBlob('data', data)).added, false);
    await reopened.flush();
    assert.equal((await packFiles(dir)).length, 1);
  });

  it('writes an index file on flush that names every new pack', async (t) => {
    const dir = await tempDir(t);
    const repo = await initRepo(dir);
    assert.deepEqual(await listNames(dir, 'index'), []);
    const blobs: { id: Buffer; data: Buffer }[] = [];
    for (let i = 0; i < 40; i++) {
      const data = seededBytes(`blob ${i}`, 20 * KiB + i);
      blobs.push({ id: (await repo.saveBlob('data', data)).id, data });
    }
    const tree = Buffer.from(JSON.stringify({ nodes: [] }));
    const treeId = (await repo.saveBlob('tree', tree)).id;
    // Nothing is promised before flush; after it every blob is in a pack named by an index file.
    await repo.flush();
    const packs = await packFiles(dir);
    assert.ok(packs.length >= 4, `${packs.length} packs`);
    for (const p of packs) {
      const size = (await fs.stat(p)).size;
      assert.ok(size < 256 * KiB + 30 * KiB, `pack of ${size} bytes`);
      assert.equal(sha256([await fs.readFile(p)]).toString('hex'), path.basename(p));
    }
    const indexes = await listNames(dir, 'index');
    assert.equal(indexes.length, 1);
    const reopened = await openRepo(dir);
    const { files, errors } = await reopened.loadIndex();
    assert.equal(files, 1);
    assert.deepEqual(errors, []);
    assert.equal(reopened.index.size, 41);
    assert.equal(reopened.index.packCount, packs.length);
    for (const b of blobs) assert.deepEqual(await reopened.loadBlob('data', b.id), b.data);
    assert.deepEqual(await reopened.loadBlob('tree', treeId), tree);
    assert.deepEqual(await reopened.loadTree(treeId.toString('hex')), { nodes: [] });
    // Tree and data blobs never share a pack.
    assert.notEqual(reopened.lookup(treeId)?.pack, reopened.lookup(blobs[0]!.id)?.pack);
    // The packs written are kept only for whoever asked before writing them (prune).
    assert.throws(() => repo.writtenPacks(), code('INTERNAL', /not being recorded/));
    repo.recordWrittenPacks();
    const more = await repo.saveBlob('data', seededBytes('one more', 300 * KiB));
    await repo.flush();
    assert.deepEqual(
      repo.writtenPacks().flatMap((p) => p.entries.map((e) => e.id.toString('hex'))),
      [more.id.toString('hex')],
    );
  });

  it('refuses to load a blob that is not indexed or of the other type', async (t) => {
    const dir = await tempDir(t);
    const repo = await initRepo(dir);
    const { id } = await repo.saveBlob('data', Buffer.from('x'));
    await repo.flush();
    await assert.rejects(repo.loadBlob('tree', id), code('BLOB_MISSING', /tree blob/));
    await assert.rejects(repo.loadBlob('data', randomBytes(32)), code('BLOB_MISSING', /in no index/));
  });

  it('reports BLOB_CORRUPT naming the pack when a stored blob was changed', async (t) => {
    const dir = await tempDir(t);
    const repo = await initRepo(dir);
    const { id } = await repo.saveBlob('data', seededBytes('c', 5000));
    await repo.flush();
    const pack = repo.lookup(id)!.pack;
    const fault = new FaultBackend(new LocalBackend(dir));
    const reader = await Repository.open(fault, PASSWORD);
    await reader.loadIndex();
    fault.corruptReads(
      (h) => h.type === 'data',
      (buf) => (buf[buf.length - 1]! ^= 1),
      1,
    );
    await assert.rejects(reader.loadBlob('data', id), code('BLOB_CORRUPT', new RegExp(`in pack ${pack}`)));
    assert.equal((await reader.loadBlob('data', id)).length, 5000);
  });

  it('saves, lists, and finds snapshots by id prefix and as the latest', async (t) => {
    const dir = await tempDir(t);
    const repo = await initRepo(dir);
    const a = await repo.saveSnapshot(snapshot('2024-01-01T00:00:00.000Z', 'h1'));
    const c = await repo.saveSnapshot(snapshot('2024-03-01T00:00:00.000Z', 'h2'));
    const b = await repo.saveSnapshot(snapshot('2024-02-01T00:00:00.000Z', 'h1'));
    const { snapshots, errors } = await repo.listSnapshots();
    assert.deepEqual(errors, []);
    assert.deepEqual(
      snapshots.map((s) => s.id),
      [a, b, c],
    );
    assert.equal(snapshots[0]?.host, 'h1');
    assert.equal((await repo.findSnapshot('latest')).id, c);
    assert.equal((await repo.findSnapshot('latest', (s) => s.host === 'h1')).id, b);
    await assert.rejects(
      repo.findSnapshot('latest', (s) => s.host === 'h3'),
      code('SNAPSHOT_NOT_FOUND'),
    );
    for (const id of [a, b, c]) {
      assert.equal((await repo.findSnapshot(id)).id, id);
      assert.equal((await repo.findSnapshot(id.slice(0, 10))).id, id);
    }
    await assert.rejects(repo.findSnapshot('0'.repeat(64)), code('SNAPSHOT_NOT_FOUND'));
    await assert.rejects(repo.findSnapshot('LATEST'), code('USAGE'));
    await assert.rejects(repo.findSnapshot('../x'), code('USAGE'));
  });

  it('refuses an id prefix that matches more than one snapshot', async (t) => {
    const dir = await tempDir(t);
    const repo = await initRepo(dir);
    const ids: string[] = [];
    // Seventeen ids must share a first hex digit.
    for (let i = 0; i < 17; i++)
      ids.push(await repo.saveSnapshot(snapshot(`2024-01-01T00:00:${10 + i}.000Z`)));
    const shared = ids.find((id, i) => ids.some((o, k) => k !== i && o[0] === id[0]))!;
    await assert.rejects(repo.findSnapshot(shared[0]!), code('SNAPSHOT_AMBIGUOUS', /matches \d+ snapshots/));
    assert.equal((await repo.findSnapshot('latest')).id, ids[16]);
    await assert.rejects(
      openRepo(dir).then((r) => r.findSnapshot('')),
      code('USAGE'),
    );
  });

  it('lists a damaged snapshot as a SNAPSHOT_CORRUPT error and keeps the others', async (t) => {
    const dir = await tempDir(t);
    const repo = await initRepo(dir);
    const good = await repo.saveSnapshot(snapshot('2024-01-01T00:00:00.000Z'));
    const flipped = await repo.saveSnapshot(snapshot('2024-01-02T00:00:00.000Z'));
    await flipByte(path.join(dir, 'snapshots', flipped), 30, 0x40);
    // Bytes that match their name but were not sealed with this repository's key.
    const foreign = Buffer.from('sealed by someone else entirely, or just noise');
    const foreignId = sha256([foreign]).toString('hex');
    await fs.writeFile(path.join(dir, 'snapshots', foreignId), foreign);
    // Sealed with the key but not a version 1 manifest.
    const v2 = sealFile(repo.key, 'snapshot', Buffer.from(JSON.stringify({ ...snapshot('x'), version: 2 })));
    const v2Id = sha256([v2]).toString('hex');
    await fs.writeFile(path.join(dir, 'snapshots', v2Id), v2);
    // Not a snapshot name at all: ignored.
    await fs.writeFile(path.join(dir, 'snapshots', 'README'), 'hi');

    const { snapshots, errors } = await repo.listSnapshots();
    assert.deepEqual(
      snapshots.map((s) => s.id),
      [good],
    );
    assert.equal(errors.length, 3);
    for (const e of errors) assert.equal(e.code, 'SNAPSHOT_CORRUPT');
    const byId = (id: string) => errors.find((e) => e.message.includes(id))?.message ?? '';
    assert.match(byId(flipped), /does not match its name/);
    assert.match(byId(foreignId), /does not authenticate/);
    assert.match(byId(v2Id), /unknown manifest version/);
    await assert.rejects(repo.loadSnapshot(flipped), code('SNAPSHOT_CORRUPT'));
  });

  it('names a damaged snapshot file instead of passing over it, by id and as the latest', async (t) => {
    const dir = await tempDir(t);
    const repo = await initRepo(dir);
    const older = await repo.saveSnapshot(snapshot('2024-01-01T00:00:00.000Z', 'h1'));
    const newest = await repo.saveSnapshot(snapshot('2024-01-02T00:00:00.000Z', 'h2'));
    await flipByte(path.join(dir, 'snapshots', newest), 30, 0x40);

    const { damaged } = await repo.listSnapshots();
    assert.deepEqual(
      damaged.map((d) => [d.id, d.reason]),
      [[newest, 'its content does not match its name (SHA-256)']],
    );
    // Its host is unknown, so no filter can leave it out: "latest" refuses rather than guess.
    for (const filter of [undefined, { hosts: ['h1'] }, (s: { host: string }) => s.host === 'h1']) {
      await assert.rejects(
        repo.findSnapshot('latest', filter),
        code(
          'SNAPSHOT_CORRUPT',
          new RegExp(`latest snapshot: snapshot file ${newest} cannot be read.*forget`),
        ),
      );
    }
    await assert.rejects(
      repo.findSnapshot(newest.slice(0, 8)),
      code(
        'SNAPSHOT_CORRUPT',
        new RegExp(`snapshot ${newest}: its file is damaged \\(its content does not match`),
      ),
    );
    const resolved = await repo.resolveSnapshotId(newest.slice(0, 8));
    assert.ok(isDamaged(resolved));
    assert.equal((await repo.findSnapshot(older)).id, older);

    await fs.rm(path.join(dir, 'snapshots', newest));
    assert.equal((await repo.findSnapshot('latest')).id, older);
    await assert.rejects(
      repo.findSnapshot('latest', { hosts: ['h2'] }),
      code('SNAPSHOT_NOT_FOUND', /of host h2/),
    );
  });

  it('reports a damaged index file as INDEX_CORRUPT, or returns it when tolerant', async (t) => {
    const dir = await tempDir(t);
    const repo = await initRepo(dir);
    const { id: kept } = await repo.saveBlob('data', Buffer.from('kept'));
    await repo.flush();
    const { id: lost } = await repo.saveBlob('data', Buffer.from('lost'));
    await repo.flush();
    const names = await listNames(dir, 'index');
    assert.equal(names.length, 2);
    // Damage the index file that names `lost`.
    let target = '';
    for (const n of names) {
      const content = repo.decodeIndexFile(n, await fs.readFile(path.join(dir, 'index', n)));
      if (content.packs.some((p) => p.entries.some((e) => e.id.equals(lost)))) target = n;
    }
    await flipByte(path.join(dir, 'index', target), -3, 0x40);
    await assert.rejects(
      openRepo(dir).then((r) => r.loadIndex()),
      code('INDEX_CORRUPT', new RegExp(`index file ${target}.*does not match its name`)),
    );
    const tolerant = await openRepo(dir);
    const { files, errors } = await tolerant.loadIndex({ tolerant: true });
    assert.equal(files, 1);
    assert.equal(errors.length, 1);
    assert.equal(errors[0]?.code, 'INDEX_CORRUPT');
    assert.equal(tolerant.index.has(kept), true);
    assert.equal(tolerant.index.has(lost), false);
  });

  it('rejects an index file that is named right but sealed wrong or malformed inside', async (t) => {
    const dir = await tempDir(t);
    const repo = await initRepo(dir);
    const noise = Buffer.from('noise that is no sealed index');
    const malformed = sealFile(repo.key, 'index', Buffer.from([1, 0, 0, 0, 0, 9, 0, 0, 0]), false);
    const asSnapshot = sealFile(repo.key, 'snapshot', encodeIndex({ supersedes: [], packs: [] }), false);
    for (const [bytes, why] of [
      [noise, /does not authenticate/],
      [malformed, /ends early/],
      [asSnapshot, /does not authenticate/],
    ] as const) {
      const name = sha256([bytes]).toString('hex');
      assert.throws(() => repo.decodeIndexFile(name, bytes), code('INDEX_CORRUPT', why));
    }
  });

  it('ignores index files that a later index file supersedes', async (t) => {
    const dir = await tempDir(t);
    const repo = await initRepo(dir);
    const entry = (n: number): BlobEntry => ({
      type: 0,
      codec: 0,
      id: Buffer.alloc(32, n),
      offset: 0,
      length: 1,
      rawLength: 1,
    });
    const write = async (content: Parameters<typeof encodeIndex>[0]) => {
      const bytes = sealFile(repo.key, 'index', encodeIndex(content), false);
      const name = sha256([bytes]).toString('hex');
      await fs.writeFile(path.join(dir, 'index', name), bytes);
      return name;
    };
    const old = await write({ supersedes: [], packs: [{ id: 'aa'.repeat(32), entries: [entry(1)] }] });
    await write({ supersedes: [old], packs: [{ id: 'bb'.repeat(32), entries: [entry(2)] }] });
    const r = await openRepo(dir);
    await r.loadIndex();
    assert.equal(r.index.has(Buffer.alloc(32, 1)), false);
    assert.equal(r.index.has(Buffer.alloc(32, 2)), true);
    assert.equal(r.indexFileNames().includes(old), false);
  });

  it('loads the replacement of an index file that a collector removes while it is being read', async (t) => {
    const dir = await tempDir(t);
    const repo = await initRepo(dir);
    const entry = (n: number): BlobEntry => ({
      type: 0,
      codec: 0,
      id: Buffer.alloc(32, n),
      offset: 0,
      length: 1,
      rawLength: 1,
    });
    const old = await repo.writeIndexFile({
      supersedes: [],
      packs: [{ id: 'aa'.repeat(32), entries: [entry(1)] }],
    });
    const reader = await openRepo(dir);
    // Between the reader's listing and its read of the old file, a prune writes the file that
    // replaces it and removes the old one, as prune does (new index first, then the old goes).
    const backend = reader.backend as LocalBackend;
    const read = backend.read.bind(backend);
    let raced = 0;
    backend.read = async (h) => {
      if (h.type === 'index' && h.name === old && raced++ === 0) {
        await repo.writeIndexFile({
          supersedes: [old],
          packs: [{ id: 'aa'.repeat(32), entries: [entry(1)] }],
        });
        await fs.rm(path.join(dir, 'index', old));
      }
      return read(h);
    };
    await reader.loadIndex();
    assert.equal(raced, 1);
    assert.equal(reader.index.has(Buffer.alloc(32, 1)), true, 'the blob of the replaced file is indexed');
    // Named files are not re-listed: a file asked for by name that is gone is an error.
    await assert.rejects(reader.readIndexFiles([old]), code('BACKEND_NOT_FOUND'));
  });

  it('holds a loaded index of 100 000 blobs in under 70 bytes a blob', async (t) => {
    const dir = await tempDir(t);
    const repo = await initRepo(dir);
    const ids = seededBytes('ids', 32 * 100_000);
    for (let f = 0; f < 4; f++) {
      const packs = [];
      for (let p = 0; p < 250; p++) {
        const entries: BlobEntry[] = [];
        for (let i = 0; i < 100; i++) {
          const n = (f * 250 + p) * 100 + i;
          entries.push({
            type: 0,
            codec: 1,
            id: ids.subarray(n * 32, n * 32 + 32),
            offset: i,
            length: 1,
            rawLength: 1,
          });
        }
        packs.push({ id: sha256([Buffer.from(`pack ${f} ${p}`)]).toString('hex'), entries });
      }
      const bytes = sealFile(repo.key, 'index', encodeIndex({ supersedes: [], packs }), false);
      await fs.writeFile(path.join(dir, 'index', sha256([bytes]).toString('hex')), bytes);
    }
    const r = await openRepo(dir);
    await r.loadIndex();
    assert.equal(r.index.size, 100_000);
    const perBlob = r.index.byteSize / r.index.size;
    t.diagnostic(`${perBlob.toFixed(1)} bytes per blob`);
    assert.ok(perBlob < 70, `${perBlob} bytes per blob`);
  });

  it('keeps scrypt parameters in the key slot it writes', async (t) => {
    const dir = await tempDir(t);
    await initRepo(dir);
    const [slot] = await listNames(dir, 'keys');
    const json = JSON.parse(await fs.readFile(path.join(dir, 'keys', slot!), 'utf8')) as { kdf: unknown };
    assert.deepEqual({ ...(json.kdf as object), salt: 0 }, { name: 'scrypt', ...FAST_SCRYPT, salt: 0 });
  });
});
