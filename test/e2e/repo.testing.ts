/**
 * Fixtures the CLI tests make through the library: repositories whose key slot uses a cheap
 * scrypt (so each CLI command on them opens in milliseconds, not 0.3 s), locks held by this test
 * process or by a process that is gone, and snapshot copies.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { hostname } from 'node:os';
import { LocalBackend } from '../../src/backend/index.ts';
import { flipBlob } from '../../src/repo/fixtures.testing.ts';
import { makeTemp } from './cli.testing.ts';
import { backup, findNode, Lock, Repository, type LockEnv } from '../../src/repo/index.ts';
import type { Location } from '../../src/repo/master-index.ts';

/** Far below the default (N = 2^15, p = 4): for fixtures only. */
export const CHEAP_SCRYPT = { N: 1024, r: 8, p: 1 };

/** Creates a repository at `location` with one cheap password slot and, given `sources`, one snapshot. */
export async function makeRepo(
  location: string,
  password: string,
  sources: readonly string[] = [],
): Promise<void> {
  const repo = await Repository.init(new LocalBackend(location), { password }, { scrypt: CHEAP_SCRYPT });
  try {
    if (sources.length > 0) await backup(repo, sources);
  } finally {
    await repo.close();
  }
}

/** Opens a repository with its index loaded; close it with `close()`. */
export async function openRepo(location: string, password: string): Promise<Repository> {
  const repo = await Repository.open(new LocalBackend(location), { password });
  await repo.loadIndex();
  return repo;
}

/** A pid that no process has: one of a child that has exited. */
export function deadPid(): number {
  const r = spawnSync('true');
  if (r.pid === undefined || r.pid <= 0) throw new Error('cannot start "true" to get a pid');
  return r.pid;
}

/** A lock written as if by process `pid` of this host (no refresh timer). */
export function lockAs(
  repo: Repository,
  pid: number,
  options: { exclusive: boolean; command: string },
): Promise<Lock> {
  const env: LockEnv = { now: () => new Date(), host: hostname(), pid, alive: () => true };
  return Lock.acquire(repo, { ...options, env, refresh: false });
}

/**
 * Saves copies of the first snapshot (with later times) until two snapshot ids share their
 * first hex digit; returns that digit. 17 snapshots always suffice.
 */
export async function snapshotsSharingAPrefix(repo: Repository): Promise<string> {
  const { snapshots } = await repo.listSnapshots();
  const first = snapshots[0];
  if (first === undefined) throw new Error('the repository has no snapshot to copy');
  const seen = new Set(snapshots.map((s) => s.id[0]!));
  if (seen.size < snapshots.length) {
    return [...seen].find((c) => snapshots.filter((s) => s.id[0] === c).length > 1)!;
  }
  const { id: _id, ...manifest } = first;
  for (let i = 1; ; i++) {
    const id = await repo.saveSnapshot({
      ...manifest,
      time: new Date(Date.parse(first.time) + i * 1000).toISOString(),
    });
    if (seen.has(id[0]!)) return id[0]!;
    seen.add(id[0]!);
  }
}

/** A temporary folder with a repository in `repo/` and the environment that opens it. */
export async function tempRepo(password: string): Promise<{ dir: string; env: Record<string, string> }> {
  const dir = await makeTemp();
  const env = { CAIRN_REPOSITORY: path.join(dir, 'repo'), CAIRN_PASSWORD: password };
  await makeRepo(env.CAIRN_REPOSITORY, password);
  return { dir, env };
}

/** A stored blob as the index places it. */
export type StoredBlob = { readonly id: Buffer } & Location;

/**
 * Flips one byte in the middle of the stored blob that `pick` chooses among the index's entries,
 * in its pack file (so it fails authentication); returns that blob.
 */
export async function damageBlob(
  location: string,
  password: string,
  pick: (blob: StoredBlob, repo: Repository) => boolean | Promise<boolean>,
): Promise<StoredBlob> {
  const repo = await openRepo(location, password);
  try {
    let found: StoredBlob | undefined;
    for (const e of repo.index.entries()) {
      if (await pick(e, repo)) {
        found = e;
        break;
      }
    }
    if (found === undefined) throw new Error(`no blob in ${location} is the one asked for`);
    await flipBlob(location, found);
    return found;
  } finally {
    await repo.close();
  }
}

/** The id (hex) of the tree blob that lists folder `folder` (an absolute path) in the latest snapshot. */
export async function treeOf(repo: Repository, folder: string): Promise<string> {
  const node = await findNode(repo, await repo.findSnapshot('latest'), folder);
  if (node.type !== 'dir' || node.subtree === undefined)
    throw new Error(`${folder} is no folder with a tree`);
  return node.subtree;
}
