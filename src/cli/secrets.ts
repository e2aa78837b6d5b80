/**
 * Where the CLI gets secrets: the environment (CAIRN_PASSWORD), a file (--password-file,
 * CAIRN_PASSWORD_FILE; --kek-file, CAIRN_KEK_FILE), a program that prints it (--password-command,
 * CAIRN_PASSWORD_COMMAND: a password manager, a secret store), or a prompt on a terminal. Secrets
 * never come from argv, where every user of the machine could read them.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { CairnError, reason } from '../errors.ts';
import { commandWords } from '../plugins/index.ts';
import { validateKek, type Secret } from '../repo/index.ts';

export interface SecretOptions {
  readonly passwordFile?: string;
  readonly passwordCommand?: string;
  readonly kekFile?: string;
}

/** How long a password command may take (it may ask a password manager that asks its user). */
const PASSWORD_COMMAND_TIMEOUT_MS = 120_000;

/**
 * The first line a password command prints (restic's --password-command). The command is split
 * into words as a shell would, but no shell runs it; its standard error and input stay the
 * terminal's, so it may prompt. What it prints is never echoed, not even in an error.
 */
export function runPasswordCommand(command: string): string {
  let words: string[];
  try {
    words = commandWords(command);
  } catch (err) {
    throw new CairnError('USAGE', `Cannot run the password command: ${reason(err)}`, { cause: err });
  }
  const [program, ...args] = words;
  if (!program) throw new CairnError('USAGE', 'Cannot run the password command: it is empty');
  const r = spawnSync(program, args, {
    stdio: ['inherit', 'pipe', 'inherit'],
    timeout: PASSWORD_COMMAND_TIMEOUT_MS,
    maxBuffer: 1 << 20,
  });
  if (r.error) {
    const why =
      (r.error as NodeJS.ErrnoException).code === 'ENOENT'
        ? 'no such program'
        : (r.error as NodeJS.ErrnoException).code === 'ETIMEDOUT'
          ? `it did not finish within ${PASSWORD_COMMAND_TIMEOUT_MS / 1000} s`
          : reason(r.error);
    throw new CairnError(
      'REPO_NO_PASSWORD',
      `Cannot get the password from the password command ${program}: ${why}`,
      {
        cause: r.error,
      },
    );
  }
  if (r.status !== 0)
    throw new CairnError(
      'REPO_NO_PASSWORD',
      `Cannot get the password from the password command ${program}: it ${r.signal ? `was ended by ${r.signal}` : `exited with code ${r.status}`}`,
    );
  const password = firstLine(r.stdout);
  if (password === '')
    throw new CairnError(
      'REPO_NO_PASSWORD',
      `Cannot get the password from the password command ${program}: it printed nothing`,
    );
  return password;
}

/** --password-file and --password-command (or their variables) name one source, not two. */
function passwordSource(options: SecretOptions, env: NodeJS.ProcessEnv): { file?: string; command?: string } {
  const file = options.passwordFile ?? (options.passwordCommand ? undefined : env.CAIRN_PASSWORD_FILE);
  const command = options.passwordCommand ?? (options.passwordFile ? undefined : env.CAIRN_PASSWORD_COMMAND);
  if (file && command)
    throw new CairnError(
      'USAGE',
      'Cannot tell which password to use: a password file and a password command are both given (--password-file or CAIRN_PASSWORD_FILE, --password-command or CAIRN_PASSWORD_COMMAND); give one',
    );
  return { ...(file ? { file } : {}), ...(command ? { command } : {}) };
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
  const { file, command } = passwordSource(options, env);
  if (file) return { password: firstLine(readSecretFile(file, 'password')) };
  if (command) return { password: runPasswordCommand(command) };
  if (env.CAIRN_PASSWORD !== undefined) return { password: env.CAIRN_PASSWORD };
  if (process.stdin.isTTY) return { password: await promptHidden('Repository password: ') };
  throw new CairnError(
    'REPO_NO_PASSWORD',
    'Cannot open the repository: no password given; set CAIRN_PASSWORD, CAIRN_PASSWORD_FILE or --password-file, --password-command (or CAIRN_KEK_FILE / --kek-file)',
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
    const { file, command } = passwordSource(fallback, env);
    if (file) return newPassword(firstLine(readSecretFile(file, 'password')), file);
    if (command) return newPassword(runPasswordCommand(command), 'the password command');
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
