/**
 * Insider protection over real HTTP (issue 19): a protected tenant whose administrator password
 * was stolen shortens its job's retention to one restore point. What retention forgets goes to
 * the recycle bin: hidden from the tenant (not listed, not restorable, not counted in its quota),
 * restorable by the system administrator byte for byte, purged only when the protection period the
 * system administrator set has ended.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startServer, type RunningServer } from '../../src/api/index.ts';
import {
  ADMIN,
  assertProblem,
  http,
  link,
  logon,
  testServer,
  waitTask,
  type TestServer,
} from './server-api.testing.ts';

interface BinEntry {
  tenant: { name: string };
  repository: { id: string; name: string };
  snapshot: string;
  deletedAt: string;
  deletedBy: string;
  purgeAfter: string;
}

async function logonTo(base: string, tenant: string): Promise<string> {
  const res = await fetch(`${base}/api/v1/sessions?tenant=${tenant}`, {
    method: 'POST',
    headers: { authorization: `Basic ${Buffer.from(`${ADMIN.user}:${ADMIN.password}`).toString('base64')}` },
  });
  assert.equal(res.status, 201, await res.text());
  return res.headers.get('x-cairn-session') ?? '';
}

describe('insider protection: the recycle bin', () => {
  let s: TestServer;
  let url: string;
  let restarted: RunningServer | undefined;
  let sys: string;
  let tenantId: string;
  let repoId: string;
  let jobId: string;
  let ta: string;
  let src: string;
  let restoreRoot: string;
  const contents: Buffer[] = [];
  let lastTask: Record<string, unknown> = {};
  const ids: string[] = [];

  const run = async (token: string) => {
    const start = await http(url, 'POST', `/api/v1/jobs/${jobId}/start`, { token });
    assert.equal(start.status, 202, JSON.stringify(start.body));
    const task = await waitTask(url, token, (start.body as { id: string }).id);
    assert.equal(task.result, 'success', JSON.stringify(task));
    return task;
  };
  const visible = async (token: string) => {
    const a = await http(url, 'GET', `/api/v1/repositories/${repoId}/snapshots`, { token });
    assert.equal(a.status, 200, JSON.stringify(a.body));
    return (a.body as { data: { id: string }[] }).data.map((x) => x.id);
  };
  const bin = async () => {
    const a = await http(url, 'GET', '/api/v1/recycle-bin?tenant=gamma', { token: sys });
    assert.equal(a.status, 200, JSON.stringify(a.body));
    return (a.body as { data: BinEntry[] }).data;
  };

  before(async () => {
    s = await testServer();
    url = s.url;
    src = path.join(s.dir, 'gamma-src');
    restoreRoot = path.join(s.dir, 'gamma-restore');
    mkdirSync(src);
    mkdirSync(restoreRoot);
    sys = await logon(url);
    const t = await http(url, 'POST', '/api/v1/tenants', {
      token: sys,
      body: {
        name: 'gamma',
        sourceRoots: [src],
        restoreRoots: [restoreRoot],
        protectionDays: 7,
        quotaBytes: 1 << 30,
      },
    });
    assert.equal(t.status, 201, JSON.stringify(t.body));
    const made = t.body as {
      id: string;
      admin: { logon: string; password: string };
      repository: { id: string };
    };
    tenantId = made.id;
    repoId = made.repository.id;
    ta = await logon(url, made.admin.logon, made.admin.password);
    // The thief's retention: one restore point, pruned.
    const j = await http(url, 'POST', '/api/v1/jobs', {
      token: ta,
      body: { name: 'nightly', repository: 'main', sources: [src], retention: { keepLast: 1, prune: true } },
    });
    assert.equal(j.status, 201, JSON.stringify(j.body));
    jobId = (j.body as { id: string }).id;
    for (let i = 0; i < 3; i++) {
      contents.push(randomBytes(200_000));
      writeFileSync(path.join(src, 'ledger.bin'), contents[i]!);
      lastTask = await run(ta);
      const [newest] = await visible(ta);
      ids.push(newest!);
    }
  });
  after(async () => {
    if (restarted) {
      await restarted.close();
      rmSync(s.dir, { recursive: true, force: true });
    } else await s.close();
  });

  it("hides what the tenant's retention forgot from the tenant, and keeps it", async () => {
    assert.deepEqual(await visible(ta), [ids[2]], 'the tenant sees one restore point');
    const entries = await bin();
    assert.deepEqual(entries.map((e) => e.snapshot).sort(), [ids[0], ids[1]].sort());
    for (const e of entries) {
      assert.equal(e.repository.id, repoId);
      assert.equal(e.deletedBy, 'retention of job nightly');
      assert.equal(Date.parse(e.purgeAfter) - Date.parse(e.deletedAt), 7 * 24 * 3600 * 1000);
    }
    // The run's log says where they went, and the tenant's retention judged only what it sees.
    const log = await http(url, 'GET', `${link(lastTask, 'run').href}/log`, { token: ta });
    assert.equal(log.status, 200, JSON.stringify(log.body));
    const lines = (log.body as { data: { message: string }[] }).data.map((l) => l.message);
    assert.ok(
      lines.some((m) => m.startsWith('retention moved 1 restore point to the recycle bin for 7 days')),
      lines.join('\n'),
    );
  });

  it('lets no tenant user reach into the bin: no listing, no restore, no browsing, no purge', async () => {
    assertProblem(await http(url, 'GET', '/api/v1/recycle-bin', { token: ta }), 403, 'FORBIDDEN');
    assertProblem(
      await http(url, 'POST', `/api/v1/recycle-bin/${repoId}/${ids[0]}/undelete`, { token: ta }),
      403,
      'FORBIDDEN',
    );
    assertProblem(
      await http(url, 'DELETE', `/api/v1/recycle-bin/${repoId}/${ids[0]}`, { token: ta }),
      403,
      'FORBIDDEN',
    );
    for (const ref of [ids[0]!, ids[0]!.slice(0, 10)]) {
      assertProblem(
        await http(url, 'GET', `/api/v1/repositories/${repoId}/snapshots/${ref}`, { token: ta }),
        404,
        'SNAPSHOT_NOT_FOUND',
      );
      assertProblem(
        await http(url, 'POST', '/api/v1/restores', {
          token: ta,
          body: { repository: 'main', snapshot: ref, target: path.join(restoreRoot, 'stolen') },
        }),
        404,
        'SNAPSHOT_NOT_FOUND',
      );
    }
    // Deleting the repository would drop its key: not while it holds restore points.
    assertProblem(
      await http(url, 'DELETE', `/api/v1/repositories/${repoId}`, { token: ta }),
      409,
      'CONFLICT',
      /protect/,
    );
  });

  it('counts the bytes only the bin needs outside the quota', async () => {
    const a = await http(url, 'GET', '/api/v1/usage', { token: ta });
    assert.equal(a.status, 200, JSON.stringify(a.body));
    const u = a.body as {
      usageBytes: number;
      recycledBytes: number;
      repositories: { storedBytes: number; recycledBytes: number }[];
    };
    // Two forgotten restore points of 200 kB of incompressible data each, and their trees.
    assert.ok(u.recycledBytes >= 400_000 && u.recycledBytes < 500_000, JSON.stringify(u));
    const r = u.repositories[0]!;
    assert.equal(r.recycledBytes, u.recycledBytes);
    assert.equal(u.usageBytes, r.storedBytes - r.recycledBytes);
  });

  it('lets the system administrator restore a forgotten restore point byte for byte', async () => {
    const inGamma = await logonTo(url, 'gamma');
    const target = path.join(s.dir, 'by-the-provider');
    const r = await http(url, 'POST', '/api/v1/restores', {
      token: inGamma,
      body: { repository: 'main', snapshot: ids[0], target },
    });
    assert.equal(r.status, 202, JSON.stringify(r.body));
    const task = await waitTask(url, inGamma, (r.body as { id: string }).id);
    assert.equal(task.result, 'success', JSON.stringify(task));
    assert.ok(readFileSync(path.join(target, src, 'ledger.bin')).equals(contents[0]!));
  });

  it('gives a restore point back to its tenant, and purges one early, as the system administrator', async () => {
    const back = await http(url, 'POST', `/api/v1/recycle-bin/${repoId}/${ids[1]}/undelete`, { token: sys });
    assert.equal(back.status, 200, JSON.stringify(back.body));
    assert.deepEqual((await visible(ta)).sort(), [ids[1], ids[2]].sort());
    assertProblem(
      await http(url, 'POST', `/api/v1/recycle-bin/${repoId}/${ids[1]}/undelete`, { token: sys }),
      404,
      'NOT_FOUND',
    );
    // The next run's retention judges it again: into the bin it goes, with the point before.
    contents.push(randomBytes(200_000));
    writeFileSync(path.join(src, 'ledger.bin'), contents[3]!);
    await run(ta);
    const [newest] = await visible(ta);
    ids.push(newest!);
    assert.deepEqual(await visible(ta), [ids[3]]);
    assert.deepEqual((await bin()).map((e) => e.snapshot).sort(), [ids[0], ids[1], ids[2]].sort());
    const purge = await http(url, 'DELETE', `/api/v1/recycle-bin/${repoId}/${ids[2]}`, { token: sys });
    assert.equal(purge.status, 204, JSON.stringify(purge.body));
    assert.deepEqual((await bin()).map((e) => e.snapshot).sort(), [ids[0], ids[1]].sort());
    const inGamma = await logonTo(url, 'gamma');
    assertProblem(
      await http(url, 'GET', `/api/v1/repositories/${repoId}/snapshots/${ids[2]}`, { token: inGamma }),
      404,
      'SNAPSHOT_NOT_FOUND',
    );
  });

  it('purges what the bin holds once the protection the system administrator set has ended', async () => {
    const p = await http(url, 'PATCH', `/api/v1/tenants/${tenantId}`, {
      token: sys,
      body: { protectionDays: 0 },
    });
    assert.equal(p.status, 200, JSON.stringify(p.body));
    // The server purges at its start (and hourly): restart it on the same data directory.
    const dataDir = s.server.dataDir;
    await s.server.close();
    restarted = await startServer({
      dataDir,
      listen: '127.0.0.1:0',
      env: { CAIRN_ADMIN_USER: ADMIN.user, CAIRN_ADMIN_PASSWORD: ADMIN.password },
      say: () => undefined,
      pollMs: 100,
      sampleMs: 100,
    });
    url = restarted.url;
    sys = await logon(url);
    const until = Date.now() + 30_000;
    while ((await bin()).length > 0) {
      assert.ok(Date.now() < until, 'the sweep did not purge the bin');
      await new Promise((r) => setTimeout(r, 100));
    }
    const inGamma = await logonTo(url, 'gamma');
    assert.deepEqual(
      await visible(inGamma),
      [ids[3]],
      'purged points are gone for the system administrator too',
    );
    const rows = await restarted.catalog.db
      .selectFrom('audit')
      .select(['detail'])
      .where('action', '=', 'recycle.purge')
      .execute();
    assert.ok(
      rows.some((r) => r.detail.includes('protection ended')),
      JSON.stringify(rows),
    );
  });
});
