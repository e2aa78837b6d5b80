/**
 * A real S3 endpoint for tests: a single-node Ceph cluster (one monitor, one OSD, no manager)
 * with a RADOS Gateway, started as plain daemons on free loopback ports inside a temporary
 * folder, and stopped and removed after. Test support, not shipped.
 *
 * Follows shared/research/ceph-rgw.md: every path (data, keyrings, sockets, pid files, logs)
 * points into the folder, `paxos propose interval` is short and the gateway's pools are made
 * before it starts, so the whole bring-up takes seconds. The keys are generated here and handed
 * to the monitor at mkfs, so no `ceph auth` round trips are needed. Needs the Debian packages
 * ceph-mon, ceph-osd, radosgw and ceph-common (python3-rados): `scripts/setup.sh` installs them.
 */
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import { createServer } from 'node:net';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);

export interface TestRgw {
  /** `http://127.0.0.1:PORT` */
  readonly endpoint: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  /** The cluster's folder (logs in `log/`). */
  readonly dir: string;
  /** Milliseconds from an empty folder to an answering gateway with a user. */
  readonly startupMs: number;
  /** Stops the daemons and removes the folder. */
  stop(): Promise<void>;
}

export interface RgwOptions {
  /** BlueStore in a sparse file (default; steady) or MemStore (faster start, RAM ~2x the data). */
  readonly store?: 'bluestore' | 'memstore';
  /** Gives up after this long (default 120 s). */
  readonly timeoutMs?: number;
}

const BINARIES = ['ceph-mon', 'ceph-osd', 'radosgw', 'radosgw-admin', 'monmaptool', 'python3'];
/** Debian's Python, which has the librados binding (python3-rados); not one a version manager put first on PATH. */
const PYTHON = '/usr/bin/python3';

/** Why a cluster cannot be started here (missing programs), or undefined if it can. */
export function rgwMissing(): string | undefined {
  const missing = BINARIES.filter(
    (b) => !['/usr/bin', '/usr/sbin', '/bin'].some((d) => existsSync(path.join(d, b))),
  );
  if (missing.length === 0) {
    try {
      execFileSync(PYTHON, ['-c', 'import rados'], { stdio: 'ignore' });
    } catch {
      missing.push('python3-rados');
    }
  }
  if (missing.length === 0) return undefined;
  return (
    `Ceph is not installed (missing ${missing.join(', ')}): run scripts/setup.sh as root, ` +
    'which installs the Debian packages ceph-mon ceph-osd radosgw ceph-common'
  );
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

/** A cephx secret as keyrings store it: type AES, a creation time, 16 random bytes. */
function cephxKey(): string {
  const b = Buffer.alloc(12 + 16);
  b.writeUInt16LE(1, 0);
  b.writeUInt32LE(Math.floor(Date.now() / 1000), 2);
  b.writeUInt32LE(0, 6);
  b.writeUInt16LE(16, 10);
  randomBytes(16).copy(b, 12);
  return b.toString('base64');
}

const POOLS = [
  '.rgw.root',
  'default.rgw.control',
  'default.rgw.meta',
  'default.rgw.log',
  'default.rgw.buckets.index',
  'default.rgw.buckets.data',
  'default.rgw.buckets.non-ec',
];

/** Mon commands in one librados session: register the OSD, wait until it is up, make the pools. */
const SETUP_PY = `
import json, rados, sys, time
c = rados.Rados(conffile=sys.argv[1], name='client.admin')
c.connect(timeout=30)
def cmd(**kw):
    r, out, err = c.mon_command(json.dumps(kw), b'')
    if r != 0 and r != -17:
        raise SystemExit('%s: %s (%d)' % (kw['prefix'], err, r))
    return out
step = sys.argv[2]
if step == 'osd':
    cmd(prefix='osd new', uuid=sys.argv[3], id=0)
else:
    deadline = time.time() + float(sys.argv[3])
    while True:
        d = json.loads(cmd(prefix='osd dump', format='json'))
        if any(o['osd'] == 0 and o['up'] == 1 and o['in'] == 1 for o in d['osds']):
            break
        if time.time() > deadline:
            raise SystemExit('osd.0 did not come up')
        time.sleep(0.1)
    for p in ${JSON.stringify(POOLS)}:
        cmd(prefix='osd pool create', pool=p, pg_num=8, pgp_num=8)
        cmd(prefix='osd pool application enable', pool=p, app='rgw', **{'yes_i_really_mean_it': True})
c.shutdown()
`;

/** Starts a cluster in a new folder under /tmp. Throws (after cleaning up) if it does not come up. */
export async function startRgw(options: RgwOptions = {}): Promise<TestRgw> {
  const why = rgwMissing();
  if (why !== undefined) throw new Error(why);
  const started = performance.now();
  const timeoutMs = options.timeoutMs ?? 120_000;
  const store = options.store ?? 'bluestore';
  // Admin socket paths must stay under 107 bytes: keep the folder short.
  const dir = await fs.mkdtemp('/tmp/cairn-rgw-');
  const conf = path.join(dir, 'ceph.conf');
  const env = { ...process.env, CEPH_CONF: conf };
  const stop = () => stopCluster(dir);
  // Every step has the whole time limit; a step that hangs is killed.
  const run = (cmd: string, args: string[]) =>
    execFileP(cmd, args, { env, timeout: timeoutMs, killSignal: 'SIGKILL' });
  /** Runs steps side by side; waits for all of them even when one fails, so none is left running. */
  const together = async (...steps: Promise<unknown>[]) => {
    const results = await Promise.allSettled(steps);
    for (const r of results) if (r.status === 'rejected') throw r.reason;
  };
  try {
    const [v2, v1, rgwPort] = await Promise.all([freePort(), freePort(), freePort()]);
    const fsid = randomUUID();
    const osdUuid = randomUUID();
    for (const sub of ['run', 'log', 'crash', 'osd.0', 'rgw.x']) await fs.mkdir(path.join(dir, sub));
    await fs.writeFile(
      conf,
      `[global]
fsid = ${fsid}
mon host = [v2:127.0.0.1:${v2},v1:127.0.0.1:${v1}]
mon initial members = a
public addr = 127.0.0.1
cluster addr = 127.0.0.1
keyring = ${dir}/keyring
run dir = ${dir}/run
admin socket = ${dir}/run/$name.asok
pid file = ${dir}/run/$name.pid
log file = ${dir}/log/$name.log
crash dir = ${dir}/crash
mon cluster log file = ${dir}/log/cluster.log
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon allow pool size one = true
mon warn on pool no redundancy = false
mon max pg per osd = 1000
osd crush chooseleaf type = 0
ms bind ipv6 = false

[mon]
mon data = ${dir}/mon.$id
paxos propose interval = 0.05
mon osd auto mark in = true

[osd]
osd data = ${dir}/osd.$id
osd objectstore = ${store}
bluestore block create = true
bluestore block size = 10737418240
bluestore fsck on mkfs = false
osd memory target = 1073741824
memstore device bytes = 4294967296

[client.rgw.x]
rgw frontends = beast endpoint=127.0.0.1:${rgwPort} tcp_nodelay=1
rgw data = ${dir}/rgw.x
rgw gc obj min wait = 60
rgw gc processor period = 60
rgw enable usage log = false
`,
    );
    const keys = {
      mon: cephxKey(),
      admin: cephxKey(),
      osd: cephxKey(),
      rgw: cephxKey(),
    };
    await fs.writeFile(
      path.join(dir, 'keyring'),
      `[mon.]
\tkey = ${keys.mon}
\tcaps mon = "allow *"
[client.admin]
\tkey = ${keys.admin}
\tcaps mon = "allow *"
\tcaps osd = "allow *"
\tcaps mgr = "allow *"
\tcaps mds = "allow *"
[osd.0]
\tkey = ${keys.osd}
\tcaps mon = "allow profile osd"
\tcaps mgr = "allow profile osd"
\tcaps osd = "allow *"
[client.rgw.x]
\tkey = ${keys.rgw}
\tcaps mon = "allow rw"
\tcaps osd = "allow rwx"
\tcaps mgr = "allow rw"
`,
      { mode: 0o600 },
    );
    const monmap = path.join(dir, 'monmap');
    await run('monmaptool', [
      '--create',
      '--fsid',
      fsid,
      '--addv',
      'a',
      `[v2:127.0.0.1:${v2},v1:127.0.0.1:${v1}]`,
      monmap,
    ]);
    await run('ceph-mon', ['--mkfs', '-i', 'a', '--monmap', monmap, '--keyring', path.join(dir, 'keyring')]);
    await run('ceph-mon', ['-i', 'a']);
    // Register the OSD while its store is made: the two do not depend on each other.
    await together(
      run(PYTHON, ['-c', SETUP_PY, conf, 'osd', osdUuid]),
      run('ceph-osd', ['-i', '0', '--mkfs', '--osd-uuid', osdUuid]),
    );
    await run('ceph-osd', ['-i', '0']);
    await run(PYTHON, ['-c', SETUP_PY, conf, 'pools', String(timeoutMs / 1000)]);
    // The gateway's user gets keys made by radosgw-admin, read from its output: no secret in an argv.
    const user = run('radosgw-admin', ['user', 'create', '--uid=cairn', '--display-name=cairn tests']);
    await together(run('radosgw', ['-n', 'client.rgw.x']), user);
    const made = JSON.parse((await user).stdout) as { keys: { access_key: string; secret_key: string }[] };
    const s3Keys = made.keys[0];
    if (s3Keys === undefined) throw new Error('radosgw-admin made a user without keys');
    const { access_key: accessKeyId, secret_key: secretAccessKey } = s3Keys;
    const endpoint = `http://127.0.0.1:${rgwPort}`;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        const res = await fetch(`${endpoint}/`, { signal: AbortSignal.timeout(2000) });
        await res.arrayBuffer();
        if (res.ok) break;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`radosgw did not answer on ${endpoint}; see ${dir}/log`);
      await delay(50);
    }
    return {
      endpoint,
      accessKeyId,
      secretAccessKey,
      dir,
      startupMs: Math.round(performance.now() - started),
      stop,
    };
  } catch (err) {
    const logs = await tailLogs(dir);
    await stop();
    throw new Error(`Cannot start the test Ceph cluster: ${(err as Error).message}${logs}`, { cause: err });
  }
}

/** The last lines of the daemons' logs, for a failed start. */
async function tailLogs(dir: string): Promise<string> {
  let text = '';
  try {
    for (const f of await fs.readdir(path.join(dir, 'log'))) {
      const lines = (await fs.readFile(path.join(dir, 'log', f), 'utf8')).trimEnd().split('\n');
      text += `\n--- ${f}\n${lines.slice(-15).join('\n')}`;
    }
  } catch {
    // no logs yet
  }
  return text;
}

/** Whether `pid` is alive and one of this cluster's daemons (by its CEPH_CONF or argv). */
async function ours(pid: number, dir: string): Promise<boolean> {
  try {
    const stat = await fs.readFile(`/proc/${pid}/stat`, 'utf8');
    // A zombie has exited; only its parent's reaping is left.
    if (/\) Z /.test(stat)) return false;
    const environ = await fs.readFile(`/proc/${pid}/environ`, 'utf8');
    return environ.split('\0').includes(`CEPH_CONF=${dir}/ceph.conf`);
  } catch {
    return false;
  }
}

/**
 * Kills the daemons by pid file (gateway, OSD, monitor) and removes the folder. SIGKILL, not
 * SIGTERM: the cluster is thrown away, and radosgw takes 5 s to shut down gracefully.
 */
async function stopCluster(dir: string): Promise<void> {
  for (const name of ['client.rgw.x', 'osd.0', 'mon.a']) {
    let pid: number;
    try {
      pid = Number((await fs.readFile(path.join(dir, 'run', `${name}.pid`), 'utf8')).trim());
    } catch {
      continue;
    }
    if (!Number.isSafeInteger(pid) || pid <= 1 || !(await ours(pid, dir))) continue;
    process.kill(pid, 'SIGKILL');
    const deadline = Date.now() + 10_000;
    while ((await ours(pid, dir)) && Date.now() < deadline) await delay(10);
  }
  await fs.rm(dir, { recursive: true, force: true });
}
