/**
 * Crash safety: the real CLI, killed with SIGKILL at seeded random moments of a backup, never
 * leaves a repository that check objects to, and the backup after the kills succeeds.
 *
 * CAIRN_TEST_SEED picks other moments; each round's moment is printed as a diagnostic.
 */
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { it } from 'node:test';
import { LocalBackend } from '../../src/backend/index.ts';
import { check } from '../../src/repo/check.ts';
import { Lock } from '../../src/repo/lock.ts';
import {
  FAST_SCRYPT,
  KiB,
  MiB,
  PASSWORD,
  assertSameTree,
  openRepo,
  prng,
  randInt,
  readTree,
  seededBytes,
  tempDir,
  textBytes,
} from '../../src/repo/fixtures.testing.ts';
import { Repository, type InitOptions } from '../../src/repo/repository.ts';
import { assertBuilt, cairn, cliEnv, startCairn } from './run-cli.testing.ts';

const SEED = Number(process.env.CAIRN_TEST_SEED ?? 20250601);
const KILLS = 20;
const MAX_ROUNDS = 40;

/**
 * What `cairn init --pack-size 1MiB --chunker-min 64KiB --chunker-avg 128KiB --chunker-max 512KiB`
 * makes, with a cheap key derivation so that each of the many runs opens the repository quickly.
 */
const INIT: InitOptions = {
  scrypt: FAST_SCRYPT,
  packSize: 1 * MiB,
  chunker: { minSize: 64 * KiB, avgSize: 128 * KiB, maxSize: 512 * KiB },
};

/** About 95 MB: big random files, compressible text, many small files in nested folders. */
async function makeData(src: string, rng: () => number): Promise<string[]> {
  const big: string[] = [];
  for (let d = 0; d < 6; d++) {
    const dir = path.join(src, `dir${d}`, d % 2 ? 'nested' : '');
    await fs.mkdir(dir, { recursive: true });
    for (let i = 0; i < 6; i++) {
      const file = path.join(dir, `random-${i}.bin`);
      await fs.writeFile(file, seededBytes(`${d}/${i}`, 1536 * KiB + randInt(rng, 1792 * KiB)));
      big.push(file);
    }
    for (let i = 0; i < 2; i++) {
      await fs.writeFile(
        path.join(dir, `text-${i}.txt`),
        textBytes(`${d}/${i}`, 500 * KiB + randInt(rng, 500 * KiB)),
      );
    }
    const small = path.join(src, `dir${d}`, 'small');
    await fs.mkdir(small, { recursive: true });
    for (let i = 0; i < 35; i++)
      await fs.writeFile(path.join(small, `s${i}`), seededBytes(`s${d}/${i}`, randInt(rng, 8 * KiB)));
  }
  return big;
}

function shuffle<T>(items: T[], rng: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const k = randInt(rng, i + 1);
    [items[i], items[k]] = [items[k]!, items[i]!];
  }
  return items;
}

async function countFiles(dir: string): Promise<number> {
  let n = 0;
  for (const e of await fs.readdir(dir, { withFileTypes: true, recursive: true })) if (e.isFile()) n++;
  return n;
}

it('a backup killed with SIGKILL at 20 or more random moments: the repository still passes check every time, and the next backup succeeds', async (t) => {
  await assertBuilt();
  const dir = await tempDir(t, 'cairn-crash-');
  const src = path.join(dir, 'src');
  const repoDir = path.join(dir, 'repo');
  const rng = prng(SEED);
  t.diagnostic(`seed ${SEED}`);
  const big = await makeData(src, rng);

  // How long an uninterrupted run takes, on a repository of its own: kills are spread over that.
  const calibration = path.join(dir, 'calibration');
  await Repository.init(new LocalBackend(calibration), PASSWORD, INIT);
  const started = performance.now();
  const cal = await cairn(['backup', src], cliEnv(calibration));
  const runMs = performance.now() - started;
  assert.equal(cal.code, 0, cal.stderr);
  const calPacks = await countFiles(path.join(calibration, 'data'));
  const calIndexes = await countFiles(path.join(calibration, 'index'));
  t.diagnostic(
    `an uninterrupted backup takes ${Math.round(runMs)} ms, writes ${calPacks} packs, ${calIndexes} index files`,
  );
  assert.ok(calPacks >= 64 && calIndexes >= 2, 'the data set is big enough for an index file mid-run');
  await fs.rm(calibration, { recursive: true });

  await Repository.init(new LocalBackend(repoDir), PASSWORD, INIT);
  const env = cliEnv(repoDir);
  // Half the moments are times, one in each tenth of the calibrated run; the other half are
  // points of progress, one in each tenth of the packs a run writes, the last ones just after
  // its final index file (around the snapshot). Both in a seeded order; rounds past these (runs
  // that finished before their moment) pick a time freely.
  const half = KILLS / 2;
  const plan = shuffle(
    [
      ...Array.from({ length: half }, (_, i) => ({ kind: 'time' as const, at: (i + rng()) / half })),
      ...Array.from({ length: half }, (_, i) => ({ kind: 'progress' as const, at: (i + rng()) / half })),
    ],
    rng,
  );
  let kills = 0;
  let indexedBefore = 0;
  let killedAfterPacks = 0;
  let killedAfterIndex = 0;
  let rounds = 0;
  while (kills < KILLS && rounds < MAX_ROUNDS) {
    rounds++;
    const dataDir = path.join(repoDir, 'data');
    const indexDir = path.join(repoDir, 'index');
    // New content every round, so that every run has packs to write; all of it new once the last
    // run got its packs indexed, so that this run lasts as long as the first.
    const indexes = await countFiles(indexDir);
    const renew =
      indexes > indexedBefore ? big : Array.from({ length: 4 }, () => big[randInt(rng, big.length)]!);
    indexedBefore = indexes;
    for (const [i, file] of renew.entries()) {
      await fs.writeFile(file, seededBytes(`round ${rounds} ${i}`, 1536 * KiB + randInt(rng, 1792 * KiB)));
    }
    const packsBefore = await countFiles(dataDir);
    const moment = plan[rounds - 1] ?? { kind: 'time' as const, at: rng() };
    // --force: read every file, as a first backup does, so that every run lasts as long.
    const started = performance.now();
    const run = startCairn(['backup', '--force', src], env);
    let exited = false;
    let when = '';
    const kill = (why: string) => {
      if (exited) return;
      when = `${Math.round(performance.now() - started)} ms, ${why}`;
      run.child.kill('SIGKILL');
    };
    let timer: NodeJS.Timeout | undefined;
    let watching: Promise<void> = Promise.resolve();
    if (moment.kind === 'time') {
      timer = setTimeout(() => kill('a chosen time'), Math.round(moment.at * runMs));
    } else {
      // A target past the packs of a run means: just after its final index file.
      const target = Math.ceil(moment.at * (calPacks + 6));
      watching = (async () => {
        while (!exited) {
          if (target > calPacks) {
            if ((await countFiles(indexDir)) > indexes + Math.floor(calIndexes / 2)) {
              await delay(randInt(rng, 20));
              return kill('just after the final index file');
            }
          } else if ((await countFiles(dataDir)) - packsBefore >= target) {
            return kill(`after ${target} packs`);
          }
          await delay(5);
        }
      })();
    }
    const exit = await run.done;
    exited = true;
    clearTimeout(timer);
    await watching;
    const packs = (await countFiles(dataDir)) - packsBefore;
    const indexFiles = await countFiles(indexDir);
    if (exit.signal === 'SIGKILL') {
      kills++;
      if (packs > 0) killedAfterPacks++;
      if (indexFiles > indexes) killedAfterIndex++;
    } else {
      assert.equal(exit.code, 0, `round ${rounds}: the backup failed by itself:\n${exit.stderr}`);
    }
    const result = await check(await openRepo(repoDir));
    t.diagnostic(
      `round ${rounds}: ${exit.signal === 'SIGKILL' ? `killed at ${when}` : 'finished first'}; ` +
        `${packs} new packs, ${indexFiles} index files, ${result.snapshots} snapshots, ` +
        `${result.warnings.length} warnings`,
    );
    assert.deepEqual(result.errors, [], `round ${rounds}: check failed after a kill at ${when}`);
  }
  assert.ok(kills >= KILLS, `only ${kills} of ${rounds} runs were killed before they ended`);
  assert.ok(killedAfterPacks >= KILLS / 4, `only ${killedAfterPacks} kills came after a pack was written`);
  assert.ok(killedAfterIndex >= 1, 'no kill came after an index file was written');
  // Killed runs left their locks behind: they must not stand in the way of even an exclusive
  // lock, and unlock knows them for stale (same host, process gone).
  const lockFiles = async () =>
    (await fs.readdir(path.join(repoDir, 'locks'))).filter((f) => !f.startsWith('.tmp-'));
  const leftover = (await lockFiles()).length;
  assert.ok(leftover > 0, 'no lock was left by a killed run');
  const exclusive = await Lock.acquire(await openRepo(repoDir), {
    exclusive: true,
    command: 'test',
    refresh: false,
  });
  await exclusive.release();
  const unlocked = await cairn(['unlock'], env);
  assert.equal(unlocked.code, 0, unlocked.stderr);
  assert.match(unlocked.stdout, new RegExp(`removed ${leftover} locks`));
  assert.deepEqual(await lockFiles(), []);
  const temps = (await fs.readdir(path.join(repoDir, 'data'), { recursive: true })).filter((f) =>
    path.basename(f).startsWith('.tmp-'),
  );
  t.diagnostic(
    `${kills} kills left ${leftover} locks and ${temps.length} temp files of unfinished pack writes`,
  );

  const final = await cairn(['--json', 'backup', src], env);
  assert.equal(final.code, 0, final.stderr);
  const summary = final.stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { message_type: string; snapshot_id?: string })
    .find((m) => m.message_type === 'summary');
  assert.ok(summary?.snapshot_id, final.stdout);

  const verified = await cairn(['check', '--read-data'], env);
  assert.equal(verified.code, 0, verified.stdout + verified.stderr);
  assert.match(verified.stdout, /no errors/);

  const target = path.join(dir, 'target');
  const restored = await cairn(['restore', summary.snapshot_id, '--target', target], env);
  assert.equal(restored.code, 0, restored.stderr);
  assertSameTree(await readTree(path.join(target, src)), await readTree(src));
});
