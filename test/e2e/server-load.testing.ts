/**
 * A load test of the API on loopback: `clients` concurrent clients each make `requests` reads of
 * the main pages (jobs, runs, a run, the dashboard, a task) while two backups run, bounded by a
 * request count and a time limit. Reports requests per second and latency percentiles; counts
 * every answer that is not 200.
 */
import { performance } from 'node:perf_hooks';

export interface LoadResult {
  readonly requests: number;
  readonly errors: number;
  readonly seconds: number;
  readonly perSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  readonly statuses: Record<string, number>;
}

export async function loadApi(options: {
  readonly base: string;
  readonly token: string;
  readonly paths: readonly string[];
  readonly clients: number;
  readonly requests: number;
  readonly maxSeconds: number;
}): Promise<LoadResult> {
  const latencies: number[] = [];
  const statuses: Record<string, number> = {};
  const deadline = performance.now() + options.maxSeconds * 1000;
  const started = performance.now();
  const client = async (n: number) => {
    for (let i = 0; i < options.requests && performance.now() < deadline; i++) {
      const p = options.paths[(n + i) % options.paths.length]!;
      const t0 = performance.now();
      const res = await fetch(options.base + p, { headers: { 'x-cairn-session': options.token } });
      await res.arrayBuffer();
      latencies.push(performance.now() - t0);
      statuses[res.status] = (statuses[res.status] ?? 0) + 1;
    }
  };
  await Promise.all(Array.from({ length: options.clients }, (_, n) => client(n)));
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const pct = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0;
  const errors = Object.entries(statuses)
    .filter(([s]) => s !== '200')
    .reduce((n, [, c]) => n + c, 0);
  return {
    requests: latencies.length,
    errors,
    seconds,
    perSecond: latencies.length / seconds,
    p50Ms: pct(0.5),
    p99Ms: pct(0.99),
    maxMs: latencies[latencies.length - 1] ?? 0,
    statuses,
  };
}
