import type { Command } from 'commander';
import { prune } from '../repo/index.ts';
import { openSession, type GlobalOptions } from './context.ts';
import { parsePercent, printPrune } from './cmd-forget.ts';
import { formatDuration } from './output.ts';
import { withSignals } from './signals.ts';

export function registerPrune(program: Command): void {
  program
    .command('prune')
    .description('remove data that no snapshot needs, repacking packs that are mostly unused')
    .option('--max-unused <percent>', 'repack packs whose unused share exceeds this', '5%')
    .option('-n, --dry-run', 'only say what would be done')
    .addHelpText(
      'after',
      `
Prune takes an exclusive lock. It deletes nothing until the index that replaces the old one is
written, so an interruption at any moment loses no data; run it again to finish.

On XFS with reflink the blobs a repacked pack keeps are cloned into the new pack, not copied:
only small blobs are written again ("bytes_cloned" and "bytes_copied" in --json).`,
    )
    .action(async (flags: { maxUnused: string; dryRun?: boolean }, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const maxUnused = parsePercent(flags.maxUnused, '--max-unused');
      const s = await openSession(g, { lock: flags.dryRun ? 'shared' : 'exclusive', command: 'prune' });
      try {
        let phase = { what: 'scan', done: 0, total: 0 };
        const stop = s.out.progress(
          (ms) => `[${formatDuration(ms)}] ${phase.what} ${phase.done}/${phase.total}`,
        );
        try {
          const r = await withSignals((signal) =>
            prune(s.repo, {
              maxUnused,
              dryRun: flags.dryRun === true,
              signal,
              onProgress: (what, done, total) => (phase = { what, done, total }),
            }),
          );
          stop();
          printPrune(s, r);
        } finally {
          stop();
        }
      } finally {
        await s.close();
      }
    });
}
