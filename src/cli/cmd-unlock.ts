import type { Command } from 'commander';
import { unlock } from '../repo/index.ts';
import { openSession, type GlobalOptions } from './context.ts';
import { plural } from './output.ts';

export function registerUnlock(program: Command): void {
  program
    .command('unlock')
    .description('remove stale locks (of processes that are gone or not refreshed for 30 minutes)')
    .option(
      '--remove-all',
      'remove every lock, also ones that look alive: only when you know no other process uses the repository',
    )
    .action(async (flags: { removeAll?: boolean }, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const s = await openSession(g, { lock: 'none', command: 'unlock', index: false });
      try {
        const removed = await unlock(s.repo, { all: flags.removeAll === true });
        s.out.line(removed.length === 0 ? 'no stale locks' : `removed ${plural(removed.length, 'lock')}`);
        s.out.emit({ message_type: 'unlocked', removed });
      } finally {
        await s.close();
      }
    });
}
