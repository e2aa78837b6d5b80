/**
 * Tenants' limits over real HTTP with real runs (issue 19).
 *
 * Runs at once: tenant acme may run 2. Each run's runBefore is a named script the system
 * administrator defined that holds the run until the test opens its gate (a file named after the
 * run), so the test decides when each run ends and reads every state as the API shows it. A third
 * and fourth of acme's runs stay queued and say why, beta's runs (queued after them) are not held
 * back, a repository's own limit still holds beside the tenant's, an ending run lets the oldest
 * waiting one start, a raised limit starts another at once.
 *
 * Bandwidth: tenant slow may write 2 MiB a second; backing up 6 MiB that do not compress cannot
 * end before 3 s, and two backups of it at once share the one limit. Only lower bounds that follow
 * from the limit are asserted (with a margin), never how fast anything is.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { seededBytes } from '../../src/repo/fixtures.testing.ts';
import { http, link, logon, testServer, waitTask, type TestServer } from './server-api.testing.ts';

const MiB = 2 ** 20;

interface RunView {
  id: string;
  state: string;
  message: string | null;
  job: { name: string };
  startedAt: string | null;
  endedAt: string | null;
  stats: { durationSeconds?: number } | null;
}

interface Made {
  id: string;
  admin: { logon: string; password: string };
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, ms = 60_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > end) assert.fail(`still not so after ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The bytes a run's writes go through the bucket with: packs, index files, snapshots. */
function writtenBytes(repo: string): number {
  let n = 0;
  for (const sub of ['data', 'index', 'snapshots']) {
    const dir = path.join(repo, sub);
    if (!existsSync(dir)) continue;
    for (const e of readdirSync(dir, { withFileTypes: true, recursive: true }))
      if (e.isFile()) n += statSync(path.join(e.parentPath, e.name)).size;
  }
  return n;
}

describe('tenant limits', () => {
  let s: TestServer;
  let sys: string;
  let gates: string;

  before(async () => {
    // Slots enough for every run the limits allow: only the limits hold runs back.
    s = await testServer({ slots: 6 });
    sys = await logon(s.url);
    gates = path.join(s.dir, 'gates');
    mkdirSync(gates);
    const script = await http(s.url, 'POST', '/api/v1/scripts', {
      token: sys,
      body: {
        name: 'gate',
        command: [
          'sh',
          '-c',
          `touch "${gates}/started-$CAIRN_RUN_ID"; while [ ! -e "${gates}/go-$CAIRN_RUN_ID" ]; do sleep 0.05; done`,
        ],
        description: 'holds the run until the test lets it go',
        tenants: ['acme', 'beta'],
      },
    });
    assert.equal(script.status, 201, JSON.stringify(script.body));
  });

  after(async () => {
    // Whatever a failed assertion left held goes on, so the server stops at once.
    if (gates && existsSync(gates))
      for (const f of readdirSync(gates))
        if (f.startsWith('started-')) writeFileSync(path.join(gates, f.replace('started-', 'go-')), '');
    await s?.close();
  });

  const provision = async (name: string, body: Record<string, unknown>) => {
    const source = path.join(s.dir, `${name}-src`);
    mkdirSync(source, { recursive: true });
    const a = await http(s.url, 'POST', '/api/v1/tenants', {
      token: sys,
      body: { name, sourceRoots: [source], ...body },
    });
    assert.equal(a.status, 201, JSON.stringify(a.body));
    const made = a.body as Made;
    return { ...made, source, token: await logon(s.url, made.admin.logon, made.admin.password) };
  };

  it("holds a tenant to maxRuns at once, in order, without holding back another tenant's runs", async (tc) => {
    const acme = await provision('acme', { maxRuns: 2 });
    const beta = await provision('beta', {});
    writeFileSync(path.join(acme.source, 'a.txt'), 'acme\n');
    writeFileSync(path.join(beta.source, 'b.txt'), 'beta\n');
    // A repository of its own for each of acme's jobs: their limit (2 each) is never what holds.
    for (const r of ['r2', 'r3', 'r4', 'r5']) {
      const made = await http(s.url, 'POST', '/api/v1/repositories', {
        token: acme.token,
        body: { name: r },
      });
      assert.equal(made.status, 201, JSON.stringify(made.body));
    }
    // Beta's main runs one at a time (a repository's own limit, which the system administrator sets).
    const catalog = s.server.catalog;
    const betaRow = (await catalog.tenantByName('beta'))!;
    const betaMain = (await catalog.allRepositories(betaRow.id)).find((r) => r.name === 'main')!;
    await catalog.updateRepository(betaRow.id, betaMain.id, { max_concurrent: 1 });

    const job = async (t: { token: string; source: string }, name: string, repository: string) => {
      const j = await http(s.url, 'POST', '/api/v1/jobs', {
        token: t.token,
        body: { name, repository, sources: [t.source], runBefore: [{ script: 'gate' }] },
      });
      assert.equal(j.status, 201, JSON.stringify(j.body));
      return (j.body as { id: string }).id;
    };
    const jobs = {
      a1: await job(acme, 'a1', 'main'),
      a2: await job(acme, 'a2', 'r2'),
      a3: await job(acme, 'a3', 'r3'),
      a4: await job(acme, 'a4', 'r4'),
      a5: await job(acme, 'a5', 'r5'),
      b1: await job(beta, 'b1', 'main'),
      b2: await job(beta, 'b2', 'main'),
    };
    const ids: Record<string, string> = {};
    const tokens: Record<string, string> = {};
    const start = async (name: keyof typeof jobs) => {
      const token = name.startsWith('a') ? acme.token : beta.token;
      const a = await http(s.url, 'POST', `/api/v1/jobs/${jobs[name]}/start`, { token });
      assert.equal(a.status, 202, JSON.stringify(a.body));
      ids[name] = link(a.body, 'run').href.split('/').pop()!;
      tokens[name] = token;
    };
    const run = async (name: string): Promise<RunView> => {
      const a = await http(s.url, 'GET', `/api/v1/runs/${ids[name]}`, { token: tokens[name]! });
      assert.equal(a.status, 200, JSON.stringify(a.body));
      return a.body as RunView;
    };
    const started = (name: string) => existsSync(path.join(gates, `started-${ids[name]}`));
    const release = (name: string) => writeFileSync(path.join(gates, `go-${ids[name]}`), '');
    const running = async (token: string) =>
      (
        (await http(s.url, 'GET', '/api/v1/runs?state=running&limit=500', { token })).body as {
          data: RunView[];
        }
      ).data.map((r) => r.job.name);

    // Every 50 ms, how many of acme's runs the API shows running, under the limit of the moment.
    let limit = 2;
    const seen: { limit: number; running: string[] }[] = [];
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        seen.push({ limit, running: await running(acme.token) });
        await new Promise((r) => setTimeout(r, 50));
      }
    })();

    try {
      for (const n of ['a1', 'a2', 'a3', 'a4', 'b1', 'b2'] as const) await start(n);
      await until('a1, a2 and b1 are held by their gates', async () =>
        started('a1') && started('a2') && started('b1') ? true : undefined,
      );
      const waitingFor = async (name: string, message: string) =>
        until(`${name} says "${message}"`, async () => {
          const r = await run(name);
          return r.message === message ? r : undefined;
        });
      for (const n of ['a3', 'a4']) {
        const r = await waitingFor(n, 'waiting: tenant acme runs 2 of 2');
        assert.equal(r.state, 'queued');
      }
      assert.equal((await waitingFor('b2', 'waiting: repository main runs 1 of 1')).state, 'queued');
      // Beta's b1 was queued after acme's a3 and a4, and runs.
      assert.equal((await run('b1')).state, 'running');
      assert.deepEqual((await running(acme.token)).sort(), ['a1', 'a2']);
      // The reason is in the queued run's log too, once.
      const log = await http(s.url, 'GET', `/api/v1/runs/${ids.a3}/log`, { token: acme.token });
      const lines = (log.body as { data: { message: string }[] }).data.map((l) => l.message);
      assert.deepEqual(
        lines.filter((m) => m.startsWith('waiting:')),
        ['waiting: tenant acme runs 2 of 2'],
      );
      // It holds over time, not at one moment: many polls later nothing more of acme's started.
      await new Promise((r) => setTimeout(r, 1000));
      assert.deepEqual([started('a3'), started('a4')], [false, false]);
      assert.deepEqual([(await run('a3')).state, (await run('a4')).state], ['queued', 'queued']);

      // a2 ends: the oldest waiting one (a3) starts, a4 waits on.
      release('a2');
      await until('a3 starts once a2 ended', async () => (started('a3') ? true : undefined));
      assert.equal((await run('a2')).state, 'success');
      const a3 = await run('a3');
      assert.deepEqual([a3.state, a3.message], ['running', null]);
      assert.equal((await run('a4')).state, 'queued');
      assert.equal(started('a4'), false);

      // A raised limit holds at the next start decision: a4 starts without any run ending.
      limit = 3;
      const patched = await http(s.url, 'PATCH', `/api/v1/tenants/${acme.id}`, {
        token: sys,
        body: { maxRuns: 3 },
      });
      assert.equal(patched.status, 200, JSON.stringify(patched.body));
      assert.equal((patched.body as { maxRuns: number }).maxRuns, 3);
      await until('a4 starts under the raised limit', async () => (started('a4') ? true : undefined));
      await start('a5');
      await waitingFor('a5', 'waiting: tenant acme runs 3 of 3');
      assert.deepEqual((await running(acme.token)).sort(), ['a1', 'a3', 'a4']);

      for (const n of ['a1', 'a3', 'a4', 'b1']) release(n);
      await until('a5 and b2 start', async () => (started('a5') && started('b2') ? true : undefined));
      release('a5');
      release('b2');
      for (const n of Object.keys(ids))
        await until(`${n} ends`, async () => ((await run(n)).state === 'success' ? true : undefined));
    } finally {
      watching = false;
      await watcher;
    }
    const most = (l: number) =>
      Math.max(0, ...seen.filter((x) => x.limit === l).map((x) => x.running.length));
    assert.ok(seen.length > 20, `${seen.length} samples`);
    tc.diagnostic(`${seen.length} samples of acme's running runs`);
    assert.equal(most(2), 2, 'never more than 2 of acme at once while its limit was 2');
    assert.equal(most(3), 3, 'never more than 3 while it was 3');
  });

  it('slows a tenant to its bandwidth: 6 MiB at 2 MiB/s take 3 s or more, two runs at once share it', async (tc) => {
    const rate = 2 * MiB;
    const slow = await provision('slow', { bandwidthBytesPerSecond: rate });
    const view = await http(s.url, 'GET', `/api/v1/tenants/${slow.id}`, { token: sys });
    assert.equal((view.body as { bandwidthBytesPerSecond: number }).bandwidthBytesPerSecond, rate);
    const folder = (name: string, size: number) => {
      const dir = path.join(slow.source, name);
      mkdirSync(dir);
      writeFileSync(path.join(dir, 'noise.bin'), seededBytes(`${name} noise`, size));
      return dir;
    };
    const repoDir = (name: string) => path.join(s.server.dataDir, 'tenants', 'slow', name);
    const backup = async (name: string, repository: string, source: string) => {
      const j = await http(s.url, 'POST', '/api/v1/jobs', {
        token: slow.token,
        body: { name, repository, sources: [source] },
      });
      assert.equal(j.status, 201, JSON.stringify(j.body));
      const a = await http(s.url, 'POST', `/api/v1/jobs/${(j.body as { id: string }).id}/start`, {
        token: slow.token,
      });
      assert.equal(a.status, 202, JSON.stringify(a.body));
      return a.body as { id: string };
    };
    const finished = async (task: { id: string }) => {
      const t = await waitTask(s.url, slow.token, task.id, 120_000);
      assert.equal(t.result, 'success', JSON.stringify(t));
      return (await http(s.url, 'GET', link(t, 'run').href, { token: slow.token })).body as RunView;
    };

    // One backup of 6 MiB.
    const one = await finished(await backup('one', 'main', folder('one', 6 * MiB)));
    const bytes = writtenBytes(repoDir('main'));
    assert.ok(bytes >= 6 * MiB, `${bytes} bytes written`);
    const seconds = one.stats?.durationSeconds ?? 0;
    assert.ok(
      seconds >= (0.8 * bytes) / rate,
      `${bytes} bytes at ${rate} bytes/s took ${seconds} s: at least ${(0.8 * bytes) / rate} s expected`,
    );
    tc.diagnostic(
      `one run: ${bytes} bytes written in ${seconds} s (the limit allows no less than ${bytes / rate} s)`,
    );
    const log = await http(s.url, 'GET', `/api/v1/runs/${one.id}/log`, { token: slow.token });
    assert.ok(
      (log.body as { data: { message: string }[] }).data.some(
        (l) => l.message === 'tenant slow: its runs write at most 2.00 MiB/s to its repositories, together',
      ),
      JSON.stringify(log.body),
    );

    // Two backups of 3 MiB at once, to two repositories: together, not each, at 2 MiB/s.
    const second = await http(s.url, 'POST', '/api/v1/repositories', {
      token: slow.token,
      body: { name: 'second' },
    });
    assert.equal(second.status, 201, JSON.stringify(second.body));
    const before = writtenBytes(repoDir('main'));
    const tasks = [
      await backup('left', 'main', folder('left', 3 * MiB)),
      await backup('right', 'second', folder('right', 3 * MiB)),
    ];
    const [left, right] = [await finished(tasks[0]!), await finished(tasks[1]!)];
    const both = writtenBytes(repoDir('main')) - before + writtenBytes(repoDir('second'));
    assert.ok(both >= 6 * MiB, `${both} bytes written`);
    const t = (x: string | null) => Date.parse(x ?? '');
    // They ran at the same time (else each would have had the whole limit to itself).
    assert.ok(
      t(left.startedAt) < t(right.endedAt) && t(right.startedAt) < t(left.endedAt),
      JSON.stringify([left, right]),
    );
    const span =
      (Math.max(t(left.endedAt), t(right.endedAt)) - Math.min(t(left.startedAt), t(right.startedAt))) / 1000;
    assert.ok(
      span >= (0.8 * both) / rate,
      `${both} bytes of two runs at ${rate} bytes/s took ${span} s: at least ${(0.8 * both) / rate} s expected`,
    );

    tc.diagnostic(`two runs at once: ${both} bytes written in ${span} s (no less than ${both / rate} s)`);

    // At the least rate (1 KiB/s) 3 MiB would take an hour: a cancel ends the run's waits.
    const least = await http(s.url, 'PATCH', `/api/v1/tenants/${slow.id}`, {
      token: sys,
      body: { bandwidthBytesPerSecond: 1024 },
    });
    assert.equal(least.status, 200, JSON.stringify(least.body));
    const crawl = await backup('crawl', 'main', folder('crawl', 3 * MiB));
    const crawlRun = link(
      (await http(s.url, 'GET', `/api/v1/tasks/${crawl.id}`, { token: slow.token })).body,
      'run',
    ).href;
    await until('the slow backup writes', async () => {
      const r = (await http(s.url, 'GET', crawlRun, { token: slow.token })).body as RunView & {
        progress: { phase: string } | null;
      };
      return r.progress?.phase === 'backup' ? true : undefined;
    });
    const cancel = await http(s.url, 'POST', `${crawlRun}/cancel`, { token: slow.token });
    assert.ok([200, 202].includes(cancel.status), JSON.stringify(cancel.body));
    const ended = await waitTask(s.url, slow.token, crawl.id, 60_000);
    assert.equal(ended.result, 'canceled', JSON.stringify(ended));

    // The system administrator lifts the limit: the field is null again.
    const lifted = await http(s.url, 'PATCH', `/api/v1/tenants/${slow.id}`, {
      token: sys,
      body: { bandwidthBytesPerSecond: null },
    });
    assert.equal((lifted.body as { bandwidthBytesPerSecond: number | null }).bandwidthBytesPerSecond, null);
    // A tenant's administrator cannot lift it.
    const refused = await http(s.url, 'PATCH', `/api/v1/tenants/${slow.id}`, {
      token: slow.token,
      body: { bandwidthBytesPerSecond: null },
    });
    assert.equal(refused.status, 403);
  });
});
