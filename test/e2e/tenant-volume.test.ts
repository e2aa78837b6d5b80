/**
 * Tenant volumes for real (issue 19): `cairn tenant create --volume` makes the tenant's storage
 * root a sparse XFS image loop-mounted there, its administrator backs up into it and restores from
 * it, a backup that does not fit fails on that volume alone and leaves a repository that checks
 * clean, `set --volume` grows it, a volume unmounted behind the server's back fails the tenant's
 * runs without a byte written into the bare folder, the server mounts recorded volumes when it
 * starts, and `delete` unmounts and removes the image. Then the refusals, each creating nothing,
 * and the API's volumeBytes.
 *
 * Needs root and mkfs.xfs (scripts/setup.sh installs xfsprogs); every mount made under the test's
 * temp directory is unmounted in `after`, whatever failed.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statfsSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Catalog } from '../../src/catalog/index.ts';
import { check } from '../../src/repo/index.ts';
import { openRepository, refOf, XFS_MAGIC } from '../../src/jobs/index.ts';
import { tenancyOf } from '../../src/api/index.ts';
import { CAIRN, cairn, run, show, start } from './cli.testing.ts';
import { assertProblem, http, logon, testServer, waitTask, type TestServer } from './server-api.testing.ts';

const MiB = 2 ** 20;

function skipReason(): string | false {
  if (process.getuid?.() !== 0) return 'needs root: only root may loop-mount a file system';
  const mkfs = spawnSync('mkfs.xfs', ['-V'], { encoding: 'utf8' });
  if (mkfs.status !== 0) return 'mkfs.xfs is missing (install xfsprogs: scripts/setup.sh)';
  return false;
}
const skip = skipReason();

interface Mount {
  readonly point: string;
  readonly options: string;
  readonly fsType: string;
  readonly source: string;
}

function mounts(): Mount[] {
  const un = (s: string) =>
    s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const f = l.split(' ');
      const d = f.indexOf('-', 6);
      return { point: un(f[4]!), options: f[5]!, fsType: f[d + 1]!, source: un(f[d + 2]!) };
    });
}

const mountAt = (p: string): Mount | undefined =>
  mounts()
    .filter((m) => m.point === p)
    .at(-1);

/** The files loop devices are backed by now. */
function loopFiles(): string[] {
  const out: string[] = [];
  for (const d of readdirSync('/sys/block').filter((n) => n.startsWith('loop'))) {
    try {
      out.push(readFileSync(`/sys/block/${d}/loop/backing_file`, 'utf8').trim());
    } catch {
      // not bound to a file
    }
  }
  return out;
}

/** Unmounts everything under `dir` (deepest first), lifts immutable flags, removes it. */
function cleanUp(dir: string | undefined): void {
  if (!dir) return;
  for (const m of mounts()
    .filter((x) => x.point.startsWith(dir + '/'))
    .reverse())
    spawnSync('umount', [m.point]);
  spawnSync('chattr', ['-R', '-i', dir], { stdio: 'ignore' });
  rmSync(dir, { recursive: true, force: true });
}

function sizeOf(p: string): number {
  const s = statfsSync(p);
  return s.blocks * s.bsize;
}

interface Made {
  id: string;
  name: string;
  storageRoot: string;
  volumeBytes: number | null;
  volumeImage: string | null;
  volumeMounted: boolean | null;
  repository: { id: string; name: string } | null;
  admin: { logon: string; password: string } | null;
}

async function runJob(s: TestServer, token: string, job: string): Promise<Record<string, unknown>> {
  const started = await http(s.url, 'POST', `/api/v1/jobs/${job}/start`, { token });
  assert.equal(started.status, 202, JSON.stringify(started.body));
  return waitTask(s.url, token, (started.body as { id: string }).id);
}

describe('tenant volumes: a tenant whose storage root is its own XFS volume', { skip }, () => {
  let root: string;
  let data: string;
  let src: string;
  let restoreRoot: string;
  let made: Made;
  let image: string;
  let storage: string;
  let s: TestServer | undefined;
  let token: string;
  let jobId: string;
  let bigJob: string;
  let snapshotsBefore = 0;
  const times: string[] = [];

  before(() => {
    root = mkdtempSync(path.join(tmpdir(), 'cairn-volume-'));
    data = path.join(root, 'data');
    src = path.join(root, 'src');
    restoreRoot = path.join(root, 'restore');
    mkdirSync(path.join(src, 'docs'), { recursive: true });
    mkdirSync(path.join(src, 'big'), { recursive: true });
    mkdirSync(restoreRoot);
    writeFileSync(path.join(src, 'docs', 'plan.txt'), 'the plan\n');
    writeFileSync(path.join(src, 'docs', 'noise.bin'), randomBytes(2 * MiB));
  });
  // The server's first start makes the system administrator (before any tenant user exists).
  before(async () => (await testServer({ dataDir: data })).close());
  after(async () => {
    await s?.close();
    cleanUp(root);
    if (times.length > 0) process.stdout.write(`# ${times.join('; ')}\n`);
  });

  it('cairn tenant create --volume mounts a sparse XFS image of that size on the storage root', async () => {
    const t0 = performance.now();
    const created = await cairn([
      'tenant',
      'create',
      'acme',
      '--data-dir',
      data,
      '--volume',
      '400MiB',
      '--source-root',
      src,
      '--restore-root',
      restoreRoot,
      '--json',
    ]);
    times.push(`cairn tenant create --volume 400MiB: ${Math.round(performance.now() - t0)} ms`);
    assert.equal(created.code, 0, show(created));
    made = JSON.parse(created.stdout) as Made;
    storage = made.storageRoot;
    image = path.join(data, 'volumes', 'acme.xfs');
    assert.deepEqual(
      [made.volumeBytes, made.volumeImage, made.volumeMounted, made.repository?.name],
      [400 * MiB, image, true, 'main'],
    );
    assert.equal(storage, path.join(data, 'tenants', 'acme'));
    // The image: 0600 in a 0700 folder, sparse (it holds only what XFS wrote so far).
    const st = statSync(image);
    assert.equal(st.mode & 0o777, 0o600);
    assert.equal(statSync(path.dirname(image)).mode & 0o777, 0o700);
    assert.equal(st.size, 400 * MiB);
    assert.ok(st.blocks * 512 < st.size / 2, `sparse: ${st.blocks * 512} bytes allocated of ${st.size}`);
    // The storage root is that image's XFS, mounted nodev, nosuid, noexec.
    assert.equal(statfsSync(storage).type, XFS_MAGIC);
    const m = mountAt(storage);
    assert.ok(m, `nothing mounted on ${storage}`);
    assert.equal(m.fsType, 'xfs');
    for (const o of ['nodev', 'nosuid', 'noexec']) assert.ok(m.options.split(',').includes(o), m.options);
    const loop = /^\/dev\/(loop[0-9]+)$/.exec(m.source);
    assert.ok(loop, m.source);
    assert.equal(readFileSync(`/sys/block/${loop[1]}/loop/backing_file`, 'utf8').trim(), image);
    // Its size is the volume's, less what XFS keeps for itself (its log).
    const size = sizeOf(storage);
    assert.ok(size > 0.75 * 400 * MiB && size <= 400 * MiB, `file system of ${size} bytes`);
    assert.equal(statSync(storage).mode & 0o777, 0o700);
    // The first repository was made inside it.
    assert.ok(existsSync(path.join(storage, 'main', 'config')));
    const shown = await cairn(['tenant', 'show', 'acme', '--data-dir', data]);
    assert.match(shown.stdout, /volume: +400 MiB XFS, .*acme\.xfs, mounted/);
  });

  it('its administrator backs up into the volume and restores from it', async () => {
    s = await testServer({ dataDir: data });
    assert.ok(made.admin);
    token = await logon(s.url, made.admin.logon, made.admin.password);
    const job = await http(s.url, 'POST', '/api/v1/jobs', {
      token,
      body: { name: 'docs', repository: 'main', sources: [path.join(src, 'docs')] },
    });
    assert.equal(job.status, 201, JSON.stringify(job.body));
    jobId = (job.body as { id: string }).id;
    const done = await runJob(s, token, jobId);
    assert.equal(done.result, 'success', JSON.stringify(done));
    assert.ok(readdirSync(path.join(storage, 'main', 'data')).length > 0, 'packs are on the volume');
    const target = path.join(restoreRoot, 'first');
    const r = await http(s.url, 'POST', '/api/v1/restores', {
      token,
      body: { repository: 'main', snapshot: 'latest', target },
    });
    assert.equal(r.status, 202, JSON.stringify(r.body));
    const rt = await waitTask(s.url, token, (r.body as { id: string }).id);
    assert.equal(rt.result, 'success', JSON.stringify(rt));
    assert.equal(readFileSync(path.join(target, src, 'docs', 'plan.txt'), 'utf8'), 'the plan\n');
  });

  it('a backup that does not fit fails on the full volume alone, and the repository checks clean', async () => {
    assert.ok(s);
    // The volume nearly full (a file the test allocates in it: cheaper than backing up 330 MiB).
    const filler = path.join(storage, 'filler');
    const free = statfsSync(storage).bavail * statfsSync(storage).bsize;
    const fa = spawnSync('fallocate', ['-l', String(free - 12 * MiB), filler], { encoding: 'utf8' });
    assert.equal(fa.status, 0, fa.stderr);
    writeFileSync(path.join(src, 'big', 'random.bin'), randomBytes(40 * MiB));
    const job = await http(s.url, 'POST', '/api/v1/jobs', {
      token,
      body: { name: 'big', repository: 'main', sources: [path.join(src, 'big')] },
    });
    assert.equal(job.status, 201, JSON.stringify(job.body));
    bigJob = (job.body as { id: string }).id;
    const failed = await runJob(s, token, bigJob);
    assert.equal(failed.result, 'failed', JSON.stringify(failed));
    assert.match(String(failed.message), /\[NO_SPACE\]/);
    // The data disk had room all along: another tenant, in a folder, backs up meanwhile.
    const sys = await logon(s.url);
    const beta = await http(s.url, 'POST', '/api/v1/tenants', {
      token: sys,
      body: { name: 'beta', sourceRoots: [src] },
    });
    assert.equal(beta.status, 201, JSON.stringify(beta.body));
    const b = beta.body as Made;
    assert.equal(b.volumeBytes, null);
    assert.equal(b.volumeMounted, null);
    const bt = await logon(s.url, b.admin!.logon, b.admin!.password);
    const bj = await http(s.url, 'POST', '/api/v1/jobs', {
      token: bt,
      body: { name: 'big', repository: 'main', sources: [path.join(src, 'big')] },
    });
    assert.equal((await runJob(s, bt, (bj.body as { id: string }).id)).result, 'success');
    // Nothing of acme's repository is damaged: check finds no error; the failed backup made no
    // restore point, and with room again the same backup succeeds.
    rmSync(filler);
    const catalog = s.server.catalog;
    const row = await catalog.repository(made.id, made.repository!.id);
    assert.ok(row);
    const open = await openRepository(refOf(row, tenancyOf(data, path.join(data, 'catalog.db'))), {
      lock: 'none',
      command: 'check',
      index: true,
    });
    try {
      const c = await check(open.repo, { readData: true });
      assert.deepEqual(c.errors, [], JSON.stringify(c.errors));
      assert.equal(c.snapshots, 1);
    } finally {
      await open.close();
    }
    const again = await runJob(s, token, bigJob);
    assert.equal(again.result, 'success', JSON.stringify(again));
  });

  it('cairn tenant set --volume grows it; a smaller size is refused (XFS cannot shrink)', async () => {
    const before = sizeOf(storage);
    const t0 = performance.now();
    const grown = await cairn(['tenant', 'set', 'acme', '--data-dir', data, '--volume', '600MiB', '--json']);
    times.push(`cairn tenant set --volume 600MiB: ${Math.round(performance.now() - t0)} ms`);
    assert.equal(grown.code, 0, show(grown));
    assert.equal((JSON.parse(grown.stdout) as Made).volumeBytes, 600 * MiB);
    assert.equal(statSync(image).size, 600 * MiB);
    const after = sizeOf(storage);
    assert.ok(after - before > 190 * MiB && after <= 600 * MiB, `${before} → ${after} bytes`);
    const shrink = await cairn(['tenant', 'set', 'acme', '--data-dir', data, '--volume', '500MiB']);
    assert.equal(shrink.code, 79, show(shrink));
    assert.match(shrink.stderr, /XFS cannot shrink/);
    assert.equal(statSync(image).size, 600 * MiB);
    // Its storage root stays where the volume is mounted.
    const move = await cairn([
      'tenant',
      'set',
      'acme',
      '--data-dir',
      data,
      '--storage-root',
      path.join(root, 'x'),
    ]);
    assert.notEqual(move.code, 0);
    assert.match(move.stderr, /where its volume is mounted/);
  });

  it("a volume unmounted behind the server's back fails the tenant's runs; nothing is written under the mount point", async () => {
    assert.ok(s);
    const listed = await http(s.url, 'GET', `/api/v1/repositories/${made.repository!.id}/snapshots`, {
      token,
    });
    snapshotsBefore = (listed.body as { data: unknown[] }).data.length;
    assert.ok(snapshotsBefore >= 2, JSON.stringify(listed.body));
    const u = spawnSync('umount', [storage], { encoding: 'utf8' });
    assert.equal(u.status, 0, u.stderr);
    assert.deepEqual(readdirSync(storage), []);
    const sys = await logon(s.url);
    const view = await http(s.url, 'GET', '/api/v1/tenants/acme', { token: sys });
    assert.equal((view.body as Made).volumeMounted, false);
    const failed = await runJob(s, token, jobId);
    assert.equal(failed.result, 'failed', JSON.stringify(failed));
    assert.match(String(failed.message), /\[VOLUME_UNAVAILABLE\]$/);
    assert.match(String(failed.message), /tenant acme's storage is its volume volumes\/acme\.xfs/);
    assert.doesNotMatch(String(failed.message), new RegExp(root), 'no server path told to the tenant');
    const restore = await http(s.url, 'POST', '/api/v1/restores', {
      token,
      body: { repository: 'main', snapshot: 'latest', target: path.join(restoreRoot, 'none') },
    });
    assert.equal(restore.status, 202, JSON.stringify(restore.body));
    const rt = await waitTask(s.url, token, (restore.body as { id: string }).id);
    assert.equal(rt.result, 'failed', JSON.stringify(rt));
    assert.match(String(rt.message), /\[VOLUME_UNAVAILABLE\]$/);
    assert.equal(existsSync(path.join(restoreRoot, 'none')), false);
    assertProblem(
      await http(s.url, 'POST', '/api/v1/repositories', { token, body: { name: 'second' } }),
      503,
      'VOLUME_UNAVAILABLE',
      /acme/,
    );
    assert.deepEqual(readdirSync(storage), [], 'nothing was written into the bare folder');
    // Beneath the mount the folder is immutable: not even root writes there by mistake.
    if (spawnSync('chattr', ['--help']).error === undefined)
      assert.throws(() => writeFileSync(path.join(storage, 'x'), 'x'), /EPERM|operation not permitted/i);
  });

  it('the server mounts recorded volumes when it starts, and says when it cannot', async () => {
    await s?.close();
    s = undefined;
    // The image gone: the server starts all the same, says why, and the tenant's runs fail.
    renameSync(image, `${image}.away`);
    let said: string[] = [];
    s = await testServer({ dataDir: data, say: (l) => said.push(l) });
    assert.ok(
      said.some((l) =>
        /warning: .*tenant acme's volume .*acme\.xfs.*image is missing.*VOLUME_UNAVAILABLE/.test(l),
      ),
      said.join('\n'),
    );
    assert.equal(mountAt(storage), undefined);
    token = await logon(s.url, made.admin!.logon, made.admin!.password);
    const failed = await runJob(s, token, jobId);
    assert.match(String(failed.message), /\[VOLUME_UNAVAILABLE\]$/);
    await s.close();
    s = undefined;
    renameSync(`${image}.away`, image);
    said = [];
    const t0 = performance.now();
    s = await testServer({ dataDir: data, say: (l) => said.push(l) });
    times.push(`server start with one volume to mount: ${Math.round(performance.now() - t0)} ms`);
    assert.ok(
      said.some((l) => l.includes(`mounted tenant acme's volume ${image} on ${storage}`)),
      said.join('\n'),
    );
    assert.equal(mountAt(storage)?.fsType, 'xfs');
    assert.ok(existsSync(path.join(storage, 'main', 'config')));
    token = await logon(s.url, made.admin!.logon, made.admin!.password);
    const done = await runJob(s, token, jobId);
    assert.equal(done.result, 'success', JSON.stringify(done));
    const snaps = await http(s.url, 'GET', `/api/v1/repositories/${made.repository!.id}/snapshots`, {
      token,
    });
    assert.ok((snaps.body as { data: unknown[] }).data.length >= snapshotsBefore, JSON.stringify(snaps.body));
  });

  it('cairn tenant delete unmounts the volume and removes its image', async () => {
    assert.ok(s);
    const refused = await cairn(['tenant', 'delete', 'acme', '--data-dir', data]);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /still has repositories \(main\)/);
    assert.equal(mountAt(storage)?.fsType, 'xfs', 'a refused delete leaves the volume mounted');
    for (const j of [jobId, bigJob])
      assert.equal((await http(s.url, 'DELETE', `/api/v1/jobs/${j}`, { token })).status, 204);
    const del = await http(s.url, 'DELETE', `/api/v1/repositories/${made.repository!.id}`, { token });
    assert.equal(del.status, 204, JSON.stringify(del.body));
    // A volume in use (a shell in it) is not pulled away: refused, nothing deleted.
    const shell = start('sleep', ['60'], { cwd: storage });
    try {
      const busy = await cairn(['tenant', 'delete', 'acme', '--data-dir', data]);
      assert.equal(busy.code, 76, show(busy));
      assert.match(busy.stderr, /Cannot unmount tenant acme's volume .*busy/);
      assert.equal(mountAt(storage)?.fsType, 'xfs');
      const still = await cairn(['tenant', 'show', 'acme', '--data-dir', data]);
      assert.equal(still.code, 0, show(still));
    } finally {
      shell.child.kill();
      await shell.done;
    }
    const gone = await cairn(['tenant', 'delete', 'acme', '--data-dir', data]);
    assert.equal(gone.code, 0, show(gone));
    assert.equal(mountAt(storage), undefined);
    assert.equal(existsSync(image), false);
    assert.equal(existsSync(storage), false);
    assert.ok(!loopFiles().some((f) => f.startsWith(image)), 'no loop device left on the image');
    const list = await cairn(['tenant', 'list', '--data-dir', data]);
    assert.doesNotMatch(list.stdout, /^acme /m);
  });
});

describe('tenant volumes: refusals create nothing; the API', { skip }, () => {
  let root: string;
  let data: string;
  let s: TestServer | undefined;

  before(async () => {
    root = mkdtempSync(path.join(tmpdir(), 'cairn-volume-no-'));
    data = path.join(root, 'data');
    await (await testServer({ dataDir: data })).close();
  });
  after(async () => {
    await s?.close();
    cleanUp(root);
  });

  const nothingOf = async (name: string) => {
    assert.equal(existsSync(path.join(data, 'volumes', `${name}.xfs`)), false, 'no image');
    assert.equal(existsSync(path.join(data, 'tenants', name)), false, 'no storage root');
    assert.equal(mountAt(path.join(data, 'tenants', name)), undefined, 'nothing mounted');
    if (existsSync(path.join(data, 'catalog.db'))) {
      const list = await cairn(['tenant', 'list', '--data-dir', data, '--json']);
      assert.ok(!(JSON.parse(list.stdout) as { name: string }[]).some((t) => t.name === name), list.stdout);
    }
  };

  it('refuses a volume below the XFS minimum, saying the minimum', async () => {
    const r = await cairn(['tenant', 'create', 'small', '--data-dir', data, '--volume', '200MiB']);
    assert.equal(r.code, 79, show(r));
    assert.match(r.stderr, /200\.0 MiB is below the minimum of 300\.0 MiB/);
    await nothingOf('small');
  });

  it('refuses a volume for a storage root in S3', async () => {
    const r = await cairn([
      'tenant',
      'create',
      'cloud',
      '--data-dir',
      data,
      '--storage-root',
      's3:http://127.0.0.1:9/bucket/cloud',
      '--volume',
      '400MiB',
    ]);
    assert.equal(r.code, 79, show(r));
    assert.match(r.stderr, /storage root is in S3/);
    await nothingOf('cloud');
  });

  it('refuses a storage root that is not empty, leaving what is there', async () => {
    const there = path.join(root, 'full');
    mkdirSync(there);
    writeFileSync(path.join(there, 'keep.txt'), 'mine\n');
    const r = await cairn([
      'tenant',
      'create',
      'full',
      '--data-dir',
      data,
      '--storage-root',
      there,
      '--volume',
      '400MiB',
    ]);
    assert.equal(r.code, 76, show(r));
    assert.match(r.stderr, /storage root .*full is not empty \(keep\.txt\)/);
    assert.equal(readFileSync(path.join(there, 'keep.txt'), 'utf8'), 'mine\n');
    assert.equal(mountAt(there), undefined);
    await nothingOf('full');
  });

  it('refuses when not root, before even the data directory is made', async () => {
    const own = path.join(root, 'nobody-data');
    const r = await run('setpriv', [
      '--reuid=65534',
      '--regid=65534',
      '--clear-groups',
      CAIRN,
      'tenant',
      'create',
      'plain',
      '--data-dir',
      own,
      '--volume',
      '400MiB',
    ]);
    assert.equal(r.code, 56, show(r));
    assert.match(r.stderr, /only root may loop-mount a file system, and this process runs as user id 65534/);
    assert.equal(existsSync(own), false);
  });

  it('refuses when mkfs.xfs is not on the PATH', async (t) => {
    const path0 = '/usr/bin:/bin';
    if (path0.split(':').some((d) => existsSync(path.join(d, 'mkfs.xfs'))))
      return t.skip('mkfs.xfs is in /usr/bin here');
    const r = await cairn(['tenant', 'create', 'notools', '--data-dir', data, '--volume', '400MiB'], {
      env: { PATH: path0 },
    });
    assert.equal(r.code, 56, show(r));
    assert.match(r.stderr, /mkfs\.xfs is not on the PATH/);
    await nothingOf('notools');
  });

  it('a provisioning step that fails after the mount leaves no volume, image or tenant behind', async () => {
    // A stale user admin@late (from an earlier tenant "late" half removed) makes the last step,
    // the administrator, fail — after the volume was mounted and the repository made in it.
    const catalog = await Catalog.open(path.join(data, 'catalog.db'));
    try {
      await catalog.createUser({ name: 'admin@late', passwordHash: 'x', systemAdmin: false });
    } finally {
      await catalog.close();
    }
    const loopsBefore = loopFiles().length;
    const r = await cairn(['tenant', 'create', 'late', '--data-dir', data, '--volume', '300MiB']);
    assert.equal(r.code, 76, show(r));
    assert.match(r.stderr, /admin.*taken/);
    await nothingOf('late');
    assert.equal(loopFiles().length, loopsBefore, 'no loop device left');
    assert.deepEqual(readdirSync(path.join(data, 'volumes')), []);
  });

  it('checks the names given to provisioning: no repository outside the storage root', async () => {
    const r = await cairn(['tenant', 'create', 'esc', '--data-dir', data, '--repository', '../../escape']);
    assert.equal(r.code, 79, show(r));
    assert.match(r.stderr, /repository: "\.\.\/\.\.\/escape" is not a name/);
    assert.equal(existsSync(path.join(data, 'escape')), false);
    await nothingOf('esc');
  });

  it('POST and PATCH /api/v1/tenants take volumeBytes (system administrators); DELETE removes the volume', async () => {
    s = await testServer({ dataDir: data });
    const sys = await logon(s.url);
    assertProblem(
      await http(s.url, 'POST', '/api/v1/tenants', { token: sys, body: { name: 'tiny', volumeBytes: 1000 } }),
      422,
      'INVALID_INPUT',
      /below the minimum of 300\.0 MiB/,
    );
    const a = await http(s.url, 'POST', '/api/v1/tenants', {
      token: sys,
      body: { name: 'api1', volumeBytes: 300 * MiB },
    });
    assert.equal(a.status, 201, JSON.stringify(a.body));
    const api1 = a.body as Made;
    assert.deepEqual([api1.volumeBytes, api1.volumeMounted], [300 * MiB, true]);
    assert.equal(statfsSync(api1.storageRoot).type, XFS_MAGIC);
    // Its administrator cannot make volumes (nor tenants).
    const at = await logon(s.url, api1.admin!.logon, api1.admin!.password);
    assertProblem(
      await http(s.url, 'POST', '/api/v1/tenants', {
        token: at,
        body: { name: 'mine', volumeBytes: 300 * MiB },
      }),
      403,
      'FORBIDDEN',
    );
    assertProblem(
      await http(s.url, 'PATCH', `/api/v1/tenants/${api1.id}`, {
        token: at,
        body: { volumeBytes: 400 * MiB },
      }),
      403,
      'FORBIDDEN',
    );
    // A tenant made without one (and without a repository) gets a volume on its empty storage root.
    const b = await http(s.url, 'POST', '/api/v1/tenants', {
      token: sys,
      body: { name: 'api2', repository: null, admin: null },
    });
    assert.equal(b.status, 201, JSON.stringify(b.body));
    const api2 = b.body as Made;
    const p = await http(s.url, 'PATCH', `/api/v1/tenants/${api2.id}`, {
      token: sys,
      body: { volumeBytes: 320 * MiB },
    });
    assert.equal(p.status, 200, JSON.stringify(p.body));
    assert.deepEqual([(p.body as Made).volumeBytes, (p.body as Made).volumeMounted], [320 * MiB, true]);
    assert.equal(mountAt(api2.storageRoot)?.fsType, 'xfs');
    assertProblem(
      await http(s.url, 'PATCH', `/api/v1/tenants/${api2.id}`, {
        token: sys,
        body: { volumeBytes: 310 * MiB },
      }),
      422,
      'INVALID_INPUT',
      /XFS cannot shrink/,
    );
    // A volume's storage root stays where it is mounted.
    assertProblem(
      await http(s.url, 'PATCH', `/api/v1/tenants/${api1.id}`, {
        token: sys,
        body: { storageRoot: path.join(root, 'elsewhere') },
      }),
      409,
      'CONFLICT',
      /where its volume is mounted/,
    );
    // A tenant whose folder holds its repository cannot have a volume mounted over it.
    const c = await http(s.url, 'POST', '/api/v1/tenants', { token: sys, body: { name: 'api3' } });
    assert.equal(c.status, 201, JSON.stringify(c.body));
    assertProblem(
      await http(s.url, 'PATCH', `/api/v1/tenants/${(c.body as Made).id}`, {
        token: sys,
        body: { volumeBytes: 300 * MiB },
      }),
      409,
      'CONFLICT',
      /storage root .*api3 is not empty \(main\)/,
    );
    assert.equal(mountAt((c.body as Made).storageRoot), undefined);
    const del1 = await http(s.url, 'DELETE', `/api/v1/repositories/${api1.repository!.id}`, { token: at });
    assert.equal(del1.status, 204);
    for (const t of [api1, api2]) {
      const d = await http(s.url, 'DELETE', `/api/v1/tenants/${t.id}`, { token: sys });
      assert.equal(d.status, 204, JSON.stringify(d.body));
      assert.equal(mountAt(t.storageRoot), undefined);
      assert.equal(existsSync(path.join(data, 'volumes', `${t.name}.xfs`)), false);
    }
  });
});
