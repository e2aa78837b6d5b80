import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Catalog, type RunRow } from '../catalog/index.ts';
import { isCairnError } from '../errors.ts';
import { parseConfig } from './config.ts';
import { runHooks, type RunFacts } from './hooks.ts';
import { measure } from './measure.ts';
import { Scheduler } from './scheduler.ts';
import { nextRunOf, nextRuns } from './spec.ts';

function configError(text: string): string {
  try {
    parseConfig(text, 'cairn.yaml');
  } catch (err) {
    assert.ok(isCairnError(err, 'CONFIG_INVALID'), String(err));
    return err.message;
  }
  assert.fail('the configuration was accepted');
}

describe('configuration file', () => {
  const good = `
repositories:
  - name: main
    location: /srv/repo
    create: true
jobs:
  - name: etc
    repository: main
    sources: [/etc]
    schedule: { cron: "0 2 * * *", timezone: Europe/Berlin }
    retention: { keepDaily: 7, keepWeekly: 4 }
`;
  it('accepts a valid file', () => {
    const c = parseConfig(good, 'cairn.yaml');
    assert.equal(c.jobs?.[0]?.name, 'etc');
    assert.equal(c.repositories?.[0]?.location, '/srv/repo');
  });

  it('names file, line, column and field of each problem', () => {
    assert.equal(
      configError(good.replace('keepDaily: 7', 'keepDaily: seven')),
      'cairn.yaml:11:29: jobs[0].retention.keepDaily must be integer',
    );
    assert.equal(
      configError(good.replace('create: true', 'create: true\n    colour: red')),
      'cairn.yaml:6:13: repositories[0].colour is not a known field',
    );
    assert.match(
      configError(good.replace('0 2 * * *', '0 25 * * *')),
      /^cairn\.yaml:10:23: jobs\[0\]\.schedule\.cron "0 25 \* \* \*" is not a valid cron expression/,
    );
    assert.match(
      configError(good.replace('repository: main', 'repository: other')),
      /^cairn\.yaml:8:17: jobs\[0\]\.repository "other" is not one of the repositories/,
    );
    assert.match(
      configError(good.replace('[/etc]', '[etc]')),
      /^cairn\.yaml:9:15: jobs\[0\]\.sources\[0\] "etc" is not an absolute path/,
    );
    assert.match(configError('jobs: [\n'), /^cairn\.yaml:2:1: /);
    assert.match(
      configError(good + '  - name: etc\n    repository: main\n    sources: [/x]\n'),
      /jobs\[1\]\.name "etc" is defined twice/,
    );
  });

  it("reports every problem of a file at once, in the file's order", () => {
    // Five problems of three kinds in three places: one run says them all (it took six).
    const text = `
repositories:
  - name: main
    location: /srv/repo
    colour: red
jobs:
  - name: etc
    repository: other
    sources: [etc]
  - name: home
    repository: main
    sources: [/home]
    schedule: { cron: "0 25 * * *" }
    retention: { keepDaily: seven }
  - name: etc
    repository: main
    sources: [/srv]
`;
    const lines = configError(text).split('\n');
    assert.equal(lines[0], '6 problems:');
    assert.deepEqual(
      lines.slice(1).map((l) => l.replace(/ (must|is|"|has).*$/, '')),
      [
        'cairn.yaml:5:13: repositories[0].colour',
        'cairn.yaml:8:17: jobs[0].repository',
        'cairn.yaml:9:15: jobs[0].sources[0]',
        'cairn.yaml:13:23: jobs[1].schedule.cron',
        'cairn.yaml:14:29: jobs[1].retention.keepDaily',
        'cairn.yaml:15:11: jobs[2].name',
      ],
    );
  });
});

describe('schedules', () => {
  it('computes next runs in the time zone', () => {
    const after = new Date('2026-03-28T12:00:00Z');
    // 02:00 in Berlin: CET (UTC+1) until the switch on 29 March 2026 at 02:00, then CEST (UTC+2);
    // 02:00 does not exist on the 29th, so croner runs at the first moment after the gap.
    const runs = nextRuns({ cron: '0 2 * * *', timezone: 'Europe/Berlin' }, after, 3).map((d) =>
      d.toISOString(),
    );
    assert.equal(runs[0], '2026-03-29T01:00:00.000Z');
    assert.equal(runs[2], '2026-03-31T00:00:00.000Z');
    assert.equal(nextRunOf(null, after), null);
  });
});

describe('scheduler', () => {
  let dir: string;
  let catalog: Catalog;
  let now = new Date('2026-01-01T10:00:00Z');
  let tenantId: string;
  let repoId: string;

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'cairn-sched-'));
    catalog = await Catalog.open(path.join(dir, 'catalog.db'), { now: () => now });
    tenantId = (await catalog.ensureTenant('default')).id;
    repoId = (
      await catalog.createRepository({
        tenantId,
        name: 'r',
        location: '/x',
        passwordFile: '/x.pw',
        maxConcurrent: 1,
        origin: 'api',
      })
    ).id;
  });
  after(async () => {
    await catalog.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function job(name: string, missed: 'skip' | 'run-once', nextRunAt: string) {
    return catalog.createJob({
      tenantId,
      name,
      repositoryId: repoId,
      spec: { sources: ['/etc'], schedule: { cron: '*/10 * * * *', missed } },
      enabled: true,
      origin: 'api',
      nextRunAt,
    });
  }

  it('queues a due run once, even with two schedulers on one catalog', async () => {
    const j = await job('due', 'run-once', '2026-01-01T10:00:00.000Z');
    const a = new Scheduler(catalog, { now: () => now });
    const b = new Scheduler(catalog, { now: () => now });
    const queued = (await Promise.all([a.tick(), b.tick()])).reduce((x, y) => x + y, 0);
    assert.equal(queued, 1);
    const after = await catalog.job(tenantId, j.id);
    assert.equal(after?.next_run_at, '2026-01-01T10:10:00.000Z');
    // Still queued at the next time: the second run is skipped and that is logged on the first.
    now = new Date('2026-01-01T10:10:00Z');
    assert.equal(await a.tick(), 0);
    const active = await catalog.activeRunOf(j.id);
    assert.ok(active);
    const log = await catalog.runLog(active.id);
    assert.match(log[0]?.message ?? '', /skipped: this run of the job is still queued/);
    await catalog.finishRun(active.id, 'success', null);
    await catalog.deleteJob(tenantId, j.id);
  });

  it('after downtime runs a missed job once, or skips it', async () => {
    now = new Date('2026-01-02T08:00:00Z'); // a day later: 100+ times missed
    const once = await job('once', 'run-once', '2026-01-01T10:20:00.000Z');
    const skip = await job('skip', 'skip', '2026-01-01T10:20:00.000Z');
    const s = new Scheduler(catalog, { now: () => now });
    assert.equal(await s.tick(), 1);
    assert.ok(await catalog.activeRunOf(once.id));
    assert.equal(await catalog.activeRunOf(skip.id), undefined);
    for (const j of [once, skip])
      assert.equal((await catalog.job(tenantId, j.id))?.next_run_at, '2026-01-02T08:10:00.000Z');
  });
});

describe('hooks', () => {
  const facts: RunFacts = {
    event: 'end',
    runId: 'r1',
    job: 'etc',
    tenant: 'default',
    repository: 'main',
    state: 'success',
    snapshotId: 'abc',
    bytesProcessed: 42,
  };

  it('runs a command with the run in CAIRN_* variables, and reports a failing one with its stderr', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'cairn-hook-'));
    const out = path.join(dir, 'env');
    const failures = await runHooks(
      [
        { on: ['end'], command: ['sh', '-c', `env | grep ^CAIRN_ | sort > ${out}`] },
        { on: ['start'], command: ['sh', '-c', 'exit 9'] },
        { on: ['end'], command: ['sh', '-c', 'echo disk full >&2; exit 3'] },
        { on: ['end'], command: ['/nonexistent/program'] },
      ],
      facts,
    );
    const env = readFileSync(out, 'utf8');
    assert.match(env, /^CAIRN_EVENT=end$/m);
    assert.match(env, /^CAIRN_SNAPSHOT_ID=abc$/m);
    assert.match(env, /^CAIRN_BYTES_PROCESSED=42$/m);
    assert.equal(failures.length, 2);
    assert.match(failures[0] ?? '', /sh exited with code 3: disk full/);
    assert.match(failures[1] ?? '', /\/nonexistent\/program cannot be started: no such program/);
    rmSync(dir, { recursive: true, force: true });
  });

  it('posts JSON to a webhook and logs only its origin when it fails', async () => {
    const got: unknown[] = [];
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        got.push(JSON.parse(body));
        res.statusCode = req.url === '/ok' ? 204 : 500;
        res.end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    const failures = await runHooks(
      [
        { on: ['end'], webhook: `http://127.0.0.1:${port}/ok` },
        { on: ['end'], webhook: `http://127.0.0.1:${port}/secret-token-123` },
      ],
      facts,
    );
    server.closeAllConnections();
    server.close();
    assert.deepEqual((got[0] as RunFacts).job, 'etc');
    assert.equal(failures.length, 1);
    assert.match(failures[0] ?? '', /webhook http:\/\/127\.0\.0\.1:\d+ failed: .*answered 500/);
    assert.doesNotMatch(failures[0] ?? '', /secret-token/);
  });
});

describe('measured mode', () => {
  const run = (day: number, stats: object, state = 'success'): RunRow =>
    ({
      id: `r${day}`,
      kind: 'backup',
      state,
      started_at: new Date(Date.UTC(2026, 0, day, 22)).toISOString(),
      stats: JSON.stringify(stats),
    }) as RunRow;

  it('takes the median change and reduction of the runs after the first, and the interval', () => {
    const m = measure([
      // The first run reads 1000 bytes, all new: it tells nothing of the change rate.
      run(1, { bytesProcessed: 1000, bytesAdded: 1000, bytesStored: 400 }),
      // Later runs: 5%, 10% and 20% new → median 10%; stored/added 50%, 40%, 60% (and 40% above)
      // → median of [40, 50, 40, 60] = 45%.
      run(2, { bytesProcessed: 1000, bytesAdded: 50, bytesStored: 25 }),
      run(3, { bytesProcessed: 1000, bytesAdded: 100, bytesStored: 40 }),
      run(4, { bytesProcessed: 1200, bytesAdded: 240, bytesStored: 144 }),
      run(5, { bytesProcessed: 5000, bytesAdded: 5000, bytesStored: 1 }, 'failed'),
    ]);
    assert.deepEqual(m, {
      runs: 4,
      usedBytes: 1200,
      changePercent: 10,
      reductionPercent: 45,
      intervalHours: 24,
    });
    assert.equal(measure([run(1, {}, 'failed')]), undefined);
  });
});
