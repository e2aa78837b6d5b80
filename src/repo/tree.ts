/**
 * Trees: one blob per directory, listing its entries sorted by name. A tree blob is JSON (UTF-8):
 *   { "nodes": [ Node, ... ] }
 * Times are integer nanoseconds since the epoch, written as decimal strings (they exceed 2^53).
 * Identical directories produce identical bytes and so deduplicate.
 */

export type NodeType = 'file' | 'dir' | 'symlink' | 'fifo' | 'chardev' | 'blockdev' | 'socket';

export interface TreeNode {
  readonly name: string;
  readonly type: NodeType;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly user?: string;
  readonly group?: string;
  readonly size: number;
  readonly mtimeNs: string;
  readonly atimeNs: string;
  readonly ctimeNs: string;
  readonly inode: number;
  readonly device: number;
  readonly links: number;
  /** Device number of a character or block device node. */
  readonly rdev?: number;
  readonly linkTarget?: string;
  /** Extended attributes: name → base64 value. */
  readonly xattrs?: Readonly<Record<string, string>>;
  /** Data blob ids (hex) of a file's content, in order. */
  readonly content?: readonly string[];
  /** Tree blob id (hex) of a directory. */
  readonly subtree?: string;
}

export interface Tree {
  readonly nodes: readonly TreeNode[];
}

export function encodeTree(tree: Tree): Buffer {
  return Buffer.from(JSON.stringify(tree), 'utf8');
}

export function decodeTree(bytes: Buffer): Tree {
  const tree = JSON.parse(bytes.toString('utf8')) as Tree;
  if (!Array.isArray(tree.nodes)) throw new Error('tree has no nodes');
  return tree;
}

/** Byte-wise comparison of names, so the order does not depend on the locale. */
export function compareNames(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/**
 * A node that no stat describes (a backed-up stream, the synthetic root of a snapshot): one time
 * for mtime, atime and ctime, no inode or device.
 */
export function syntheticNode(
  name: string,
  type: NodeType,
  timeMs: number,
  fields: Omit<Partial<TreeNode>, 'name' | 'type'> = {},
): TreeNode {
  const ns = (BigInt(Math.round(timeMs)) * 1_000_000n).toString();
  return {
    name,
    type,
    mode: type === 'dir' ? 0o755 : 0o600,
    uid: 0,
    gid: 0,
    size: 0,
    mtimeNs: ns,
    atimeNs: ns,
    ctimeNs: ns,
    inode: 0,
    device: 0,
    links: 1,
    ...fields,
  };
}
