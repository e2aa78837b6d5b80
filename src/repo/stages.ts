/**
 * The stages of the backup pipeline, timed by a StageClock while a backup runs:
 *
 * - source: reading the sources: readdir, lstat, readlink, extended attributes, open, read, close
 *   (on the main thread, and a small file's read on a worker);
 * - chunk: cutting large files into chunks and naming chunks (HMAC), wherever it happens;
 * - seal: compressing and encrypting blobs, on the workers or inline;
 * - write: writing packs and index files to the backend.
 */
import type { StageClock } from '../metrics/index.ts';

export const BACKUP_STAGES = ['source', 'chunk', 'seal', 'write'] as const;
export type BackupStage = (typeof BACKUP_STAGES)[number];

/** What a running backup watches in the repository it writes to. */
export interface WriteMonitor {
  readonly clock: StageClock<BackupStage>;
  /** Bytes that became durable in the backend (a pack or an index file, as stored). */
  written(bytes: number): void;
}
