// The server beside a snapshot file it cannot read: its list of restore points names the file as
// damaged, and asking for it answers with what is wrong, not 404.
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { http, link, logon, testServer, waitTask, type TestServer } from './server-api.testing.ts';

describe('server API and a damaged snapshot file', () => {
  let s: TestServer;
  let token: string;

  before(async () => {
    s = await testServer();
    token = await logon(s.url);
  });
  after(() => s.close());

  it('lists the damaged file and answers SNAPSHOT_CORRUPT for it', async () => {
    const source = path.join(s.dir, 'source');
    mkdirSync(source);
    writeFileSync(path.join(source, 'a.txt'), 'alpha\n');
    const location = path.join(s.dir, 'repo');
    const repo = await http(s.url, 'POST', '/api/v1/repositories', {
      token,
      body: { name: 'main', location, create: true },
    });
    assert.equal(repo.status, 201, JSON.stringify(repo.body));
    const repoId = (repo.body as { id: string }).id;
    const job = await http(s.url, 'POST', '/api/v1/jobs', {
      token,
      body: { name: 'files', repository: 'main', sources: [source] },
    });
    assert.equal(job.status, 201, JSON.stringify(job.body));
    const start = link(job.body, 'start');
    const started = await http(s.url, start.method, start.href, { token });
    const task = await waitTask(s.url, token, (started.body as { id: string }).id);
    assert.equal(task.result, 'success', JSON.stringify(task));
    const run = (await http(s.url, 'GET', link(task, 'run').href, { token })).body as { snapshotId: string };
    const id = run.snapshotId;

    const file = path.join(location, 'snapshots', id);
    const bytes = readFileSync(file);
    bytes[40] = bytes[40]! ^ 0xff;
    writeFileSync(file, bytes);

    const list = await http(s.url, 'GET', `/api/v1/repositories/${repoId}/snapshots`, { token });
    assert.equal(list.status, 200, JSON.stringify(list.body));
    const body = list.body as { data: unknown[]; damaged: { id: string; reason: string; code: string }[] };
    assert.deepEqual(body.data, []);
    assert.deepEqual(body.damaged, [
      { id, reason: 'its content does not match its name (SHA-256)', code: 'SNAPSHOT_CORRUPT' },
    ]);

    const one = await http(s.url, 'GET', `/api/v1/repositories/${repoId}/snapshots/${id.slice(0, 10)}`, {
      token,
    });
    assert.notEqual(one.status, 404, JSON.stringify(one.body));
    assert.match(one.type, /application\/problem\+json/);
    const problem = one.body as { code: string; detail: string };
    assert.equal(problem.code, 'SNAPSHOT_CORRUPT');
    assert.match(problem.detail, new RegExp(`snapshot ${id}: its file is damaged`));

    // The least privileged: a viewer reads the same verdict; without a session, nothing.
    const viewer = await http(s.url, 'POST', '/api/v1/users', {
      token,
      body: { name: 'vic', password: 'viewer password', role: 'viewer' },
    });
    assert.equal(viewer.status, 201, JSON.stringify(viewer.body));
    const vt = await logon(s.url, 'vic', 'viewer password');
    const seen = await http(s.url, 'GET', `/api/v1/repositories/${repoId}/snapshots`, { token: vt });
    assert.equal(seen.status, 200, JSON.stringify(seen.body));
    assert.deepEqual((seen.body as { damaged: unknown }).damaged, body.damaged);
    const anonymous = await http(s.url, 'GET', `/api/v1/repositories/${repoId}/snapshots`);
    assert.equal(anonymous.status, 401, JSON.stringify(anonymous.body));
    // Its detail names the snapshot and the reason, never the repository's place on the server.
    assert.ok(!problem.detail.includes(location), problem.detail);
  });
});
