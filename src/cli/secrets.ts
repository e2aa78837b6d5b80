/**
 * Where the CLI gets secrets: the environment (CAIRN_PASSWORD), a file (--password-file,
 * CAIRN_PASSWORD_FILE; --kek-file, CAIRN_KEK_FILE), or a prompt on a terminal. Secrets never come
 * from argv, where every user of the machine could read them.
 */
import { readFileSync } from 'node:fs';
import { CairnError, reason } from '../errors.ts';
import { validateKek, type Secret } from '../repo/index.ts';

export interface SecretOptions {
  readonly passwordFile?: string;
  readonly kekFile?: string;
}

function readSecretFile(file: string, what: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new CairnError('USAGE', `Cannot read the ${what} file ${file}: ${reason(err)}`, { cause: err });
  }
}

/** A KEK file holds 64 hex characters (a trailing newline is fine) or 32 raw bytes. */
export function readKekFile(file: string): Buffer {
  const bytes = readSecretFile(file, 'key-encryption key');
  const text = bytes.toString('latin1').trim();
  if (/^[0-9a-fA-F]{64}$/.test(text)) return Buffer.from(text, 'hex');
  return validateKek(bytes, file);
}

function firstLine(bytes: Buffer): string {
  return bytes.toString('utf8').split(/\r?\n/, 1)[0] ?? '';
}

/** Reads a line from the terminal without echoing it. */
export async function promptHidden(question: string): Promise<string> {
  const stdin = process.stdin;
  if (!stdin.isTTY)
    throw new CairnError(
      'REPO_NO_PASSWORD',
      'Cannot ask for a password: standard input is not a terminal; set CAIRN_PASSWORD or use --password-file',
    );
  process.stderr.write(question);
  stdin.setRawMode(true);
  stdin.resume();
  let line = '';
  try {
    return await new Promise<string>((resolve, reject) => {
      const onData = (data: Buffer) => {
        for (const ch of data.toString('utf8')) {
          if (ch === '\r' || ch === '\n') {
            stdin.off('data', onData);
            resolve(line);
            return;
          }
          if (ch === '\u0003') {
            stdin.off('data', onData);
            reject(new CairnError('INTERRUPTED', 'Password prompt cancelled'));
            return;
          }
          if (ch === '\u007f' || ch === '\b') line = line.slice(0, -1);
          else line += ch;
        }
      };
      stdin.on('data', onData);
    });
  } finally {
    stdin.setRawMode(false);
    stdin.pause();
    process.stderr.write('\n');
  }
}

/** The secret that opens an existing repository. */
export async function resolveSecret(options: SecretOptions, env = process.env): Promise<Secret> {
  const kekFile = options.kekFile ?? env.CAIRN_KEK_FILE;
  if (kekFile) return { kek: readKekFile(kekFile) };
  const file = options.passwordFile ?? env.CAIRN_PASSWORD_FILE;
  if (file) return { password: firstLine(readSecretFile(file, 'password')) };
  if (env.CAIRN_PASSWORD !== undefined) return { password: env.CAIRN_PASSWORD };
  if (process.stdin.isTTY) return { password: await promptHidden('Repository password: ') };
  throw new CairnError(
    'REPO_NO_PASSWORD',
    'Cannot open the repository: no password given; set CAIRN_PASSWORD, CAIRN_PASSWORD_FILE or --password-file (or CAIRN_KEK_FILE / --kek-file)',
  );
}

export interface FromSecretOptions {
  readonly fromPasswordFile?: string;
  readonly fromKekFile?: string;
}

/**
 * The secret that opens the source repository of `init --from-repo` and `copy --from-repo`:
 * --from-kek-file or $CAIRN_FROM_KEK_FILE, --from-password-file or $CAIRN_FROM_PASSWORD_FILE,
 * $CAIRN_FROM_PASSWORD, or a prompt on a terminal. Never the destination's own variables.
 */
export async function resolveFromSecret(options: FromSecretOptions, env = process.env): Promise<Secret> {
  const kekFile = options.fromKekFile ?? env.CAIRN_FROM_KEK_FILE;
  if (kekFile) return { kek: readKekFile(kekFile) };
  const file = options.fromPasswordFile ?? env.CAIRN_FROM_PASSWORD_FILE;
  if (file) return { password: firstLine(readSecretFile(file, 'source repository password')) };
  if (env.CAIRN_FROM_PASSWORD !== undefined) return { password: env.CAIRN_FROM_PASSWORD };
  if (process.stdin.isTTY) return { password: await promptHidden('Password of the source repository: ') };
  throw new CairnError(
    'REPO_NO_PASSWORD',
    'Cannot open the source repository: no password given; set CAIRN_FROM_PASSWORD, CAIRN_FROM_PASSWORD_FILE or --from-password-file (or CAIRN_FROM_KEK_FILE / --from-kek-file)',
  );
}

/** A new password must not be empty, wherever it comes from (the prompt refuses one too). */
function newPassword(password: string, origin: string): Secret {
  if (password.length === 0)
    throw new CairnError('USAGE', `Cannot set the new password from ${origin}: it is empty`);
  return { password };
}

/** A new secret (init, key add): asked twice on a terminal. */
export async function resolveNewSecret(
  options: { readonly newPasswordFile?: string; readonly newKekFile?: string },
  fallback: SecretOptions | undefined,
  env = process.env,
): Promise<Secret> {
  if (options.newKekFile) return { kek: readKekFile(options.newKekFile) };
  if (options.newPasswordFile)
    return newPassword(
      firstLine(readSecretFile(options.newPasswordFile, 'new password')),
      options.newPasswordFile,
    );
  if (env.CAIRN_NEW_PASSWORD !== undefined) return newPassword(env.CAIRN_NEW_PASSWORD, 'CAIRN_NEW_PASSWORD');
  if (fallback) {
    const kekFile = fallback.kekFile ?? env.CAIRN_KEK_FILE;
    if (kekFile) return { kek: readKekFile(kekFile) };
    const file = fallback.passwordFile ?? env.CAIRN_PASSWORD_FILE;
    if (file) return newPassword(firstLine(readSecretFile(file, 'password')), file);
    if (env.CAIRN_PASSWORD !== undefined) return newPassword(env.CAIRN_PASSWORD, 'CAIRN_PASSWORD');
  }
  if (!process.stdin.isTTY) {
    throw new CairnError(
      'REPO_NO_PASSWORD',
      'Cannot set a new password: none given and standard input is not a terminal; set CAIRN_NEW_PASSWORD or use --new-password-file',
    );
  }
  const a = await promptHidden('New password: ');
  const b = await promptHidden('Repeat the new password: ');
  if (a !== b) throw new CairnError('USAGE', 'Cannot set the new password: the two entries differ');
  if (a.length === 0) throw new CairnError('USAGE', 'Cannot set the new password: it is empty');
  return { password: a };
}
