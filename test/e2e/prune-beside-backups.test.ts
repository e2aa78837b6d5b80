// Prune beside backups (issue 18): a backup and a prune started at random offsets of each other on
// one repository, with files changing between backups. Both must succeed every time,
// `check --read-data` must find no error after each trial, and every snapshot must restore
// byte-identical to what its backup read.
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { LocalBackend } from '../../src/backend/index.ts';
import { Repository } from '../../src/repo/index.ts';
import { prng, randInt, seededBytes } from '../../src/repo/fixtures.testing.ts';
import {
  cairn,
  makeTemp,
  message,
  removeTemp,
  show,
  startCairn,
  walkTree,
  type Entry,
} from './cli.testing.ts';
import { CHEAP_SCRYPT } from './repo.testing.ts';

const PASSWORD = 'prune-beside-backups';
const TRIALS = 20;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

describe('prune beside backups', () => {
  let dir: string;
  let src: string;
  let env: Record<string, string>;

  before(async () => {
    dir = await makeTemp('cairn-prune-beside-');
    src = path.join(dir, 'src');
    await fs.mkdir(path.join(src, 'a', 'b'), { recursive: true });
    env = { CAIRN_REPOSITORY: path.join(dir, 'repo'), CAIRN_PASSWORD: PASSWORD };
    const repo = await Repository.init(
      new LocalBackend(env.CAIRN_REPOSITORY!),
      { password: PASSWORD },
      {
        scrypt: CHEAP_SCRYPT,
        packSize: 256 * 1024,
        chunker: { minSize: 16 * 1024, avgSize: 32 * 1024, maxSize: 128 * 1024 },
      },
    );
    await repo.close();
  });

  after(() => removeTemp(dir));

  it(`${TRIALS} trials of a backup and a prune at random offsets lose nothing`, async (t) => {
    const rng = prng(18);
    const expected = new Map<string, Map<string, Entry>>();
    let pruneWaited = 0;
    for (let trial = 0; trial < TRIALS; trial++) {
      // The files change: some rewritten, some new, some gone.
      for (let i = 0; i < 24; i++) {
        const where = path.join(src, ['', 'a', path.join('a', 'b')][i % 3]!, `f${i}`);
        const roll = rng();
        if (roll < 0.6)
          await fs.writeFile(
            where,
            seededBytes(`${trial}-${i}-${randInt(rng, 4)}`, 50_000 + randInt(rng, 400_000)),
          );
        else if (roll < 0.68) await fs.rm(where, { force: true });
      }
      const state = await walkTree(src);
      // Old snapshots go, so that prune has garbage to delete and packs to repack.
      const f = await cairn(['forget', '--keep-last', '2', '--json'], { env });
      assert.equal(f.code, 0, show(f));
      for (const id of message(f.stdout, 'forget').removed as string[]) expected.delete(id);

      const offset = randInt(rng, 700);
      const pruneFirst = rng() < 0.5;
      // A backup that starts first lingers after loading the index (a --run-before program), so
      // that prune meets it running in most of those trials, whatever the machine's speed.
      const linger = pruneFirst ? [] : ['--run-before', 'sleep 3'];
      const startBackup = () => startCairn(['backup', src, '--json', ...linger], { env, timeoutMs: 300_000 });
      const startPrune = () =>
        startCairn(['prune', '--max-unused', '0%', '--json'], { env, timeoutMs: 300_000 });
      const first = pruneFirst ? startPrune() : startBackup();
      await sleep(offset);
      const second = pruneFirst ? startBackup() : startPrune();
      const [r1, r2] = await Promise.all([first.done, second.done]);
      const [b, p] = pruneFirst ? [r2, r1] : [r1, r2];
      assert.equal(b.code, 0, `trial ${trial}: backup ${show(b)}`);
      assert.equal(p.code, 0, `trial ${trial}: prune ${show(p)}`);
      const id = message(b.stdout, 'summary').snapshot_id as string;
      expected.set(id, state);
      if (((message(p.stdout, 'prune').waited_for as number | undefined) ?? 0) > 0) pruneWaited++;

      const c = await cairn(['check', '--read-data', '--json'], { env, timeoutMs: 300_000 });
      assert.equal(c.code, 0, `trial ${trial}: check ${show(c)}`);
      for (const [snap, want] of expected) {
        const target = path.join(dir, `restore-${trial}-${snap.slice(0, 8)}`);
        const r = await cairn(['restore', snap, '--target', target], { env, timeoutMs: 300_000 });
        assert.equal(r.code, 0, `trial ${trial}: restore ${snap} ${show(r)}`);
        assert.deepEqual(await walkTree(path.join(target, src)), want, `trial ${trial}: snapshot ${snap}`);
        await fs.rm(target, { recursive: true, force: true });
      }
    }
    // The trials must have made prune meet running backups, or they prove nothing.
    t.diagnostic(`prune waited for a running backup in ${pruneWaited} of ${TRIALS} trials`);
    assert.ok(pruneWaited > 0, `prune waited for a backup in ${pruneWaited} of ${TRIALS} trials`);
  });
});
