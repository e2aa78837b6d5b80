/**
 * Concurrent API clients while two backups run: every answer is 200, and the numbers (requests per
 * second, p99 latency) are reported as diagnostics — measured, never asserted, because the
 * machines are shared. CAIRN_LOAD_CLIENTS / CAIRN_LOAD_REQUESTS / CAIRN_LOAD_SECONDS make it larger.
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { it } from 'node:test';
import { http, logon, testServer, waitTask } from './server-api.testing.ts';
import { loadApi } from './server-load.testing.ts';

function makeTree(dir: string, files: number, size: number, seed: number): void {
  mkdirSync(dir, { recursive: true });
  for (let i = 0; i < files; i++) {
    const b = Buffer.alloc(size);
    for (let j = 0; j < size; j += 4)
      b.writeUInt32LE((Math.imul(i + seed, 2654435761) ^ (j * 40503)) >>> 0, j);
    writeFileSync(path.join(dir, `f${i}`), b);
  }
}

it('answers concurrent clients while two backups run', async (t) => {
  const s = await testServer();
  try {
    const token = await logon(s.url);
    const repo = await http(s.url, 'POST', '/api/v1/repositories', {
      token,
      body: { name: 'load', location: path.join(s.dir, 'repo'), create: true },
    });
    assert.equal(repo.status, 201);
    const tasks: string[] = [];
    for (const name of ['one', 'two']) {
      const src = path.join(s.dir, name);
      makeTree(src, 200, 256 * 1024, name.length);
      const job = await http(s.url, 'POST', '/api/v1/jobs', {
        token,
        body: { name, repository: 'load', sources: [src] },
      });
      const started = await http(s.url, 'POST', `/api/v1/jobs/${(job.body as { id: string }).id}/start`, {
        token,
      });
      assert.equal(started.status, 202);
      tasks.push((started.body as { id: string }).id);
    }
    const runId = (await http(s.url, 'GET', '/api/v1/runs?limit=1', { token })).body as {
      data: { id: string }[];
    };
    const result = await loadApi({
      base: s.url,
      token,
      paths: [
        '/api/v1/jobs',
        '/api/v1/runs',
        `/api/v1/runs/${runId.data[0]?.id ?? ''}`,
        '/api/v1/dashboard',
        `/api/v1/tasks/${tasks[0] ?? ''}`,
      ],
      clients: Number(process.env.CAIRN_LOAD_CLIENTS ?? 8),
      requests: Number(process.env.CAIRN_LOAD_REQUESTS ?? 150),
      maxSeconds: Number(process.env.CAIRN_LOAD_SECONDS ?? 30),
    });
    t.diagnostic(
      `${result.requests} requests in ${result.seconds.toFixed(2)} s: ${result.perSecond.toFixed(0)}/s, p50 ${result.p50Ms.toFixed(1)} ms, p99 ${result.p99Ms.toFixed(1)} ms, max ${result.maxMs.toFixed(1)} ms`,
    );
    assert.equal(result.errors, 0, JSON.stringify(result.statuses));
    assert.ok(result.requests > 0);
    for (const id of tasks) assert.equal((await waitTask(s.url, token, id, 120_000)).result, 'success');
  } finally {
    await s.close();
  }
});
