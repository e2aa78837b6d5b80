/**
 * A file system of a chosen kind for one test file: a sparse image under the temp directory,
 * formatted and loop-mounted (needs root and the mkfs tool), unmounted and removed by `cleanup`.
 * XFS (made with reflink=1) and Btrfs can share blocks between files; ext4 cannot.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface LoopFs {
  /** The temp directory holding the image and the mount point (on the default temp file system). */
  readonly dir: string;
  /** Where the file system is mounted (an empty directory of `dir` when it could not be). */
  readonly mnt: string;
  /** Whether the mount worked; tests that need it skip otherwise. */
  readonly mounted: boolean;
  /** Why it could not be mounted. */
  readonly why: string;
  /** Free bytes of the file system (statfs). */
  free(): number;
  cleanup(): void;
}

export type LoopFsKind = 'xfs' | 'btrfs' | 'ext4';

const MKFS: Record<LoopFsKind, readonly string[]> = {
  xfs: ['mkfs.xfs', '-q', '-m', 'reflink=1'],
  btrfs: ['mkfs.btrfs', '-q', '-f'],
  ext4: ['mkfs.ext4', '-q', '-F'],
};

export function mountLoopFs(kind: LoopFsKind, sizeMiB = 512): LoopFs {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `cairn-${kind}-`));
  const mnt = path.join(dir, kind);
  fs.mkdirSync(mnt);
  const image = path.join(dir, `${kind}.img`);
  fs.writeFileSync(image, '');
  fs.truncateSync(image, sizeMiB * 1024 * 1024);
  const [tool, ...args] = MKFS[kind];
  let mounted = false;
  let why = '';
  const mk = spawnSync(tool!, [...args, image], { encoding: 'utf8' });
  if (mk.status !== 0) why = `${tool} failed or is missing (${mk.error?.message ?? mk.stderr.trim()})`;
  else {
    const m = spawnSync('mount', ['-o', 'loop', image, mnt], { encoding: 'utf8' });
    mounted = m.status === 0;
    if (!mounted) why = `cannot loop-mount ${kind} (needs root): ${m.stderr.trim()}`;
  }
  return {
    dir,
    mnt,
    mounted,
    why,
    free: () => {
      const st = fs.statfsSync(mnt);
      return st.bavail * st.bsize;
    },
    cleanup: () => {
      if (mounted) spawnSync('umount', [mnt]);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
