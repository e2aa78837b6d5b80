/**
 * Plugins and scripts in server jobs over real HTTP: a job whose sources mix a folder and a bpipe
 * directive runs in its worker thread and its restore point holds the pseudo path; a run started
 * at another level; retention over such restore points; a restore through the API that feeds the
 * bpipe writer (or, with asFiles, writes the dump as a file); a bad directive refused with 400
 * naming the field and the column; runBefore that fails the run (or only warns), and runAfter
 * with CAIRN_RESULT.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { http, link, logon, testServer, waitTask, type TestServer } from './server-api.testing.ts';

interface Run {
  id: string;
  state: string;
  message: string | null;
  snapshotId: string | null;
  stats: { level?: string; filesProcessed?: number; forgotten?: string[] } | null;
}

const NUMBERS = Array.from({ length: 5000 }, (_, i) => `${i + 1}\n`).join('');

describe('server jobs with plugin directives and scripts', () => {
  let s: TestServer;
  let token: string;
  let source: string;
  let repoId: string;

  before(async () => {
    s = await testServer();
    token = await logon(s.url);
    source = path.join(s.dir, 'source');
    mkdirSync(source, { recursive: true });
    writeFileSync(path.join(source, 'notes.txt'), 'beside the dump\n');
    const repo = await http(s.url, 'POST', '/api/v1/repositories', {
      token,
      body: { name: 'main', location: path.join(s.dir, 'repo'), create: true },
    });
    assert.equal(repo.status, 201, JSON.stringify(repo.body));
    repoId = (repo.body as { id: string }).id;
  });
  after(() => s.close());

  async function createJob(body: Record<string, unknown>): Promise<string> {
    const job = await http(s.url, 'POST', '/api/v1/jobs', { token, body: { repository: 'main', ...body } });
    assert.equal(job.status, 201, JSON.stringify(job.body));
    return (job.body as { id: string }).id;
  }

  /** Starts a run of the job (with a body, or none) and waits for its end. */
  async function runJob(id: string, body?: unknown): Promise<Run> {
    const started = await http(s.url, 'POST', `/api/v1/jobs/${id}/start`, {
      token,
      ...(body === undefined ? {} : { body }),
    });
    assert.equal(started.status, 202, JSON.stringify(started.body));
    const task = await waitTask(s.url, token, (started.body as { id: string }).id);
    return (await http(s.url, 'GET', link(task, 'run').href, { token })).body as Run;
  }

  async function logOf(run: Run): Promise<string[]> {
    const log = await http(s.url, 'GET', `/api/v1/runs/${run.id}/log`, { token });
    return (log.body as { data: { message: string }[] }).data.map((l) => l.message);
  }

  async function snapshotsOf(job: string): Promise<{ id: string; paths: string[] }[]> {
    const a = await http(s.url, 'GET', `/api/v1/repositories/${repoId}/snapshots?job=${job}`, { token });
    return (a.body as { data: { id: string; paths: string[] }[] }).data;
  }

  it('runs a job with a bpipe source, at the level asked, with retention, and restores it', async () => {
    const seen = path.join(s.dir, 'after.txt');
    const id = await createJob({
      name: 'db',
      sources: [source, `bpipe:file=/DUMPS/numbers.txt:reader=seq 1 5000:writer=sh -c 'cat > numbers.out'`],
      retention: { keepLast: 2 },
      runAfter: [
        { command: ['sh', '-c', `echo "$CAIRN_RESULT $CAIRN_LEVEL $CAIRN_SNAPSHOT $CAIRN_JOB" >> ${seen}`] },
      ],
    });
    const job = (await http(s.url, 'GET', `/api/v1/jobs/${id}`, { token })).body as { sources: string[] };
    assert.equal(job.sources.length, 2);

    // No full backup of these sources yet: the first run is a full one.
    const first = await runJob(id);
    assert.equal(first.state, 'success', first.message ?? '');
    assert.equal(first.stats?.level, 'full');
    assert.ok(
      (await logOf(first)).some((l) => /no full backup of these sources yet: running a full backup/.test(l)),
    );
    const snaps = await snapshotsOf('db');
    assert.deepEqual(snaps[0]?.paths, ['/DUMPS/numbers.txt', source].sort());
    const tree = await http(
      s.url,
      'GET',
      `/api/v1/repositories/${repoId}/snapshots/${first.snapshotId}/tree?path=/DUMPS`,
      { token },
    );
    assert.equal(tree.status, 200, JSON.stringify(tree.body));
    const entries = (tree.body as { entries: { name: string; size: number }[] }).entries;
    assert.deepEqual(
      entries.map((e) => [e.name, e.size]),
      [['numbers.txt', NUMBERS.length]],
    );

    const second = await runJob(id);
    assert.equal(second.stats?.level, 'incremental');
    const third = await runJob(id, { level: 'full' });
    assert.equal(third.state, 'success', third.message ?? '');
    assert.equal(third.stats?.level, 'full');
    // Retention keeps the last two of the job's restore points.
    assert.deepEqual(third.stats?.forgotten, [first.snapshotId]);
    assert.deepEqual(
      (await snapshotsOf('db')).map((x) => x.id),
      [third.snapshotId, second.snapshotId],
    );
    assert.equal(
      readFileSync(seen, 'utf8'),
      [first, second, third].map((r) => `success ${r.stats?.level} ${r.snapshotId} db\n`).join(''),
    );
    const badLevel = await http(s.url, 'POST', `/api/v1/jobs/${id}/start`, {
      token,
      body: { level: 'weekly' },
    });
    assert.equal(badLevel.status, 400, JSON.stringify(badLevel.body));

    // A restore through the API hands the dump to the bpipe writer, which runs in the target.
    const target = path.join(s.dir, 'restored');
    const restore = await http(s.url, 'POST', '/api/v1/restores', {
      token,
      body: { repository: repoId, snapshot: third.snapshotId, target },
    });
    assert.equal(restore.status, 202, JSON.stringify(restore.body));
    const rt = await waitTask(s.url, token, (restore.body as { id: string }).id);
    assert.equal(rt.result, 'success', JSON.stringify(rt));
    assert.equal(readFileSync(path.join(target, 'numbers.out'), 'utf8'), NUMBERS);
    assert.equal(readFileSync(path.join(target, source, 'notes.txt'), 'utf8'), 'beside the dump\n');
    assert.ok(!existsSync(path.join(target, 'DUMPS')), 'the pseudo folder is not made');
    const restoreRun = (await http(s.url, 'GET', link(rt, 'run').href, { token })).body as Run;
    assert.ok(
      (await logOf(restoreRun)).includes('1 entry went to bpipe (1 restored, 0 written as files, 0 skipped)'),
    );

    // asFiles: the dump as a plain file, no writer.
    const plain = path.join(s.dir, 'plain');
    const asFiles = await http(s.url, 'POST', '/api/v1/restores', {
      token,
      body: { repository: repoId, snapshot: third.snapshotId, target: plain, asFiles: true },
    });
    assert.equal(asFiles.status, 202, JSON.stringify(asFiles.body));
    assert.equal((await waitTask(s.url, token, (asFiles.body as { id: string }).id)).result, 'success');
    assert.equal(readFileSync(path.join(plain, 'DUMPS', 'numbers.txt'), 'utf8'), NUMBERS);
    assert.ok(!existsSync(path.join(plain, 'numbers.out')));
  });

  it('refuses a job whose directive does not fit its plugin with 400 naming the field and column', async () => {
    const bad = await http(s.url, 'POST', '/api/v1/jobs', {
      token,
      body: { name: 'bad', repository: 'main', sources: [source, 'bpipe:file=/x:raeder=cat'] },
    });
    assert.equal(bad.status, 400, JSON.stringify(bad.body));
    assert.match(bad.type, /problem\+json/);
    assert.equal(
      (bad.body as { detail: string }).detail,
      'sources[1]: unknown option "raeder" at column 15; bpipe takes file, reader, writer',
    );
    const option = await http(s.url, 'POST', '/api/v1/jobs', {
      token,
      body: { name: 'bad', repository: 'main', sources: [source], optionPlugins: ['maxsize:size=lots'] },
    });
    assert.equal(option.status, 400, JSON.stringify(option.body));
    assert.match((option.body as { detail: string }).detail, /^optionPlugins\[0\]: option size at column 14/);
    const script = await http(s.url, 'POST', '/api/v1/jobs', {
      token,
      body: { name: 'bad', repository: 'main', sources: [source], runBefore: [{ command: `sh -c 'x` }] },
    });
    assert.equal(script.status, 400, JSON.stringify(script.body));
    assert.match(
      (script.body as { detail: string }).detail,
      /^runBefore\[0\]\.command: a single quote is not closed/,
    );
    // A change is checked the same way.
    const id = await createJob({ name: 'good', sources: [source] });
    const put = await http(s.url, 'PUT', `/api/v1/jobs/${id}`, {
      token,
      body: { name: 'good', repository: 'main', sources: ['nosuch:a=b'] },
    });
    assert.equal(put.status, 400, JSON.stringify(put.body));
    assert.match((put.body as { detail: string }).detail, /^sources\[0\]: Cannot find a plugin named nosuch/);
  });

  it('fails the run when runBefore fails, before anything is read; runAfter still runs', async () => {
    const seen = path.join(s.dir, 'failed-after.txt');
    const id = await createJob({
      name: 'guarded',
      sources: [source],
      runBefore: [{ command: `sh -c 'echo "cannot stop the app: it is busy" >&2; exit 3'` }],
      runAfter: [{ command: ['sh', '-c', `echo "$CAIRN_RESULT" > ${seen}; exit 1`] }],
    });
    const run = await runJob(id);
    assert.equal(run.state, 'failed');
    assert.match(
      run.message ?? '',
      /^Cannot back up: runBefore\[0\] "sh -c .*" exited with code 3; its standard error ends with:\ncannot stop the app: it is busy \[RUN_SCRIPT_FAILED\]$/,
    );
    assert.equal(run.snapshotId, null);
    assert.deepEqual(await snapshotsOf('guarded'), []);
    assert.equal(readFileSync(seen, 'utf8'), 'failed\n');
    const log = await logOf(run);
    assert.ok(log.includes('runBefore[0] (stderr): cannot stop the app: it is busy'), log.join('\n'));
    // runAfter's own failure is told beside the first one.
    assert.ok(log.some((l) => /After the backup, runAfter\[0\] "sh -c .*" exited with code 1/.test(l)));
  });

  it('with onError warn, a failing runBefore is a warning and the backup goes on', async () => {
    const id = await createJob({
      name: 'lenient',
      sources: [source],
      runBefore: [{ command: 'false', onError: 'warn' }],
    });
    const run = await runJob(id);
    assert.equal(run.state, 'warning', run.message ?? '');
    assert.ok(run.snapshotId);
    assert.ok(
      (await logOf(run)).includes(
        'runBefore[0] "false" exited with code 1, the backup goes on (on error: warn)',
      ),
    );
  });
});
