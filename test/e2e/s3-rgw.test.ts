/**
 * Cairn on a real Ceph RADOS Gateway, through the CLI: init makes the bucket; a backup of
 * /usr/share/doc, an incremental one served by the local index cache, restore, check --read-data,
 * forget and prune. Then a repository with object lock: a compromised client with the same
 * credentials cannot delete or replace a pack (the server refuses, check still passes), and prune
 * leaves retained packs alone and says when they can go.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';

import {
  DeleteObjectCommand,
  ListObjectsV2Command,
  ListObjectVersionsCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';

import { startRgw, type TestRgw } from '../../src/backend/rgw.testing.ts';
import {
  cairn,
  compareTrees,
  makeSourceTree,
  makeTemp,
  message,
  removeTemp,
  type Run,
  show,
  walkTree,
} from './cli.testing.ts';

const PASSWORD = 's3-e2e-password';
const DOCS = '/usr/share/doc';

let rgw: TestRgw;
let dir: string;
let client: S3Client;

before(async () => {
  rgw = await startRgw({ store: 'memstore' });
  dir = await makeTemp('cairn-s3-');
  client = new S3Client({
    endpoint: rgw.endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: rgw.accessKeyId, secretAccessKey: rgw.secretAccessKey },
    maxAttempts: 1,
  });
});

after(async () => {
  client?.destroy();
  await rgw?.stop();
  await removeTemp(dir);
});

function envFor(repo: string): Record<string, string> {
  return {
    CAIRN_REPOSITORY: repo,
    CAIRN_PASSWORD: PASSWORD,
    AWS_ACCESS_KEY_ID: rgw.accessKeyId,
    AWS_SECRET_ACCESS_KEY: rgw.secretAccessKey,
    XDG_CACHE_HOME: path.join(dir, 'cache'),
  };
}

async function ok(repo: string, args: string[]): Promise<Run> {
  const r = await cairn(args, { env: envFor(repo), timeoutMs: 300_000 });
  assert.equal(r.code, 0, `cairn ${args.join(' ')}: ${show(r)}`);
  const out = r.stdout + r.stderr;
  assert.ok(!out.includes(rgw.secretAccessKey) && !out.includes(PASSWORD), 'a secret appears in the output');
  return r;
}

describe('a repository on Ceph RGW through the CLI', () => {
  let repo: string;
  before(() => {
    repo = `s3:${rgw.endpoint}/docs/cairn`;
  });

  it('init makes the bucket; a backup of /usr/share/doc restores identically', async () => {
    const init = await ok(repo, ['init']);
    assert.match(init.stdout, /created repository [0-9a-f]{12} at s3:http:\/\/127\.0\.0\.1:\d+\/docs\/cairn/);
    const b = await ok(repo, ['backup', '--json', DOCS]);
    const sum = message(b.stdout, 'summary');
    assert.ok((sum.total_files_processed as number) > 100, b.stdout);

    const target = path.join(dir, 'restore-docs');
    await ok(repo, ['restore', 'latest', '--target', target]);
    assert.deepEqual(compareTrees(await walkTree(DOCS), await walkTree(path.join(target, DOCS))), []);
    await fs.rm(target, { recursive: true });
  });

  it('index and snapshot files are cached locally by repository id, and an incremental backup adds no file data', async () => {
    const cache = path.join(dir, 'cache', 'cairn');
    const [id] = await fs.readdir(cache);
    assert.ok(id !== undefined && /^[0-9a-f]{64}$/.test(id), String(id));
    const cachedIndex = await fs.readdir(path.join(cache, id, 'index'));
    const listed = await client.send(new ListObjectsV2Command({ Bucket: 'docs', Prefix: 'cairn/index/' }));
    assert.deepEqual(
      cachedIndex.sort(),
      (listed.Contents ?? []).map((o) => path.basename(o.Key ?? '')).sort(),
    );
    for (const name of cachedIndex) {
      const bytes: Buffer = await fs.readFile(path.join(cache, id, 'index', name));
      assert.equal(createHash('sha256').update(bytes).digest('hex'), name);
    }
    const again = await ok(repo, ['backup', '--json', DOCS]);
    const sum = message(again.stdout, 'summary');
    assert.equal(sum.data_blobs, 0, again.stdout);
    assert.equal(sum.files_new, 0, again.stdout);
    assert.equal((await fs.readdir(path.join(cache, id, 'snapshots'))).length, 2);
  });

  it('check --read-data passes; forget and prune free the first snapshot and check passes again', async () => {
    const check = await ok(repo, ['check', '--read-data']);
    assert.match(check.stdout, /no errors/);
    const snaps = JSON.parse((await ok(repo, ['snapshots', '--json'])).stdout) as { id: string }[];
    assert.equal(snaps.length, 2);
    await ok(repo, ['forget', snaps[0]!.id]);
    const prune = await ok(repo, ['prune', '--json']);
    const p = message(prune.stdout, 'prune');
    assert.equal(p.packs_retained, 0);
    assert.match((await ok(repo, ['check'])).stdout, /no errors/);
  });
});

describe('a repository with object lock on Ceph RGW', () => {
  let repo: string;
  let src: string;
  before(async () => {
    repo = `s3:${rgw.endpoint}/locked/cairn`;
    src = path.join(dir, 'source');
    await makeSourceTree(src);
  });

  it('init --object-lock makes the bucket with object lock and says so', async () => {
    const r = await ok(repo, ['init', '--object-lock', '1', '--lock-mode', 'compliance', '--json']);
    assert.deepEqual(message(r.stdout, 'initialized').object_lock, { days: 1, mode: 'compliance' });
    await ok(repo, ['backup', src]);
  });

  it('init on the existing locked bucket takes its retention', async () => {
    const r = await ok(`s3:${rgw.endpoint}/locked/second`, ['init']);
    assert.match(r.stdout, /with object lock \(compliance mode\): every file stays immutable for 1 days/);
  });

  it('a compromised client cannot delete or replace a pack, and check still passes', async () => {
    const listed = await client.send(new ListObjectsV2Command({ Bucket: 'locked', Prefix: 'cairn/data/' }));
    const Key = listed.Contents?.[0]?.Key;
    assert.ok(Key !== undefined);
    const versions = await client.send(new ListObjectVersionsCommand({ Bucket: 'locked', Prefix: Key }));
    const VersionId = versions.Versions?.[0]?.VersionId;
    await assert.rejects(client.send(new DeleteObjectCommand({ Bucket: 'locked', Key, VersionId })), {
      name: 'AccessDenied',
    });
    await assert.rejects(
      client.send(
        new DeleteObjectCommand({ Bucket: 'locked', Key, VersionId, BypassGovernanceRetention: true }),
      ),
      { name: 'AccessDenied' },
    );
    // What S3 lets through leaves the locked version in place: a new version, a delete marker.
    await client.send(new PutObjectCommand({ Bucket: 'locked', Key, Body: Buffer.from('ransom note') }));
    await client.send(new DeleteObjectCommand({ Bucket: 'locked', Key }));
    const check = await ok(repo, ['check', '--read-data']);
    assert.match(check.stdout, /no errors/);
  });

  it('prune leaves retained packs alone and says when they can go', async () => {
    const snaps = JSON.parse((await ok(repo, ['snapshots', '--json'])).stdout) as { id: string }[];
    await ok(repo, ['forget', snaps[0]!.id]);
    const r = await ok(repo, ['prune']);
    assert.match(r.stdout, /under retention \(object lock\) until \d{4}-\d\d-\d\dT/);
    const p = message((await ok(repo, ['prune', '--json', '--dry-run'])).stdout, 'prune');
    assert.ok((p.packs_retained as number) > 0, JSON.stringify(p));
    assert.equal(p.packs_deleted, 0);
    assert.match((await ok(repo, ['check'])).stdout, /no errors/);
  });
});

describe('the server with a repository on Ceph RGW', () => {
  it('creates the repository in a bucket, runs a job into it and browses it', async () => {
    // The server's S3 client takes its credentials from the environment, as the CLI's does.
    process.env.AWS_ACCESS_KEY_ID = rgw.accessKeyId;
    process.env.AWS_SECRET_ACCESS_KEY = rgw.secretAccessKey;
    process.env.XDG_CACHE_HOME = path.join(dir, 'server-cache');
    const { testServer, logon, http, waitTask } = await import('./server-api.testing.ts');
    const s = await testServer();
    try {
      const token = await logon(s.url);
      const source = path.join(dir, 'server-source');
      await makeSourceTree(source);
      const location = `s3:${rgw.endpoint}/server-bucket/cairn`;
      const repo = await http(s.url, 'POST', '/api/v1/repositories', {
        token,
        body: { name: 'rgw', location, create: true },
      });
      assert.equal(repo.status, 201, JSON.stringify(repo.body));
      const job = await http(s.url, 'POST', '/api/v1/jobs', {
        token,
        body: { name: 'to-rgw', repository: 'rgw', sources: [source] },
      });
      assert.equal(job.status, 201, JSON.stringify(job.body));
      const started = await http(s.url, 'POST', `/api/v1/jobs/${(job.body as { id: string }).id}/start`, {
        token,
      });
      const task = await waitTask(s.url, token, (started.body as { id: string }).id, 120_000);
      assert.equal(task.result, 'success', JSON.stringify(task));
      const repoId = (repo.body as { id: string }).id;
      const usage = (await http(s.url, 'GET', `/api/v1/repositories/${repoId}/usage`, { token })).body as {
        bytes: number;
        snapshots: number;
        capacityBytes: number | null;
      };
      assert.equal(usage.snapshots, 1);
      assert.ok(usage.bytes > 0);
      assert.equal(usage.capacityBytes, null);
      const snaps = (await http(s.url, 'GET', `/api/v1/repositories/${repoId}/snapshots`, { token }))
        .body as {
        data: { id: string }[];
      };
      const tree = await http(
        s.url,
        'GET',
        `/api/v1/repositories/${repoId}/snapshots/${snaps.data[0]?.id ?? ''}/tree?path=${encodeURIComponent(source)}`,
        { token },
      );
      assert.equal(tree.status, 200, JSON.stringify(tree.body));
      assert.ok((tree.body as { entries: unknown[] }).entries.length > 0);
    } finally {
      await s.close();
    }
  });
});
