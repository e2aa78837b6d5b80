import path from 'node:path';
import type { Command } from 'commander';
import { openSession, type GlobalOptions } from './context.ts';
import { formatBytes, outcome, snakeCase } from './output.ts';

interface SnapshotsFlags {
  readonly host?: string;
  readonly tag?: string;
  readonly path?: string;
}

export function registerSnapshots(program: Command): void {
  program
    .command('snapshots')
    .description('list snapshots')
    .option('--host <name>', 'only snapshots of this host')
    .option('--tag <tag>', 'only snapshots with this tag')
    .option('--path <path>', 'only snapshots that include this path')
    .action(async (flags: SnapshotsFlags, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const s = await openSession(g, { lock: 'none', command: 'snapshots', index: false });
      try {
        const { snapshots, errors } = await s.repo.listSnapshots();
        // With --json stdout is one JSON array, so damaged snapshots are reported on stderr.
        for (const e of errors) {
          if (s.out.json) process.stderr.write(`warning: ${e.message}\n`);
          else s.out.warn(e.message);
        }
        outcome.warnings += errors.length;
        // Snapshots record absolute, normalised paths (as backup wrote them): compare like with like.
        const wanted = flags.path === undefined ? undefined : path.resolve(flags.path);
        const shown = snapshots.filter(
          (x) =>
            (flags.host === undefined || x.host === flags.host) &&
            (flags.tag === undefined || x.tags.includes(flags.tag)) &&
            (wanted === undefined || x.paths.includes(wanted)),
        );
        if (s.out.json) {
          process.stdout.write(
            JSON.stringify(
              shown.map((x) => ({
                id: x.id,
                short_id: x.id.slice(0, 8),
                time: x.time,
                host: x.host,
                username: x.username,
                paths: x.paths,
                tags: x.tags,
                tree: x.tree,
                ...(x.parent ? { parent: x.parent } : {}),
                program_version: x.programVersion,
                ...(x.summary ? { summary: snakeCase(x.summary) } : {}),
                ...(x.plugins ? { plugins: x.plugins } : {}),
                ...(x.repaired ? { repaired: x.repaired } : {}),
              })),
            ) + '\n',
          );
          return;
        }
        const rows = shown.map((x) => [
          x.id.slice(0, 8),
          x.time.replace('T', ' ').slice(0, 19),
          x.host,
          x.tags.join(','),
          x.summary ? formatBytes(x.summary.totalBytesProcessed) : '',
          x.paths.join(' '),
        ]);
        const head = ['ID', 'Time (UTC)', 'Host', 'Tags', 'Size', 'Paths'];
        const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
        const fmt = (r: string[]) =>
          r
            .map((c, i) => c.padEnd(widths[i] ?? 0))
            .join('  ')
            .trimEnd();
        s.out.line(fmt(head));
        s.out.line(widths.map((w) => '-'.repeat(w)).join('  '));
        for (const r of rows) s.out.line(fmt(r));
        s.out.line(`${shown.length} snapshots`);
      } finally {
        await s.close();
      }
    });
}
