import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { isCairnError } from '../errors.ts';
import { initRepo, tempDir } from './fixtures.testing.ts';
import type { Snapshot } from './snapshot.ts';
import { changedTags, retagSnapshots } from './tag.ts';

const manifest = (time: string, tags: string[], extra: Partial<Snapshot> = {}): Snapshot => ({
  version: 1,
  time,
  host: 'h',
  username: 'u',
  paths: ['/data'],
  tags,
  tree: 'ab'.repeat(32),
  programVersion: 'test',
  ...extra,
});

describe('tags', () => {
  it('adds, removes and sets tags, sorted and each once', () => {
    assert.deepEqual(changedTags(['b', 'a'], { add: ['c', 'a'] }), ['a', 'b', 'c']);
    assert.deepEqual(changedTags(['a', 'b'], { remove: ['a', 'x'] }), ['b']);
    assert.deepEqual(changedTags(['a'], { add: ['b'], remove: ['a'] }), ['b']);
    assert.deepEqual(changedTags(['a'], { set: ['z', 'y', 'z'] }), ['y', 'z']);
    assert.deepEqual(changedTags(['a'], { set: [] }), []);
  });

  it('refuses a change that says nothing, and --set beside --add', () => {
    assert.throws(
      () => changedTags([], {}),
      (e) => isCairnError(e, 'USAGE'),
    );
    assert.throws(
      () => changedTags([], { set: ['a'], add: ['b'] }),
      (e) => isCairnError(e, 'USAGE'),
    );
  });

  it('writes a changed snapshot anew with its original, removes the old file, and leaves the rest', async (t) => {
    const dir = await tempDir(t);
    const repo = await initRepo(dir);
    const a = await repo.saveSnapshot(
      manifest('2024-01-01T00:00:00.000Z', ['daily'], { parent: 'cd'.repeat(32) }),
    );
    const b = await repo.saveSnapshot(manifest('2024-01-02T00:00:00.000Z', ['daily', 'keep']));
    const copy = await repo.saveSnapshot(
      manifest('2024-01-03T00:00:00.000Z', [], { original: 'ef'.repeat(32) }),
    );
    const { snapshots } = await repo.listSnapshots();

    const dry = await retagSnapshots(repo, snapshots, { add: ['keep'] }, { dryRun: true });
    assert.deepEqual(
      dry.changed.map((c) => [c.old, c.new]),
      [
        [a, undefined],
        [copy, undefined],
      ],
    );
    assert.equal((await fs.readdir(path.join(dir, 'snapshots'))).length, 3);

    const r = await retagSnapshots(repo, snapshots, { add: ['keep'] });
    assert.deepEqual(r.unchanged, [b]);
    const after = (await repo.listSnapshots()).snapshots;
    assert.deepEqual(after.map((s) => s.id).sort(), [b, ...r.changed.map((c) => c.new!)].sort());
    const newA = after.find((s) => s.id === r.changed[0]!.new)!;
    const { id: _a, ...was } = snapshots[0]!;
    const { id: _n, ...now } = newA;
    assert.deepEqual(now, { ...was, tags: ['daily', 'keep'], original: a });
    // A copy keeps the snapshot it stands for.
    assert.equal(after.find((s) => s.id === r.changed[1]!.new)!.original, 'ef'.repeat(32));
    await assert.rejects(repo.loadSnapshot(a), (e) => isCairnError(e, 'BACKEND_NOT_FOUND'));
  });
});
