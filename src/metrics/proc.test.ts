import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { HostSampler } from './host.ts';
import { parseDiskstats, parseNetDev } from './proc.ts';

// Copied from a real machine's /proc/diskstats (kernel 6.18: 17 counters per line).
const DISKSTATS = `   7       0 loop0 1052 0 826786 1821 483 42 977129 1771 0 1132 3929 0 0 0 0 63 335
   7       1 loop1 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0
 254       0 vda 1714366 112677 60832258 1212935 553958 1379293 181653912 550379 0 355376 1922217 1816667 215 177066168 148727 116059 10176
 253       0 zram0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0
`;

// Partition lines and an older kernel's 11 counters (no discard or flush columns).
const DISKSTATS_PARTITIONS = `   8       0 sda 23961 5601 2212538 13536 12386 14773 1066594 21716 0 25888 35253
   8       1 sda1 23805 5601 2206050 13494 12386 14773 1066594 21716 0 25876 35210
 259       0 nvme0n1 100 0 2048 10 50 0 4096 20 0 30 30
 259       1 nvme0n1p1 90 0 1024 9 40 0 2048 18 0 27 27
`;

// Copied from a real machine's /proc/net/dev.
const NET_DEV = `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:    6438      59    0    0    0     0          0         0     6438      59    0    0    0     0       0          0
  ifb0:       0       0    0    0    0     0          0         0        0       0    0    0    0     0       0          0
  eth0: 751024307   28815    0    0    0     0          0         0  3492698   23648    0    0    0     0       0          0
`;

describe('/proc/diskstats', () => {
  it('reads sectors × 512 as bytes, per device', () => {
    const disks = parseDiskstats(DISKSTATS);
    assert.deepEqual(
      disks.map((d) => d.device),
      ['loop0', 'loop1', 'vda', 'zram0'],
    );
    assert.deepEqual(disks[2], {
      device: 'vda',
      major: 254,
      minor: 0,
      readsCompleted: 1714366,
      readBytes: 60832258 * 512,
      writesCompleted: 553958,
      writtenBytes: 181653912 * 512,
      ioMs: 355376,
    });
    assert.equal(disks[0]!.readBytes, 826786 * 512);
  });

  it('leaves out loop and ram devices, and partitions, when asked', () => {
    assert.deepEqual(
      parseDiskstats(DISKSTATS, { skipVirtual: true }).map((d) => d.device),
      ['vda'],
    );
    assert.deepEqual(
      parseDiskstats(DISKSTATS_PARTITIONS, { skipPartitions: true }).map((d) => d.device),
      ['sda', 'nvme0n1'],
    );
    assert.equal(parseDiskstats(DISKSTATS_PARTITIONS).length, 4);
    assert.equal(parseDiskstats(DISKSTATS_PARTITIONS)[0]!.writtenBytes, 1066594 * 512);
  });

  it('skips lines that do not parse', () => {
    assert.deepEqual(parseDiskstats('\n 8 0 sda 1 2 3\ngarbage here\n'), []);
    assert.deepEqual(parseDiskstats(' 8 0 sda x 0 0 0 0 0 0 0 0 0 0\n'), []);
  });
});

describe('/proc/net/dev', () => {
  it('reads received and transmitted bytes per interface, skipping the headers', () => {
    const nets = parseNetDev(NET_DEV);
    assert.deepEqual(
      nets.map((n) => n.interface),
      ['lo', 'ifb0', 'eth0'],
    );
    assert.deepEqual(nets[2], {
      interface: 'eth0',
      receiveBytes: 751024307,
      receivePackets: 28815,
      transmitBytes: 3492698,
      transmitPackets: 23648,
    });
    assert.deepEqual(
      parseNetDev(NET_DEV, { skipLoopback: true }).map((n) => n.interface),
      ['ifb0', 'eth0'],
    );
  });

  it('reads a count written against the colon (older kernels)', () => {
    const [n] = parseNetDev('  eth1:1234567890123 5 0 0 0 0 0 0 42 6 0 0 0 0 0 0\n');
    assert.equal(n?.receiveBytes, 1234567890123);
    assert.equal(n?.transmitBytes, 42);
  });
});

describe('host sampler', () => {
  it('turns successive /proc readings into rates per device and interface', () => {
    let t = 0;
    let step = 0;
    const files = (p: string) => {
      const k = step;
      if (p.endsWith('diskstats')) {
        return ` 254 0 vda 1 0 ${1000 * k} 0 1 0 ${2000 * k} 0 0 0 0\n 7 0 loop0 1 0 99 0 0 0 0 0 0 0 0\n`;
      }
      return `Inter-|\n face |\n  eth0: ${100 * k} 0 0 0 0 0 0 0 ${50 * k} 0 0 0 0 0 0 0\n`;
    };
    const h = new HostSampler({ readFile: files, now: () => t });
    h.sample();
    t = 2000;
    step = 1;
    h.sample();
    const vda = h.diskRates().get('vda');
    assert.equal(vda?.read.rate, (1000 * 512) / 2);
    assert.equal(vda?.written.rate, (2000 * 512) / 2);
    assert.equal(h.diskRates().has('loop0'), false, 'loop devices are left out by default');
    assert.equal(h.netRates().get('eth0')?.receive.rate, 50);
    assert.equal(h.netRates().get('eth0')?.transmit.rate, 25);
  });

  it('forgets devices that disappear, and survives files it cannot read', () => {
    let disks = ' 8 0 sda 1 0 0 0 1 0 0 0 0 0 0\n 8 16 sdb 1 0 0 0 1 0 0 0 0 0 0\n';
    const h = new HostSampler({
      readFile: (p) => {
        if (p.endsWith('dev')) throw new Error('ENOENT');
        return disks;
      },
    });
    h.sample();
    assert.deepEqual([...h.diskRates().keys()], ['sda', 'sdb']);
    disks = ' 8 0 sda 1 0 0 0 1 0 0 0 0 0 0\n';
    h.sample();
    assert.deepEqual([...h.diskRates().keys()], ['sda']);
    assert.equal(h.netRates().size, 0);
  });

  it('samples this machine on a timer that does not hold the process, until stop()', async () => {
    const h = new HostSampler({ intervalSeconds: 0.02 });
    assert.throws(() => new HostSampler({ intervalSeconds: 0 }), RangeError);
    h.start();
    assert.equal(h.running, true);
    await new Promise((r) => setTimeout(r, 80));
    h.stop();
    assert.equal(h.running, false);
    if (process.platform === 'linux') {
      assert.ok(h.netRates().size > 0, 'this machine has network interfaces');
      for (const r of h.netRates().values()) assert.ok(r.receive.series().length >= 1);
    }
  });
});
