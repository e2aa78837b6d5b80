/**
 * A location as a backend: a local directory, or an S3 bucket
 * (`s3:http(s)://HOST[:PORT]/BUCKET[/PREFIX]`) behind retries and a local cache of its index and
 * snapshot files (attached once the repository's id is known). One place, so the CLI and the
 * server open storage the same way.
 */
import path from 'node:path';
import { CairnError } from '../errors.ts';
import { CachedBackend, cacheRoot } from './cache.ts';
import { LocalBackend } from './local.ts';
import { RetryBackend } from './retry.ts';
import { parseS3Location, S3Backend, type ObjectLockSetting } from './s3.ts';
import type { Backend } from './types.ts';

export interface BackendOptions {
  /** For init: make the S3 bucket with object lock and this default retention. */
  readonly objectLock?: ObjectLockSetting;
}

/**
 * The storage for a location: a local directory, or an S3 bucket (`s3:http(s)://HOST[:PORT]/BUCKET[/PREFIX]`),
 * whose index and snapshot files are cached locally once `attachCache` knows the repository.
 */
export function openLocation(location: string, options: BackendOptions = {}): Backend {
  const s3 = parseS3Location(location);
  if (s3 !== undefined) {
    return new CachedBackend(
      new RetryBackend(
        new S3Backend({
          ...s3,
          ...(options.objectLock !== undefined ? { objectLock: options.objectLock } : {}),
        }),
      ),
    );
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(location) || /^(sftp|rest):/i.test(location)) {
    throw new CairnError(
      'USAGE',
      `Cannot use repository ${location}: local directories and s3:http(s)://HOST[:PORT]/BUCKET[/PREFIX] are supported`,
    );
  }
  if (options.objectLock !== undefined) {
    throw new CairnError(
      'USAGE',
      `Cannot use object lock on ${location}: it is a feature of S3 repositories`,
    );
  }
  return new RetryBackend(new LocalBackend(path.resolve(location)));
}

/** The S3 backend under a backend's wrappers, if it is one. */
export function s3Backend(backend: Backend): S3Backend | undefined {
  let b: Backend = backend;
  while (b instanceof CachedBackend || b instanceof RetryBackend) b = b.inner;
  return b instanceof S3Backend ? b : undefined;
}

/** Once the repository's id is known: keep a remote backend's index and snapshot files in the cache. */
export function attachCache(backend: Backend, repositoryId: string): void {
  if (backend instanceof CachedBackend) backend.attach(path.join(cacheRoot(), repositoryId));
}
