/**
 * `cairn repair snapshots` end to end: a pack is lost, check names the file that needed it, the
 * repair replaces the snapshot by one without that file, and everything else still restores.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { blobId } from '../../src/crypto/index.ts';
import { ERRORS } from '../../src/errors.ts';
import { backup } from '../../src/repo/index.ts';
import { cairn, jsonLines, message, show, tempDir, type Run } from './cli.testing.ts';
import { lockAs, makeRepo, openRepo } from './repo.testing.ts';

const PASSWORD = 'repair-e2e-password';

describe('cairn repair snapshots', () => {
  it('replaces a snapshot whose pack is lost by one without the lost file; the others restore whole', async (t) => {
    const dir = await tempDir(t);
    const src = path.join(dir, 'src');
    await fs.mkdir(path.join(src, 'sub'), { recursive: true });
    const kept = { 'a.txt': randomBytes(3000), 'sub/b.bin': randomBytes(40_000) };
    for (const [name, bytes] of Object.entries(kept)) await fs.writeFile(path.join(src, name), bytes);
    const repoDir = path.join(dir, 'repo');
    await makeRepo(repoDir, PASSWORD, [src]);
    // A second backup with one new file, whose blob lands in a pack of its own; that pack is lost.
    const lostBytes = randomBytes(50_000);
    await fs.writeFile(path.join(src, 'sub', 'lost.bin'), lostBytes);
    const repo = await openRepo(repoDir, PASSWORD);
    await backup(repo, [src]);
    await repo.flush();
    const pack = repo.lookup(blobId(repo.key, lostBytes))!.pack;
    await repo.close();
    await fs.rm(path.join(repoDir, 'data', pack.slice(0, 2), pack));
    const env = { CAIRN_REPOSITORY: repoDir, CAIRN_PASSWORD: PASSWORD };
    const run = (args: string[]) => cairn(args, { env });
    const snapshotFiles = () => fs.readdir(path.join(repoDir, 'snapshots'));
    const ok = (r: Run, code = 0) => {
      assert.equal(r.code, code, show(r));
      return r;
    };

    ok(await run(['check']), ERRORS.CHECK_FAILED.exit);
    const before = (await snapshotFiles()).sort();
    assert.equal(before.length, 2);

    // A dry run says what it would cut and writes nothing.
    const dry = ok(await run(['repair', 'snapshots', '--dry-run', '--json']));
    const would = message(dry.stdout, 'repaired_snapshot');
    assert.equal(would.replacement, null);
    assert.deepEqual(
      (would.cut as { path: string }[]).map((c) => c.path),
      [path.join(src, 'sub', 'lost.bin')],
    );
    assert.deepEqual((await snapshotFiles()).sort(), before);

    // The exclusive lock: a backup running elsewhere stops the repair.
    const other = await openRepo(repoDir, PASSWORD);
    const lock = await lockAs(other, process.pid, { exclusive: false, command: 'backup' });
    ok(await run(['repair', 'snapshots']), ERRORS.REPO_LOCKED.exit);
    await lock.release();
    await other.close();

    const r = ok(await run(['repair', 'snapshots', '--forget']));
    assert.match(r.stdout, /1 file cut: replaced by [0-9a-f]{8}, original removed/);
    assert.match(
      r.stdout,
      new RegExp(`${path.join(src, 'sub', 'lost.bin').replace(/[.]/g, '\\.')}  \\(blob`),
    );
    assert.match(r.stdout, /looked at 2 snapshots .*: 1 intact, 1 repaired/);

    const list = jsonLines(ok(await run(['snapshots', '--json'])).stdout)[0] as unknown as {
      id: string;
      tags: string[];
      repaired?: { from: string; count: number };
    }[];
    assert.equal(list.length, 2);
    const repaired = list.find((s) => s.tags.includes('repaired'))!;
    assert.ok(before.includes(repaired.repaired!.from));
    assert.ok(!list.some((s) => s.id === repaired.repaired!.from), 'the original is gone');
    assert.equal(repaired.repaired!.count, 1);

    const target = path.join(dir, 'restore');
    ok(await run(['restore', repaired.id, '--target', target]));
    const restored = path.join(target, src);
    for (const [name, bytes] of Object.entries(kept))
      assert.ok((await fs.readFile(path.join(restored, name))).equals(bytes), name);
    assert.deepEqual((await fs.readdir(path.join(restored, 'sub'))).sort(), ['b.bin']);

    // What is left for check is the index naming the lost pack, which no snapshot needs now.
    const c = ok(await run(['check']), ERRORS.CHECK_FAILED.exit);
    assert.match(
      c.stdout,
      new RegExp(
        `pack ${pack} is named by the index but missing from storage; no file of any snapshot needs it`,
      ),
    );

    // Running again changes nothing.
    const again = ok(await run(['repair', 'snapshots', '--forget', '--json']));
    const sum = message(again.stdout, 'summary');
    assert.deepEqual([sum.intact, sum.repaired, sum.already_repaired], [2, [], []]);
    assert.equal((await snapshotFiles()).length, 2);

    // A snapshot file that cannot be read cannot be repaired: reported (exit 3), removed by forget.
    const junk = randomBytes(300);
    const junkId = createHash('sha256').update(junk).digest('hex');
    await fs.writeFile(path.join(repoDir, 'snapshots', junkId), junk);
    const unreadable = ok(await run(['repair', 'snapshots', '--forget']), 3);
    assert.match(
      unreadable.stderr,
      new RegExp(
        `snapshot ${junkId}: it does not authenticate; it cannot be repaired .*"cairn forget ${junkId}" removes it`,
      ),
    );
    assert.equal((await snapshotFiles()).length, 3, 'it is not removed by the repair');
    ok(await run(['forget', junkId.slice(0, 12)]));
    assert.equal((await snapshotFiles()).length, 2);
  });
});
