/**
 * Parsers for Linux's /proc/diskstats and /proc/net/dev: pure functions from the files' text to
 * cumulative counters per device and per interface. Lines that do not parse are skipped, so a
 * kernel that adds columns or a truncated read costs a device, not the sample.
 */

/** One block device's counters since boot, from /proc/diskstats. */
export interface DiskCounters {
  readonly device: string;
  readonly major: number;
  readonly minor: number;
  readonly readsCompleted: number;
  /** Sectors read × 512: the kernel counts 512-byte sectors whatever the device's own size. */
  readonly readBytes: number;
  readonly writesCompleted: number;
  /** Sectors written × 512. */
  readonly writtenBytes: number;
  /** Milliseconds the device had I/O in flight (its utilisation, as a counter). */
  readonly ioMs: number;
}

export interface DiskstatsOptions {
  /** Leaves out loop, ram, zram and floppy devices (no I/O of their own on a disk). */
  readonly skipVirtual?: boolean;
  /**
   * Leaves out partitions (sda1, vda2, nvme0n1p1, mmcblk0p1), whose I/O is counted again in
   * their whole disk's line.
   */
  readonly skipPartitions?: boolean;
}

/** The sector unit of /proc/diskstats (Documentation/admin-guide/iostats.rst). */
export const DISKSTATS_SECTOR = 512;

const VIRTUAL = /^(loop|ram|zram|fd)\d+$/;
const PARTITION = /^((?:[shv]|xv)d[a-z]+\d+|(?:nvme\d+n\d+|mmcblk\d+|md\d+|nbd\d+)p\d+)$/;

/**
 * Parses /proc/diskstats. Each line is `major minor name` and at least 11 counters (4.18+ adds
 * discards, 5.5+ flushes); counters are read by position: reads completed (1), sectors read (3),
 * writes completed (5), sectors written (7), milliseconds doing I/O (10).
 */
export function parseDiskstats(text: string, options: DiskstatsOptions = {}): DiskCounters[] {
  const out: DiskCounters[] = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 14) continue;
    const device = f[2] as string;
    if (options.skipVirtual && VIRTUAL.test(device)) continue;
    if (options.skipPartitions && PARTITION.test(device)) continue;
    const n = f.map(Number);
    const [major, minor] = n;
    const c = n.slice(3);
    if (major === undefined || minor === undefined || !c.slice(0, 11).every(Number.isFinite)) continue;
    out.push({
      device,
      major,
      minor,
      readsCompleted: c[0] as number,
      readBytes: (c[2] as number) * DISKSTATS_SECTOR,
      writesCompleted: c[4] as number,
      writtenBytes: (c[6] as number) * DISKSTATS_SECTOR,
      ioMs: c[9] as number,
    });
  }
  return out;
}

/** One network interface's counters since it came up, from /proc/net/dev. */
export interface NetCounters {
  readonly interface: string;
  readonly receiveBytes: number;
  readonly receivePackets: number;
  readonly transmitBytes: number;
  readonly transmitPackets: number;
}

export interface NetDevOptions {
  /** Leaves out the loopback interface `lo`. */
  readonly skipLoopback?: boolean;
}

/**
 * Parses /proc/net/dev: two header lines, then `name: ` and 16 counters, eight received (bytes
 * first) and eight transmitted (bytes first). Old kernels print no space after the colon when the
 * byte count is wide, so the name is cut at the colon, not at white space.
 */
export function parseNetDev(text: string, options: NetDevOptions = {}): NetCounters[] {
  const out: NetCounters[] = [];
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const name = line.slice(0, colon).trim();
    if (name.length === 0 || name.includes('|')) continue;
    if (options.skipLoopback && name === 'lo') continue;
    const c = line
      .slice(colon + 1)
      .trim()
      .split(/\s+/)
      .map(Number);
    if (c.length < 16 || !c.slice(0, 16).every(Number.isFinite)) continue;
    out.push({
      interface: name,
      receiveBytes: c[0] as number,
      receivePackets: c[1] as number,
      transmitBytes: c[8] as number,
      transmitPackets: c[9] as number,
    });
  }
  return out;
}
