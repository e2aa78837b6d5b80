/**
 * The PostgreSQL benchmark (bench/pg.ts), run as a smoke test: a pgbench database of scale 1,
 * 100 transactions, Cairn and pgBackRest, one round. Nothing here compares times: it checks that
 * every scenario ran for both tools and was measured, and that each restore was proven by
 * starting PostgreSQL on it and finding the source's row counts and balance sum.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { parsePgbench, pgBinDir } from '../../bench/lib/pg.ts';
import { treeRss } from '../../bench/lib/pg-rss.ts';
import { run, ROOT, show, tempDir } from './cli.testing.ts';

interface Counts {
  accounts: number;
  balanceSum: number;
  history: number;
}

interface Sample {
  tool: string;
  scenario: string;
  wallS: number;
  cpuS?: number;
  maxRssBytes?: number;
  treeRssBytes?: number;
  repoBytes?: number;
  backup?: { bytesStored?: number };
  restoredBytes?: number;
  verified?: { restored: Counts; source: Counts; matched: boolean };
}

interface Results {
  versions: Record<string, string>;
  dataset: { scale: number; accounts: number };
  rounds: { pgbench: { transactions: number; walBytes: number }; source: Counts }[];
  medians: { tool: string; scenario: string }[];
  ratios: Record<string, Record<string, number>>;
  samples: Sample[];
  errors?: string[];
}

function skipReason(): string | false {
  if (process.getuid?.() !== 0) return 'needs root (PostgreSQL runs as postgres through runuser)';
  if (pgBinDir() === undefined) return 'PostgreSQL is not installed (/usr/lib/postgresql)';
  if (!existsSync('/usr/bin/pgbackrest')) return 'pgBackRest is not installed (scripts/setup.sh installs it)';
  return false;
}

describe('PostgreSQL benchmark', () => {
  it(
    'backs up, restores and proves a pgbench database with Cairn and pgBackRest',
    { skip: skipReason(), timeout: 150_000 },
    async (t) => {
      const tmp = await tempDir(t, 'cairn-pg-bench-test-');
      // PostgreSQL, as postgres, reaches its data directory and sockets below this folder
      await fs.chmod(tmp, 0o755);
      const out = path.join(tmp, 'result.json');
      const work = path.join(tmp, 'work');
      const r = await run(
        process.execPath,
        [
          path.join(ROOT, 'bench', 'pg.ts'),
          '--scale',
          '1',
          '--transactions',
          '100',
          '--tools',
          'cairn,pgbackrest',
          '--out',
          out,
          '--work',
          work,
        ],
        { timeoutMs: 140_000 },
      );
      assert.equal(r.code, 0, show(r));
      const res = JSON.parse(await fs.readFile(out, 'utf8')) as Results;
      assert.equal(res.errors, undefined);
      assert.match(res.versions.cairn ?? '', /\d+\.\d+\.\d+/);
      assert.match(res.versions.pgbackrest ?? '', /^pgBackRest \d+\.\d+/);
      assert.match(res.versions.postgresql ?? '', /PostgreSQL/);
      assert.equal(res.dataset.accounts, 100_000);
      assert.equal(res.rounds.length, 1);
      const source = res.rounds[0]!.source;
      assert.equal(res.rounds[0]!.pgbench.transactions, 100);
      assert.equal(source.history, 100);
      assert.ok(res.rounds[0]!.pgbench.walBytes > 0);

      for (const tool of ['cairn', 'pgbackrest']) {
        const sample = (scenario: string): Sample => {
          const s = res.samples.filter((x) => x.tool === tool && x.scenario === scenario);
          assert.equal(s.length, 1, `one sample of ${tool} ${scenario}`);
          assert.ok(
            res.medians.some((m) => m.tool === tool && m.scenario === scenario),
            `a median of ${tool} ${scenario}`,
          );
          return s[0]!;
        };
        for (const scenario of ['full', 'incremental', 'restore']) {
          const s = sample(scenario);
          assert.ok(
            s.wallS > 0 && (s.cpuS ?? 0) > 0 && (s.maxRssBytes ?? 0) > 1024 * 1024,
            `${tool} ${scenario}: ${JSON.stringify(s)}`,
          );
          assert.ok((s.treeRssBytes ?? 0) >= (s.maxRssBytes ?? 0));
        }
        const full = sample('full');
        const incr = sample('incremental');
        assert.ok((full.repoBytes ?? 0) > 0 && (incr.repoBytes ?? 0) >= (full.repoBytes ?? 0));
        assert.ok((incr.backup?.bytesStored ?? 0) > 0, `${tool} stored something in the incremental`);
        // the restored server answered with the source's numbers after the pgbench run
        const restore = sample('restore');
        assert.deepEqual(restore.verified, { restored: source, source, matched: true });
        assert.ok((restore.restoredBytes ?? 0) > 10 * 1024 * 1024, `${tool} restored a data directory`);
        assert.ok(sample('start').wallS > 0);
      }
      assert.ok((res.ratios['cairn/pgbackrest']?.['full.wallS'] ?? 0) > 0);
      // the cluster, archives, repositories and restores are gone
      assert.deepEqual(await fs.readdir(work), []);
    },
  );

  it('reads what pgbench reports', () => {
    const text = [
      'transaction type: <builtin: TPC-B (sort of)>',
      'number of transactions actually processed: 2000/2000',
      'number of failed transactions: 0 (0.000%)',
      'tps = 655.123456 (without initial connection time)',
    ].join('\n');
    assert.deepEqual(parsePgbench(text), { transactions: 2000, tps: 655.123456 });
  });

  it('sums the resident memory of the processes below this one', async () => {
    const { spawn } = await import('node:child_process');
    const child = spawn('sleep', ['5']);
    try {
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.ok(treeRss(process.pid) > 0);
    } finally {
      child.kill();
    }
  });
});
