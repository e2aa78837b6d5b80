/**
 * Repositories as the server uses them: a location and a password file. The server never keeps a
 * repository password in the catalog; it keeps the path of a file only root (the server's user)
 * can read. Repositories it creates get a random password in a file of its data directory.
 */
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { attachCache, CONFIG_HANDLE, openLocation, type Backend } from '../backend/index.ts';
import { CairnError, isCairnError, reason } from '../errors.ts';
import { Lock, readLocks, Repository, type Secret } from '../repo/index.ts';

export interface RepoRef {
  readonly name: string;
  readonly location: string;
  readonly password_file: string;
  /** The repository's key-encryption key (base64), unwrapped from the catalog with the server key. */
  readonly kek?: string;
}

/** How a repository is opened: its key-encryption key, else its password file. */
export function secretOf(ref: RepoRef): Secret {
  if (ref.kek) return { kek: Buffer.from(ref.kek, 'base64') };
  return readPasswordFile(ref.password_file, ref.name);
}

export function readPasswordFile(file: string, repoName: string): Secret {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new CairnError(
      'REPO_NO_PASSWORD',
      `Cannot open repository ${repoName}: its password file ${file} cannot be read (${reason(err)})`,
      { cause: err },
    );
  }
  const password = text.split(/\r?\n/)[0] ?? '';
  if (!password)
    throw new CairnError(
      'REPO_NO_PASSWORD',
      `Cannot open repository ${repoName}: its password file ${file} is empty`,
    );
  return { password };
}

/** Writes a new password file (0600) and returns its path. */
export function writePasswordFile(dir: string, name: string, password?: string): string {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = path.join(dir, `${name}.password`);
  writeFileSync(file, (password ?? randomBytes(32).toString('base64url')) + '\n', { mode: 0o600, flag: 'w' });
  chmodSync(file, 0o600);
  return file;
}

export function backendFor(location: string): Backend {
  if (!/^s3:/i.test(location) && /^[a-z][a-z0-9+.-]*:/i.test(location))
    throw new CairnError(
      'INVALID_INPUT',
      `location: "${location}" is neither a local directory nor s3:http(s)://HOST[:PORT]/BUCKET[/PREFIX]`,
    );
  if (!/^s3:/i.test(location) && !path.isAbsolute(location))
    throw new CairnError('INVALID_INPUT', `location: "${location}" is not an absolute path`);
  return openLocation(location);
}

/**
 * Makes sure `ref` names a repository its secret opens: creates it when `create` is set and the
 * location is empty or absent; else opens it (read only, no lock, no index: a key derivation and
 * a few reads), so that a wrong password file or a location that holds no repository is refused
 * when the repository is registered, not at its first run.
 */
export async function ensureRepository(ref: RepoRef, create: boolean): Promise<'created' | 'exists'> {
  if (/^s3:/i.test(ref.location)) {
    // A bucket: its config object says whether the repository exists.
    const probe = backendFor(ref.location);
    let exists = false;
    try {
      exists = await probe.exists(CONFIG_HANDLE);
    } catch (err) {
      // No bucket yet: init makes it.
      if (!isCairnError(err, 'BACKEND_NOT_FOUND')) throw err;
    } finally {
      await probe.close();
    }
    if (exists) {
      await verifyRepository(ref);
      return 'exists';
    }
  } else {
    if (existsSync(ref.location) && !statSync(ref.location).isDirectory())
      throw new CairnError(
        'REPO_NOT_CAIRN',
        `Cannot use ${ref.location} for repository ${ref.name}: it is a file, not a folder`,
      );
    const empty = !existsSync(ref.location) || readdirSync(ref.location).length === 0;
    if (!empty) {
      if (!existsSync(path.join(ref.location, 'config')))
        throw new CairnError(
          'REPO_NOT_CAIRN',
          `Cannot use ${ref.location} for repository ${ref.name}: it is not empty and holds no Cairn repository`,
        );
      await verifyRepository(ref);
      return 'exists';
    }
  }
  if (!create)
    throw new CairnError(
      'REPO_NOT_FOUND',
      `Cannot use repository ${ref.name}: nothing at ${ref.location} (set create to initialise it)`,
    );
  const backend = backendFor(ref.location);
  try {
    const repo = await Repository.init(backend, secretOf(ref));
    await repo.close();
  } finally {
    await backend.close();
  }
  return 'created';
}

/**
 * Opens the repository of `ref` and closes it again: it is a Cairn repository of a version this
 * program reads, and its secret opens a key slot. Read only and without a lock, so a backup
 * running meanwhile is not disturbed. A refusal keeps its code and names the repository.
 */
export async function verifyRepository(ref: RepoRef): Promise<void> {
  let open: OpenRepo;
  try {
    open = await openRepository(ref, { lock: 'none', command: 'register', index: false });
  } catch (err) {
    if (err instanceof CairnError)
      throw new CairnError(err.code, `Cannot use repository ${ref.name}: ${err.message}`, { cause: err });
    throw err;
  }
  await open.close();
}

export interface OpenRepo {
  readonly repo: Repository;
  readonly lock: Lock | undefined;
  close(): Promise<void>;
}

export async function openRepository(
  ref: RepoRef,
  /** `gc`: a collector's lock (prune, forget), shared with backups, exclusive among collectors. */
  options: { lock: 'shared' | 'gc' | 'exclusive' | 'none'; command: string; index: boolean },
): Promise<OpenRepo> {
  const backend = backendFor(ref.location);
  let repo: Repository | undefined;
  let lock: Lock | undefined;
  try {
    repo = await Repository.open(backend, secretOf(ref));
    attachCache(backend, repo.config.id);
    if (options.lock !== 'none')
      lock = await Lock.acquire(repo, {
        exclusive: options.lock === 'exclusive',
        gc: options.lock === 'gc',
        command: options.command,
      });
    if (options.index) await repo.loadIndex();
  } catch (err) {
    await lock?.release().catch(() => undefined);
    await repo?.close().catch(() => undefined);
    await backend.close();
    throw err;
  }
  const r = repo;
  const l = lock;
  return {
    repo: r,
    lock: l,
    async close() {
      try {
        await r.close();
      } finally {
        await l?.release().catch(() => undefined);
        await backend.close();
      }
    },
  };
}

/** How a run's repository locks name it: their command ends with `, run ID)`. */
export const runLockTag = (id: string): string => `run ${id}`;

/**
 * Removes the repository locks a run left (their command ends with `run ID)`): the run's server
 * died and another took the run over. Returns how many were removed.
 */
export async function removeRunLocks(ref: RepoRef, runId: string): Promise<number> {
  const open = await openRepository(ref, { lock: 'none', command: '', index: false });
  try {
    let removed = 0;
    for (const l of await readLocks(open.repo)) {
      if (!l.lock?.command.endsWith(`, ${runLockTag(runId)})`)) continue;
      try {
        await open.repo.backend.remove({ type: 'locks', name: l.name });
        removed++;
      } catch (err) {
        if (!isCairnError(err, 'BACKEND_NOT_FOUND')) throw err;
      }
    }
    return removed;
  } finally {
    await open.close();
  }
}
