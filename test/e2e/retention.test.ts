// Retention from the command line: a month of daily snapshots, forget --keep-daily 7
// --keep-weekly 4 --prune keeps the documented set, and the repository checks clean afterwards.
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { LocalBackend } from '../../src/backend/index.ts';
import { backup, Repository } from '../../src/repo/index.ts';
import { cairn, jsonLines, makeTemp, removeTemp, show } from './cli.testing.ts';
import { CHEAP_SCRYPT } from './repo.testing.ts';

const PASSWORD = 'retention-e2e-password';

describe('forget and prune', () => {
  let dir: string;
  let env: Record<string, string>;

  before(async () => {
    dir = await makeTemp();
    env = { CAIRN_REPOSITORY: path.join(dir, 'repo'), CAIRN_PASSWORD: PASSWORD, TZ: 'UTC' };
    const src = path.join(dir, 'src');
    await fs.mkdir(src);
    const repo = await Repository.init(
      new LocalBackend(env.CAIRN_REPOSITORY!),
      { password: PASSWORD },
      {
        scrypt: CHEAP_SCRYPT,
      },
    );
    try {
      // January 2026, one backup a day at 02:00 UTC; each day changes one file.
      for (let day = 1; day <= 30; day++) {
        await fs.writeFile(path.join(src, 'daily.txt'), `day ${day}\n`.repeat(20000 + day));
        await fs.writeFile(path.join(src, 'stable.txt'), 'the same every day\n');
        const when = new Date(Date.UTC(2026, 0, day, 2));
        await backup(repo, [src], { now: () => when, host: 'retention-host' });
      }
    } finally {
      await repo.close();
    }
  });

  after(() => removeTemp(dir));

  const days = async (): Promise<number[]> => {
    const r = await cairn(['snapshots', '--json'], { env });
    assert.equal(r.code, 0, show(r));
    return (JSON.parse(r.stdout) as { time: string }[])
      .map((s) => new Date(s.time).getUTCDate())
      .sort((a, b) => a - b);
  };

  it('--dry-run says what it would remove and why the rest is kept, and removes nothing', async () => {
    const r = await cairn(['forget', '--keep-daily', '7', '--keep-weekly', '4', '--dry-run'], { env });
    assert.equal(r.code, 0, show(r));
    assert.match(
      r.stdout,
      /keep {3}\S+ {2}2026-01-30 02:00:00 {2}daily 1\/7 \(2026-01-30\), weekly 1\/4 \(2026-W05\)/,
    );
    assert.match(r.stdout, /keep {3}\S+ {2}2026-01-11 02:00:00 {2}weekly 4\/4 \(2026-W02\)/);
    assert.match(r.stdout, /remove \S+ {2}2026-01-10 02:00:00/);
    assert.match(r.stdout, /dry run: 21 snapshots would be removed/);
    assert.equal((await days()).length, 30);
  });

  it('--keep-daily 7 --keep-weekly 4 --prune keeps the last 7 days and the last 4 weeks, and frees space', async () => {
    const r = await cairn(['forget', '--keep-daily', '7', '--keep-weekly', '4', '--prune', '--json'], {
      env,
    });
    assert.equal(r.code, 0, show(r));
    // Days 24-30 (daily), and the newest of ISO weeks W03 (Jan 12-18) and W02 (Jan 5-11); W05
    // and W04 have theirs among the daily ones.
    assert.deepEqual(await days(), [11, 18, 24, 25, 26, 27, 28, 29, 30]);
    const pruned = jsonLines(r.stdout).find((m) => m.message_type === 'prune');
    assert.ok(pruned, r.stdout);
    assert.ok(Number(pruned.bytes_freed) > 0, JSON.stringify(pruned));
    const check = await cairn(['check', '--read-data'], { env });
    assert.equal(check.code, 0, show(check));
    assert.match(check.stdout, /no errors/);
    assert.doesNotMatch(check.stdout, /warning/);
  });

  it('refuses to run without snapshots or a policy, and names bad values', async () => {
    const none = await cairn(['forget'], { env });
    assert.equal(none.code, 2, show(none));
    assert.match(none.stderr, /nothing is removed otherwise/);
    const bad = await cairn(['forget', '--keep-daily', 'seven'], { env });
    assert.equal(bad.code, 2, show(bad));
    assert.match(bad.stderr, /--keep-daily seven: give a whole number/);
    const pct = await cairn(['prune', '--max-unused', '150%'], { env });
    assert.equal(pct.code, 2, show(pct));
  });
});
