import type { Command } from 'commander';
import { CairnError } from '../errors.ts';
import { parseCodec } from '../compress/index.ts';
import { Repository } from '../repo/index.ts';
import { openBackend, repoLocation, type GlobalOptions } from './context.ts';
import { makeOutput } from './output.ts';
import { resolveNewSecret } from './secrets.ts';
import { parseSize } from './parse.ts';

interface InitFlags {
  readonly chunkerMin?: string;
  readonly chunkerAvg?: string;
  readonly chunkerMax?: string;
  readonly packSize?: string;
  readonly alignment?: string;
  readonly compression?: string;
}

export function registerInit(program: Command): void {
  program
    .command('init')
    .description('create a new repository')
    .option('--pack-size <size>', 'target pack size (e.g. 16MiB)')
    .option(
      '--alignment <bytes>',
      'alignment of data blobs of 64 KiB or more: 4096 (default), 65536, or 1 for dense packs',
    )
    .option('--compression <codec>', 'zstd[:LEVEL] (default zstd:3), gzip[:LEVEL] or none')
    .option('--chunker-min <size>', 'smallest chunk (default 512KiB)')
    .option('--chunker-avg <size>', 'average chunk, a power of two (default 1MiB)')
    .option('--chunker-max <size>', 'largest chunk (default 8MiB)')
    .addHelpText(
      'after',
      '\nThe password comes from CAIRN_PASSWORD, --password-file, or a prompt (asked twice).\nWith --kek-file the first key slot is a key-encryption-key slot instead.',
    )
    .action(async (flags: InitFlags, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const out = makeOutput(g);
      const location = repoLocation(g);
      const secret = await resolveNewSecret({}, g);
      const chunker: { minSize?: number; avgSize?: number; maxSize?: number } = {};
      if (flags.chunkerMin) chunker.minSize = parseSize(flags.chunkerMin, '--chunker-min');
      if (flags.chunkerAvg) chunker.avgSize = parseSize(flags.chunkerAvg, '--chunker-avg');
      if (flags.chunkerMax) chunker.maxSize = parseSize(flags.chunkerMax, '--chunker-max');
      let compression;
      try {
        compression = flags.compression ? parseCodec(flags.compression) : undefined;
      } catch (err) {
        throw new CairnError(
          'USAGE',
          `Cannot use --compression ${flags.compression}: ${(err as Error).message}`,
        );
      }
      const repo = await Repository.init(openBackend(location), secret, {
        chunker,
        ...(flags.packSize ? { packSize: parseSize(flags.packSize, '--pack-size') } : {}),
        ...(flags.alignment ? { alignment: parseSize(flags.alignment, '--alignment') } : {}),
        ...(compression ? { compression } : {}),
      });
      out.line(`created repository ${repo.config.id.slice(0, 12)} at ${location}`);
      out.line('Keep the password safe: without it the data cannot be recovered.');
      out.emit({
        message_type: 'initialized',
        id: repo.config.id,
        repository: location,
        version: repo.config.version,
      });
    });
}
