/** What the benchmark ran on: CPU, cores, memory, kernel, and the file system of its work folder. */
import { readFileSync } from 'node:fs';
import * as os from 'node:os';
import { runQuiet } from './measure.ts';

export interface Machine {
  readonly host: string;
  readonly cpuModel: string;
  readonly cores: number;
  readonly memoryBytes: number;
  readonly kernel: string;
  readonly os: string;
  /** File system type of the folder holding the data copy, repositories and restores. */
  readonly workFs: string;
  /** Whether the kernel calls that disk rotational (virtual disks often say yes whatever they are). */
  readonly workDiskRotational?: boolean;
  readonly node: string;
}

function osName(): string {
  try {
    const text = readFileSync('/etc/os-release', 'utf8');
    return /^PRETTY_NAME="?([^"\n]*)"?/m.exec(text)?.[1] ?? os.type();
  } catch {
    return os.type();
  }
}

async function rotational(dir: string): Promise<boolean | undefined> {
  try {
    const dev = (await runQuiet('df', ['--output=source', dir])).trim().split('\n').pop() ?? '';
    const name = dev.replace(/^\/dev\//, '').replace(/p?\d+$/, '');
    if (name === '' || name.includes('/')) return undefined;
    return readFileSync(`/sys/block/${name}/queue/rotational`, 'utf8').trim() === '1';
  } catch {
    return undefined;
  }
}

export async function describeMachine(workDir: string): Promise<Machine> {
  const cpus = os.cpus();
  const fsType = (await runQuiet('df', ['--output=fstype', workDir])).trim().split('\n').pop() ?? 'unknown';
  const rot = await rotational(workDir);
  return {
    host: os.hostname(),
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    cores: os.availableParallelism(),
    memoryBytes: os.totalmem(),
    kernel: os.release(),
    os: osName(),
    workFs: fsType,
    ...(rot === undefined ? {} : { workDiskRotational: rot }),
    node: process.version,
  };
}
