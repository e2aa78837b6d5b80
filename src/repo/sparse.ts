/**
 * Writing restored bytes into a file so that whole blocks of zeros stay holes: the restorer on
 * the main thread and the seal pool's workers (which open and write blobs for a restore) share it.
 */
import fs from 'node:fs';

/** The block a run of zeros must fill to be left as a hole. */
export const HOLE_BLOCK = 4096;
const ZEROS = Buffer.alloc(HOLE_BLOCK);

/** Writes `data` at `at`, skipping whole zero blocks (aligned to the file) so they stay holes. */
export function writeSparse(fd: number, data: Buffer, at: number): void {
  let runStart = -1;
  const flush = (end: number) => {
    if (runStart < 0) return;
    let written = runStart;
    while (written < end) written += fs.writeSync(fd, data, written, end - written, at + written);
    runStart = -1;
  };
  let pos = 0;
  let blockEnd = HOLE_BLOCK - (at % HOLE_BLOCK);
  while (pos < data.length) {
    const end = Math.min(data.length, blockEnd);
    if (data.subarray(pos, end).equals(ZEROS.subarray(0, end - pos))) flush(pos);
    else if (runStart < 0) runStart = pos;
    pos = end;
    blockEnd = end + HOLE_BLOCK;
  }
  flush(data.length);
}
