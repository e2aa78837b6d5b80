/**
 * The host's disk and network throughput: /proc/diskstats and /proc/net/dev read every few
 * seconds, each counter turned into a rate by its own RateTracker.
 */
import { readFileSync } from 'node:fs';
import { parseDiskstats, parseNetDev, type DiskstatsOptions, type NetDevOptions } from './proc.ts';
import { DEFAULT_RATE_CAPACITY, RateTracker } from './rate.ts';

export interface DiskRates {
  /** Bytes read per second. */
  readonly read: RateTracker;
  /** Bytes written per second. */
  readonly written: RateTracker;
}

export interface NetRates {
  /** Bytes received per second. */
  readonly receive: RateTracker;
  /** Bytes transmitted per second. */
  readonly transmit: RateTracker;
}

export interface HostSamplerOptions {
  /** Seconds between samples; 5 by default. */
  readonly intervalSeconds?: number;
  /** Samples kept per counter; 600 by default. */
  readonly capacity?: number;
  /** Which devices to keep; by default loop, ram and zram devices and partitions are left out. */
  readonly disks?: DiskstatsOptions;
  readonly network?: NetDevOptions;
  /** Reads a /proc file (for tests); readFileSync by default. */
  readonly readFile?: (path: string) => string;
  /** Monotonic milliseconds; performance.now() by default. */
  readonly now?: () => number;
  readonly diskstatsPath?: string;
  readonly netDevPath?: string;
}

/**
 * Samples the host's counters every `intervalSeconds` once started; its timer does not keep the
 * process alive. A file that cannot be read (not Linux, a container without /proc) leaves its
 * maps empty. A device or interface missing from a sample is forgotten (unplugged, deleted).
 */
export class HostSampler {
  readonly intervalMs: number;
  private readonly options: HostSamplerOptions;
  private readonly capacity: number;
  private readonly disks = new Map<string, DiskRates>();
  private readonly nets = new Map<string, NetRates>();
  private timer: NodeJS.Timeout | undefined;

  constructor(options: HostSamplerOptions = {}) {
    const seconds = options.intervalSeconds ?? 5;
    if (!(seconds > 0) || !Number.isFinite(seconds)) {
      throw new RangeError(`A host sampler's interval must be a positive number of seconds, not ${seconds}`);
    }
    this.intervalMs = seconds * 1000;
    this.options = options;
    this.capacity = options.capacity ?? DEFAULT_RATE_CAPACITY;
  }

  /** Takes a sample now and then every interval, until stop(). Calling it again does nothing. */
  start(): this {
    if (this.timer !== undefined) return this;
    this.sample();
    this.timer = setInterval(() => this.sample(), this.intervalMs);
    this.timer.unref();
    return this;
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  get running(): boolean {
    return this.timer !== undefined;
  }

  /** Reads both files once and feeds every tracker (the timer calls this). */
  sample(): void {
    const now = this.options.now ?? (() => performance.now());
    const diskText = this.read(this.options.diskstatsPath ?? '/proc/diskstats');
    if (diskText !== undefined) {
      const t = now();
      const seen = new Set<string>();
      const disks = parseDiskstats(
        diskText,
        this.options.disks ?? { skipVirtual: true, skipPartitions: true },
      );
      for (const d of disks) {
        seen.add(d.device);
        let r = this.disks.get(d.device);
        if (r === undefined) {
          r = { read: new RateTracker(this.capacity), written: new RateTracker(this.capacity) };
          this.disks.set(d.device, r);
        }
        r.read.sample(d.readBytes, t);
        r.written.sample(d.writtenBytes, t);
      }
      for (const name of this.disks.keys()) if (!seen.has(name)) this.disks.delete(name);
    }
    const netText = this.read(this.options.netDevPath ?? '/proc/net/dev');
    if (netText !== undefined) {
      const t = now();
      const seen = new Set<string>();
      for (const n of parseNetDev(netText, this.options.network)) {
        seen.add(n.interface);
        let r = this.nets.get(n.interface);
        if (r === undefined) {
          r = { receive: new RateTracker(this.capacity), transmit: new RateTracker(this.capacity) };
          this.nets.set(n.interface, r);
        }
        r.receive.sample(n.receiveBytes, t);
        r.transmit.sample(n.transmitBytes, t);
      }
      for (const name of this.nets.keys()) if (!seen.has(name)) this.nets.delete(name);
    }
  }

  /** Rate trackers per block device. */
  diskRates(): ReadonlyMap<string, DiskRates> {
    return this.disks;
  }

  /** Rate trackers per network interface. */
  netRates(): ReadonlyMap<string, NetRates> {
    return this.nets;
  }

  private read(file: string): string | undefined {
    try {
      return (this.options.readFile ?? ((p: string) => readFileSync(p, 'utf8')))(file);
    } catch {
      return undefined;
    }
  }
}
