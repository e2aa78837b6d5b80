import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { NotRestored } from '../repo/index.ts';
import { makeOutput } from './output.ts';
import { adviceFor, notRestoredJson, reportNotRestored } from './restore-outcome.ts';

const file = (path: string, code: NotRestored['code']): NotRestored => ({
  path,
  dest: `/t${path}`,
  kind: 'file',
  code,
  reason: 'why',
});

describe('what restore says about what it left out', () => {
  it('names check for any damage, repair index only when the index lacks a blob', () => {
    const damaged = adviceFor([file('/a', 'BLOB_CORRUPT')]);
    assert.ok(damaged.some((a) => a.startsWith('cairn check --read-data')));
    assert.ok(damaged.some((a) => a.startsWith('cairn repair snapshots')));
    assert.ok(!damaged.some((a) => a.startsWith('cairn repair index')));
    assert.ok(adviceFor([file('/a', 'BLOB_MISSING')]).some((a) => a.startsWith('cairn repair index')));
    // A file that read back wrong is the target's fault, not the repository's.
    const target = adviceFor([file('/a', 'TARGET_UNWRITABLE')]);
    assert.ok(!target.some((a) => a.startsWith('cairn')), target.join('\n'));
  });

  it("the JSON form leaves out what a file does not have, and keeps a folder's tree and pack", () => {
    assert.deepEqual(notRestoredJson(file('/a', 'BLOB_CORRUPT')), {
      path: '/a',
      target_path: '/t/a',
      kind: 'file',
      code: 'BLOB_CORRUPT',
      reason: 'why',
    });
    const folder: NotRestored = {
      ...file('/d', 'BACKEND_NOT_FOUND'),
      kind: 'folder',
      tree: 'ab',
      pack: 'cd',
    };
    assert.deepEqual(notRestoredJson(folder).tree, 'ab');
    assert.deepEqual(notRestoredJson(folder).pack, 'cd');
  });

  it('nothing left out is no error; anything left out is RESTORE_INCOMPLETE counting files and folders', () => {
    const out = makeOutput({ json: true });
    reportNotRestored(out, [], 'f'.repeat(64));
    const folder: NotRestored = { ...file('/d', 'BLOB_CORRUPT'), kind: 'folder' };
    assert.throws(
      () =>
        reportNotRestored(
          out,
          [file('/a', 'BLOB_CORRUPT'), file('/b', 'BLOB_CORRUPT'), folder],
          'f'.repeat(64),
        ),
      {
        code: 'RESTORE_INCOMPLETE',
        message: /^Cannot restore all of snapshot f{12}: 2 files and 1 folder left out/,
      },
    );
  });
});
