import type { Command } from 'commander';
import { matchesFilter } from '../repo/index.ts';
import { snapshotFilter, withFilterOptions, type FilterFlags } from './choose.ts';
import { openSession, type GlobalOptions } from './context.ts';
import { formatBytes, outcome, plural, snakeCase } from './output.ts';

export function registerSnapshots(program: Command): void {
  withFilterOptions(program.command('snapshots'), 'only')
    .description('list snapshots, and the snapshot files that cannot be read (marked damaged)')
    .action(async (flags: FilterFlags, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const s = await openSession(g, { lock: 'none', command: 'snapshots', index: false, readOnly: true });
      try {
        const { snapshots, damaged } = await s.repo.listSnapshots();
        // A damaged file is listed whatever the filter: its host, paths and tags are unknown.
        // With --json stdout is one JSON array, so the warnings go to stderr.
        for (const d of damaged) {
          if (s.out.json) process.stderr.write(`warning: ${d.error.message}\n`);
          else s.out.warn(d.error.message);
        }
        outcome.warnings += damaged.length;
        const filter = snapshotFilter(flags);
        const shown = snapshots.filter((x) => matchesFilter(x, filter));
        if (s.out.json) {
          process.stdout.write(
            JSON.stringify([
              ...shown.map((x) => ({
                id: x.id,
                short_id: x.id.slice(0, 8),
                time: x.time,
                host: x.host,
                username: x.username,
                paths: x.paths,
                tags: x.tags,
                tree: x.tree,
                ...(x.parent ? { parent: x.parent } : {}),
                ...(x.original ? { original: x.original } : {}),
                program_version: x.programVersion,
                ...(x.summary ? { summary: snakeCase(x.summary) } : {}),
                ...(x.plugins ? { plugins: x.plugins } : {}),
                ...(x.repaired ? { repaired: x.repaired } : {}),
              })),
              ...damaged.map((d) => ({
                id: d.id,
                short_id: d.id.slice(0, 8),
                damaged: true,
                reason: d.reason,
                code: d.error.code,
              })),
            ]) + '\n',
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
        if (damaged.length > 0) {
          s.out.line(
            `${plural(damaged.length, 'damaged snapshot file')} (cannot be read; "cairn forget ID" removes one, "cairn check" looks for other damage):`,
          );
          for (const d of damaged) s.out.line(`${d.id.slice(0, 8)}  damaged: ${d.reason}`);
        }
      } finally {
        await s.close();
      }
    });
}
