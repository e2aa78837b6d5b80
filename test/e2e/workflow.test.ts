/**
 * The everyday cycle through the CLI: init, backups (first, incremental, forced), listing,
 * restores by "latest" and by id prefix, and every kind of check.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  cairn,
  compareTrees,
  countFiles,
  esc,
  type Entry,
  makeSourceTree,
  makeTemp,
  message,
  removeTemp,
  type Run,
  show,
  walkTree,
} from './cli.testing.ts';

const PASSWORD = 'workflow-e2e-password';
const HEX64 = /^[0-9a-f]{64}$/;

describe('the backup, list, restore and check cycle', () => {
  let dir: string;
  let src: string;
  let env: Record<string, string>;
  const started = new Date();
  /** Snapshot ids in the order the backups made them. */
  const ids: string[] = [];
  /** The source as the first backup saw it. */
  let firstState: Map<string, Entry>;
  let fileCount: number;

  const ok = async (args: string[]): Promise<Run> => {
    const r = await cairn(args, { env });
    assert.equal(r.code, 0, `cairn ${args.join(' ')}: ${show(r)}`);
    assert.ok(!(r.stdout + r.stderr).includes(PASSWORD), 'the password appears in the output');
    return r;
  };

  before(async () => {
    dir = await makeTemp();
    src = path.join(dir, 'source');
    await makeSourceTree(src);
    env = { CAIRN_REPOSITORY: path.join(dir, 'repo'), CAIRN_PASSWORD: PASSWORD };
    fileCount = (await countFiles(src)).files;
  });

  after(() => removeTemp(dir));

  it('init creates a repository with one key slot and says where', async () => {
    const r = await ok(['init']);
    assert.match(r.stdout, new RegExp(`created repository [0-9a-f]{12} at ${esc(env.CAIRN_REPOSITORY!)}`));
    assert.equal((await fs.readdir(path.join(dir, 'repo', 'keys'))).length, 1);
  });

  it('a first backup prints a JSON summary with restic field names and records --tag and --host', async () => {
    firstState = await walkTree(src);
    const { files, bytes } = await countFiles(src);
    const r = await ok(['backup', '--json', '--tag', 'daily', '--tag', 'e2e', '--host', 'e2e-host', src]);
    const sum = message(r.stdout, 'summary');
    for (const field of [
      'files_new',
      'files_changed',
      'files_unmodified',
      'dirs_new',
      'dirs_changed',
      'dirs_unmodified',
      'data_added',
      'total_files_processed',
      'total_bytes_processed',
      'total_duration',
    ]) {
      assert.equal(typeof sum[field], 'number', `${field} in ${r.stdout}`);
    }
    assert.match(sum.snapshot_id as string, HEX64);
    assert.equal(sum.files_new, files);
    assert.equal(sum.files_changed, 0);
    assert.equal(sum.files_unmodified, 0);
    assert.equal(sum.total_files_processed, files);
    assert.equal(sum.total_bytes_processed, bytes);
    assert.ok((sum.dirs_new as number) >= 9, `dirs_new ${String(sum.dirs_new)}`);
    assert.ok((sum.data_added as number) > 5 * 1024 * 1024, `data_added ${String(sum.data_added)}`);
    assert.equal(sum.warnings, 0);
    // Each stage's busy share of the wall time, and the busiest stage.
    const load = sum.load as Record<string, number>;
    assert.deepEqual(Object.keys(load), ['source', 'chunk', 'seal', 'write']);
    for (const share of Object.values(load)) assert.ok(share >= 0 && share <= 1, JSON.stringify(load));
    assert.equal(load[sum.bottleneck as string], Math.max(...Object.values(load)));
    ids.push(sum.snapshot_id as string);
  });

  it('an incremental backup uses the parent and reads only new and changed files', async () => {
    await fs.appendFile(path.join(src, 'run.sh'), 'echo changed\n');
    await fs.writeFile(path.join(src, 'new.txt'), 'a new file\n');
    const r = await ok(['backup', '--host', 'e2e-host', src]);
    assert.match(r.stdout, new RegExp(`using parent snapshot ${ids[0]!.slice(0, 12)}`));
    assert.match(r.stdout, new RegExp(`Files: +1 new, 1 changed, ${fileCount - 1} unmodified`));
    assert.match(
      r.stdout,
      /^load: source \d+% > chunk \d+% > seal \d+% > write \d+%, bottleneck: (source|chunk|seal|write)$/m,
    );
    const saved = /snapshot ([0-9a-f]{12}) saved\n/.exec(r.stdout);
    assert.ok(saved, r.stdout);
    ids.push(saved[1]!);
  });

  it('a backup of an unchanged tree reports every file as unmodified and adds no data blob', async () => {
    const r = await ok(['backup', '--json', '--host', 'e2e-host', src]);
    const sum = message(r.stdout, 'summary');
    assert.equal(sum.files_unmodified, fileCount + 1);
    assert.equal(sum.files_new, 0);
    assert.equal(sum.files_changed, 0);
    assert.equal(sum.data_blobs, 0);
    assert.ok((sum.dirs_unmodified as number) >= 9, `dirs_unmodified ${String(sum.dirs_unmodified)}`);
    ids.push(sum.snapshot_id as string);
  });

  it('backup --force reads every file again but stores nothing already stored', async () => {
    const r = await ok(['backup', '--json', '--force', '--host', 'e2e-host', src]);
    const sum = message(r.stdout, 'summary');
    assert.equal(sum.files_unmodified, 0);
    assert.equal(sum.files_new, fileCount + 1);
    assert.equal(sum.data_blobs, 0);
    ids.push(sum.snapshot_id as string);
  });

  it('snapshots lists every snapshot as a table with short ids, host, tags and paths', async () => {
    const r = await ok(['snapshots']);
    const lines = r.stdout.trimEnd().split('\n');
    assert.match(lines[0]!, /^ID +Time \(UTC\) +Host +Tags +Size +Paths$/);
    const rows = lines.slice(2, -1);
    assert.equal(rows.length, 4, r.stdout);
    assert.match(rows[0]!, new RegExp(`^${ids[0]!.slice(0, 8)} .* e2e-host +daily,e2e .* ${esc(src)}$`));
    for (const [i, row] of rows.entries()) assert.ok(row.startsWith(ids[i]!.slice(0, 8)), row);
    assert.equal(lines.at(-1), '4 snapshots');
  });

  it('snapshots --json prints an array with id, time, host, paths and tags', async () => {
    const r = await ok(['snapshots', '--json']);
    const list = JSON.parse(r.stdout) as Record<string, unknown>[];
    assert.ok(Array.isArray(list));
    assert.equal(list.length, 4);
    for (const [i, s] of list.entries()) {
      assert.match(s.id as string, HEX64);
      assert.ok((s.id as string).startsWith(ids[i]!), `${String(s.id)} is not ${ids[i]}`);
      const time = Date.parse(s.time as string);
      assert.ok(time >= started.getTime() - 1000 && time <= Date.now(), `time ${String(s.time)}`);
      assert.equal(s.host, 'e2e-host');
      assert.deepEqual(s.paths, [src]);
      assert.deepEqual(s.tags, i === 0 ? ['daily', 'e2e'] : []);
    }
    ids.splice(0, ids.length, ...list.map((s) => s.id as string));
    // The incremental backups name their parent; the forced one has none.
    assert.equal(list[1]!.parent, ids[0]);
    assert.equal(list[3]!.parent, undefined);
  });

  it('snapshots filters by host, tag and path (the path given as on the command line)', async () => {
    const r = await ok(['snapshots', '--json', '--host', 'e2e-host', '--tag', 'daily', '--path', `${src}/`]);
    assert.deepEqual(
      (JSON.parse(r.stdout) as { id: string }[]).map((s) => s.id),
      [ids[0]],
    );
    const none = await ok(['snapshots', '--json', '--host', 'another-host']);
    assert.deepEqual(JSON.parse(none.stdout), []);
  });

  it('restore latest re-creates the source as it is now under the target', async () => {
    const target = path.join(dir, 'restore-latest');
    const r = await ok(['restore', 'latest', '--target', target]);
    assert.match(r.stdout, new RegExp(`restoring snapshot ${ids[3]!.slice(0, 12)} of ${esc(src)}`));
    assert.match(r.stdout, new RegExp(`restored ${fileCount + 1} files, \\d+ dirs, 4 symlinks`));
    const diffs = compareTrees(await walkTree(src), await walkTree(path.join(target, src)));
    assert.deepEqual(diffs, []);
  });

  it('restore by an id prefix brings back the first snapshot, before the changes', async () => {
    const target = path.join(dir, 'restore-first');
    const r = await ok(['restore', ids[0]!.slice(0, 10), '--target', target, '--json']);
    const sum = message(r.stdout, 'summary');
    assert.equal(sum.snapshot_id, ids[0]);
    assert.equal(sum.files_restored, fileCount);
    assert.equal(sum.warnings, 0);
    const diffs = compareTrees(firstState, await walkTree(path.join(target, src)));
    assert.deepEqual(diffs, []);
  });

  it('check verifies the structure and reports no errors', async () => {
    const r = await ok(['check']);
    assert.match(r.stdout, /checked 4 snapshots, \d+ trees, \d+ blobs in \d+ packs in .*: no errors\n$/);
    assert.doesNotMatch(r.stdout, /read \d+ packs/);
  });

  it('check --read-data reads every pack', async () => {
    const r = await ok(['check', '--read-data']);
    const m = /in (\d+) packs; read (\d+) packs .*: no errors/.exec(r.stdout);
    assert.ok(m, r.stdout);
    assert.equal(m[2], m[1]);
  });

  it('check --read-data-subset 1/2 and 2/2 read two halves that together are every pack', async () => {
    interface Summary {
      ok: boolean;
      packs: number;
      packs_read: number;
      bytes_read: number;
    }
    const [one, two] = await Promise.all(
      ['1/2', '2/2'].map(
        async (part) =>
          message(
            (await ok(['check', '--json', '--read-data-subset', part])).stdout,
            'summary',
          ) as unknown as Summary,
      ),
    );
    assert.ok(one && two);
    assert.equal(one.ok, true);
    assert.equal(two.ok, true);
    assert.equal(one.packs_read + two.packs_read, one.packs);
    assert.ok(one.bytes_read + two.bytes_read > 0);
  });

  it('check --read-data-subset 50% reads some of the packs and finds no errors', async () => {
    const r = await ok(['check', '--read-data-subset', '50%']);
    const m = /in (\d+) packs; read (\d+) packs .*: no errors\n$/.exec(r.stdout);
    assert.ok(m, r.stdout);
    assert.equal(Number(m[2]), Math.ceil(Number(m[1]) / 2));
  });
});
