import type { Command } from 'commander';
import { cloneFile, DEFAULT_STEP } from '../clone/index.ts';
import { CairnError } from '../errors.ts';
import { formatBytes, formatDuration, makeOutput } from './output.ts';
import { parseSize } from './parse.ts';
import type { GlobalOptions } from './context.ts';

interface CloneFlags {
  readonly force?: boolean;
  readonly step?: string;
  readonly verify?: boolean;
  readonly fallback?: string;
}

export function registerClone(program: Command): void {
  program
    .command('clone')
    .description('make a copy of a file that shares its blocks with the original (XFS with reflink, Btrfs)')
    .argument('<src>', 'the file to clone')
    .argument('<dst>', 'the new file, on the same file system')
    .option('-f, --force', 'replace DST if it exists')
    .option(
      '--step <size>',
      `clone at most this much per call, for progress (default ${formatBytes(DEFAULT_STEP)})`,
    )
    .option('--verify', 'read both files afterwards and compare them')
    .option('--fallback <how>', '"copy": copy where blocks cannot be shared instead of failing')
    .addHelpText(
      'after',
      `
A clone takes no space until one of the files changes. Holes of a sparse source stay holes; mode,
owner, extended attributes and times are copied. Needs no repository.

Exit codes: 60 DST exists, 61 not the same file system, 62 the file system cannot clone,
63 an unaligned range, 64 the clone does not verify.`,
    )
    .action((src: string, dst: string, flags: CloneFlags, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const out = makeOutput(g);
      if (flags.fallback !== undefined && flags.fallback !== 'copy') {
        throw new CairnError('USAGE', `Cannot use --fallback ${flags.fallback}: the only fallback is "copy"`);
      }
      const step = flags.step ? parseSize(flags.step, '--step') : DEFAULT_STEP;
      const started = Date.now();
      let done = 0;
      let total = 0;
      const stop = out.progress(
        (ms) => `[${formatDuration(ms)}] ${formatBytes(done)} of ${formatBytes(total)}`,
      );
      let r;
      try {
        r = cloneFile(src, dst, {
          step,
          ...(flags.force ? { force: true } : {}),
          ...(flags.verify ? { verify: true } : {}),
          ...(flags.fallback === 'copy' ? { fallback: 'copy' as const } : {}),
          onProgress: (d, t) => {
            done = d;
            total = t;
          },
        });
      } finally {
        stop();
      }
      const ms = Date.now() - started;
      out.line(
        `${dst}: ${formatBytes(r.size)}, ${formatBytes(r.bytesCloned)} cloned, ${formatBytes(r.bytesCopied)} copied, ` +
          `${formatBytes(r.bytesSparse)} holes kept (block size ${r.blockSize})${r.verified ? ', verified' : ''} in ${formatDuration(ms)}`,
      );
      out.emit({
        message_type: 'summary',
        source: src,
        destination: dst,
        size: r.size,
        block_size: r.blockSize,
        bytes_cloned: r.bytesCloned,
        bytes_copied: r.bytesCopied,
        bytes_sparse: r.bytesSparse,
        verified: r.verified,
        total_duration: ms / 1000,
      });
    });
}
