import type { Command } from 'commander';
import { CairnError } from '../errors.ts';
import { parseCodec } from '../compress/index.ts';
import { Repository } from '../repo/index.ts';
import { openBackend, repoLocation, s3Backend, type GlobalOptions } from './context.ts';
import { fromLocation, openFrom, withFromOptions, type FromFlags } from './from-repo.ts';
import { makeOutput } from './output.ts';
import { resolveNewSecret } from './secrets.ts';
import { parseSize } from './parse.ts';

interface InitFlags extends FromFlags {
  readonly copyKeys?: boolean;
  readonly chunkerMin?: string;
  readonly chunkerAvg?: string;
  readonly chunkerMax?: string;
  readonly packSize?: string;
  readonly alignment?: string;
  readonly compression?: string;
  readonly objectLock?: string;
  readonly lockMode?: string;
}

/** Passwords shorter than this get a note at init: they can be guessed offline. */
const SHORT_PASSWORD = 12;

export function registerInit(program: Command): void {
  const init = program.command('init').description('create a new repository');
  withFromOptions(init, 'chunk like it (and, with --copy-keys, share its master key)')
    .option(
      '--copy-keys',
      "with --from-repo: the same master key as the source, so that copy can clone its packs' blocks",
    )
    .option('--pack-size <size>', 'target pack size (e.g. 16MiB)')
    .option(
      '--alignment <bytes>',
      'alignment of data blobs of 64 KiB or more: 4096 (default), 65536, or 1 for dense packs',
    )
    .option(
      '--compression <codec>',
      'zstd[:LEVEL] (default zstd:2; zstd:3 stores about 3% less in 10% more time), gzip[:LEVEL] or none',
    )
    .option('--chunker-min <size>', 'smallest chunk (default 512KiB)')
    .option('--chunker-avg <size>', 'average chunk, a power of two (default 1MiB)')
    .option('--chunker-max <size>', 'largest chunk (default 8MiB)')
    .option(
      '--object-lock <days>',
      'S3 only: make the bucket with object lock, every file immutable for this many days after it is written',
    )
    .option('--lock-mode <mode>', 'with --object-lock: governance (default) or compliance')
    .addHelpText(
      'after',
      `
The password comes from CAIRN_PASSWORD, --password-file, or a prompt (asked twice).
With --kek-file the first key slot is a key-encryption-key slot instead.

With --from-repo SRC the new repository takes SRC's chunker parameters and secret, so the same
files make the same chunks in both, and by default its pack size, alignment and compression.
Opening SRC takes its password (--from-password-file, CAIRN_FROM_PASSWORD_FILE,
CAIRN_FROM_PASSWORD, or a prompt). With --copy-keys it also shares SRC's master key: "cairn copy"
between the two then moves sealed blobs as they are, and clones them on one XFS or Btrfs. The new
repository still gets a key slot and password of its own.

An S3 repository is named s3:http(s)://HOST[:PORT]/BUCKET[/PREFIX]; the credentials come from
AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (AWS_SESSION_TOKEN) or AWS_PROFILE, the region from
AWS_DEFAULT_REGION (default us-east-1). init makes the bucket if it is missing. With
--object-lock DAYS it is made with object lock: no client, Cairn included, can delete or change a
file for DAYS days after it was written (in compliance mode not even the bucket's owner; in
governance mode a user allowed to bypass it can). On a bucket that already has object lock, init
takes its default retention. Packs are dense on S3 (alignment 1).`,
    )
    .action(async (flags: InitFlags, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const out = makeOutput(g);
      const location = repoLocation(g);
      const from = fromLocation(flags);
      if (flags.copyKeys && from === undefined) {
        throw new CairnError(
          'USAGE',
          'Cannot use --copy-keys without --from-repo: whose keys would it copy?',
        );
      }
      if (from !== undefined && (flags.chunkerMin || flags.chunkerAvg || flags.chunkerMax)) {
        throw new CairnError(
          'USAGE',
          'Cannot use --chunker-min/--chunker-avg/--chunker-max with --from-repo: the chunker comes from the source repository',
        );
      }
      // The source first: a wrong source password should not cost the new password prompt.
      const source = from === undefined ? undefined : await openFrom(from, flags);
      const secret = await resolveNewSecret({}, g);
      const chunker: { minSize?: number; avgSize?: number; maxSize?: number } = {};
      if (flags.chunkerMin) chunker.minSize = parseSize(flags.chunkerMin, '--chunker-min');
      if (flags.chunkerAvg) chunker.avgSize = parseSize(flags.chunkerAvg, '--chunker-avg');
      if (flags.chunkerMax) chunker.maxSize = parseSize(flags.chunkerMax, '--chunker-max');
      const like = source?.config;
      if (like !== undefined) {
        chunker.minSize = like.chunker.minSize;
        chunker.avgSize = like.chunker.avgSize;
        chunker.maxSize = like.chunker.maxSize;
      }
      let compression;
      try {
        compression = flags.compression ? parseCodec(flags.compression) : undefined;
      } catch (err) {
        throw new CairnError(
          'USAGE',
          `Cannot use --compression ${flags.compression}: ${(err as Error).message}`,
        );
      }
      const packSize = flags.packSize ? parseSize(flags.packSize, '--pack-size') : like?.packSize;
      const alignment = flags.alignment ? parseSize(flags.alignment, '--alignment') : like?.alignment;
      compression ??= like?.compression;
      let objectLock: { days: number; mode: 'governance' | 'compliance' } | undefined;
      if (flags.objectLock !== undefined) {
        const days = Number(flags.objectLock);
        if (!Number.isSafeInteger(days) || days < 1 || days > 36_500) {
          throw new CairnError(
            'USAGE',
            `Cannot use --object-lock ${flags.objectLock}: give a whole number of days from 1 to 36500`,
          );
        }
        const mode = (flags.lockMode ?? 'governance').toLowerCase();
        if (mode !== 'governance' && mode !== 'compliance') {
          throw new CairnError(
            'USAGE',
            `Cannot use --lock-mode ${flags.lockMode}: give governance or compliance`,
          );
        }
        objectLock = { days, mode };
      } else if (flags.lockMode !== undefined) {
        throw new CairnError('USAGE', 'Cannot use --lock-mode without --object-lock DAYS');
      }
      const backend = openBackend(location, objectLock !== undefined ? { objectLock } : {});
      const repo = await Repository.init(backend, secret, {
        chunker,
        ...(packSize !== undefined ? { packSize } : {}),
        ...(alignment !== undefined ? { alignment } : {}),
        ...(compression ? { compression } : {}),
        ...(like ? { chunkerSecret: like.chunker.secret } : {}),
        ...(source && flags.copyKeys ? { masterKey: source.key } : {}),
      });
      out.line(`created repository ${repo.config.id.slice(0, 12)} at ${location}`);
      if (source !== undefined) {
        out.line(
          flags.copyKeys
            ? `  with the master key and chunker of ${from} (repository ${source.config.id.slice(0, 12)})`
            : `  with the chunker of ${from} (repository ${source.config.id.slice(0, 12)}) and a master key of its own`,
        );
      }
      const lock = await s3Backend(backend)?.objectLock();
      if (lock !== undefined) {
        out.line(
          `  with object lock (${lock.mode} mode): every file stays immutable for ${lock.days} days after it is written`,
        );
      }
      if ('kek' in secret)
        out.line('Keep the key-encryption key file safe: without it the data cannot be recovered.');
      else out.line('Keep the password safe: without it the data cannot be recovered.');
      // Not a warning (the command did what it was asked), but said: a copy of the repository
      // lets anyone try passwords offline, as fast as scrypt allows.
      const short = 'password' in secret && secret.password.length < SHORT_PASSWORD;
      if (short && !out.json)
        process.stderr.write(
          `note: the password is only ${secret.password.length} characters long; whoever gets a copy of the repository can try passwords offline. Use ${SHORT_PASSWORD} or more, or a key file (--kek-file with 64 random hex characters); "cairn key add" then "cairn key remove" changes it\n`,
        );
      await repo.close();
      await backend.close();
      out.emit({
        message_type: 'initialized',
        ...(short ? { short_password: true } : {}),
        id: repo.config.id,
        repository: location,
        version: repo.config.version,
        ...(lock !== undefined ? { object_lock: { days: lock.days, mode: lock.mode } } : {}),
        ...(source !== undefined
          ? { from_repository: from, from_id: source.config.id, copied_keys: flags.copyKeys === true }
          : {}),
      });
    });
}
