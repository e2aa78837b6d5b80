/** `cairn simulate` through the CLI's entry point, in this process. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { main } from './index.ts';

const GiB = 1024 ** 3;

interface Ran {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `main(argv)`, keeping what it writes to stdout and stderr (text only: the test runner's own data passes). */
async function run(argv: readonly string[]): Promise<Ran> {
  const out: string[] = [];
  const err: string[] = [];
  const writeOut = process.stdout.write.bind(process.stdout);
  const writeErr = process.stderr.write.bind(process.stderr);
  const capture =
    (into: string[], original: typeof process.stdout.write) =>
    (chunk: unknown, ...rest: unknown[]): boolean => {
      if (typeof chunk !== 'string') return (original as (...a: unknown[]) => boolean)(chunk, ...rest);
      into.push(chunk);
      return true;
    };
  process.stdout.write = capture(out, writeOut);
  process.stderr.write = capture(err, writeErr);
  try {
    const code = await main(argv);
    return { code, stdout: out.join(''), stderr: err.join('') };
  } finally {
    process.stdout.write = writeOut;
    process.stderr.write = writeErr;
  }
}

describe('cairn simulate', () => {
  it('--json prints one object with sizes in bytes', async () => {
    // Reverse incremental, 14 points of 1000 GiB at 50 %, 10 % change: the full at the newest
    // point (500 GiB) and 13 VRBs of 50 GiB = 1150 GiB, working space 1000 × 50 % × 1.05 = 525
    // GiB, first after run 14.
    const r = await run([
      'simulate',
      '--style',
      'reverse',
      '--used',
      '1000GiB',
      '--points',
      '14',
      '--change',
      '10',
      '--reduction',
      '50',
      '--start',
      '2024-01-01T22:00',
      '--json',
    ]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines.length, 1);
    const j = JSON.parse(lines[0] ?? '') as Record<string, unknown> & {
      files: { name: string; size: number; retention: string }[];
      log: { run: number }[];
      bandwidth: { windows: { hours: number }[] };
    };
    assert.equal(j.message_type, 'simulation');
    assert.equal(j.total, 1150 * GiB);
    assert.equal(j.working_space, 525 * GiB);
    assert.equal(j.grand_total, 1675 * GiB);
    assert.deepEqual(j.worst_case, { run: 14, at: '2024-01-14T22:00:00Z' });
    assert.equal(j.files.length, 14);
    assert.deepEqual(j.files.at(-1), {
      ...j.files.at(-1),
      name: '2024-01-14T220000.vbk',
      size: 500 * GiB,
      retention: '1',
    });
    assert.deepEqual(
      j.log.map((l) => l.run),
      [8, 9, 10, 11, 12, 13, 14],
    );
    assert.equal(j.bandwidth.windows.length, 6);
    assert.equal(j.share, 'style=reverse&start=2024-01-01T22%3A00%3A00Z');
  });

  it('prints a table with one unit, the totals, the action log and the bandwidth', async () => {
    const r = await run([
      'simulate',
      '--synthetic-full',
      'sat',
      '--start',
      '2024-01-01T22:00',
      '--log-runs',
      '1',
    ]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.split('\n');
    assert.equal(lines[0], 'Forward incremental, synthetic full on sat');
    assert.ok(lines.includes('Worst case after run 25 of 32, Thu 2024-01-25 22:00 UTC:'), r.stdout);
    assert.ok(
      lines.includes('20 (14)    2024-01-06T220000.vbk  full         2024-01-06 22:00  500.0 GiB'),
      r.stdout,
    );
    assert.ok(lines.includes('Grand total        2875.0 GiB'), r.stdout);
    assert.ok(lines.includes('Actions of the worst-case run (I/O: bytes × 1, 2 or 3 passes):'), r.stdout);
    assert.ok(
      lines.includes(
        '  25  Thu 2024-01-25 22:00  Created incremental 2024-01-25T220000.vib  SEQ 1x 50.0 GiB',
      ),
      r.stdout,
    );
    assert.ok(lines.includes('  1 h       28.4 MiB/s       14.2 MiB/s  119.3 Mbit/s'), r.stdout);
  });

  it('starts from an RPS link and says what it leaves out', async () => {
    const r = await run([
      'simulate',
      '--rps',
      'http://rps.dewin.me/?m=2&s=1000&r=14&c=50&d=10&i=D&ctme=1&e',
      '--start',
      '2024-01-01T22:00',
      '--json',
    ]);
    assert.equal(r.code, 0, r.stderr);
    const [warning, result] = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual(warning, {
      message_type: 'warning',
      message: '--rps: ignored ctme: the capacity tier is not simulated',
      param: 'ctme',
    });
    assert.equal(result?.style, 'reverse');
    assert.equal(result?.total, 1150 * GiB);
  });

  it('a bad option value exits 2 and names the option', async () => {
    const r = await run(['simulate', '--points', 'x']);
    assert.equal(r.code, 2);
    assert.equal(
      r.stderr,
      'error: --points: expected a number of points or 7d/5w/2m/1q/1y, got "x" [USAGE]\n',
    );
    const s = await run(['simulate', '--style', 'reverse', '--synthetic-full', 'sat']);
    assert.equal(s.code, 2);
    assert.match(s.stderr, /--synthetic-full: synthetic fulls are only for the incremental style/);
    const g = await run(['simulate', '--style', 'cairn', '--gfs', '999w']);
    assert.match(
      g.stderr,
      /^error: --gfs \(weekly\): expected a whole number from 0 to 520, got 999 \[USAGE\]$/m,
    );
  });
});
