/**
 * The server end to end over real HTTP: logon, repositories and jobs, start a job and follow its
 * task, the run's log and statistics, the restore point, a restore task whose files are compared
 * with the source, logoff and the old token refused — once with the SQLite catalog and once with a
 * real PostgreSQL started by the test.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startPostgres, type TestPostgres } from '../../src/catalog/postgres.testing.ts';
import { damageBlob, makeRepo } from './repo.testing.ts';
import { http, link, logon, testServer, waitTask, type TestServer } from './server-api.testing.ts';

function makeSource(dir: string): void {
  mkdirSync(path.join(dir, 'sub'), { recursive: true });
  writeFileSync(path.join(dir, 'a.txt'), 'alpha\n');
  writeFileSync(path.join(dir, 'sub', 'b.bin'), Buffer.alloc(300_000, 7));
}

let pg: TestPostgres | undefined;

for (const catalog of ['sqlite', 'postgres'] as const) {
  describe(`server API with the ${catalog} catalog`, () => {
    let s: TestServer;
    let token: string;
    let source: string;

    before(async () => {
      let url: string | undefined;
      if (catalog === 'postgres') {
        pg ??= await startPostgres();
        assert.ok(pg, 'PostgreSQL is not installed (scripts/setup.sh installs it)');
        url = pg.database(`cairn_e2e_${process.pid}`);
      }
      s = await testServer(url ? { catalog: url } : {});
      source = path.join(s.dir, 'source');
      makeSource(source);
    });
    after(async () => {
      await s.close();
      if (catalog === 'postgres') pg?.stop();
    });

    it('logs on and refuses a wrong password with 401 problem+json', async () => {
      const bad = await fetch(`${s.url}/api/v1/sessions`, {
        method: 'POST',
        headers: { authorization: `Basic ${Buffer.from('admin:wrong password').toString('base64')}` },
      });
      assert.equal(bad.status, 401);
      assert.match(bad.headers.get('content-type') ?? '', /application\/problem\+json/);
      const p = (await bad.json()) as { code: string; status: number };
      assert.equal(p.code, 'AUTH_FAILED');
      token = await logon(s.url);
      const me = await http(s.url, 'GET', '/api/v1/sessions/current', { token });
      assert.equal(me.status, 200);
      assert.equal((me.body as { role: string }).role, 'administrator');
      // Bearer works as well as the X-Cairn-Session header.
      const viaBearer = await http(s.url, 'GET', '/api/v1/jobs', {
        headers: { authorization: `Bearer ${token}` },
      });
      assert.equal(viaBearer.status, 200);
    });

    it('runs a job through the API and restores its files', async () => {
      const repo = await http(s.url, 'POST', '/api/v1/repositories', {
        token,
        body: { name: 'main', location: path.join(s.dir, 'repo'), create: true },
      });
      assert.equal(repo.status, 201, JSON.stringify(repo.body));
      const job = await http(s.url, 'POST', '/api/v1/jobs', {
        token,
        body: {
          name: 'files',
          repository: 'main',
          sources: [source],
          schedule: { cron: '0 3 * * *', timezone: 'Europe/Berlin' },
          retention: { keepLast: 5 },
        },
      });
      assert.equal(job.status, 201, JSON.stringify(job.body));
      const jobBody = job.body as { id: string; nextRun: string };
      assert.ok(jobBody.nextRun > new Date().toISOString(), 'a next run time in the future');

      const list = await http(s.url, 'GET', '/api/v1/jobs', { token });
      const jobs = list.body as { data: { name: string }[]; pagination: { total: number } };
      assert.deepEqual(
        jobs.data.map((j) => j.name),
        ['files'],
      );
      assert.equal(jobs.pagination.total, 1);

      const start = link(job.body, 'start');
      const started = await http(s.url, start.method, start.href, { token });
      assert.equal(started.status, 202, JSON.stringify(started.body));
      assert.equal((started.body as { state: string }).state, 'running');
      const task = await waitTask(s.url, token, (started.body as { id: string }).id);
      assert.equal(task.result, 'success', JSON.stringify(task));

      const runLink = link(task, 'run');
      const run = (await http(s.url, 'GET', runLink.href, { token })).body as {
        id: string;
        state: string;
        snapshotId: string;
        stats: { filesProcessed: number; bytesProcessed: number; throughput: unknown[] };
      };
      assert.equal(run.state, 'success');
      assert.equal(run.stats.filesProcessed, 2);
      assert.equal(run.stats.bytesProcessed, 300_006);
      assert.ok(Array.isArray(run.stats.throughput));
      const log = (await http(s.url, 'GET', `${runLink.href}/log`, { token })).body as {
        data: { message: string }[];
      };
      assert.ok(
        log.data.some((l) => /restore point [0-9a-f]{12} saved/.test(l.message)),
        JSON.stringify(log.data),
      );

      // Prometheus: the run counted, its bytes read, and the host's disk rates as gauges.
      const metrics = await http(s.url, 'GET', '/metrics', { token });
      assert.equal(metrics.status, 200);
      assert.match(metrics.type, /^text\/plain/);
      const text = String(metrics.body);
      assert.match(text, /^cairn_runs_total\{tenant="default",job="files",result="success"\} 1$/m);
      assert.match(text, /^cairn_backup_bytes_read_total\{tenant="default",job="files"\} 300006$/m);
      assert.match(text, /^cairn_run_duration_seconds_count\{tenant="default",job="files"\} 1$/m);
      assert.match(text, /^# TYPE cairn_host_disk_read_bytes_per_second gauge$/m);

      const repoId = (repo.body as { id: string }).id;
      const snaps = (await http(s.url, 'GET', `/api/v1/repositories/${repoId}/snapshots`, { token }))
        .body as {
        data: { id: string; job: string }[];
      };
      assert.equal(snaps.data.length, 1);
      assert.equal(snaps.data[0]?.id, run.snapshotId);
      assert.equal(snaps.data[0]?.job, 'files');

      // Browsing without restoring: a folder's entries, a search, a file and a folder downloaded.
      const snapBase = `/api/v1/repositories/${repoId}/snapshots/${run.snapshotId}`;
      const treeAnswer = await http(s.url, 'GET', `${snapBase}/tree?path=${encodeURIComponent(source)}`, {
        token,
      });
      assert.equal(treeAnswer.status, 200, JSON.stringify(treeAnswer.body));
      const tree = treeAnswer.body as {
        entries: { name: string; type: string; size: number }[];
      };
      assert.deepEqual(
        tree.entries.map((e) => [e.name, e.type]),
        [
          ['a.txt', 'file'],
          ['sub', 'dir'],
        ],
      );
      const found = (await http(s.url, 'GET', `/api/v1/repositories/${repoId}/search?name=b.bin`, { token }))
        .body as {
        data: { path: string; snapshot: string }[];
      };
      assert.deepEqual(
        found.data.map((f) => f.path),
        [path.join(source, 'sub', 'b.bin')],
      );
      const file = await fetch(
        `${s.url}${snapBase}/download?path=${encodeURIComponent(path.join(source, 'a.txt'))}`,
        {
          headers: { 'x-cairn-session': token },
        },
      );
      assert.equal(file.status, 200);
      assert.match(file.headers.get('content-disposition') ?? '', /filename="a\.txt"/);
      assert.equal(await file.text(), 'alpha\n');
      const folder = await fetch(`${s.url}${snapBase}/download?path=${encodeURIComponent(source)}`, {
        headers: { 'x-cairn-session': token },
      });
      assert.equal(folder.status, 200);
      const tarball = Buffer.from(await folder.arrayBuffer());
      // ustar: 512-byte headers; the 300,000 zero-free bytes of b.bin are in it whole.
      assert.ok(tarball.includes(Buffer.from('source/sub/b.bin')), 'b.bin is named in the archive');
      assert.ok(tarball.includes(Buffer.alloc(300_000, 7)));
      const usage = (await http(s.url, 'GET', `/api/v1/repositories/${repoId}/usage`, { token })).body as {
        bytes: number;
        snapshots: number;
        freeBytes: number;
      };
      assert.equal(usage.snapshots, 1);
      assert.ok(usage.bytes > 0 && usage.freeBytes > 0);
      // The tenant's usage, measured after the run and kept in the catalog: no quota here.
      const tenantUsage = (await http(s.url, 'GET', '/api/v1/usage', { token })).body as {
        quotaBytes: number | null;
        usageBytes: number;
        repositories: { name: string; storedBytes: number }[];
      };
      assert.equal(tenantUsage.quotaBytes, null);
      // The repository's files but its locks (none now), as the storage lists them.
      const files = readdirSync(path.join(s.dir, 'repo'), { withFileTypes: true, recursive: true });
      const onDisk = files
        .filter((e) => e.isFile())
        .reduce((n, e) => n + statSync(path.join(e.parentPath, e.name)).size, 0);
      assert.equal(tenantUsage.usageBytes, onDisk, JSON.stringify(tenantUsage));
      assert.deepEqual(
        tenantUsage.repositories.map((r) => [r.name, r.storedBytes]),
        [['main', tenantUsage.usageBytes]],
      );

      // The simulator measured from the job's own runs (one so far: its size, no change rate yet).
      const sim = await http(s.url, 'POST', `/api/v1/jobs/${jobBody.id}/simulation`, {
        token,
        body: { points: 7 },
      });
      assert.equal(sim.status, 200, JSON.stringify(sim.body));
      const simBody = sim.body as {
        measured: { runs: number; usedBytes: number };
        input: { style: string; usedBytes: number };
      };
      assert.deepEqual([simBody.measured.runs, simBody.measured.usedBytes], [1, 300_006]);
      assert.deepEqual([simBody.input.style, simBody.input.usedBytes], ['cairn', 300_006]);

      const target = path.join(s.dir, 'restored');
      const restore = await http(s.url, 'POST', '/api/v1/restores', {
        token,
        body: {
          repository: repoId,
          snapshot: run.snapshotId,
          target,
          paths: [path.join(source, 'sub', 'b.bin')],
        },
      });
      assert.equal(restore.status, 202, JSON.stringify(restore.body));
      const rt = await waitTask(s.url, token, (restore.body as { id: string }).id);
      assert.equal(rt.result, 'success', JSON.stringify(rt));
      const restored = readFileSync(path.join(target, source, 'sub', 'b.bin'));
      assert.deepEqual(restored, readFileSync(path.join(source, 'sub', 'b.bin')));
      assert.throws(() => readFileSync(path.join(target, source, 'a.txt')), /ENOENT/);

      const runs = (await http(s.url, 'GET', `/api/v1/runs?job=${jobBody.id}`, { token })).body as {
        data: { kind: string }[];
      };
      assert.deepEqual(
        runs.data.map((r) => r.kind),
        ['backup'],
      );
    });

    it('a restore task over damaged data ends failed and lists what it left out', async () => {
      // A repository with a snapshot, made here and handed to the server, then one blob damaged.
      const location = path.join(s.dir, 'damaged-repo');
      const password = 'damaged-repository-password';
      await makeRepo(location, password, [source]);
      const { pack } = await damageBlob(location, password, (e) => e.rawLength === 300_000);
      const repo = await http(s.url, 'POST', '/api/v1/repositories', {
        token,
        body: { name: 'damaged', location, password },
      });
      assert.equal(repo.status, 201, JSON.stringify(repo.body));
      const target = path.join(s.dir, 'restored-damaged');
      const restore = await http(s.url, 'POST', '/api/v1/restores', {
        token,
        body: { repository: 'damaged', snapshot: 'latest', target },
      });
      assert.equal(restore.status, 202, JSON.stringify(restore.body));
      const task = await waitTask(s.url, token, (restore.body as { id: string }).id);
      assert.equal(task.result, 'failed', JSON.stringify(task));
      assert.match(String(task.message), /1 file and 0 folders left out.*\[RESTORE_INCOMPLETE\]$/);
      const run = (await http(s.url, 'GET', link(task, 'run').href, { token })).body as {
        stats: { files: number; notRestoredCount: number; notRestored: Record<string, string>[] };
      };
      const damaged = path.join(source, 'sub', 'b.bin');
      assert.equal(run.stats.files, 1);
      assert.equal(run.stats.notRestoredCount, 1);
      assert.deepEqual(
        run.stats.notRestored.map((n) => [n.path, n.kind, n.code]),
        [[damaged, 'file', 'BLOB_CORRUPT']],
      );
      assert.match(run.stats.notRestored[0]!.reason!, new RegExp(`in pack ${pack}`));
      assert.equal(readFileSync(path.join(target, source, 'a.txt'), 'utf8'), 'alpha\n');
      assert.equal(existsSync(path.join(target, damaged)), false);
    });

    it('logs a browser on with a cookie, and refuses changes without the CSRF token', async () => {
      const res = await fetch(`${s.url}/api/v1/sessions?cookie=true`, {
        method: 'POST',
        headers: { authorization: `Basic ${Buffer.from('admin:correct horse battery').toString('base64')}` },
      });
      assert.equal(res.status, 201);
      const cookies = res.headers.getSetCookie();
      assert.ok(
        cookies.some((c) => /^cairn_session=.*HttpOnly/i.test(c) && /SameSite=Strict/i.test(c)),
        cookies.join('; '),
      );
      const jar = cookies.map((c) => c.split(';')[0]).join('; ');
      const csrf = ((await res.json()) as { csrfToken: string }).csrfToken;
      const me = await http(s.url, 'GET', '/api/v1/sessions/current', { headers: { cookie: jar } });
      assert.equal(me.status, 200);
      assert.equal((me.body as { csrfToken: string }).csrfToken, csrf);
      const noCsrf = await http(s.url, 'POST', '/api/v1/api-keys', {
        headers: { cookie: jar },
        body: { name: 'x' },
      });
      assert.equal(noCsrf.status, 403);
      const withCsrf = await http(s.url, 'POST', '/api/v1/api-keys', {
        headers: { cookie: jar, 'x-csrf-token': csrf },
        body: { name: 'x' },
      });
      assert.equal(withCsrf.status, 201);
      const off = await http(s.url, 'DELETE', '/api/v1/sessions/current', {
        headers: { cookie: jar, 'x-csrf-token': csrf },
      });
      assert.equal(off.status, 204);
      assert.equal((await http(s.url, 'GET', '/api/v1/jobs', { headers: { cookie: jar } })).status, 401);
    });

    it('logs off, and the old token is refused with 401', async () => {
      const off = await http(s.url, 'DELETE', '/api/v1/sessions/current', { token });
      assert.equal(off.status, 204);
      const again = await http(s.url, 'GET', '/api/v1/jobs', { token });
      assert.equal(again.status, 401);
      assert.equal((again.body as { code: string }).code, 'AUTH_REQUIRED');
    });
  });
}
