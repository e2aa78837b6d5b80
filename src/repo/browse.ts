/**
 * Reading snapshots without restoring them: walking trees by path, comparing two snapshots, and
 * streaming one file's bytes. Paths are absolute within the snapshot ("/usr/share/doc").
 */
import path from 'node:path';
import { CairnError } from '../errors.ts';
import type { Repository } from './repository.ts';
import type { SnapshotInfo } from './snapshot.ts';
import { syntheticNode, type TreeNode } from './tree.ts';

export interface Visited {
  readonly path: string;
  readonly node: TreeNode;
}

/** The node at `p` in the snapshot, or the root (a synthetic directory) for "/". */
export async function findNode(repo: Repository, snapshot: SnapshotInfo, p: string): Promise<TreeNode> {
  const parts = path.posix.normalize(`/${p}`).split('/').filter(Boolean);
  let node: TreeNode = rootNode(snapshot);
  let walked = '';
  for (const part of parts) {
    if (node.type !== 'dir' || node.subtree === undefined) {
      throw new CairnError(
        'SNAPSHOT_NOT_FOUND',
        `Cannot find ${p} in snapshot ${snapshot.id.slice(0, 8)}: ${walked || '/'} is not a folder`,
      );
    }
    const next = (await repo.loadTree(node.subtree)).nodes.find((n) => n.name === part);
    walked += `/${part}`;
    if (next === undefined) {
      throw new CairnError(
        'SNAPSHOT_NOT_FOUND',
        `Cannot find ${p} in snapshot ${snapshot.id.slice(0, 8)}: ${walked} does not exist there`,
      );
    }
    node = next;
  }
  return node;
}

export function rootNode(snapshot: SnapshotInfo): TreeNode {
  return syntheticNode('', 'dir', Date.parse(snapshot.time), { subtree: snapshot.tree });
}

/** Every node below (and including) `start`, depth first, in name order. */
export async function* walk(repo: Repository, start: TreeNode, at: string): AsyncGenerator<Visited> {
  if (at !== '/') yield { path: at, node: start };
  if (start.type !== 'dir' || start.subtree === undefined) return;
  for (const n of (await repo.loadTree(start.subtree)).nodes) {
    yield* walk(repo, n, path.posix.join(at, n.name));
  }
}

export type Change = '+' | '-' | 'M' | 'T' | 'U';

export interface Difference {
  readonly change: Change;
  readonly path: string;
  readonly before?: TreeNode;
  readonly after?: TreeNode;
}

function sameContent(a: TreeNode, b: TreeNode): boolean {
  const x = a.content ?? [];
  const y = b.content ?? [];
  return x.length === y.length && x.every((id, i) => id === y[i]) && a.linkTarget === b.linkTarget;
}

function sameMeta(a: TreeNode, b: TreeNode): boolean {
  return (
    a.mode === b.mode &&
    a.uid === b.uid &&
    a.gid === b.gid &&
    a.mtimeNs === b.mtimeNs &&
    JSON.stringify(a.xattrs ?? {}) === JSON.stringify(b.xattrs ?? {})
  );
}

/**
 * What changed from tree `a` to tree `b`: added (+), removed (-), content modified (M), type
 * changed (T), only metadata changed (U). Identical subtrees (same id) are not opened.
 */
export async function* diffTrees(
  repo: Repository,
  a: string | undefined,
  b: string | undefined,
  at = '/',
): AsyncGenerator<Difference> {
  if (a === b) return;
  const left = new Map((a ? (await repo.loadTree(a)).nodes : []).map((n) => [n.name, n]));
  const right = new Map((b ? (await repo.loadTree(b)).nodes : []).map((n) => [n.name, n]));
  const names = [...new Set([...left.keys(), ...right.keys()])].sort();
  for (const name of names) {
    const p = path.posix.join(at, name);
    const x = left.get(name);
    const y = right.get(name);
    if (x === undefined && y !== undefined) {
      yield { change: '+', path: p, after: y };
      if (y.type === 'dir') for await (const d of diffTrees(repo, undefined, y.subtree, p)) yield d;
    } else if (x !== undefined && y === undefined) {
      yield { change: '-', path: p, before: x };
      if (x.type === 'dir') for await (const d of diffTrees(repo, x.subtree, undefined, p)) yield d;
    } else if (x !== undefined && y !== undefined) {
      if (x.type !== y.type) {
        yield { change: 'T', path: p, before: x, after: y };
        continue;
      }
      if (x.type === 'dir') {
        if (!sameMeta(x, y)) yield { change: 'U', path: p, before: x, after: y };
        for await (const d of diffTrees(repo, x.subtree, y.subtree, p)) yield d;
      } else if (!sameContent(x, y)) yield { change: 'M', path: p, before: x, after: y };
      else if (!sameMeta(x, y)) yield { change: 'U', path: p, before: x, after: y };
    }
  }
}

/** A file's bytes, blob by blob, each verified. */
export async function* fileContent(repo: Repository, node: TreeNode): AsyncGenerator<Buffer> {
  for (const id of node.content ?? []) yield await repo.loadBlob('data', Buffer.from(id, 'hex'));
}
