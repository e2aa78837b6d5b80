/**
 * Storage backends: where a repository's bytes rest.
 *
 * A *backend* stores the files of one repository and nothing else: it knows names and bytes, never
 * what the bytes mean (they arrive already encrypted). A *file type* is one of the six kinds of
 * repository file (the config, key slots, pack data, indexes, snapshots, locks); each type is a
 * namespace of its own and is listed on its own. A *handle* names one file: its type and its name
 * within that type. The config is a single file whose handle is `{ type: 'config', name: 'config' }`.
 *
 * Only this folder touches bytes at rest. Retrying and fault injection are wrappers around
 * `Backend` (retry.ts, fault.ts), not options of a backend. The name rules every backend enforces
 * live in handle.ts and the contract in types.ts; backends import from those, never from here, so
 * no import cycle forms.
 */

export type {
  Backend,
  BackendFeatures,
  CloneUse,
  ComposeResult,
  FileInfo,
  FileType,
  Handle,
  Segment,
} from './types.ts';

// The constants and name rules (FILE_TYPES, TEMP_PREFIX, checkHandle, …) and the implementations.
export {
  CONFIG_HANDLE,
  FILE_TYPES,
  TEMP_PREFIX,
  checkFileType,
  checkHandle,
  checkRange,
  checkSegments,
  describeHandle,
  handleProblem,
} from './handle.ts';
export { LocalBackend } from './local.ts';
export { S3Backend, formatS3Location, parseS3Location } from './s3.ts';
export type { LockMode, ObjectLockSetting, S3Location, S3Options } from './s3.ts';
export { CachedBackend, cacheRoot } from './cache.ts';
export { RetryBackend, isTransient } from './retry.ts';
export type { RetryOptions } from './retry.ts';
export { attachCache, openLocation, s3Backend, type BackendOptions } from './open.ts';
