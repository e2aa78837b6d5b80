/**
 * Exactly one run per job with two servers sharing a PostgreSQL catalog (issue 20): in each of 50
 * rounds every one of 8 jobs is started on both servers at once (16 requests in flight together).
 * Each job gets one 202 and one 409 per round, and each run is executed once: the catalog holds 50
 * runs of each job, all successful, and each job's repository 50 restore points of it. Without the
 * catalog's index of one active run per job (runs_one_active), 10 rounds gave 5 jobs two 202s.
 * The servers are `cairn server` processes from dist/ (bin/cairn).
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { LocalBackend } from '../../src/backend/index.ts';
import { Catalog } from '../../src/catalog/index.ts';
import { binDir, startPostgres } from '../../src/catalog/postgres.testing.ts';
import { Repository } from '../../src/repo/index.ts';
import { makeTemp, removeTemp } from './cli.testing.ts';
import { makeRepo } from './repo.testing.ts';
import { assertBuilt, cliEnv } from '../integration/run-cli.testing.ts';
import { ADMIN, http, logon } from './server-api.testing.ts';
import { serverProcess, type ServerProcess } from './server-process.testing.ts';

const ROUNDS = 50;
const JOBS = 8;
const PASSWORD = 'exactly-once-password';

describe(
  'two servers sharing a PostgreSQL catalog',
  { skip: binDir() ? false : 'PostgreSQL is not installed' },
  () => {
    it(`run each job once per start, whichever server is asked: ${ROUNDS} rounds of ${JOBS} jobs started on both at once`, async (t) => {
      await assertBuilt();
      const dir = await makeTemp('cairn-once-');
      const pg = await startPostgres();
      assert.ok(pg);
      const servers: ServerProcess[] = [];
      t.after(async () => {
        for (const s of servers) s.kill('SIGKILL');
        await Promise.all(servers.map((s) => s.done));
        pg.stop();
        await removeTemp(dir);
      });
      const url = pg.database('cairn_exactly_once');
      const env = { ...cliEnv(dir), CAIRN_ADMIN_USER: ADMIN.user, CAIRN_ADMIN_PASSWORD: ADMIN.password };
      for (const name of ['a', 'b'])
        servers.push(
          await serverProcess(
            ['--data-dir', path.join(dir, name), '--catalog', url, '--slots', '4', '--lease-seconds', '3'],
            env,
          ),
        );
      const [a, b] = servers as [ServerProcess, ServerProcess];
      const token = await logon(a.url);
      const catalog = await Catalog.open(url);
      t.after(() => catalog.close());
      const passwordFile = path.join(dir, 'password');
      writeFileSync(passwordFile, PASSWORD + '\n', { mode: 0o600 });
      const jobs: { id: string; name: string; location: string }[] = [];
      for (let i = 0; i < JOBS; i++) {
        const name = `job-${i}`;
        const location = path.join(dir, `repo-${i}`);
        await makeRepo(location, PASSWORD);
        const source = path.join(dir, 'sources', name);
        mkdirSync(source, { recursive: true });
        writeFileSync(path.join(source, 'file.txt'), `${name}\n`);
        const r = await http(a.url, 'POST', '/api/v1/repositories', {
          token,
          body: { name: `repo-${i}`, location, passwordFile },
        });
        assert.equal(r.status, 201, JSON.stringify(r.body));
        const j = await http(a.url, 'POST', '/api/v1/jobs', {
          token,
          body: { name, repository: `repo-${i}`, sources: [source] },
        });
        assert.equal(j.status, 201, JSON.stringify(j.body));
        jobs.push({ id: (j.body as { id: string }).id, name, location });
      }

      const started = Date.now();
      const doubled: string[] = [];
      for (let round = 1; round <= ROUNDS; round++) {
        const answers = await Promise.all(
          jobs.flatMap((j) =>
            [a, b].map(async (s) => ({
              job: j.name,
              status: (await http(s.url, 'POST', `/api/v1/jobs/${j.id}/start`, { token })).status,
            })),
          ),
        );
        for (const j of jobs) {
          const statuses = answers
            .filter((x) => x.job === j.name)
            .map((x) => x.status)
            .sort();
          if (statuses.join() !== '202,409') doubled.push(`round ${round}, ${j.name}: ${statuses.join(' ')}`);
        }
        // The round ends when every run has.
        for (;;) {
          const active = await catalog.db
            .selectFrom('runs')
            .select((eb) => eb.fn.countAll<string>().as('n'))
            .where('state', 'in', ['queued', 'running'])
            .executeTakeFirstOrThrow();
          if (Number(active.n) === 0) break;
          await sleep(20);
        }
      }
      const seconds = (Date.now() - started) / 1000;
      assert.deepEqual(doubled, [], 'each job: one 202 and one 409 per round');

      const counts = await catalog.db
        .selectFrom('runs')
        .select(['job_name', 'state', 'claimed_by', (eb) => eb.fn.countAll<string>().as('n')])
        .groupBy(['job_name', 'state', 'claimed_by'])
        .execute();
      const byServer = new Map<string, number>();
      for (const c of counts)
        byServer.set(c.claimed_by ?? '', (byServer.get(c.claimed_by ?? '') ?? 0) + Number(c.n));
      for (const j of jobs) {
        const mine = counts.filter((c) => c.job_name === j.name);
        assert.deepEqual(
          mine.reduce<Record<string, number>>(
            (m, c) => ({ ...m, [c.state]: (m[c.state] ?? 0) + Number(c.n) }),
            {},
          ),
          { success: ROUNDS },
          `runs of ${j.name}`,
        );
        const repo = await Repository.open(new LocalBackend(j.location), { password: PASSWORD });
        try {
          const { snapshots } = await repo.listSnapshots();
          assert.equal(snapshots.filter((s) => s.tags.includes(`job:${j.name}`)).length, ROUNDS, j.name);
        } finally {
          await repo.close();
        }
      }
      t.diagnostic(
        `${ROUNDS} rounds of ${JOBS} jobs × 2 servers in ${seconds.toFixed(1)} s: ${ROUNDS * JOBS} runs, ` +
          `each job ${ROUNDS} runs and ${ROUNDS} restore points; runs per server ${[...byServer.values()].join(' / ')}`,
      );
    });
  },
);
