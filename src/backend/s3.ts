/**
 * A backend in an S3 bucket (AWS S3, Ceph's RADOS Gateway, MinIO, …), through the AWS SDK.
 *
 * Layout under the prefix: `config`, `data/<first two characters of name>/<name>`, and
 * `<type>/<name>` for keys, index, snapshots and locks (the local backend's layout, and restic's).
 * Path-style addressing. A PUT is atomic and durable once S3 answers, so no temp objects: objects
 * are written once under their final name. Large files go up as multipart uploads, parts in
 * parallel; reads of a range are ranged GETs.
 *
 * Integrity: every PUT and part carries the SHA-256 of its bytes in the signed
 * `x-amz-content-sha256` header, which the server checks against what it received (and a pack's
 * name is that same hash). ETags are never relied on: Ceph 16 answers CompleteMultipartUpload with
 * an empty one; the size of a finished multipart upload is confirmed with a HEAD instead.
 *
 * Errors: 404 is BACKEND_NOT_FOUND; 5xx, throttling (429, SlowDown), timeouts, connection resets
 * and a body that does not match its hash are BACKEND_IO, which RetryBackend retries; every other
 * 4xx (access denied, bad credentials, invalid requests) is BACKEND_REFUSED, never retried. The
 * SDK itself makes one attempt. Credentials come from the SDK's default chain (AWS_ACCESS_KEY_ID,
 * AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_PROFILE and the shared files, …) and never appear
 * in a message.
 *
 * Object lock: a bucket made with object lock (create() with `objectLock`, or one an administrator
 * made) has a default retention rule, which is the repository's setting: every write carries a
 * retention date (now + the rule's days, in its mode). The bucket is then versioned, and this
 * backend reads it so that no other client can take a file away while it is retained: a
 * file's content is its *first* version (files are content-addressed and written once, so a later
 * version is either the same bytes again or tampering), and packs, index files and the config are
 * listed while any version of them exists, delete markers notwithstanding. Cairn's own `remove`
 * deletes every version of such a file, which the server refuses while one is retained
 * (OBJECT_LOCKED); `retainedUntil` tells prune beforehand. Snapshots, key slots and locks, which
 * commands remove at will, are listed as S3 lists them: removing one that is still retained hides
 * it behind a delete marker, and its versions stay until the retention ends.
 *
 * compose() reads the ranges (through the source backend) and uploads the result: S3 has no
 * block sharing, and server-side copies of ranges (UploadPartCopy) need parts of 5 MiB or more,
 * while the ranges of a pack are single blobs.
 */

import { createHash } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';

import { createRequire } from 'node:module';
import type * as AwsS3 from '@aws-sdk/client-s3';
import type {
  S3Client,
  BucketLocationConstraint,
  ObjectLockRetentionMode,
  S3ClientConfig,
} from '@aws-sdk/client-s3';

type Sdk = typeof AwsS3;
let loaded: Sdk | undefined;
/**
 * The AWS SDK, loaded when the first S3 backend is made: it takes a third of a second and tens of
 * MiB, which a command on a local repository should not pay.
 */
function sdk(): Sdk {
  loaded ??= createRequire(import.meta.url)('@aws-sdk/client-s3') as Sdk;
  return loaded;
}

import { CairnError, reason } from '../errors.ts';
import type {
  Backend,
  BackendFeatures,
  ComposeResult,
  FileInfo,
  FileType,
  Handle,
  Segment,
} from './types.ts';
import {
  CONFIG_HANDLE,
  FILE_TYPES,
  TEMP_PREFIX,
  checkFileType,
  checkHandle,
  checkRange,
  checkSegments,
  describeHandle,
} from './handle.ts';

export type LockMode = 'governance' | 'compliance';

/** A bucket's default retention: how long each file stays immutable after it is written. */
export interface ObjectLockSetting {
  readonly days: number;
  readonly mode: LockMode;
}

/** Where an S3 repository is: parsed from `s3:http(s)://HOST[:PORT]/BUCKET[/PREFIX]`. */
export interface S3Location {
  /** `http(s)://HOST[:PORT]` */
  readonly endpoint: string;
  readonly bucket: string;
  /** Key prefix without leading or trailing slash; '' for the bucket's root. */
  readonly prefix: string;
}

export interface S3Options extends S3Location {
  /** Default: AWS_DEFAULT_REGION, AWS_REGION, or us-east-1. */
  readonly region?: string;
  /** Default: the SDK's chain (environment, profile, …). */
  readonly credentials?: S3ClientConfig['credentials'];
  /** For create(): make the bucket with object lock and this default retention. */
  readonly objectLock?: ObjectLockSetting;
  /** Files this large or larger go up as multipart uploads. Default 64 MiB; at least 5 MiB. */
  readonly multipartThreshold?: number;
  /** Size of a multipart upload's parts. Default 16 MiB; at least 5 MiB. */
  readonly partSize?: number;
  /** Requests in flight at once (the connection pool's size too). Default 16. */
  readonly concurrency?: number;
  /** Parts of one upload in flight at once. Default 4. */
  readonly partConcurrency?: number;
}

const MiB = 1024 * 1024;
/** S3's smallest part but the last. */
const MIN_PART = 5 * MiB;
/** Objects per page of ListObjectsV2 / ListObjectVersions, and per batch of HEADs. */
const PAGE = 1000;
/** Types whose files are listed while any version exists, and are removed only whole (all versions). */
const SEE_THROUGH: ReadonlySet<FileType> = new Set(['data', 'index', 'config']);
/** Types whose files are named by their content's hash or written once: read as their first version. */
const FIRST_VERSION: ReadonlySet<FileType> = new Set(['data', 'index', 'snapshots', 'config']);

/**
 * Parses `s3:http(s)://HOST[:PORT]/BUCKET[/PREFIX]` (or `s3:HOST/BUCKET[/PREFIX]`, which means
 * https); undefined when `location` does not start with `s3:`.
 */
export function parseS3Location(location: string): S3Location | undefined {
  if (!/^s3:/i.test(location)) return undefined;
  let rest = location.slice(3);
  if (rest.startsWith('//')) {
    // The AWS CLI's s3://BUCKET names no endpoint.
    throw new CairnError(
      'USAGE',
      `Cannot use repository ${location}: S3 repositories are named s3:http(s)://HOST[:PORT]/BUCKET[/PREFIX] (the endpoint is part of the name)`,
    );
  }
  if (!/^https?:\/\//i.test(rest)) rest = `https://${rest}`;
  let url: URL;
  try {
    url = new URL(rest);
  } catch {
    throw new CairnError(
      'USAGE',
      `Cannot use repository ${location}: expected s3:http(s)://HOST[:PORT]/BUCKET[/PREFIX]`,
    );
  }
  if (url.username !== '' || url.password !== '') {
    throw new CairnError(
      'USAGE',
      'Cannot use an S3 repository URL with credentials in it: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE) instead',
    );
  }
  if (url.search !== '' || url.hash !== '') {
    throw new CairnError('USAGE', `Cannot use repository ${location}: no query or fragment is allowed`);
  }
  const parts = decodeURIComponent(url.pathname)
    .split('/')
    .filter((p) => p !== '');
  const bucket = parts.shift();
  if (bucket === undefined || !/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) {
    throw new CairnError(
      'USAGE',
      `Cannot use repository ${location}: ${bucket === undefined ? 'no bucket given' : `"${bucket}" is not a valid bucket name`} (expected s3:http(s)://HOST[:PORT]/BUCKET[/PREFIX])`,
    );
  }
  return { endpoint: `${url.protocol}//${url.host}`, bucket, prefix: parts.join('/') };
}

/** The location as a user writes it: no credentials are ever part of it. */
export function formatS3Location(l: S3Location): string {
  return `s3:${l.endpoint}/${l.bucket}${l.prefix === '' ? '' : `/${l.prefix}`}`;
}

interface SdkError {
  name?: string;
  code?: string;
  Code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
  $retryable?: unknown;
}

function statusOf(err: unknown): number | undefined {
  return (err as SdkError | undefined)?.$metadata?.httpStatusCode;
}

function nameOf(err: unknown): string {
  const e = err as SdkError | undefined;
  return e?.Code ?? e?.name ?? e?.code ?? 'Error';
}

/** Codes S3 sends with a 4xx status that still mean "try again". */
const TRANSIENT_4XX = new Set([
  'RequestTimeout',
  'RequestTimeTooSkewed',
  'SlowDown',
  'Throttling',
  'ThrottlingException',
  'TooManyRequests',
  'RequestLimitExceeded',
  'XAmzContentSHA256Mismatch',
  'BadDigest',
  'IncompleteBody',
]);

/** Wraps an S3 or network error as `<context>: <detail>` with the code the backend contract asks for. */
export function s3Error(err: unknown, context: string): CairnError {
  if (err instanceof CairnError) return err;
  const status = statusOf(err);
  const name = nameOf(err);
  const detail = `${name}${status !== undefined ? ` (HTTP ${status})` : ''}: ${reason(err)}`;
  if (name === 'NoSuchBucket') {
    return new CairnError('BACKEND_NOT_FOUND', `${context}: the bucket does not exist`, { cause: err });
  }
  if (status === 404 || name === 'NoSuchKey' || name === 'NotFound' || name === 'NoSuchVersion') {
    return new CairnError('BACKEND_NOT_FOUND', `${context}: no such file`, { cause: err });
  }
  if (status === 416 || name === 'InvalidRange') {
    return new CairnError('BACKEND_IO', `${context}: short read (the range reaches past the end)`, {
      cause: err,
    });
  }
  if (status === undefined || status >= 500 || status === 429 || TRANSIENT_4XX.has(name)) {
    return new CairnError('BACKEND_IO', `${context}: ${detail}`, { cause: err });
  }
  return new CairnError('BACKEND_REFUSED', `${context}: ${detail}`, { cause: err });
}

/** A counting semaphore: at most `max` holders at once. */
class Gate {
  #free: number;
  readonly #waiting: (() => void)[] = [];
  constructor(max: number) {
    this.#free = max;
  }
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#free > 0) this.#free--;
    else await new Promise<void>((resolve) => this.#waiting.push(resolve));
    try {
      return await fn();
    } finally {
      const next = this.#waiting.shift();
      if (next) next();
      else this.#free++;
    }
  }
}

/** Reads of a pack this small may be served from a window around them. */
const SMALL_READ = 64 * 1024;
/** The size (and alignment) of such a window. */
const WINDOW = 1024 * 1024;
/** Windows kept (least recently used dropped first): 32 MiB. */
const WINDOWS = 32;
/** Packs remembered as read once (a second small read of one fetches a window). */
const SEEN = 1024;

/**
 * The windows of packs that small ranged reads are served from. A pack's first small read goes
 * straight to S3 (check reads one trailer per pack: a window would multiply its bytes); from the
 * second one on a window is fetched. Packs never change once written; a write or remove of one
 * drops its windows all the same.
 */
class Windows {
  readonly #windows = new Map<string, Promise<Buffer>>();
  readonly #seen = new Map<string, true>();

  /** Whether a small read of `key` should use a window (it was read before). Records this read. */
  wanted(key: string): boolean {
    if (this.#seen.has(key)) return true;
    this.#seen.set(key, true);
    if (this.#seen.size > SEEN) this.#seen.delete(this.#seen.keys().next().value!);
    return false;
  }

  async get(id: string, fetch: () => Promise<Buffer>): Promise<Buffer> {
    let p = this.#windows.get(id);
    if (p !== undefined) this.#windows.delete(id);
    else {
      p = fetch();
      p.catch(() => this.#windows.get(id) === p && this.#windows.delete(id));
    }
    this.#windows.set(id, p);
    if (this.#windows.size > WINDOWS) this.#windows.delete(this.#windows.keys().next().value!);
    return p;
  }

  drop(key: string): void {
    this.#seen.delete(key);
    for (const id of this.#windows.keys()) if (id.startsWith(`${key}@`)) this.#windows.delete(id);
  }
}

/** One object's versions, oldest first, and whether a delete marker is its latest entry. */
interface Versions {
  readonly versions: { id: string; size: number }[];
  hidden: boolean;
}

export class S3Backend implements Backend {
  readonly location: string;
  readonly features: BackendFeatures = Object.freeze({ clone: false, alignment: 1 });
  readonly bucket: string;
  readonly prefix: string;
  readonly #client: S3Client;
  readonly #agent: http.Agent;
  readonly #options: S3Options;
  readonly #region: string;
  readonly #gate: Gate;
  readonly #threshold: number;
  readonly #partSize: number;
  readonly #partConcurrency: number;
  /** The bucket's object lock: undefined if it has none. Read once. */
  #lock: Promise<{ enabled: boolean; setting: ObjectLockSetting | undefined }> | undefined;
  /** Windows of packs that small reads are served from. */
  readonly #windows = new Windows();
  /** On a locked bucket: the first version of each file seen (listed or read), by key. */
  readonly #firstVersion = new Map<string, { id: string; size: number }>();

  constructor(options: S3Options) {
    this.#options = options;
    this.#region =
      options.region ?? (process.env.AWS_DEFAULT_REGION || process.env.AWS_REGION || 'us-east-1');
    this.bucket = options.bucket;
    this.prefix = options.prefix.replace(/^\/+|\/+$/g, '');
    this.location = formatS3Location({
      endpoint: options.endpoint,
      bucket: this.bucket,
      prefix: this.prefix,
    });
    const concurrency = options.concurrency ?? 16;
    this.#gate = new Gate(concurrency);
    this.#threshold = Math.max(MIN_PART, options.multipartThreshold ?? 64 * MiB);
    this.#partSize = Math.max(MIN_PART, options.partSize ?? 16 * MiB);
    this.#partConcurrency = options.partConcurrency ?? 4;
    const https_ = options.endpoint.startsWith('https:');
    this.#agent = https_
      ? new https.Agent({ keepAlive: true, maxSockets: concurrency })
      : new http.Agent({ keepAlive: true, maxSockets: concurrency });
    this.#client = new (sdk().S3Client)({
      endpoint: options.endpoint,
      region: this.#region,
      forcePathStyle: true,
      ...(options.credentials !== undefined ? { credentials: options.credentials } : {}),
      // RetryBackend retries, with the contract's notion of what is transient.
      maxAttempts: 1,
      // Integrity is the signed SHA-256 of every body; no CRC32 on top (Ceph 16 predates them).
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      requestHandler: https_
        ? { httpsAgent: this.#agent as https.Agent, requestTimeout: 300_000, connectionTimeout: 10_000 }
        : { httpAgent: this.#agent, requestTimeout: 300_000, connectionTimeout: 10_000 },
    });
  }

  // ---- object lock --------------------------------------------------------------------------

  /** The bucket's object lock and default retention, read once; undefined without object lock. */
  async objectLock(): Promise<ObjectLockSetting | undefined> {
    const lock = await this.#lockState();
    return lock.setting;
  }

  #lockState(): Promise<{ enabled: boolean; setting: ObjectLockSetting | undefined }> {
    return (this.#lock ??= (async () => {
      try {
        const r = await this.#send(() =>
          this.#client.send(new (sdk().GetObjectLockConfigurationCommand)({ Bucket: this.bucket })),
        );
        const c = r.ObjectLockConfiguration;
        const enabled = c?.ObjectLockEnabled === 'Enabled';
        const d = c?.Rule?.DefaultRetention;
        const days = d?.Days ?? (d?.Years !== undefined ? d.Years * 365 : undefined);
        const setting =
          enabled && days !== undefined && d?.Mode !== undefined
            ? { days, mode: d.Mode.toLowerCase() as LockMode }
            : undefined;
        return { enabled, setting };
      } catch (err) {
        const name = nameOf(err);
        // No configuration, or a server without object lock: an ordinary bucket.
        if (
          name === 'ObjectLockConfigurationNotFoundError' ||
          name === 'ObjectLockConfigurationNotFound' ||
          name === 'NotImplemented' ||
          (statusOf(err) === 404 && name !== 'NoSuchBucket')
        ) {
          return { enabled: false, setting: undefined };
        }
        this.#lock = undefined;
        throw s3Error(err, `Cannot read the object lock setting of ${this.location}`);
      }
    })());
  }

  /** Whether files are read and listed version-aware (the bucket has object lock). */
  async #versioned(): Promise<boolean> {
    return (await this.#lockState()).enabled;
  }

  /** Objects are written whole (one PUT, or a completed multipart upload): there are no temp files. */
  removeStaleTempFiles(_olderThanMs: number): Promise<number> {
    return Promise.resolve(0);
  }

  async retainedUntil(h: Handle): Promise<Date | undefined> {
    checkHandle(h, 'look up the retention of', this.location);
    if (!(await this.#versioned())) return undefined;
    const context = `Cannot look up the retention of ${describeHandle(h)} in ${this.location}`;
    const v = await this.#versions(h, context);
    let until: Date | undefined;
    for (const { id } of v?.versions ?? []) {
      const head = await this.#send(
        () =>
          this.#client.send(
            new (sdk().HeadObjectCommand)({ Bucket: this.bucket, Key: this.#key(h), VersionId: id }),
          ),
        context,
      );
      const date = head.ObjectLockRetainUntilDate;
      if (date !== undefined && date.getTime() > Date.now() && (until === undefined || date > until))
        until = date;
    }
    return until;
  }

  // ---- the contract -------------------------------------------------------------------------

  async create(): Promise<void> {
    const context = `Cannot create a repository in ${this.location}`;
    const want = this.#options.objectLock;
    let exists = true;
    try {
      await this.#send(() => this.#client.send(new (sdk().HeadBucketCommand)({ Bucket: this.bucket })));
    } catch (err) {
      if (statusOf(err) !== 404) throw s3Error(err, context);
      exists = false;
    }
    if (!exists) {
      try {
        await this.#send(() =>
          this.#client.send(
            new (sdk().CreateBucketCommand)({
              Bucket: this.bucket,
              ...(want !== undefined ? { ObjectLockEnabledForBucket: true } : {}),
              // AWS wants the region named unless it is us-east-1, its default.
              ...(this.#region !== 'us-east-1'
                ? {
                    CreateBucketConfiguration: {
                      LocationConstraint: this.#region as BucketLocationConstraint,
                    },
                  }
                : {}),
            }),
          ),
        );
      } catch (err) {
        const name = nameOf(err);
        if (
          want !== undefined &&
          (name === 'NotImplemented' || name === 'InvalidRequest' || name === 'InvalidArgument')
        ) {
          throw new CairnError(
            'OBJECT_LOCK_UNSUPPORTED',
            `${context}: the server cannot make a bucket with object lock (${name}: ${reason(err)})`,
            { cause: err },
          );
        }
        // Made by someone else meanwhile: go on as with an existing bucket.
        if (name !== 'BucketAlreadyOwnedByYou') throw s3Error(err, `${context}: cannot make the bucket`);
      }
      this.#lock = undefined;
    }
    if (want !== undefined) await this.#ensureLock(want, context, !exists);
    else {
      const state = await this.#lockState();
      if (state.enabled && state.setting === undefined) {
        throw new CairnError(
          'USAGE',
          `${context}: the bucket has object lock but no default retention; give --object-lock DAYS`,
        );
      }
    }
    // Like a local directory: absent, empty or an unfinished layout is fine.
    const base = this.prefix === '' ? '' : `${this.prefix}/`;
    const layout = new Set<string>(FILE_TYPES);
    let token: string | undefined;
    do {
      const page = await this.#send(
        () =>
          this.#client.send(
            new (sdk().ListObjectsV2Command)({
              Bucket: this.bucket,
              Prefix: base,
              ContinuationToken: token,
              MaxKeys: PAGE,
            }),
          ),
        context,
      );
      for (const o of page.Contents ?? []) {
        const rel = (o.Key ?? '').slice(base.length);
        if (rel === 'config') {
          throw new CairnError('REPO_EXISTS', `${context}: a repository already exists there`);
        }
        if (!layout.has(rel.split('/')[0] ?? '')) {
          throw new CairnError(
            'REPO_NOT_CAIRN',
            `${context}: the bucket${base === '' ? '' : ' prefix'} is not empty and holds no repository (found ${JSON.stringify(rel)})`,
          );
        }
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
    if (await this.#versioned()) {
      // A config hidden by a delete marker still counts.
      if ((await this.#versions(CONFIG_HANDLE, context))?.versions.length) {
        throw new CairnError('REPO_EXISTS', `${context}: a repository already exists there`);
      }
    }
  }

  /** Gives an object-lock bucket the wanted default retention, or says why it cannot. */
  async #ensureLock(want: ObjectLockSetting, context: string, created: boolean): Promise<void> {
    if (!Number.isSafeInteger(want.days) || want.days < 1) {
      throw new CairnError('USAGE', `${context}: object lock needs a whole number of days, at least 1`);
    }
    const state = await this.#lockState();
    if (!state.enabled) {
      throw new CairnError(
        'OBJECT_LOCK_UNSUPPORTED',
        created
          ? `${context}: the server made the bucket without object lock: it does not support object lock`
          : `${context}: the bucket exists without object lock, which S3 enables only when a bucket is made; use a new bucket (cairn init makes it) or have it made with object lock`,
      );
    }
    if (state.setting !== undefined) {
      if (state.setting.days !== want.days || state.setting.mode !== want.mode) {
        throw new CairnError(
          'USAGE',
          `${context}: the bucket already retains files ${state.setting.days} days in ${state.setting.mode} mode; init without --object-lock uses that, or ask the bucket's owner to change it`,
        );
      }
      return;
    }
    try {
      await this.#send(() =>
        this.#client.send(
          new (sdk().PutObjectLockConfigurationCommand)({
            Bucket: this.bucket,
            ObjectLockConfiguration: {
              ObjectLockEnabled: 'Enabled',
              Rule: {
                DefaultRetention: {
                  Mode: want.mode.toUpperCase() as ObjectLockRetentionMode,
                  Days: want.days,
                },
              },
            },
          }),
        ),
      );
    } catch (err) {
      const name = nameOf(err);
      if (name === 'NotImplemented') {
        throw new CairnError(
          'OBJECT_LOCK_UNSUPPORTED',
          `${context}: the server does not implement object lock`,
          {
            cause: err,
          },
        );
      }
      throw s3Error(err, `${context}: cannot set the bucket's default retention`);
    }
    this.#lock = Promise.resolve({ enabled: true, setting: want });
  }

  async exists(h: Handle): Promise<boolean> {
    checkHandle(h, 'look up', this.location);
    const context = `Cannot look up ${describeHandle(h)} in ${this.location}`;
    if (await this.#versioned()) return (await this.#visible(h, context)) !== undefined;
    try {
      await this.#send(() =>
        this.#client.send(new (sdk().HeadObjectCommand)({ Bucket: this.bucket, Key: this.#key(h) })),
      );
      return true;
    } catch (err) {
      if (statusOf(err) !== 404) throw s3Error(err, context);
      await this.#checkBucket(context);
      return false;
    }
  }

  async *list(type: FileType): AsyncGenerator<FileInfo> {
    checkFileType(type, `list ${type}`, this.location);
    const context = `Cannot list ${type} in ${this.location}`;
    if (type === 'config') {
      if (await this.exists(CONFIG_HANDLE)) yield await this.stat(CONFIG_HANDLE);
      return;
    }
    const dir = `${this.prefix === '' ? '' : `${this.prefix}/`}${type}/`;
    if (await this.#versioned()) {
      for await (const [key, v] of this.#listVersions(dir, context)) {
        const info = this.#visibleInfo(type, key, v);
        if (info !== undefined) yield info;
      }
      return;
    }
    let token: string | undefined;
    do {
      const page = await this.#send(
        () =>
          this.#client.send(
            new (sdk().ListObjectsV2Command)({
              Bucket: this.bucket,
              Prefix: dir,
              ContinuationToken: token,
              MaxKeys: PAGE,
            }),
          ),
        context,
      );
      for (const o of page.Contents ?? []) {
        const name = nameFromKey(o.Key ?? '');
        if (name !== undefined && !name.startsWith(TEMP_PREFIX)) yield { name, size: o.Size ?? 0 };
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
  }

  async stat(h: Handle): Promise<FileInfo> {
    checkHandle(h, 'stat', this.location);
    const context = `Cannot stat ${describeHandle(h)} in ${this.location}`;
    if (await this.#versioned()) {
      const v = await this.#visible(h, context);
      if (v === undefined) throw new CairnError('BACKEND_NOT_FOUND', `${context}: no such file`);
      return { name: h.name, size: v.size };
    }
    try {
      const head = await this.#send(() =>
        this.#client.send(new (sdk().HeadObjectCommand)({ Bucket: this.bucket, Key: this.#key(h) })),
      );
      return { name: h.name, size: head.ContentLength ?? 0 };
    } catch (err) {
      if (statusOf(err) === 404) await this.#checkBucket(context);
      throw s3Error(err, context);
    }
  }

  async read(h: Handle, range?: { offset: number; length: number }): Promise<Buffer> {
    checkHandle(h, 'read', this.location);
    if (range !== undefined) checkRange(h, range, this.location);
    const context = `Cannot read ${describeHandle(h)} in ${this.location}`;
    let versionId: string | undefined;
    if (await this.#versioned()) {
      const v = await this.#visible(h, context);
      if (v === undefined) throw new CairnError('BACKEND_NOT_FOUND', `${context}: no such file`);
      versionId = v.versionId;
      if (range !== undefined && range.offset + range.length > v.size) {
        throw new CairnError(
          'BACKEND_IO',
          `${context}: short read, the file has ${v.size} bytes, the range ends at ${range.offset + range.length}`,
        );
      }
    }
    if (range !== undefined && range.length === 0) {
      // S3 has no empty range: the file must exist and be long enough.
      const { size } = await this.stat(h);
      if (range.offset > size) {
        throw new CairnError(
          'BACKEND_IO',
          `${context}: short read, the file has ${size} bytes, the range starts at ${range.offset}`,
        );
      }
      return Buffer.alloc(0);
    }
    const key = this.#key(h);
    if (range !== undefined && h.type === 'data' && range.length <= SMALL_READ) {
      // Small reads of a pack (tree blobs, one after another) come from a window around them
      // from the second one on: one GET serves the trees of a whole directory walk.
      const start = Math.floor(range.offset / WINDOW) * WINDOW;
      if (range.offset + range.length <= start + WINDOW && this.#windows.wanted(key)) {
        const window = await this.#windows.get(`${key}@${start}`, () =>
          this.#get(key, versionId, { offset: start, length: WINDOW }, context, true),
        );
        const from = range.offset - start;
        if (from + range.length > window.length) {
          throw new CairnError(
            'BACKEND_IO',
            `${context}: short read, the file ends at ${start + window.length}, the range at ${range.offset + range.length}`,
          );
        }
        // A copy: callers may change what they get (a cached window must stay as it was read).
        return Buffer.from(window.subarray(from, from + range.length));
      }
    }
    return this.#get(key, versionId, range, context, false);
  }

  /** One GET of the whole file or a range; with `upTo`, a range that may end early (at the end of the file). */
  async #get(
    key: string,
    versionId: string | undefined,
    range: { offset: number; length: number } | undefined,
    context: string,
    upTo: boolean,
  ): Promise<Buffer> {
    try {
      return await this.#gate.run(async () => {
        const res = await this.#client.send(
          new (sdk().GetObjectCommand)({
            Bucket: this.bucket,
            Key: key,
            ...(versionId !== undefined ? { VersionId: versionId } : {}),
            ...(range !== undefined
              ? { Range: `bytes=${range.offset}-${range.offset + range.length - 1}` }
              : {}),
          }),
        );
        const buf = await readBody(res.Body, res.ContentLength);
        if (range !== undefined && (upTo ? buf.length > range.length : buf.length !== range.length)) {
          throw new CairnError(
            'BACKEND_IO',
            `${context}: short read, got ${buf.length} of ${range.length} bytes at offset ${range.offset}`,
          );
        }
        if (range === undefined && res.ContentLength !== undefined && buf.length !== res.ContentLength) {
          throw new CairnError(
            'BACKEND_IO',
            `${context}: short read, got ${buf.length} of ${res.ContentLength} bytes`,
          );
        }
        return buf;
      });
    } catch (err) {
      if (statusOf(err) === 404) await this.#checkBucket(context);
      throw s3Error(err, context);
    }
  }

  async write(h: Handle, data: readonly Uint8Array[]): Promise<void> {
    checkHandle(h, 'write', this.location);
    const context = `Cannot write ${describeHandle(h)} in ${this.location}`;
    this.#windows.drop(this.#key(h));
    const body =
      data.length === 1
        ? Buffer.from(data[0]!.buffer, data[0]!.byteOffset, data[0]!.byteLength)
        : Buffer.concat(data);
    const lock = h.type === 'locks' ? undefined : await this.#retention();
    try {
      // Whether the new version is a file's first is looked up when it is read (#visible).
      if (body.length >= this.#threshold) await this.#multipart(h, body, lock, context);
      else await this.#put(h, body, lock);
    } catch (err) {
      if (statusOf(err) === 404) await this.#checkBucket(context);
      throw s3Error(err, context);
    }
  }

  async remove(h: Handle): Promise<void> {
    checkHandle(h, 'remove', this.location);
    const context = `Cannot remove ${describeHandle(h)} in ${this.location}`;
    const key = this.#key(h);
    this.#windows.drop(key);
    if (!(await this.#versioned())) {
      // DELETE succeeds for an absent key: look first, so an absent file is BACKEND_NOT_FOUND.
      await this.stat(h).catch((err: unknown) => {
        throw err instanceof CairnError
          ? new CairnError(err.code, err.message.replace(/^Cannot stat/, 'Cannot remove'), { cause: err })
          : err;
      });
      await this.#send(
        () => this.#client.send(new (sdk().DeleteObjectCommand)({ Bucket: this.bucket, Key: key })),
        context,
      );
      return;
    }
    const v = await this.#versions(h, context);
    const visible = v !== undefined && v.versions.length > 0 && (SEE_THROUGH.has(h.type) || !v.hidden);
    if (!visible) throw new CairnError('BACKEND_NOT_FOUND', `${context}: no such file`);
    // Every version goes, delete markers included; a retained one is refused by the server.
    const all = await this.#allVersionIds(key, context);
    let retained = 0;
    for (const id of all) {
      try {
        await this.#send(() =>
          this.#client.send(
            new (sdk().DeleteObjectCommand)({ Bucket: this.bucket, Key: key, VersionId: id }),
          ),
        );
      } catch (err) {
        if (statusOf(err) !== 403) throw s3Error(err, context);
        retained++;
      }
    }
    this.#firstVersion.delete(key);
    if (retained === 0) return;
    if (SEE_THROUGH.has(h.type)) {
      const until = await this.retainedUntil(h);
      throw new CairnError(
        'OBJECT_LOCKED',
        `${context}: it is under retention (object lock)${until !== undefined ? ` until ${until.toISOString()}` : ''}; it can be removed after that`,
      );
    }
    // A snapshot, key slot or lock that is still retained: hidden behind a delete marker.
    await this.#send(
      () => this.#client.send(new (sdk().DeleteObjectCommand)({ Bucket: this.bucket, Key: key })),
      context,
    );
  }

  canClone(): Promise<boolean> {
    return Promise.resolve(false);
  }

  async compose(
    type: FileType,
    segments: readonly Segment[],
    source: Backend = this,
  ): Promise<ComposeResult> {
    checkSegments(type, segments, this.location, source.location);
    const parts: Buffer[] = [];
    let copied = 0;
    for (const seg of segments) {
      if (seg.kind === 'bytes')
        parts.push(...seg.data.map((d) => Buffer.from(d.buffer, d.byteOffset, d.byteLength)));
      else if (seg.kind === 'zeros') parts.push(Buffer.alloc(seg.length));
      else {
        parts.push(await source.read(seg.from, { offset: seg.offset, length: seg.length }));
        copied += seg.length;
      }
    }
    const body = Buffer.concat(parts);
    const name = createHash('sha256').update(body).digest('hex');
    await this.write({ type, name }, [body]);
    // Named by the bytes it uploaded, which the server checked against the same hash.
    return { name, size: body.length, bytesCloned: 0, bytesCopied: copied, bytesRead: body.length };
  }

  /** Never local: the bytes are in the object store. */
  localPath(h: Handle): undefined {
    checkHandle(h, 'locate', this.location);
    return undefined;
  }

  close(): Promise<void> {
    this.#client.destroy();
    this.#agent.destroy();
    return Promise.resolve();
  }

  // ---- helpers ------------------------------------------------------------------------------

  #key(h: Handle): string {
    const base = this.prefix === '' ? '' : `${this.prefix}/`;
    switch (h.type) {
      case 'config':
        return `${base}config`;
      case 'data':
        return `${base}data/${h.name.slice(0, 2)}/${h.name}`;
      default:
        return `${base}${h.type}/${h.name}`;
    }
  }

  /** One request through the concurrency gate; errors are mapped when `context` is given. */
  async #send<T>(request: () => Promise<T>, context?: string): Promise<T> {
    try {
      return await this.#gate.run(request);
    } catch (err) {
      if (context === undefined) throw err;
      throw s3Error(err, context);
    }
  }

  /** BACKEND_NOT_FOUND naming the bucket if it is absent (after a 404 that did not say which). */
  async #checkBucket(context: string): Promise<void> {
    try {
      await this.#send(() => this.#client.send(new (sdk().HeadBucketCommand)({ Bucket: this.bucket })));
    } catch (err) {
      if (statusOf(err) === 404) {
        throw new CairnError('BACKEND_NOT_FOUND', `${context}: the bucket ${this.bucket} does not exist`, {
          cause: err,
        });
      }
      throw s3Error(err, context);
    }
  }

  /** The retention headers of a write: the bucket's default, from now. */
  async #retention(): Promise<{ mode: ObjectLockRetentionMode; until: Date } | undefined> {
    const setting = await this.objectLock();
    if (setting === undefined) return undefined;
    return {
      mode: setting.mode.toUpperCase() as ObjectLockRetentionMode,
      until: new Date(Date.now() + setting.days * 86_400_000),
    };
  }

  async #put(
    h: Handle,
    body: Buffer,
    lock: { mode: ObjectLockRetentionMode; until: Date } | undefined,
  ): Promise<string | undefined> {
    const digest = sha256(body);
    const command = new (sdk().PutObjectCommand)({
      Bucket: this.bucket,
      Key: this.#key(h),
      Body: body,
      ContentLength: body.length,
      ChecksumSHA256: digest.toString('base64'),
      ...(lock !== undefined ? { ObjectLockMode: lock.mode, ObjectLockRetainUntilDate: lock.until } : {}),
    });
    signContent(command, digest);
    const r = await this.#gate.run(() => this.#client.send(command));
    return r.VersionId;
  }

  async #multipart(
    h: Handle,
    body: Buffer,
    lock: { mode: ObjectLockRetentionMode; until: Date } | undefined,
    context: string,
  ): Promise<string | undefined> {
    const Key = this.#key(h);
    const created = await this.#send(() =>
      this.#client.send(
        new (sdk().CreateMultipartUploadCommand)({
          Bucket: this.bucket,
          Key,
          ChecksumAlgorithm: 'SHA256',
          ...(lock !== undefined ? { ObjectLockMode: lock.mode, ObjectLockRetainUntilDate: lock.until } : {}),
        }),
      ),
    );
    const UploadId = created.UploadId;
    if (UploadId === undefined)
      throw new CairnError('BACKEND_IO', `${context}: the server gave no upload id`);
    try {
      const count = Math.ceil(body.length / this.#partSize);
      const parts: { ETag: string; PartNumber: number; ChecksumSHA256: string }[] = [];
      let next = 0;
      const worker = async () => {
        while (next < count) {
          const i = next++;
          const part = body.subarray(i * this.#partSize, Math.min(body.length, (i + 1) * this.#partSize));
          const digest = sha256(part);
          const checksum = digest.toString('base64');
          const command = new (sdk().UploadPartCommand)({
            Bucket: this.bucket,
            Key,
            UploadId,
            PartNumber: i + 1,
            Body: part,
            ContentLength: part.length,
            ChecksumSHA256: checksum,
          });
          signContent(command, digest);
          const r = await this.#gate.run(() => this.#client.send(command));
          parts[i] = { ETag: r.ETag ?? '', PartNumber: i + 1, ChecksumSHA256: checksum };
        }
      };
      await Promise.all(Array.from({ length: Math.min(this.#partConcurrency, count) }, worker));
      const done = await this.#send(() =>
        this.#client.send(
          new (sdk().CompleteMultipartUploadCommand)({
            Bucket: this.bucket,
            Key,
            UploadId,
            MultipartUpload: { Parts: parts },
          }),
        ),
      );
      // Ceph answers with an empty ETag: the size of what is stored is the check.
      const head = await this.#send(() =>
        this.#client.send(
          new (sdk().HeadObjectCommand)({
            Bucket: this.bucket,
            Key,
            ...(done.VersionId ? { VersionId: done.VersionId } : {}),
          }),
        ),
      );
      if (head.ContentLength !== body.length) {
        throw new CairnError(
          'BACKEND_IO',
          `${context}: the finished upload has ${head.ContentLength} bytes, not ${body.length}`,
        );
      }
      return done.VersionId ?? head.VersionId;
    } catch (err) {
      await this.#send(() =>
        this.#client.send(new (sdk().AbortMultipartUploadCommand)({ Bucket: this.bucket, Key, UploadId })),
      ).catch(() => {});
      throw err;
    }
  }

  /** Every version of `prefix`'s objects, grouped by key, oldest first. */
  async *#listVersions(prefix: string, context: string): AsyncGenerator<[string, Versions]> {
    let keyMarker: string | undefined;
    let versionMarker: string | undefined;
    /** Entries of keys not yet yielded, in key order; within a key S3 lists the newest first. */
    let entries: VersionEntry[] = [];
    do {
      const page = await this.#send(
        () =>
          this.#client.send(
            new (sdk().ListObjectVersionsCommand)({
              Bucket: this.bucket,
              Prefix: prefix,
              KeyMarker: keyMarker,
              VersionIdMarker: versionMarker,
              MaxKeys: PAGE,
            }),
          ),
        context,
      );
      const merged: VersionEntry[] = [
        ...(page.Versions ?? []).map((v) => ({
          key: v.Key ?? '',
          id: v.VersionId ?? 'null',
          size: v.Size ?? 0,
          marker: false,
          latest: v.IsLatest === true,
        })),
        ...(page.DeleteMarkers ?? []).map((m) => ({
          key: m.Key ?? '',
          id: m.VersionId ?? 'null',
          size: 0,
          marker: true,
          latest: m.IsLatest === true,
        })),
      ];
      // A stable sort by key keeps each key's versions newest first.
      merged.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
      entries.push(...merged);
      keyMarker = page.IsTruncated ? page.NextKeyMarker : undefined;
      versionMarker = page.IsTruncated ? page.NextVersionIdMarker : undefined;
      // The page's last key may go on in the next page: hold its entries back until then.
      const held = keyMarker === undefined ? [] : entries.filter((e) => e.key === keyMarker);
      const ready = keyMarker === undefined ? entries : entries.filter((e) => e.key !== keyMarker);
      entries = held;
      for (const [key, mine] of groupByKey(ready)) {
        const versions = mine
          .filter((e) => !e.marker)
          .reverse()
          .map((e) => ({ id: e.id, size: e.size }));
        yield [key, { versions, hidden: mine.find((e) => e.latest)?.marker ?? false }];
      }
    } while (keyMarker !== undefined);
  }

  /** The versions of one file, or undefined if it has none. */
  async #versions(h: Handle, context: string): Promise<Versions | undefined> {
    const key = this.#key(h);
    for await (const [k, v] of this.#listVersions(key, context)) if (k === key) return v;
    await this.#checkBucket(context);
    return undefined;
  }

  async #allVersionIds(key: string, context: string): Promise<string[]> {
    const ids: string[] = [];
    let keyMarker: string | undefined;
    let versionMarker: string | undefined;
    do {
      const page = await this.#send(
        () =>
          this.#client.send(
            new (sdk().ListObjectVersionsCommand)({
              Bucket: this.bucket,
              Prefix: key,
              KeyMarker: keyMarker,
              VersionIdMarker: versionMarker,
            }),
          ),
        context,
      );
      for (const v of [...(page.Versions ?? []), ...(page.DeleteMarkers ?? [])]) {
        if (v.Key === key) ids.push(v.VersionId ?? 'null');
      }
      keyMarker = page.IsTruncated ? page.NextKeyMarker : undefined;
      versionMarker = page.IsTruncated ? page.NextVersionIdMarker : undefined;
    } while (keyMarker !== undefined);
    return ids;
  }

  /** On a locked bucket: the version a read of `h` gets and its size, or undefined if `h` is not there. */
  async #visible(
    h: Handle,
    context: string,
  ): Promise<{ versionId: string | undefined; size: number } | undefined> {
    // Files read as their first version keep it: no listing per ranged read of a pack.
    const known = FIRST_VERSION.has(h.type) ? this.#firstVersion.get(this.#key(h)) : undefined;
    if (known !== undefined) return { versionId: known.id, size: known.size };
    const v = await this.#versions(h, context);
    if (v === undefined || v.versions.length === 0) return undefined;
    if (!SEE_THROUGH.has(h.type) && v.hidden) return undefined;
    const pick = FIRST_VERSION.has(h.type) ? v.versions[0]! : v.versions[v.versions.length - 1]!;
    if (FIRST_VERSION.has(h.type)) this.#firstVersion.set(this.#key(h), pick);
    return { versionId: FIRST_VERSION.has(h.type) ? pick.id : undefined, size: pick.size };
  }

  #visibleInfo(type: FileType, key: string, v: Versions): FileInfo | undefined {
    const name = nameFromKey(key);
    if (name === undefined || name.startsWith(TEMP_PREFIX) || v.versions.length === 0) return undefined;
    if (!SEE_THROUGH.has(type) && v.hidden) return undefined;
    const pick = FIRST_VERSION.has(type) ? v.versions[0]! : v.versions[v.versions.length - 1]!;
    if (FIRST_VERSION.has(type)) this.#firstVersion.set(key, pick);
    return { name, size: pick.size };
  }
}

interface VersionEntry {
  readonly key: string;
  readonly id: string;
  readonly size: number;
  readonly marker: boolean;
  readonly latest: boolean;
}

/** Runs of entries with the same key, in order. */
function groupByKey(entries: readonly VersionEntry[]): Map<string, VersionEntry[]> {
  const groups = new Map<string, VersionEntry[]>();
  for (const e of entries) {
    const g = groups.get(e.key);
    if (g === undefined) groups.set(e.key, [e]);
    else g.push(e);
  }
  return groups;
}

/**
 * A response body as one Buffer, copied once into a buffer of its announced length (the SDK's
 * own collector gathers the chunks and concatenates them: a second copy of every pack read).
 */
async function readBody(body: unknown, length: number | undefined): Promise<Buffer> {
  if (body === undefined || body === null) return Buffer.alloc(0);
  const stream = body as AsyncIterable<Uint8Array>;
  if (
    length === undefined ||
    typeof (stream as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator] !== 'function'
  ) {
    const bytes = await (body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray();
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  const buf = Buffer.allocUnsafe(length);
  let at = 0;
  for await (const chunk of stream) {
    if (at + chunk.byteLength > length) throw new Error(`the body is longer than its ${length} bytes`);
    buf.set(chunk, at);
    at += chunk.byteLength;
  }
  return at === length ? buf : buf.subarray(0, at);
}

/** The file name at the end of a key. */
function nameFromKey(key: string): string | undefined {
  const name = key.slice(key.lastIndexOf('/') + 1);
  return name === '' ? undefined : name;
}

function sha256(body: Buffer): Buffer {
  return createHash('sha256').update(body).digest();
}

/**
 * Signs the body's SHA-256 (computed once, by the caller) as `x-amz-content-sha256`: the server
 * refuses the request unless what it received hashes to it. The SDK would otherwise hash the body
 * again. The same digest also goes as `x-amz-checksum-sha256` (which AWS checks too, and wants on
 * uploads under object lock; Ceph 16 ignores it).
 */
function signContent(
  command: { middlewareStack: { add: (...args: never[]) => void } },
  digest: Buffer,
): void {
  const hash = digest.toString('hex');
  const add = command.middlewareStack.add as (
    mw: (
      next: (args: { request: unknown }) => Promise<unknown>,
    ) => (args: { request: unknown }) => Promise<unknown>,
    options: { step: 'build'; name: string },
  ) => void;
  add(
    (next) => async (args) => {
      const request = args.request as { headers?: Record<string, string> };
      if (request.headers !== undefined) request.headers['x-amz-content-sha256'] = hash;
      return next(args);
    },
    { step: 'build', name: 'cairnContentSha256' },
  );
}
