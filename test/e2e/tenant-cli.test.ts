/**
 * `cairn tenant create` provisions a customer in one command on the server's data directory; its
 * administrator then logs on over HTTP, backs up a folder under the tenant's source root and
 * restores it into its restore root, while a job on any other folder is refused.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { cairn, show, tempDir } from './cli.testing.ts';
import { http, logon, testServer, waitTask } from './server-api.testing.ts';

describe('cairn tenant', () => {
  it('create provisions a tenant whose administrator can back up and restore within its roots', async (t) => {
    const dir = await tempDir(t, 'cairn-tenant-cli-');
    const data = path.join(dir, 'data');
    const src = path.join(dir, 'acme-files');
    const restoreRoot = path.join(dir, 'acme-restore');
    mkdirSync(path.join(src, 'docs'), { recursive: true });
    mkdirSync(restoreRoot);
    writeFileSync(path.join(src, 'docs', 'plan.txt'), 'the plan\n');
    const args = ['--data-dir', data];
    // A mistyped data directory is refused, not made into an empty catalog; only create starts one.
    const typo = await cairn(['tenant', 'list', '--data-dir', path.join(dir, 'typo')]);
    assert.notEqual(typo.code, 0);
    assert.match(typo.stderr, /there is none.*--data-dir/);
    assert.equal(existsSync(path.join(dir, 'typo', 'catalog.db')), false);
    const created = await cairn([
      'tenant',
      'create',
      'acme',
      ...args,
      '--quota',
      '500MiB',
      '--source-root',
      src,
      '--restore-root',
      restoreRoot,
      '--json',
    ]);
    assert.equal(created.code, 0, show(created));
    const made = JSON.parse(created.stdout) as {
      name: string;
      quotaBytes: number;
      sourceRoots: string[];
      repository: { name: string };
      admin: { logon: string; password: string };
    };
    assert.deepEqual([made.name, made.quotaBytes, made.repository.name], ['acme', 500 * 2 ** 20, 'main']);
    assert.equal(made.admin.logon, 'admin@acme');
    assert.ok(made.admin.password.length >= 20);
    // Nothing of the password in the catalog's audit or anywhere but this one answer.
    const again = await cairn(['tenant', 'create', 'acme', ...args]);
    assert.notEqual(again.code, 0);
    assert.match(again.stderr, /acme.*taken/);

    const listed = await cairn(['tenant', 'list', ...args]);
    assert.equal(listed.code, 0, show(listed));
    assert.match(listed.stdout, /^acme\s+500 MiB/m);
    const set = await cairn(['tenant', 'set', 'acme', ...args, '--quota', '1GiB', '--json']);
    assert.equal(set.code, 0, show(set));
    assert.equal((JSON.parse(set.stdout) as { quotaBytes: number }).quotaBytes, 2 ** 30);
    // Limits of runs: how many at once and how fast they write, in the size syntax of --quota.
    const limits = await cairn([
      'tenant',
      'set',
      'acme',
      ...args,
      '--max-runs',
      '2',
      '--bandwidth',
      '10MiB/s',
    ]);
    assert.equal(limits.code, 0, show(limits));
    assert.match(limits.stdout, /runs at once: +2\n/);
    assert.match(limits.stdout, /bandwidth: +10\.0 MiB\/s, its runs together/);
    const shown = await cairn(['tenant', 'show', 'acme', ...args, '--json']);
    assert.deepEqual(
      (({ maxRuns, bandwidthBytesPerSecond }) => [maxRuns, bandwidthBytesPerSecond])(
        JSON.parse(shown.stdout) as { maxRuns: number; bandwidthBytesPerSecond: number },
      ),
      [2, 10 * 2 ** 20],
    );
    const tiny = await cairn(['tenant', 'set', 'acme', ...args, '--bandwidth', '100']);
    assert.notEqual(tiny.code, 0);
    assert.match(tiny.stderr, /--bandwidth 100: the least is 1KiB/);
    const lifted = await cairn(['tenant', 'set', 'acme', ...args, '--bandwidth', 'none', '--json']);
    assert.equal(lifted.code, 0, show(lifted));
    assert.equal(
      (JSON.parse(lifted.stdout) as { bandwidthBytesPerSecond: null }).bandwidthBytesPerSecond,
      null,
    );
    const bad = await cairn(['tenant', 'set', 'acme', ...args, '--source-root', path.join(data, 'secrets')]);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /sourceRoots\[0\].*data directory/);

    const s = await testServer({ dataDir: data });
    try {
      // Tenants provisioned before the server's first start do not stand in for its administrator.
      await logon(s.url);
      const token = await logon(s.url, made.admin.logon, made.admin.password);
      const refused = await http(s.url, 'POST', '/api/v1/jobs', {
        token,
        body: { name: 'etc', repository: 'main', sources: ['/etc'] },
      });
      assert.equal(refused.status, 403, JSON.stringify(refused.body));
      const job = await http(s.url, 'POST', '/api/v1/jobs', {
        token,
        body: { name: 'files', repository: 'main', sources: [src] },
      });
      assert.equal(job.status, 201, JSON.stringify(job.body));
      const start = await http(s.url, 'POST', `/api/v1/jobs/${(job.body as { id: string }).id}/start`, {
        token,
      });
      const done = await waitTask(s.url, token, (start.body as { id: string }).id);
      assert.equal(done.result, 'success', JSON.stringify(done));
      const target = path.join(restoreRoot, 'today');
      const r = await http(s.url, 'POST', '/api/v1/restores', {
        token,
        body: { repository: 'main', snapshot: 'latest', target },
      });
      assert.equal(r.status, 202, JSON.stringify(r.body));
      const rt = await waitTask(s.url, token, (r.body as { id: string }).id);
      assert.equal(rt.result, 'success', JSON.stringify(rt));
      assert.equal(readFileSync(path.join(target, src, 'docs', 'plan.txt'), 'utf8'), 'the plan\n');
    } finally {
      await s.close();
    }
    // A tenant with repositories is not deleted by accident.
    const del = await cairn(['tenant', 'delete', 'acme', ...args]);
    assert.notEqual(del.code, 0);
    assert.match(del.stderr, /still has repositories \(main\)/);
  });
});
