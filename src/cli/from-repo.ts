/** The source repository of `init --from-repo` and `copy --from-repo`, and the secret that opens it. */
import type { Command } from 'commander';
import { CairnError } from '../errors.ts';
import { Repository } from '../repo/index.ts';
import { openBackend } from './context.ts';
import { resolveFromSecret, type FromSecretOptions } from './secrets.ts';

export interface FromFlags extends FromSecretOptions {
  readonly fromRepo?: string;
}

/** Adds --from-repo and the options that give the source's secret (never the secret itself). */
export function withFromOptions(cmd: Command, what: string): Command {
  return cmd
    .option('--from-repo <dir>', `the source repository: ${what} (or $CAIRN_FROM_REPOSITORY)`)
    .option(
      '--from-password-file <file>',
      "read the source repository's password from this file (or $CAIRN_FROM_PASSWORD_FILE, $CAIRN_FROM_PASSWORD)",
    )
    .option(
      '--from-kek-file <file>',
      'open the source repository with the key-encryption key in this file (or $CAIRN_FROM_KEK_FILE)',
    );
}

/** The source's location, or undefined when neither --from-repo nor $CAIRN_FROM_REPOSITORY gives one. */
export function fromLocation(flags: FromFlags, env = process.env): string | undefined {
  return flags.fromRepo ?? (env.CAIRN_FROM_REPOSITORY || undefined);
}

/** Opens the source repository (without its index). */
export async function openFrom(location: string, flags: FromFlags): Promise<Repository> {
  const secret = await resolveFromSecret(flags);
  try {
    return await Repository.open(openBackend(location), secret);
  } catch (err) {
    if (err instanceof CairnError && err.code === 'REPO_WRONG_PASSWORD') {
      throw new CairnError(
        err.code,
        `${err.message} (this is the source repository: its password comes from --from-password-file, CAIRN_FROM_PASSWORD_FILE or CAIRN_FROM_PASSWORD)`,
        { cause: err },
      );
    }
    throw err;
  }
}
