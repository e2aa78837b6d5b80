import type { Command } from 'commander';
import { CairnError } from '../errors.ts';
import { prune } from '../repo/index.ts';
import { openSession, type GlobalOptions } from './context.ts';
import { parsePercent, printPrune } from './cmd-forget.ts';
import { formatDuration } from './output.ts';
import { withSignals } from './signals.ts';

/** "30s", "15m", "2h" or "0" in milliseconds. */
export function parseWait(text: string): number {
  const m = /^(\d+)(s|m|h)?$/.exec(text.trim());
  if (!m) {
    throw new CairnError('USAGE', `Cannot use --max-wait ${text}: give a duration such as 30s, 15m or 2h`);
  }
  const unit = m[2] === 'h' ? 3_600_000 : m[2] === 'm' ? 60_000 : 1000;
  return Number(m[1]) * (m[1] === '0' ? 0 : unit);
}

export function registerPrune(program: Command): void {
  program
    .command('prune')
    .description('remove data that no snapshot needs, repacking packs that are mostly unused')
    .option('--max-unused <percent>', 'repack packs whose unused share exceeds this', '5%')
    .option('-n, --dry-run', 'only say what would be done')
    .option(
      '--max-wait <duration>',
      'wait at most this long (30s, 15m, 2h) for operations that began before the new index; then leave the unused packs for the next prune',
      '15m',
    )
    .addHelpText(
      'after',
      `
Prune runs beside backups, restores and checks; only another prune or forget, a repair or a key
removal excludes it. It never deletes a pack that a snapshot needs: it reads every index file,
reads the trailers of packs that no index names (and indexes those that hold needed blobs), and
stops before deleting anything when a needed blob cannot be found, naming it, its file and its
snapshot (exit 28). Unused packs leave the index first; they are deleted only once every
operation that began before that has ended (at most --max-wait), and after a last look at the
snapshots written meanwhile. An interruption at any moment loses no data; run it again to finish.
It also removes crash leftovers: temp files older than an hour and lock files of processes of
this host that no longer run.

On XFS with reflink the blobs a repacked pack keeps are cloned into the new pack, not copied:
only small blobs are written again ("bytes_cloned" and "bytes_copied" in --json).`,
    )
    .action(async (flags: { maxUnused: string; dryRun?: boolean; maxWait: string }, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const maxUnused = parsePercent(flags.maxUnused, '--max-unused');
      const maxWaitMs = parseWait(flags.maxWait);
      const s = await openSession(g, {
        lock: flags.dryRun ? 'shared' : 'gc',
        command: 'prune',
        index: false,
      });
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
              ...(s.lock ? { lockName: s.lock.name } : {}),
              ...(maxWaitMs !== undefined ? { maxWaitMs } : {}),
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
