/**
 * The peak memory of a whole process tree, sampled: GNU time reports the largest single process
 * (ru_maxrss), which is all of Cairn (one process, worker threads) but only one of pgBackRest's
 * processes (with --process-max=2 it runs a main process and two local workers). While a
 * measured command runs, this sums the resident set of every process below this one (less GNU
 * time and runuser themselves) every 200 ms and keeps the highest sum. A sample can miss a short
 * peak, so it is a lower bound, reported beside GNU time's figure.
 */
import { readdirSync, readFileSync } from 'node:fs';

const PAGE = 4096;
const SKIP = new Set(['time', 'runuser']);

interface Proc {
  readonly pid: number;
  readonly ppid: number;
  readonly comm: string;
  readonly rssBytes: number;
}

function readProc(pid: number): Proc | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split at the last ')'
    const close = stat.lastIndexOf(')');
    const comm = stat.slice(stat.indexOf('(') + 1, close);
    const fields = stat.slice(close + 2).split(' ');
    const ppid = Number(fields[1]);
    const statm = readFileSync(`/proc/${pid}/statm`, 'utf8').split(' ');
    return { pid, ppid, comm, rssBytes: Number(statm[1]) * PAGE };
  } catch {
    return undefined; // gone meanwhile
  }
}

/** The summed resident set of the processes below `root` (not counting root itself). */
export function treeRss(root: number): number {
  const procs: Proc[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const p = readProc(Number(name));
    if (p) procs.push(p);
  }
  const children = new Map<number, Proc[]>();
  for (const p of procs) {
    const list = children.get(p.ppid);
    if (list) list.push(p);
    else children.set(p.ppid, [p]);
  }
  let sum = 0;
  const stack = [...(children.get(root) ?? [])];
  while (stack.length > 0) {
    const p = stack.pop()!;
    if (!SKIP.has(p.comm)) sum += p.rssBytes;
    stack.push(...(children.get(p.pid) ?? []));
  }
  return sum;
}

/** Samples the tree below this process until stop() is called; stop() returns the peak seen. */
export function sampleTreeRss(intervalMs = 200): { stop(): number } {
  let peak = 0;
  const tick = (): void => {
    peak = Math.max(peak, treeRss(process.pid));
  };
  const timer = setInterval(tick, intervalMs);
  return {
    stop(): number {
      clearInterval(timer);
      return peak;
    },
  };
}
