/**
 * `cairn server --demo` as a user starts it: the built CLI in its own process, the administrator's
 * password in the data directory, the demo job run at once, the API answering, SIGTERM stopping it
 * cleanly (exit 0).
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { it } from 'node:test';
import { freePort } from '../../src/catalog/postgres.testing.ts';
import { assertBuilt, cliEnv, startCairn } from '../integration/run-cli.testing.ts';
import { http, logon } from './server-api.testing.ts';

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
