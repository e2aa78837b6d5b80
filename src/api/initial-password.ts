/**
 * The first administrator's password file: `initial-admin-password` in the data directory, written
 * on the first start when no password was given. It must not outlive the password it holds, so
 * every path that changes a password (the API, `cairn user passwd`) retires it, and a start that
 * finds it stale removes it.
 */
import { readFile, unlink } from 'node:fs/promises';
import path from 'node:path';
import { verifyPassword } from './auth.ts';

export const INITIAL_PASSWORD_FILE = 'initial-admin-password';

export function initialPasswordPath(dataDir: string): string {
  return path.join(dataDir, INITIAL_PASSWORD_FILE);
}

/** The password in the file, or undefined when there is no file. */
async function readInitial(file: string): Promise<string | undefined> {
  try {
    return (await readFile(file, 'utf8')).split(/\r?\n/, 1)[0] ?? '';
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/**
 * Call when a user's password changes, with the hash it had before: when the file holds the old
 * password (the user was the first administrator, still with the password the server chose), the
 * file is removed. True when it was.
 */
export async function retireInitialPassword(file: string | undefined, oldHash: string): Promise<boolean> {
  if (!file) return false;
  const password = await readInitial(file);
  if (password === undefined || !(await verifyPassword(password, oldHash))) return false;
  await unlink(file).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err;
  });
  return true;
}

/**
 * What a start finds: `none` (no file), `in-use` (it still opens one of `hashes`: the first
 * administrator has not changed it) or `removed` (it opened none, so it was removed).
 */
export async function checkInitialPassword(
  file: string,
  hashes: readonly string[],
): Promise<'none' | 'in-use' | 'removed'> {
  const password = await readInitial(file);
  if (password === undefined) return 'none';
  for (const hash of hashes) if (await verifyPassword(password, hash)) return 'in-use';
  await unlink(file).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err;
  });
  return 'removed';
}
