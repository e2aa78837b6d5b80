/**
 * A tenant's volume: its storage root as a file system of its own. A sparse image file in the
 * server's data directory (`volumes/NAME.xfs`, 0600 in a 0700 folder) is formatted as XFS with
 * reflink and loop-mounted (nodev, nosuid, noexec) on the storage root, so the kernel bounds the
 * tenant's space: a full volume fails that tenant's writes alone (docs/security.md, "Isolation of
 * storage").
 *
 * The safety rule: nothing of a tenant is written into the bare folder beneath its mount point.
 * `requireVolume` refuses a tenant's runs and new repositories while its volume is not mounted
 * there (VOLUME_UNAVAILABLE), and the bare folder is made immutable (`chattr +i`, where the data
 * disk's file system allows it) before the volume is mounted on it, so that even a write the
 * check did not see fails instead of landing on the data disk.
 *
 * Only root may loop-mount: every step that mounts checks that first and says so.
 */
import { execFile } from 'node:child_process';
import {
  accessSync,
  chmodSync,
  closeSync,
  constants,
  existsSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmdirSync,
  rmSync,
  statSync,
  truncateSync,
} from 'node:fs';
import path from 'node:path';
import type { Catalog, TenantRow } from '../catalog/index.ts';
import { CairnError, errnoCode, reason } from '../errors.ts';
import { sizeText } from './quota.ts';

/** XFS refuses to make a file system smaller than this (xfsprogs 5.19 and later). */
export const VOLUME_MIN_BYTES = 300 * 2 ** 20;
/** Volume sizes are whole MiB: a size given otherwise is rounded up. */
const VOLUME_STEP = 2 ** 20;
export const VOLUME_MOUNT_OPTIONS = 'loop,nodev,nosuid,noexec';
/** The f_type statfs reports for XFS. */
export const XFS_MAGIC = 0x58465342;

/** Where the image of tenant `name`'s volume lives. */
export function volumeImageOf(dataDir: string, name: string): string {
  return path.join(dataDir, 'volumes', `${name}.xfs`);
}

/** The image as messages to tenant users name it: within the data directory, no server path. */
function shownImage(image: string): string {
  return `${path.basename(path.dirname(image))}/${path.basename(image)}`;
}

/** A program on the PATH (the server's environment decides which programs it runs). */
function which(tool: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const file = path.join(dir, tool);
    try {
      accessSync(file, constants.X_OK);
      if (statSync(file).isFile()) return file;
    } catch {
      // not here
    }
  }
  return undefined;
}

/**
 * Checks that this process may loop-mount and finds the programs it needs; throws
 * VOLUME_UNSUPPORTED naming what is missing. `what` starts the message.
 */
export function volumeTools<T extends string>(what: string, tools: readonly T[]): Record<T, string> {
  const uid = process.getuid?.() ?? -1;
  if (uid !== 0)
    throw new CairnError(
      'VOLUME_UNSUPPORTED',
      `${what}: only root may loop-mount a file system, and this process runs as user id ${uid} (run it as root, or leave the volume out: the storage root is then a folder of the data disk)`,
    );
  const found: Partial<Record<T, string>> = {};
  const missing: string[] = [];
  for (const t of tools) {
    const file = which(t);
    if (file) found[t] = file;
    else missing.push(t);
  }
  if (missing.length > 0)
    throw new CairnError(
      'VOLUME_UNSUPPORTED',
      `${what}: ${missing.join(', ')} ${missing.length > 1 ? 'are' : 'is'} not on the PATH (${process.env.PATH ?? ''}); install xfsprogs and util-linux`,
    );
  return found as Record<T, string>;
}

/** Runs a program; a failure becomes VOLUME_UNSUPPORTED (or `code`) with the first lines it said. */
function exec(
  file: string,
  args: readonly string[],
  what: string,
  code: 'VOLUME_UNSUPPORTED' | 'CONFLICT' = 'VOLUME_UNSUPPORTED',
): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { timeout: 300_000, maxBuffer: 1 << 20 }, (err, _stdout, stderr) => {
      if (!err) return resolve();
      const said = String(stderr).trim().split('\n').slice(0, 3).join(' ') || reason(err);
      const busy = /busy/i.test(said);
      reject(
        new CairnError(
          busy ? 'CONFLICT' : code,
          `${what}: ${path.basename(file)} failed: ${said}${busy ? ' (a run or a shell still uses it; try again once it ends)' : ''}`,
          { cause: err },
        ),
      );
    });
  });
}

interface MountEntry {
  readonly mountPoint: string;
  readonly fsType: string;
  readonly source: string;
}

/** /proc/self/mountinfo decodes `\040` and friends. */
const unescape = (s: string): string =>
  s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));

function mounts(): MountEntry[] {
  let text: string;
  try {
    text = readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return [];
  }
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(' ');
    const dash = f.indexOf('-', 6);
    if (dash < 0 || f.length < dash + 3) continue;
    out.push({ mountPoint: unescape(f[4]!), fsType: f[dash + 1]!, source: unescape(f[dash + 2]!) });
  }
  return out;
}

/** The file behind a loop device, as the kernel tells it. */
function backingFile(device: string): string | undefined {
  const m = /^\/dev\/(loop[0-9]+)$/.exec(device);
  if (!m) return undefined;
  try {
    return readFileSync(`/sys/block/${m[1]}/loop/backing_file`, 'utf8').trim();
  } catch {
    return undefined;
  }
}

function real(p: string): string | undefined {
  try {
    return realpathSync(p);
  } catch {
    return undefined;
  }
}

export type VolumeState =
  | { readonly mounted: true; readonly device: string }
  | {
      readonly mounted: false;
      readonly why: string;
      /** Something else is mounted there. */ readonly occupied: boolean;
    };

/**
 * Whether `image` is what is mounted on `mountPoint` now: the topmost mount there must be a loop
 * device whose backing file is the image.
 */
export function volumeState(image: string, mountPoint: string): VolumeState {
  const point = real(mountPoint);
  if (!point) return { mounted: false, why: 'the mount point does not exist', occupied: false };
  const top = mounts()
    .filter((m) => m.mountPoint === point)
    .at(-1);
  if (!top) return { mounted: false, why: 'nothing is mounted there', occupied: false };
  const file = backingFile(top.source);
  if (!file || file !== (real(image) ?? image))
    return { mounted: false, why: `${top.source} (${top.fsType}) is mounted there instead`, occupied: true };
  return { mounted: true, device: top.source };
}

function volumeOf(t: TenantRow): { image: string; root: string } | undefined {
  return t.volume_image && t.storage_root ? { image: t.volume_image, root: t.storage_root } : undefined;
}

/** Whether a tenant's volume is mounted; null: it has none. */
export function volumeMounted(t: TenantRow): boolean | null {
  const v = volumeOf(t);
  return v ? volumeState(v.image, v.root).mounted : null;
}

/**
 * Refuses to let anything read or write a tenant's storage while its volume is not mounted on it:
 * what would be written then lands in the bare folder on the data disk.
 */
export function requireVolume(t: TenantRow | undefined): void {
  const v = t && volumeOf(t);
  if (!t || !v) return;
  const s = volumeState(v.image, v.root);
  if (!s.mounted)
    throw new CairnError(
      'VOLUME_UNAVAILABLE',
      `tenant ${t.name}'s storage is its volume ${shownImage(v.image)} (in the server's data directory), which is not mounted on its storage root (${s.why}); nothing is read or written there until it is: the system administrator restarts cairn server, which mounts it, or mounts it with mount -o ${VOLUME_MOUNT_OPTIONS}`,
    );
}

/** The bare mount point folder refuses every write, root's too (best effort: chattr, a file system that has the flag). */
async function setImmutable(dir: string, on: boolean): Promise<boolean> {
  const chattr = which('chattr');
  if (!chattr) return false;
  try {
    await exec(chattr, [on ? '+i' : '-i', dir], `chattr ${dir}`);
    return true;
  } catch {
    return false;
  }
}

/**
 * Checks a volume asked for tenant `name` before anything is made: a local, empty storage root,
 * a size XFS can format, root, the programs, no image left from before. Returns the size in whole
 * MiB.
 */
export function checkVolumeRequest(v: {
  readonly name: string;
  readonly storageRoot: string | null | undefined;
  readonly bytes: number;
  readonly image: string;
}): number {
  const what = `Cannot give tenant ${v.name} a volume`;
  if (!v.storageRoot)
    throw new CairnError(
      'INVALID_INPUT',
      `volumeBytes: tenant ${v.name} has no storage root to mount a volume on`,
    );
  if (/^s3:/i.test(v.storageRoot))
    throw new CairnError(
      'INVALID_INPUT',
      `volumeBytes: tenant ${v.name}'s storage root is in S3 (${v.storageRoot.replace(/\/\/[^@/]*@/, '//')}); a volume is a local file system mounted on a folder, so give a folder as storage root or leave the volume out`,
    );
  if (!Number.isSafeInteger(v.bytes) || v.bytes < VOLUME_MIN_BYTES)
    throw new CairnError(
      'INVALID_INPUT',
      `volumeBytes: ${sizeText(v.bytes)} is below the minimum of ${sizeText(VOLUME_MIN_BYTES)} (${VOLUME_MIN_BYTES} bytes), the smallest XFS file system`,
    );
  volumeTools(what, ['mkfs.xfs', 'mount', 'umount']);
  if (existsSync(v.storageRoot)) {
    if (!statSync(v.storageRoot).isDirectory())
      throw new CairnError('CONFLICT', `${what}: its storage root ${v.storageRoot} is not a folder`);
    const there = readdirSync(v.storageRoot);
    if (there.length > 0)
      throw new CairnError(
        'CONFLICT',
        `${what}: its storage root ${v.storageRoot} is not empty (${there.slice(0, 3).join(', ')}${there.length > 3 ? ', …' : ''}); a volume is mounted only on an empty folder, so that nothing there is hidden`,
      );
    const point = real(v.storageRoot);
    const other = mounts().find((m) => m.mountPoint === point);
    if (other)
      throw new CairnError(
        'CONFLICT',
        `${what}: ${other.source} (${other.fsType}) is already mounted on its storage root ${v.storageRoot}`,
      );
  }
  if (existsSync(v.image))
    throw new CairnError(
      'CONFLICT',
      `${what}: the image ${v.image} exists already (left from an earlier tenant of that name?); remove it or move it away first`,
    );
  return Math.ceil(v.bytes / VOLUME_STEP) * VOLUME_STEP;
}

export interface MadeVolume {
  readonly image: string;
  readonly bytes: number;
  /** Milliseconds of mkfs.xfs and of the mount. */
  readonly mkfsMs: number;
  readonly mountMs: number;
}

/**
 * Makes the sparse image, formats it (XFS, reflink) and mounts it on the storage root (made 0700
 * if absent, immutable beneath the mount). Anything it made is undone when a step fails. Call
 * `checkVolumeRequest` first.
 */
export async function makeVolume(v: {
  readonly name: string;
  readonly storageRoot: string;
  readonly bytes: number;
  readonly image: string;
}): Promise<MadeVolume> {
  const what = `Cannot give tenant ${v.name} a volume`;
  const tools = volumeTools(what, ['mkfs.xfs', 'mount', 'umount']);
  const dir = path.dirname(v.image);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  let madeImage = false;
  let madePoint = false;
  let immutable = false;
  let mounted = false;
  try {
    const fd = openSync(v.image, 'wx', 0o600);
    madeImage = true;
    try {
      ftruncateSync(fd, v.bytes);
    } finally {
      closeSync(fd);
    }
    chmodSync(v.image, 0o600);
    let t = performance.now();
    await exec(tools['mkfs.xfs'], ['-q', '-m', 'reflink=1', v.image], `${what}: formatting ${v.image}`);
    const mkfsMs = performance.now() - t;
    if (!existsSync(v.storageRoot)) {
      mkdirSync(v.storageRoot, { recursive: true, mode: 0o700 });
      madePoint = true;
    }
    immutable = await setImmutable(v.storageRoot, true);
    t = performance.now();
    await exec(
      tools.mount,
      ['-o', VOLUME_MOUNT_OPTIONS, v.image, v.storageRoot],
      `${what}: mounting ${v.image} on ${v.storageRoot}`,
    );
    mounted = true;
    const mountMs = performance.now() - t;
    const s = volumeState(v.image, v.storageRoot);
    if (!s.mounted)
      throw new CairnError(
        'VOLUME_UNSUPPORTED',
        `${what}: mount said it mounted ${v.image} on ${v.storageRoot}, but ${s.why}`,
      );
    // The new file system's root is the storage root now: only the server's user enters it.
    chmodSync(v.storageRoot, 0o700);
    return { image: v.image, bytes: v.bytes, mkfsMs, mountMs };
  } catch (err) {
    if (mounted)
      await exec(tools.umount, [v.storageRoot], `unmounting ${v.storageRoot}`).catch(() => undefined);
    if (immutable) await setImmutable(v.storageRoot, false);
    if (madePoint) {
      try {
        rmdirSync(v.storageRoot);
      } catch {
        // Left as it is: the error that matters is the one thrown below.
      }
    }
    if (madeImage) rmSync(v.image, { force: true });
    throw err;
  }
}

/** Mounts a recorded volume that is not mounted (the server's start). */
export async function mountVolume(t: TenantRow): Promise<void> {
  const v = volumeOf(t);
  if (!v) return;
  const what = `Cannot mount tenant ${t.name}'s volume ${v.image} on ${v.root}`;
  const s = volumeState(v.image, v.root);
  if (s.mounted) return;
  if (s.occupied) throw new CairnError('CONFLICT', `${what}: ${s.why}`);
  const tools = volumeTools(what, ['mount']);
  if (!existsSync(v.image)) throw new CairnError('VOLUME_UNAVAILABLE', `${what}: the image is missing`);
  if (!existsSync(v.root)) {
    mkdirSync(v.root, { recursive: true, mode: 0o700 });
    await setImmutable(v.root, true);
  }
  await exec(tools.mount, ['-o', VOLUME_MOUNT_OPTIONS, v.image, v.root], what);
  const after = volumeState(v.image, v.root);
  if (!after.mounted) throw new CairnError('VOLUME_UNSUPPORTED', `${what}: ${after.why}`);
}

/**
 * Unmounts a tenant's volume if it is mounted (a busy one is refused: CONFLICT). Nothing is
 * removed.
 */
export async function unmountVolume(t: TenantRow): Promise<void> {
  const v = volumeOf(t);
  if (!v || !volumeState(v.image, v.root).mounted) return;
  const what = `Cannot unmount tenant ${t.name}'s volume from ${v.root}`;
  const tools = volumeTools(what, ['umount']);
  await exec(tools.umount, [v.root], what);
}

/**
 * Removes an unmounted volume: its image, and the bare mount point folder when it is empty.
 * Everything the volume held goes with the image.
 */
export async function discardVolume(image: string, mountPoint: string): Promise<void> {
  if (volumeState(image, mountPoint).mounted)
    throw new CairnError(
      'CONFLICT',
      `Cannot remove the volume ${image}: it is still mounted on ${mountPoint}`,
    );
  if (existsSync(mountPoint)) {
    await setImmutable(mountPoint, false);
    try {
      rmdirSync(mountPoint);
    } catch (err) {
      // Files in the bare folder were written there by something else: they stay, for a person to see.
      if (errnoCode(err) !== 'ENOTEMPTY' && errnoCode(err) !== 'ENOENT') throw err;
    }
  }
  rmSync(image, { force: true });
}

/** Unmounts and removes a volume made for a tenant (provisioning that failed after it). */
export async function dropVolume(name: string, image: string, mountPoint: string): Promise<void> {
  if (volumeState(image, mountPoint).mounted) {
    const what = `Cannot unmount tenant ${name}'s volume from ${mountPoint}`;
    await exec(volumeTools(what, ['umount']).umount, [mountPoint], what);
  }
  await discardVolume(image, mountPoint);
}

/**
 * Grows a mounted volume to `bytes` (rounded up to whole MiB): the image is made larger (sparse),
 * the loop device told, the file system grown. XFS cannot shrink: a smaller size is refused.
 * Returns the new size.
 */
export async function growVolume(t: TenantRow, bytes: number): Promise<number> {
  const v = volumeOf(t);
  if (!v) throw new CairnError('INTERNAL', `tenant ${t.name} has no volume to grow`);
  const now = t.volume_bytes ?? statSync(v.image).size;
  const want = Math.ceil(bytes / VOLUME_STEP) * VOLUME_STEP;
  if (want < now)
    throw new CairnError(
      'INVALID_INPUT',
      `volumeBytes: tenant ${t.name}'s volume spans ${sizeText(now)}; XFS cannot shrink a file system, so a volume only grows (to make it smaller, copy its repositories to a new tenant's)`,
    );
  if (want === now) return now;
  const what = `Cannot grow tenant ${t.name}'s volume to ${sizeText(want)}`;
  const tools = volumeTools(what, ['losetup', 'xfs_growfs']);
  const s = volumeState(v.image, v.root);
  if (!s.mounted) {
    requireVolume(t);
    throw new CairnError('VOLUME_UNAVAILABLE', `${what}: it is not mounted (${s.why})`);
  }
  const device = s.device;
  const before = statSync(v.image).size;
  truncateSync(v.image, want);
  try {
    await exec(tools.losetup, ['-c', device], `${what}: telling ${device} its new size`);
  } catch (err) {
    truncateSync(v.image, before);
    throw err;
  }
  await exec(tools.xfs_growfs, ['-d', v.root], `${what}: xfs_growfs ${v.root}`);
  return want;
}

/**
 * The server's start: mounts every recorded volume that is not mounted. A volume that cannot be
 * mounted is said (its tenant's runs then fail with VOLUME_UNAVAILABLE); the others go on.
 */
export async function mountTenantVolumes(catalog: Catalog, say: (line: string) => void): Promise<void> {
  for (const t of await catalog.listTenants()) {
    const v = volumeOf(t);
    if (!v || volumeState(v.image, v.root).mounted) continue;
    try {
      await mountVolume(t);
      say(`mounted tenant ${t.name}'s volume ${v.image} on ${v.root}`);
    } catch (err) {
      say(
        `warning: ${reason(err)}; tenant ${t.name}'s runs fail with VOLUME_UNAVAILABLE until its volume is mounted`,
      );
    }
  }
}
