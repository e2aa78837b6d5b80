/**
 * Tenants' quotas over real HTTP: a tenant with a 20 MB quota backs up about 130 MB of data that
 * does not compress. The run fails with QUOTA_EXCEEDED before its restore point, the repository
 * stays whole (`cairn check`, the real CLI), the usage is reported; once the quota is raised the
 * next run succeeds without uploading again what is stored, and retention with prune lowers the
 * usage. Two backups of one tenant at once share its budget. /metrics answers the system
 * administrator only. The server measures every repository when it starts.
 *
 * The repositories are made by `cairn init` with 512 KiB packs and chunks of at most 512 KiB (the
 * server makes 16 MiB packs of chunks up to 8 MiB), so no pack exceeds 1 MiB: the room a refused
 * pack leaves unused is small, and the test fast. Needs `npm run build`.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { hashPassword } from '../../src/api/index.ts';
import type { Catalog, TenantRow } from '../../src/catalog/index.ts';
import { seededBytes } from '../../src/repo/fixtures.testing.ts';
import { cairn, cleanEnv, jsonLines, show } from './cli.testing.ts';
import { ADMIN, http, link, logon, testServer, waitTask, type TestServer } from './server-api.testing.ts';

const MB = 1_000_000;
const MiB = 1024 * 1024;
/** The largest pack: 512 KiB of blobs, one chunk of 512 KiB more, the trailer. */
const PACK = MiB + 64 * 1024;

interface RunView {
  id: string;
  state: string;
  message: string | null;
  errorCode: string | null;
  snapshotId: string | null;
  stats: { bytesStored?: number; forgotten?: string[]; prune?: { bytesFreed: number } };
}

interface UsageView {
  tenant: { name: string };
  quotaBytes: number | null;
  usageBytes: number;
  usedPercent: number | null;
  repositories: { id: string; name: string; storedBytes: number | null; href: string }[];
}

/** The bytes of a repository's files, as the quota counts them (lock files left out). */
function filesBytes(dir: string): number {
  let total = 0;
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!e.isFile()) continue;
    const rel = path.relative(dir, path.join(e.parentPath, e.name));
    if (rel.startsWith('locks')) continue;
    total += statSync(path.join(e.parentPath, e.name)).size;
  }
  return total;
}

/** `count` files of `size` bytes that do not compress. */
function makeSource(dir: string, seed: string, count: number, size: number): void {
  mkdirSync(dir, { recursive: true });
  for (let i = 0; i < count; i++)
    writeFileSync(path.join(dir, `f${String(i).padStart(2, '0')}.bin`), seededBytes(`${seed} ${i}`, size));
}

/** A repository made by the real CLI with small packs, and its password file. */
async function cliRepo(dir: string, name: string): Promise<{ location: string; passwordFile: string }> {
  const location = path.join(dir, name);
  const passwordFile = path.join(dir, `${name}.password`);
  writeFileSync(passwordFile, `password of ${name}\n`, { mode: 0o600 });
  const r = await cairn(
    [
      ...['--repo', location, '--password-file', passwordFile, 'init', '--pack-size', '512KiB'],
      ...['--chunker-min', '128KiB', '--chunker-avg', '256KiB', '--chunker-max', '512KiB'],
    ],
    { env: cleanEnv() },
  );
  assert.equal(r.code, 0, show(r));
  return { location, passwordFile };
}

async function user(catalog: Catalog, tenant: TenantRow, name: string, role: string): Promise<void> {
  const u = await catalog.createUser({
    name,
    passwordHash: await hashPassword(`${name} password`),
    systemAdmin: false,
  });
  await catalog.setRole(u.id, tenant.id, role);
}

/** Starts a job and waits for its run to end; returns the run's view. */
async function runJob(base: string, token: string, jobId: string): Promise<RunView> {
  const started = await http(base, 'POST', `/api/v1/jobs/${jobId}/start`, { token });
  assert.equal(started.status, 202, JSON.stringify(started.body));
  const task = await waitTask(base, token, (started.body as { id: string }).id, 180_000);
  const run = await http(base, 'GET', link(task, 'run').href, { token });
  assert.equal(run.status, 200);
  return run.body as RunView;
}

async function logLines(
  base: string,
  token: string,
  runId: string,
): Promise<{ level: string; message: string }[]> {
  const log = await http(base, 'GET', `/api/v1/runs/${runId}/log`, { token });
  return (log.body as { data: { level: string; message: string }[] }).data;
}

async function auditActions(base: string, token: string, action: string): Promise<unknown[]> {
  const a = await http(base, 'GET', '/api/v1/audit?limit=500', { token });
  assert.equal(a.status, 200, JSON.stringify(a.body));
  return (a.body as { data: { action: string; detail: unknown }[] }).data
    .filter((x) => x.action === action)
    .map((x) => x.detail);
}

/** `cairn check --read-data --json` on a repository: exit code and summary. */
async function check(repo: { location: string; passwordFile: string }) {
  const r = await cairn(
    ['--repo', repo.location, '--password-file', repo.passwordFile, '--json', 'check', '--read-data'],
    {
      env: cleanEnv(),
    },
  );
  const summary = jsonLines(r.stdout).find((l) => l.message_type === 'summary') as
    { ok: boolean; errors: unknown[]; warnings: { message: string }[]; snapshots: number } | undefined;
  return { run: r, summary };
}

describe('tenant quotas', () => {
  let s: TestServer;
  let acme: TenantRow;
  let sys: string;
  let ada: string;
  let repo: { location: string; passwordFile: string };
  let repoId: string;
  let jobId: string;
  let source: string;
  let failedUsage = 0;

  before(async () => {
    s = await testServer();
    const catalog = s.server.catalog;
    acme = await catalog.createTenant({ name: 'acme', quotaBytes: 20 * MB });
    await user(catalog, acme, 'ada', 'administrator');
    await user(catalog, acme, 'val', 'viewer');
    repo = await cliRepo(s.dir, 'acme-vault');
    source = path.join(s.dir, 'photos');
    makeSource(source, 'photos', 13, 10 * MB);
    // The system administrator places the tenant's repository and job.
    sys = await logon(s.url);
    const inAcme = await fetch(`${s.url}/api/v1/sessions?tenant=acme`, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`${ADMIN.user}:${ADMIN.password}`).toString('base64')}`,
      },
    });
    assert.equal(inAcme.status, 201);
    const sysAcme = inAcme.headers.get('x-cairn-session') ?? '';
    const r = await http(s.url, 'POST', '/api/v1/repositories', {
      token: sysAcme,
      body: { name: 'vault', location: repo.location, passwordFile: repo.passwordFile },
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    repoId = (r.body as { id: string }).id;
    const j = await http(s.url, 'POST', '/api/v1/jobs', {
      token: sysAcme,
      body: {
        name: 'photos',
        repository: 'vault',
        sources: [source],
        retention: { keepLast: 1, prune: true },
        limits: { retries: 2, retryDelaySeconds: 1 },
      },
    });
    assert.equal(j.status, 201, JSON.stringify(j.body));
    jobId = (j.body as { id: string }).id;
    ada = await logon(s.url, 'ada', 'ada password');
  });
  after(() => s.close());

  it('fails a backup past the quota with QUOTA_EXCEEDED before its restore point; the repository stays whole', async () => {
    const t0 = Date.now();
    const run = await runJob(s.url, ada, jobId);
    const seconds = (Date.now() - t0) / 1000;
    assert.equal(run.state, 'failed', JSON.stringify(run));
    assert.equal(run.errorCode, 'QUOTA_EXCEEDED');
    assert.equal(run.snapshotId, null);
    const message = run.message ?? '';
    for (const part of [
      'Cannot back up to repository vault',
      'tenant acme has a quota of 19.1 MiB',
      'No restore point was written',
      '[QUOTA_EXCEEDED]',
    ])
      assert.ok(message.includes(part), `"${part}" in: ${message}`);
    assert.match(message, /this backup wrote 1\d\.\d MiB and needed \d+\.\d+ [KM]iB more for its next pack/);
    const snaps = await http(s.url, 'GET', `/api/v1/repositories/${repoId}/snapshots`, { token: ada });
    assert.deepEqual((snaps.body as { data: unknown[] }).data, []);

    // The real CLI finds the repository whole: no error, not even a warning (the packs written
    // are indexed; no snapshot needs them, so prune will remove them).
    const c = await check(repo);
    assert.equal(c.run.code, 0, show(c.run));
    assert.ok(c.summary, show(c.run));
    assert.equal(c.summary.ok, true);
    assert.deepEqual(c.summary.errors, []);
    assert.deepEqual(c.summary.warnings, []);
    assert.equal(c.summary.snapshots, 0);

    // Usage, as a viewer of the tenant sees it: what the storage holds, at most a pack past the quota.
    const val = await logon(s.url, 'val', 'val password');
    const u = (await http(s.url, 'GET', '/api/v1/usage', { token: val })).body as UsageView;
    const onDisk = filesBytes(repo.location);
    assert.equal(u.tenant.name, 'acme');
    assert.equal(u.quotaBytes, 20 * MB);
    assert.equal(u.usageBytes, onDisk);
    assert.deepEqual(
      u.repositories.map((r) => [r.name, r.storedBytes]),
      [['vault', onDisk]],
    );
    assert.ok(u.usageBytes <= 20 * MB + PACK, `usage ${u.usageBytes}`);
    assert.ok(u.usageBytes > 20 * MB - 3 * PACK, `usage ${u.usageBytes}: the budget was used`);
    failedUsage = u.usageBytes;

    // 90 %: one warning in the run's log, one audit event; no retry of a run out of quota.
    const log = await logLines(s.url, ada, run.id);
    assert.equal(
      log.filter(
        (l) => l.level === 'warning' && /tenant acme uses (9\d|100)(\.\d)? % of its quota/.test(l.message),
      ).length,
      1,
      JSON.stringify(log),
    );
    assert.ok(log.some((l) => l.message === 'not retried: the tenant is out of quota'));
    const warnings = await auditActions(s.url, ada, 'quota.warning');
    assert.equal(warnings.length, 1);
    assert.equal((warnings[0] as { usageBytes: number }).usageBytes, u.usageBytes);
    const queued = await http(s.url, 'GET', `/api/v1/runs?job=${jobId}`, { token: ada });
    assert.equal((queued.body as { pagination: { total: number } }).pagination.total, 1, 'no retry queued');
    process.stdout.write(`# quota run: failed after ${seconds.toFixed(1)} s, usage ${u.usageBytes} bytes\n`);
  });

  it('succeeds once the quota is raised, without uploading again what is stored', async () => {
    await s.server.catalog.updateTenant(acme.id, { quotaBytes: 400 * MB });
    const t0 = Date.now();
    const run = await runJob(s.url, ada, jobId);
    const seconds = (Date.now() - t0) / 1000;
    assert.equal(run.state, 'success', JSON.stringify(run));
    assert.equal(run.errorCode, null);
    const added = run.stats.bytesStored ?? 0;
    // 130 MB in all, of which the failed run stored about 20 MB.
    assert.ok(added < 130 * MB - failedUsage + PACK, `${added} bytes stored again`);
    assert.ok(added > 130 * MB - failedUsage - 2 * PACK, `${added} bytes stored`);
    const u = (await http(s.url, 'GET', '/api/v1/usage', { token: ada })).body as UsageView;
    assert.equal(u.usageBytes, filesBytes(repo.location));
    assert.ok(u.usageBytes < 130 * MB + 2 * PACK, `usage ${u.usageBytes}: nothing stored twice`);
    assert.equal(u.usedPercent, Math.round((u.usageBytes / (400 * MB)) * 1000) / 10);
    assert.equal((await auditActions(s.url, ada, 'quota.warning')).length, 1, 'no new crossing');
    const c = await check(repo);
    assert.equal(c.run.code, 0, show(c.run));
    assert.equal(c.summary?.snapshots, 1);
    process.stdout.write(
      `# quota run: succeeded in ${seconds.toFixed(1)} s, ${added} bytes stored by it, usage ${u.usageBytes} bytes\n`,
    );
  });

  it('lowers the usage when retention forgets and prunes', async () => {
    const before = ((await http(s.url, 'GET', '/api/v1/usage', { token: ada })).body as UsageView).usageBytes;
    for (let i = 3; i < 13; i++) rmSync(path.join(source, `f${String(i).padStart(2, '0')}.bin`));
    const run = await runJob(s.url, ada, jobId);
    assert.equal(run.state, 'success', JSON.stringify(run));
    assert.equal(run.stats.forgotten?.length, 1);
    const u = (await http(s.url, 'GET', '/api/v1/usage', { token: ada })).body as UsageView;
    assert.equal(u.usageBytes, filesBytes(repo.location));
    assert.ok(u.usageBytes < before - 95 * MB, `usage ${before} → ${u.usageBytes}`);
    assert.ok(u.usageBytes > 30 * MB, `usage ${u.usageBytes}: the 30 MB kept`);
    const log = await logLines(s.url, ada, run.id);
    assert.ok(
      log.some((l) => /^repository vault stores 2\d\.\d MiB; tenant acme uses/.test(l.message)),
      JSON.stringify(log),
    );
    process.stdout.write(`# quota: prune lowered usage from ${before} to ${u.usageBytes} bytes\n`);
  });

  it('gives /metrics to the system administrator only, with tenant labels and gauges', async () => {
    const denied = await http(s.url, 'GET', '/metrics', { token: ada });
    assert.equal(denied.status, 403);
    assert.match(denied.type, /application\/problem\+json/);
    assert.equal((denied.body as { code: string }).code, 'FORBIDDEN');
    assert.doesNotMatch(JSON.stringify(denied.body), /photos|cairn_/);
    const m = await http(s.url, 'GET', '/metrics', { token: sys });
    assert.equal(m.status, 200);
    const text = String(m.body);
    assert.match(text, /^cairn_runs_total\{tenant="acme",job="photos",result="failed"\} 1$/m);
    assert.match(text, /^cairn_runs_total\{tenant="acme",job="photos",result="success"\} 2$/m);
    const usage = ((await http(s.url, 'GET', '/api/v1/usage', { token: ada })).body as UsageView).usageBytes;
    assert.match(text, new RegExp(`^cairn_tenant_usage_bytes\\{tenant="acme"\\} ${usage}$`, 'm'));
    assert.match(text, /^cairn_tenant_quota_bytes\{tenant="acme"\} 400000000$/m);
    assert.doesNotMatch(text, /^cairn_tenant_quota_bytes\{tenant="default"\}/m, 'no quota, no series');
    for (const line of text.split('\n'))
      if (/^cairn_(backup|runs_total|run_duration|last_run)/.test(line)) assert.match(line, /tenant="/, line);
  });

  it('shares one budget between the backups of a tenant that run at once', async () => {
    const catalog = s.server.catalog;
    const duo = await catalog.createTenant({ name: 'duo', quotaBytes: 12 * MB });
    const inDuo = await fetch(`${s.url}/api/v1/sessions?tenant=duo`, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`${ADMIN.user}:${ADMIN.password}`).toString('base64')}`,
      },
    });
    const token = inDuo.headers.get('x-cairn-session') ?? '';
    const repos = [];
    const jobs: string[] = [];
    for (const name of ['left', 'right']) {
      const r = await cliRepo(s.dir, `duo-${name}`);
      repos.push(r);
      const src = path.join(s.dir, `duo-${name}-src`);
      makeSource(src, name, 10, MB);
      assert.equal(
        (
          await http(s.url, 'POST', '/api/v1/repositories', {
            token,
            body: { name, location: r.location, passwordFile: r.passwordFile },
          })
        ).status,
        201,
      );
      const j = await http(s.url, 'POST', '/api/v1/jobs', {
        token,
        body: { name, repository: name, sources: [src] },
      });
      assert.equal(j.status, 201);
      jobs.push((j.body as { id: string }).id);
    }
    // Each alone would fit (10 MB of 12); both together do not.
    const runs = await Promise.all(jobs.map((j) => runJob(s.url, token, j)));
    const states = runs.map((r) => r.state).sort();
    assert.ok(states.includes('failed'), JSON.stringify(runs.map((r) => [r.state, r.message])));
    for (const r of runs) if (r.state === 'failed') assert.equal(r.errorCode, 'QUOTA_EXCEEDED');
    const stored = repos.reduce((n, r) => n + filesBytes(r.location), 0);
    assert.ok(stored <= 12 * MB + 2 * PACK, `the two repositories store ${stored} bytes`);
    const u = (await http(s.url, 'GET', '/api/v1/usage', { token })).body as UsageView;
    assert.equal(u.usageBytes, stored);
    assert.equal(duo.name, u.tenant.name);
  });
});

describe('usage at the server start', () => {
  it('measures every repository when the server starts, and warns a tenant past 90 % once', async () => {
    const first = await testServer();
    const dataDir = path.join(first.dir, 'data');
    const dir = path.join(first.dir, 'kept');
    mkdirSync(dir);
    const repo = await cliRepo(dir, 'r');
    const src = path.join(dir, 'src');
    makeSource(src, 'start', 2, MB);
    const b = await cairn(['--repo', repo.location, '--password-file', repo.passwordFile, 'backup', src], {
      env: cleanEnv(),
    });
    assert.equal(b.code, 0, show(b));
    const size = filesBytes(repo.location);
    const catalog = first.server.catalog;
    const tenant = await catalog.createTenant({ name: 'late', quotaBytes: Math.floor(size / 0.95) });
    const row = await catalog.createRepository({
      tenantId: tenant.id,
      name: 'r',
      location: repo.location,
      passwordFile: repo.passwordFile,
      maxConcurrent: 1,
      origin: 'api',
    });
    await first.server.close();
    // The same data directory (and catalog) again: its start measures the repository.
    const second = await testServer({ dataDir });
    try {
      const until = Date.now() + 30_000;
      let found;
      while ((found = await second.server.catalog.repository(tenant.id, row.id))?.stored_bytes == null) {
        assert.ok(Date.now() < until, 'measured within 30 s');
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.equal(found?.stored_bytes, size);
      assert.ok(found?.measured_at);
      // The tenant's sum is written right after its repository's size.
      let t;
      while ((t = await second.server.catalog.tenant(tenant.id))?.usage_bytes !== size) {
        assert.ok(Date.now() < until, `tenant usage ${t?.usage_bytes}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      const audit = await second.server.catalog.listAudit(tenant.id, {});
      assert.deepEqual(
        audit.data
          .filter((a) => a.action === 'quota.warning')
          .map((a) => (JSON.parse(a.detail) as { usageBytes: number }).usageBytes),
        [size],
      );
    } finally {
      await second.close();
      rmSync(first.dir, { recursive: true, force: true });
    }
  });
});
