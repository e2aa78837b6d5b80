/**
 * A tenant's quota on a repository in a real S3 bucket (a Ceph RADOS Gateway started by the
 * test): the server measures the repository by listing the bucket, the backup past the quota
 * fails with QUOTA_EXCEEDED before its restore point, the usage it reports is what the bucket
 * holds, and `cairn check` (the real CLI) finds the repository whole. Needs `npm run build` and
 * the Ceph packages (scripts/setup.sh).
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { startRgw, type TestRgw } from '../../src/backend/rgw.testing.ts';
import { seededBytes } from '../../src/repo/fixtures.testing.ts';
import { cairn, cleanEnv, jsonLines, show } from './cli.testing.ts';
import { ADMIN, http, link, testServer, waitTask, type TestServer } from './server-api.testing.ts';

const MB = 1_000_000;

describe('a tenant quota on an S3 repository', () => {
  let rgw: TestRgw;
  let s: TestServer;
  let client: S3Client;
  const saved: Record<string, string | undefined> = {};
  let env: Record<string, string>;

  before(async () => {
    rgw = await startRgw({ store: 'memstore' });
    s = await testServer();
    env = {
      AWS_ACCESS_KEY_ID: rgw.accessKeyId,
      AWS_SECRET_ACCESS_KEY: rgw.secretAccessKey,
      XDG_CACHE_HOME: path.join(s.dir, 'cache'),
    };
    // The server in this process reaches the bucket with the credentials of its environment.
    for (const [k, v] of Object.entries(env)) {
      saved[k] = process.env[k];
      process.env[k] = v;
    }
    client = new S3Client({
      endpoint: rgw.endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: rgw.accessKeyId, secretAccessKey: rgw.secretAccessKey },
    });
  });
  after(async () => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    client?.destroy();
    await s?.close();
    await rgw?.stop();
  });

  it('measures the bucket and stops the backup at the quota', async () => {
    const location = `s3:${rgw.endpoint}/quota/acme`;
    const passwordFile = path.join(s.dir, 'repo.password');
    writeFileSync(passwordFile, 'an s3 password\n', { mode: 0o600 });
    const base = ['--repo', location, '--password-file', passwordFile];
    const init = await cairn(
      [
        ...base,
        'init',
        '--pack-size',
        '512KiB',
        '--chunker-min',
        '128KiB',
        '--chunker-avg',
        '256KiB',
        '--chunker-max',
        '512KiB',
      ],
      { env: cleanEnv(env) },
    );
    assert.equal(init.code, 0, show(init));
    const src = path.join(s.dir, 'src');
    mkdirSync(src);
    for (let i = 0; i < 4; i++) writeFileSync(path.join(src, `f${i}`), seededBytes(`s3 quota ${i}`, 3 * MB));

    await s.server.catalog.createTenant({ name: 'cloud', quotaBytes: 5 * MB });
    const logon = await fetch(`${s.url}/api/v1/sessions?tenant=cloud`, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`${ADMIN.user}:${ADMIN.password}`).toString('base64')}`,
      },
    });
    assert.equal(logon.status, 201);
    const token = logon.headers.get('x-cairn-session') ?? '';
    const repo = await http(s.url, 'POST', '/api/v1/repositories', {
      token,
      body: { name: 'bucket', location, passwordFile },
    });
    assert.equal(repo.status, 201, JSON.stringify(repo.body));
    const job = await http(s.url, 'POST', '/api/v1/jobs', {
      token,
      body: { name: 'files', repository: 'bucket', sources: [src] },
    });
    assert.equal(job.status, 201, JSON.stringify(job.body));
    const started = await http(s.url, 'POST', `/api/v1/jobs/${(job.body as { id: string }).id}/start`, {
      token,
    });
    const task = await waitTask(s.url, token, (started.body as { id: string }).id, 120_000);
    const run = (await http(s.url, 'GET', link(task, 'run').href, { token })).body as {
      state: string;
      errorCode: string | null;
      message: string;
    };
    assert.equal(run.state, 'failed', JSON.stringify(run));
    assert.equal(run.errorCode, 'QUOTA_EXCEEDED', run.message);
    assert.match(run.message, /tenant cloud has a quota of 4\.77 MiB/);

    // What the bucket holds under the repository's prefix, lock objects left out.
    let inBucket = 0;
    let snapshots = 0;
    let token2: string | undefined;
    do {
      const page = await client.send(
        new ListObjectsV2Command({ Bucket: 'quota', Prefix: 'acme/', ContinuationToken: token2 }),
      );
      for (const o of page.Contents ?? []) {
        if (o.Key?.startsWith('acme/locks/')) continue;
        if (o.Key?.startsWith('acme/snapshots/')) snapshots++;
        inBucket += o.Size ?? 0;
      }
      token2 = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token2);
    assert.equal(snapshots, 0);
    const usage = (await http(s.url, 'GET', '/api/v1/usage', { token })).body as {
      usageBytes: number;
      repositories: { storedBytes: number }[];
    };
    assert.equal(usage.usageBytes, inBucket);
    assert.equal(usage.repositories[0]?.storedBytes, inBucket);
    assert.ok(inBucket <= 5 * MB && inBucket > 5 * MB - 1.2 * 1024 * 1024, `${inBucket} bytes in the bucket`);

    const check = await cairn([...base, '--json', 'check'], { env: cleanEnv(env) });
    assert.equal(check.code, 0, show(check));
    const summary = jsonLines(check.stdout).find((l) => l.message_type === 'summary');
    assert.deepEqual([summary?.ok, summary?.errors], [true, []]);
  });
});
