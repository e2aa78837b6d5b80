/**
 * `cairn server --demo` as a user starts it: the built CLI in its own process, the administrator's
 * password in the data directory, the demo job run at once, the API answering, SIGTERM stopping it
 * cleanly (exit 0). `--check-config` checks jobs' plugin directives with the plugin directory.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { it } from 'node:test';
import { freePort } from '../../src/catalog/postgres.testing.ts';
import { spawnSync } from 'node:child_process';
import { assertBuilt, cairn, cliEnv, ROOT, startCairn } from '../integration/run-cli.testing.ts';
import { http, logon, waitTask } from './server-api.testing.ts';

it('cairn server --demo runs the demo job and stops on SIGTERM', async () => {
  await assertBuilt();
  const dir = mkdtempSync(path.join(tmpdir(), 'cairn-demo-'));
  const source = path.join(dir, 'source');
  mkdirSync(source);
  writeFileSync(path.join(source, 'hello.txt'), 'hello\n');
  const port = await freePort();
  const env = cliEnv(path.join(dir, 'unused'));
  const { child, done } = startCairn(
    [
      'server',
      '--demo',
      '--data-dir',
      path.join(dir, 'data'),
      '--demo-source',
      source,
      '--listen',
      `127.0.0.1:${port}`,
    ],
    env,
  );
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  try {
    const until = Date.now() + 60_000;
    while (!/first run of "demo" ended (\w+)/.test(stderr)) {
      if (Date.now() > until || child.exitCode !== null) assert.fail(`no demo run: ${stderr}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.match(stderr, /first run of "demo" ended success: 1 files/);
    assert.doesNotMatch(
      stderr,
      new RegExp(readFileSync(path.join(dir, 'data', 'initial-admin-password'), 'utf8').trim()),
    );
    const password = readFileSync(path.join(dir, 'data', 'initial-admin-password'), 'utf8').trim();
    const base = `http://127.0.0.1:${port}`;
    const token = await logon(base, 'admin', password);
    const jobs = await http(base, 'GET', '/api/v1/jobs', { token });
    assert.deepEqual(
      (jobs.body as { data: { name: string; nextRun: string }[] }).data.map((j) => j.name),
      ['demo'],
    );
    // A new user starts the demo job twice more: each restore point stays (retention keeps the last 10).
    const demo = (jobs.body as { data: { id: string }[] }).data[0]!;
    for (let i = 0; i < 2; i++) {
      const start = await http(base, 'POST', `/api/v1/jobs/${demo.id}/start`, { token });
      assert.equal(start.status, 202, JSON.stringify(start.body));
      const task = await waitTask(base, token, (start.body as { id: string }).id);
      assert.equal(task.result, 'success', JSON.stringify(task));
    }
    const repos = await http(base, 'GET', '/api/v1/repositories', { token });
    const repoId = (repos.body as { data: { id: string }[] }).data[0]!.id;
    const points = await http(base, 'GET', `/api/v1/repositories/${repoId}/snapshots`, { token });
    assert.equal((points.body as { data: unknown[] }).data.length, 3, 'three runs, three restore points');
    const docs = await fetch(`${base}/api/docs/`);
    assert.equal(docs.status, 200);
    const openapi = (await (await fetch(`${base}/api/openapi.json`)).json()) as {
      openapi: string;
      paths: Record<string, unknown>;
    };
    assert.equal(openapi.openapi, '3.1.0');
    assert.ok(openapi.paths['/api/v1/jobs/{id}/start']);
  } finally {
    child.kill('SIGTERM');
    const exit = await done;
    rmSync(dir, { recursive: true, force: true });
    assert.equal(exit.code, 0, exit.stderr);
  }
});

it('cairn server --check-config checks the directives of jobs against their plugins', async () => {
  await assertBuilt();
  const dir = mkdtempSync(path.join(tmpdir(), 'cairn-config-'));
  try {
    const file = path.join(dir, 'cairn.yaml');
    const config = (sources: string) => `repositories:
  - { name: main, location: ${dir}/repo }
jobs:
  - name: db
    repository: main
    sources:
      - /etc
      - ${sources}
    runBefore: [{ command: "true" }]
`;
    writeFileSync(file, config('"bpipe:file=/db.sql:raeder=cat"'));
    const env = cliEnv(path.join(dir, 'unused'));
    const bad = await cairn(['server', '--config', file, '--check-config'], env);
    assert.equal(bad.code, 70, bad.stderr);
    assert.match(
      bad.stderr,
      /cairn\.yaml:8:9: jobs\[0\]\.sources\[1\] unknown option "raeder" at column 20; bpipe takes file, reader, writer/,
    );
    // A plugin of the plugin directory (the Python example, started for its options).
    if (spawnSync('python3', ['-c', 'import sqlite3'], { stdio: 'ignore' }).status !== 0) return;
    writeFileSync(file, config('"sqlite:db=/srv/app.db"'));
    const plugins = path.join(ROOT, 'examples', 'plugins', 'python');
    const without = await cairn(['server', '--config', file, '--check-config'], env);
    assert.equal(without.code, 70, without.stderr);
    assert.match(without.stderr, /jobs\[0\]\.sources\[1\] Cannot find a plugin named sqlite/);
    const good = await cairn(
      ['server', '--config', file, '--check-config', '--plugin-dir', plugins, '--plugin-names', 'sqlite'],
      env,
    );
    assert.equal(good.code, 0, good.stderr);
    assert.match(good.stdout, /valid \(1 repositories, 1 jobs\)/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

it('cairn server on a taken address says which process holds it, exits 90 and makes nothing', async () => {
  await assertBuilt();
  const dir = mkdtempSync(path.join(tmpdir(), 'cairn-taken-'));
  const holder = createServer();
  await new Promise<void>((resolve) => holder.listen({ host: '127.0.0.1', port: 0 }, resolve));
  const port = (holder.address() as AddressInfo).port;
  try {
    const data = path.join(dir, 'data');
    const r = await cairn(['server', '--data-dir', data, '--listen', `127.0.0.1:${port}`], cliEnv(data));
    assert.equal(r.code, 90, r.stderr);
    assert.match(
      r.stderr,
      new RegExp(
        `^error: Cannot listen on 127\\.0\\.0\\.1:${port}: the address is taken by \\S+ \\(pid ${process.pid}\\); .*\\[ADDRESS_IN_USE\\]$`,
        'm',
      ),
    );
    assert.doesNotMatch(r.stderr, /unexpected failure|\n\s+at /);
    assert.equal(existsSync(data), false, 'no catalog, no password file: nothing made');
  } finally {
    holder.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
