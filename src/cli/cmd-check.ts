import type { Command } from 'commander';
import { CairnError } from '../errors.ts';
import { check, parseSubset, type Finding } from '../repo/index.ts';
import { openSession, type GlobalOptions } from './context.ts';
import { formatBytes, formatDuration, plural } from './output.ts';
import { withSignals } from './signals.ts';

interface CheckFlags {
  readonly readData?: boolean;
  readonly readDataSubset?: string;
}

function describe(f: Finding, max = 10): string[] {
  const lines = [`${f.severity}: ${f.message}`];
  const affected = f.affected ?? [];
  for (const a of affected.slice(0, max)) lines.push(`    ${a.path} (snapshot ${a.snapshot.slice(0, 8)})`);
  if (affected.length > max) lines.push(`    ... and ${affected.length - max} more`);
  return lines;
}

export function registerCheck(program: Command): void {
  program
    .command('check')
    .description('verify the repository: structure always, and every byte with --read-data')
    .option('--read-data', 'read every pack and verify every blob')
    .option('--read-data-subset <subset>', 'read only a subset: N% (random) or n/m (the n-th of m parts)')
    .addHelpText(
      'after',
      '\nExit code 27 when errors are found; each finding names the pack and the files it affects.',
    )
    .action(async (flags: CheckFlags, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const subset = flags.readDataSubset ? parseSubset(flags.readDataSubset) : undefined;
      const s = await openSession(g, { lock: 'shared', command: 'check', index: false, readOnly: true });
      try {
        const { repo, out } = s;
        let phase = { done: 0, total: 0, what: 'index' };
        const stop = out.progress(
          (ms) => `[${formatDuration(ms)}] ${phase.what} ${phase.done}/${phase.total}`,
        );
        const started = Date.now();
        let result;
        try {
          result = await withSignals((signal) =>
            check(repo, {
              readData: flags.readData === true || subset !== undefined,
              ...(subset ? { subset } : {}),
              signal,
              onProgress: (done, total, what) => (phase = { done, total, what }),
            }),
          );
        } finally {
          stop();
        }
        for (const f of result.warnings) for (const l of describe(f)) out.line(l);
        for (const f of result.errors) for (const l of describe(f)) out.line(l);
        out.line(
          `checked ${result.snapshots} snapshots, ${result.trees} trees, ${result.blobs} blobs in ${result.packs} packs` +
            (result.packsRead > 0
              ? `; read ${result.packsRead} packs (${formatBytes(result.bytesRead)})`
              : '') +
            ` in ${formatDuration(Date.now() - started)}: ${result.errors.length === 0 ? 'no errors' : plural(result.errors.length, 'error')}`,
        );
        out.emit({
          message_type: 'summary',
          ok: result.errors.length === 0,
          errors: result.errors,
          warnings: result.warnings,
          snapshots: result.snapshots,
          trees: result.trees,
          blobs: result.blobs,
          packs: result.packs,
          packs_read: result.packsRead,
          bytes_read: result.bytesRead,
        });
        if (result.errors.length > 0) {
          const first = result.errors[0];
          const n = result.errors.length;
          throw new CairnError(
            'CHECK_FAILED',
            `The repository has ${n} ${n === 1 ? 'error' : 'errors'}${first ? `; the first: ${first.message}` : ''}`,
          );
        }
      } finally {
        await s.close();
      }
    });
}
