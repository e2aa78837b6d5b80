// The S3 backend on a real Ceph RADOS Gateway that this file starts (rgw.testing.ts): the
// conformance suite, multipart uploads, error mapping, and object lock, including what a
// compromised client with the same credentials can and cannot do.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';

import {
  DeleteObjectCommand,
  GetObjectRetentionCommand,
  ListObjectVersionsCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';

import { backendConformance, listNames, rejectsWithCode, testName } from './conformance.testing.ts';
import { CONFIG_HANDLE, type Handle } from './index.ts';
import { RetryBackend } from './retry.ts';
import { S3Backend, parseS3Location, s3Error, type S3Options } from './s3.ts';
import { startRgw, type TestRgw } from './rgw.testing.ts';

let rgw: Promise<TestRgw> | undefined;
/** One cluster for the whole file, started by the first test that needs it. */
const cluster = (): Promise<TestRgw> => (rgw ??= startRgw({ store: 'memstore' }));
after(async () => {
  if (rgw !== undefined) await (await rgw).stop();
});

let buckets = 0;
/** A backend on a bucket of its own (not made yet). Small parts, so 20 MiB goes up in parts. */
async function backendOn(
  extra: Partial<S3Options> = {},
  bucket = `cairn-${process.pid}-${++buckets}`,
): Promise<S3Backend> {
  const r = await cluster();
  return new S3Backend({
    endpoint: r.endpoint,
    bucket,
    prefix: 'repo',
    credentials: { accessKeyId: r.accessKeyId, secretAccessKey: r.secretAccessKey },
    multipartThreshold: 8 * 1024 * 1024,
    partSize: 5 * 1024 * 1024,
    ...extra,
  });
}

/** A raw client with the same credentials: what a compromised Cairn host could do. */
async function rawClient(): Promise<S3Client> {
  const r = await cluster();
  return new S3Client({
    endpoint: r.endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: r.accessKeyId, secretAccessKey: r.secretAccessKey },
    maxAttempts: 1,
  });
}

backendConformance('RetryBackend(S3Backend) on Ceph RGW', async () => {
  const backend = await backendOn();
  return {
    backend: new RetryBackend(backend, { sleep: async () => {} }),
    cleanup: async () => {},
  };
});

describe('parseS3Location', () => {
  it("reads restic's form; no credentials in the URL", () => {
    assert.deepEqual(parseS3Location('s3:http://127.0.0.1:7480/bucket'), {
      endpoint: 'http://127.0.0.1:7480',
      bucket: 'bucket',
      prefix: '',
    });
    assert.deepEqual(parseS3Location('s3:https://s3.example.com/my-bucket/a/b/'), {
      endpoint: 'https://s3.example.com',
      bucket: 'my-bucket',
      prefix: 'a/b',
    });
    assert.deepEqual(parseS3Location('s3:s3.amazonaws.com/b-1'), {
      endpoint: 'https://s3.amazonaws.com',
      bucket: 'b-1',
      prefix: '',
    });
    assert.equal(parseS3Location('/srv/repo'), undefined);
    for (const bad of [
      's3:http://host/',
      's3:http://host/UPPER',
      's3:http://key:secret@host/bucket',
      's3://bucket/prefix',
    ]) {
      assert.throws(
        () => parseS3Location(bad),
        (err: Error) => {
          assert.equal((err as { code?: string }).code, 'USAGE');
          assert.ok(!err.message.includes('secret'), err.message);
          return true;
        },
      );
    }
  });

  it('maps S3 errors: 404 not found, 5xx/throttling/resets retryable, other 4xx refused', () => {
    const e = (name: string, status?: number) =>
      Object.assign(new Error(name), { name, ...(status ? { $metadata: { httpStatusCode: status } } : {}) });
    assert.equal(s3Error(e('NoSuchKey', 404), 'x').code, 'BACKEND_NOT_FOUND');
    assert.equal(s3Error(e('InternalError', 500), 'x').code, 'BACKEND_IO');
    assert.equal(s3Error(e('SlowDown', 503), 'x').code, 'BACKEND_IO');
    assert.equal(s3Error(e('TooManyRequests', 429), 'x').code, 'BACKEND_IO');
    assert.equal(s3Error(e('RequestTimeout', 400), 'x').code, 'BACKEND_IO');
    assert.equal(s3Error(Object.assign(new Error('reset'), { code: 'ECONNRESET' }), 'x').code, 'BACKEND_IO');
    assert.equal(s3Error(e('AccessDenied', 403), 'x').code, 'BACKEND_REFUSED');
    assert.equal(s3Error(e('InvalidArgument', 400), 'x').code, 'BACKEND_REFUSED');
  });
});

describe('S3Backend on Ceph RGW', () => {
  let b: S3Backend;
  before(async () => {
    b = await backendOn();
    await b.create();
  });
  after(() => b.close());

  it('reports dense alignment and no cloning; an absent bucket is BACKEND_NOT_FOUND', async () => {
    assert.deepEqual(b.features, { clone: false, alignment: 1 });
    assert.equal(await b.canClone(), false);
    assert.equal(b.localPath(CONFIG_HANDLE), undefined);
    assert.equal(await b.objectLock(), undefined);
    const absent = await backendOn({}, 'cairn-never-made');
    await rejectsWithCode(absent.read(CONFIG_HANDLE), 'BACKEND_NOT_FOUND');
    await rejectsWithCode(absent.exists(CONFIG_HANDLE), 'BACKEND_NOT_FOUND');
    await rejectsWithCode(listNames(absent, 'keys'), 'BACKEND_NOT_FOUND');
    await absent.close();
  });

  it('wrong credentials are BACKEND_REFUSED and the secret is in no message', async () => {
    const r = await cluster();
    const wrong = new S3Backend({
      endpoint: r.endpoint,
      bucket: b.bucket,
      prefix: 'repo',
      credentials: { accessKeyId: r.accessKeyId, secretAccessKey: 'not-the-secret-xyz' },
    });
    await assert.rejects(wrong.read(CONFIG_HANDLE), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'BACKEND_REFUSED', err.message);
      assert.ok(!err.message.includes('not-the-secret-xyz') && !err.message.includes(r.secretAccessKey));
      return true;
    });
    await wrong.close();
  });

  it('a large file goes up in parts and reads back whole and by ranges', async () => {
    const data = randomBytes(23 * 1024 * 1024 + 17);
    const h: Handle = { type: 'data', name: createHash('sha256').update(data).digest('hex') };
    await b.write(h, [data.subarray(0, 100), data.subarray(100)]);
    assert.equal((await b.stat(h)).size, data.length);
    assert.ok((await b.read(h)).equals(data));
    const at = 11 * 1024 * 1024 - 5;
    assert.ok((await b.read(h, { offset: at, length: 4096 })).equals(data.subarray(at, at + 4096)));
    // Small reads, served from windows from the second on: inside one, across two, at the end.
    const MiB = 1024 * 1024;
    for (const [offset, length] of [
      [10, 100],
      [MiB - 50, 100],
      [MiB + 7, 65536],
      [3 * MiB, 1],
      [data.length - 30, 30],
      [22 * MiB + 1000, 4000],
      [17, 1000],
    ] as const) {
      const got = await b.read(h, { offset, length });
      got.fill(0); // a caller may change what it got: the next reads must not see it
      assert.ok(
        (await b.read(h, { offset, length })).equals(data.subarray(offset, offset + length)),
        `${offset}`,
      );
    }
    await rejectsWithCode(b.read(h, { offset: data.length - 30, length: 31 }), 'BACKEND_IO');
    await rejectsWithCode(b.read(h, { offset: data.length + 5, length: 1 }), 'BACKEND_IO');
  });

  it('the server refuses a body that does not match its signed SHA-256', async () => {
    const client = await rawClient();
    const cmd = new PutObjectCommand({
      Bucket: b.bucket,
      Key: 'repo/data/00/tampered',
      Body: Buffer.from('real'),
    });
    cmd.middlewareStack.add(
      (next) => async (args) => {
        (args.request as { headers: Record<string, string> }).headers['x-amz-content-sha256'] =
          testName('other');
        return next(args);
      },
      { step: 'build', name: 'wrongHash' },
    );
    await assert.rejects(client.send(cmd), (err: Error) => {
      assert.equal(s3Error(err, 'put').code, 'BACKEND_IO', `${err.name}: ${err.message}`);
      return true;
    });
    client.destroy();
    assert.equal(await b.exists({ type: 'data', name: `00${testName('x').slice(2)}` }), false);
  });
});

describe('S3Backend with object lock on Ceph RGW', () => {
  let b: S3Backend;
  let client: S3Client;
  before(async () => {
    b = await backendOn({ objectLock: { days: 1, mode: 'compliance' } });
    await b.create();
    client = await rawClient();
  });
  after(async () => {
    await b.close();
    client.destroy();
  });

  it('makes the bucket with object lock and its default retention; every write carries a date', async () => {
    assert.deepEqual(await b.objectLock(), { days: 1, mode: 'compliance' });
    const h: Handle = { type: 'data', name: testName('locked-pack') };
    await b.write(h, [Buffer.from('pack bytes')]);
    const r = await client.send(
      new GetObjectRetentionCommand({ Bucket: b.bucket, Key: `repo/data/${h.name.slice(0, 2)}/${h.name}` }),
    );
    assert.equal(r.Retention?.Mode, 'COMPLIANCE');
    const until = r.Retention?.RetainUntilDate?.getTime() ?? 0;
    assert.ok(Math.abs(until - (Date.now() + 86_400_000)) < 120_000, String(r.Retention?.RetainUntilDate));
    const reported = await b.retainedUntil(h);
    assert.ok(reported !== undefined && Math.abs(reported.getTime() - until) < 1000);
  });

  it('a reopened backend reads the setting from the bucket; init asking for another one is refused', async () => {
    const again = await backendOn({}, b.bucket);
    assert.deepEqual(await again.objectLock(), { days: 1, mode: 'compliance' });
    await again.close();
    const other = await backendOn({ objectLock: { days: 7, mode: 'governance' } }, b.bucket);
    await rejectsWithCode(other.create(), 'USAGE');
    await other.close();
  });

  it('object lock on an existing bucket without it is OBJECT_LOCK_UNSUPPORTED', async () => {
    const plain = await backendOn();
    await plain.create();
    const locked = await backendOn({ objectLock: { days: 1, mode: 'governance' } }, plain.bucket);
    await rejectsWithCode(locked.create(), 'OBJECT_LOCK_UNSUPPORTED');
    await plain.close();
    await locked.close();
  });

  it('removing a retained pack is OBJECT_LOCKED; locks and snapshots can still be removed', async () => {
    const pack: Handle = { type: 'data', name: testName('keep-me') };
    await b.write(pack, [Buffer.from('keep')]);
    await rejectsWithCode(b.remove(pack), 'OBJECT_LOCKED');
    assert.deepEqual(await b.read(pack), Buffer.from('keep'));

    const lock: Handle = { type: 'locks', name: testName('lock') };
    await b.write(lock, [Buffer.from('lock')]);
    await b.remove(lock);
    assert.equal(await b.exists(lock), false);
    await rejectsWithCode(b.remove(lock), 'BACKEND_NOT_FOUND');

    const snap: Handle = { type: 'snapshots', name: testName('snap') };
    await b.write(snap, [Buffer.from('snap')]);
    await b.remove(snap);
    assert.equal(await b.exists(snap), false);
    assert.ok(!(await listNames(b, 'snapshots')).includes(snap.name));
  });

  it('a compromised client cannot delete or replace a pack: the server refuses, Cairn reads the original', async () => {
    const bytes = randomBytes(5000);
    const pack: Handle = { type: 'data', name: createHash('sha256').update(bytes).digest('hex') };
    await b.write(pack, [bytes]);
    const Key = `repo/data/${pack.name.slice(0, 2)}/${pack.name}`;
    const versions = await client.send(new ListObjectVersionsCommand({ Bucket: b.bucket, Prefix: Key }));
    const VersionId = versions.Versions?.[0]?.VersionId;
    assert.ok(VersionId);
    // Deleting the data itself is refused, also when asking to bypass the retention.
    await assert.rejects(client.send(new DeleteObjectCommand({ Bucket: b.bucket, Key, VersionId })), {
      name: 'AccessDenied',
    });
    await assert.rejects(
      client.send(
        new DeleteObjectCommand({ Bucket: b.bucket, Key, VersionId, BypassGovernanceRetention: true }),
      ),
      { name: 'AccessDenied' },
    );
    // Overwriting only adds a version, and deleting without a version only adds a marker.
    await client.send(new PutObjectCommand({ Bucket: b.bucket, Key, Body: Buffer.from('garbage') }));
    await client.send(new DeleteObjectCommand({ Bucket: b.bucket, Key }));
    const fresh = await backendOn({}, b.bucket);
    assert.ok((await listNames(fresh, 'data')).includes(pack.name));
    assert.ok((await fresh.read(pack)).equals(bytes));
    assert.ok((await fresh.read(pack, { offset: 1000, length: 10 })).equals(bytes.subarray(1000, 1010)));
    assert.equal((await fresh.stat(pack)).size, bytes.length);
    await fresh.close();
  });
});

describe('S3Backend against a scripted server', () => {
  /** A server answering each request with the next scripted reply (or resetting the connection). */
  async function scripted(
    replies: ((req: http.IncomingMessage, res: http.ServerResponse) => void)[],
  ): Promise<{ endpoint: string; seen: string[]; close: () => Promise<void> }> {
    const seen: string[] = [];
    const server = http.createServer((req, res) => {
      seen.push(`${req.method} ${req.url}`);
      req.resume();
      req.on('end', () => {
        const reply = replies.shift();
        if (reply === undefined) res.writeHead(500).end();
        else reply(req, res);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    return {
      endpoint: `http://127.0.0.1:${port}`,
      seen,
      close: () => new Promise((resolve) => server.close(() => resolve())),
    };
  }
  const error = (status: number, code: string) => (_req: http.IncomingMessage, res: http.ServerResponse) =>
    res
      .writeHead(status, { 'content-type': 'application/xml' })
      .end(`<?xml version="1.0"?><Error><Code>${code}</Code><Message>${code}</Message></Error>`);
  const noLock = error(404, 'ObjectLockConfigurationNotFoundError');
  const reset = (req: http.IncomingMessage) => req.socket.destroy();
  const body = (text: string) => (_req: http.IncomingMessage, res: http.ServerResponse) =>
    res.writeHead(200, { 'content-length': String(text.length) }).end(text);
  const backend = (endpoint: string, objectLock?: S3Options['objectLock']) =>
    new RetryBackend(
      new S3Backend({
        endpoint,
        bucket: 'bucket',
        prefix: '',
        credentials: { accessKeyId: 'AK', secretAccessKey: 'SK' },
        ...(objectLock ? { objectLock } : {}),
      }),
      { sleep: async () => {} },
    );

  it('retries 5xx, throttling and connection resets; never a 4xx', async () => {
    const s = await scripted([
      noLock,
      error(503, 'SlowDown'),
      error(500, 'InternalError'),
      reset,
      body('config!'),
    ]);
    const b = backend(s.endpoint);
    assert.deepEqual(await b.read(CONFIG_HANDLE), Buffer.from('config!'));
    assert.equal(s.seen.filter((r) => r.startsWith('GET /bucket/config')).length, 4);
    await b.close();
    await s.close();

    const denied = await scripted([noLock, error(403, 'AccessDenied')]);
    const d = backend(denied.endpoint);
    await rejectsWithCode(d.read(CONFIG_HANDLE), 'BACKEND_REFUSED');
    assert.equal(denied.seen.length, 2, denied.seen.join('\n'));
    await d.close();
    await denied.close();
  });

  it('object lock on a server without it is OBJECT_LOCK_UNSUPPORTED', async () => {
    const s = await scripted([error(404, 'NoSuchBucket'), error(501, 'NotImplemented')]);
    const b = backend(s.endpoint, { days: 7, mode: 'governance' });
    await assert.rejects(b.create(), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'OBJECT_LOCK_UNSUPPORTED', err.message);
      assert.match(err.message, /cannot make a bucket with object lock/);
      return true;
    });
    await b.close();
    await s.close();
  });
});
