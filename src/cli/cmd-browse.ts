import type { Command } from 'commander';
import picomatch from 'picomatch';
import { CairnError, reason } from '../errors.ts';
import {
  diffTrees,
  fileContent,
  findNode,
  walk,
  matchesFilter,
  type SnapshotInfo,
  type TreeNode,
  type Visited,
  type Repository,
  type SnapshotFilter,
} from '../repo/index.ts';
import { snapshotFilter, withFilterOptions, type FilterFlags } from './choose.ts';
import { openSession, type GlobalOptions } from './context.ts';
import { formatBytes, outcome, plural, type Output } from './output.ts';

const TYPE_CHAR: Record<TreeNode['type'], string> = {
  file: '-',
  dir: 'd',
  symlink: 'l',
  fifo: 'p',
  chardev: 'c',
  blockdev: 'b',
  socket: 's',
};

/** "drwxr-xr-x", with set-id and sticky bits as ls shows them. */
export function modeString(node: TreeNode): string {
  const m = node.mode;
  const bit = (mask: number, ch: string) => (m & mask ? ch : '-');
  const exec = (x: number, special: number, on: string, off: string) =>
    m & special ? (m & x ? on : off) : m & x ? 'x' : '-';
  return (
    TYPE_CHAR[node.type] +
    bit(0o400, 'r') +
    bit(0o200, 'w') +
    exec(0o100, 0o4000, 's', 'S') +
    bit(0o040, 'r') +
    bit(0o020, 'w') +
    exec(0o010, 0o2000, 's', 'S') +
    bit(0o004, 'r') +
    bit(0o002, 'w') +
    exec(0o001, 0o1000, 't', 'T')
  );
}

function isoTime(ns: string): string {
  return new Date(Number(BigInt(ns) / 1_000_000n)).toISOString();
}

function nodeJson(v: Visited): Record<string, unknown> {
  const n = v.node;
  return {
    path: v.path,
    name: n.name,
    type: n.type,
    size: n.size,
    mode: n.mode,
    permissions: modeString(n),
    uid: n.uid,
    gid: n.gid,
    ...(n.user ? { user: n.user } : {}),
    ...(n.group ? { group: n.group } : {}),
    mtime: isoTime(n.mtimeNs),
    ...(n.linkTarget !== undefined ? { link_target: n.linkTarget } : {}),
  };
}

function longLine(v: Visited): string {
  const n = v.node;
  const owner = `${n.user ?? n.uid}/${n.group ?? n.gid}`;
  const link = n.linkTarget !== undefined ? ` -> ${n.linkTarget}` : '';
  return `${modeString(n)} ${owner.padEnd(17)} ${String(n.size).padStart(12)} ${isoTime(n.mtimeNs).replace('T', ' ').slice(0, 19)} ${v.path}${link}`;
}

/**
 * The readable snapshots that match `filter`. A damaged snapshot file cannot be searched or
 * counted and its host, paths and tags are unknown, so it is a warning, never silently skipped.
 */
async function listMatching(
  repo: Pick<Repository, 'listSnapshots'>,
  filter: SnapshotFilter,
  out: Output,
): Promise<SnapshotInfo[]> {
  const { snapshots, damaged } = await repo.listSnapshots();
  for (const d of damaged) out.warn(`snapshot file ${d.id} cannot be read (${d.reason}): left out`);
  outcome.warnings += damaged.length;
  return snapshots.filter((x) => matchesFilter(x, filter));
}

export function registerBrowse(program: Command): void {
  withFilterOptions(program.command('ls'))
    .description('list the files of a snapshot (below a path)')
    .argument('<snapshot>', 'snapshot id (or unique prefix), or "latest"')
    .argument('[path]', 'list below this path of the snapshot', '/')
    .option('-l, --long', 'show type, permissions, owner, size and time')
    .action(async (ref: string, at: string, flags: { long?: boolean } & FilterFlags, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const s = await openSession(g, { lock: 'none', command: 'ls', readOnly: true });
      try {
        const snap = await s.repo.findSnapshot(ref, snapshotFilter(flags));
        const start = await findNode(s.repo, snap, at);
        const norm = at === '/' ? '/' : `/${at.replace(/^\/+|\/+$/g, '')}`;
        for await (const v of walk(s.repo, start, norm)) {
          if (s.out.json) s.out.emit(nodeJson(v));
          else s.out.line(flags.long ? longLine(v) : v.path);
        }
      } finally {
        await s.close();
      }
    });

  withFilterOptions(program.command('find'), 'search only')
    .description('find files by name or path across snapshots: which restore points hold them')
    .argument('<pattern>', 'a name ("*.conf") or a path pattern ("/etc/**/ssh*"), as for backup --exclude')
    .option(
      '--snapshot <id>',
      'search only this snapshot (repeatable)',
      (v: string, p: string[] | undefined) => [...(p ?? []), v],
    )
    .option('-i, --ignore-case', 'ignore case')
    .action(
      async (
        pattern: string,
        flags: { snapshot?: string[]; ignoreCase?: boolean } & FilterFlags,
        cmd: Command,
      ) => {
        const g = cmd.optsWithGlobals<GlobalOptions>();
        const glob = pattern.includes('/') && pattern.startsWith('/') ? pattern : `**/${pattern}`;
        let match: (p: string) => boolean;
        try {
          match = picomatch(glob, { dot: true, nocase: flags.ignoreCase === true });
        } catch (err) {
          throw new CairnError('USAGE', `Cannot use the pattern "${pattern}": ${reason(err)}`);
        }
        const s = await openSession(g, { lock: 'none', command: 'find', readOnly: true });
        try {
          const filter = snapshotFilter(flags);
          let snaps: SnapshotInfo[];
          if (flags.snapshot)
            snaps = await Promise.all(flags.snapshot.map((r) => s.repo.findSnapshot(r, filter)));
          else snaps = await listMatching(s.repo, filter, s.out);
          snaps.sort((a, b) => b.time.localeCompare(a.time));
          let total = 0;
          for (const snap of snaps) {
            const found: Visited[] = [];
            for await (const v of walk(s.repo, await findNode(s.repo, snap, '/'), '/'))
              if (match(v.path)) found.push(v);
            if (found.length === 0) continue;
            total += found.length;
            s.out.line(
              `snapshot ${snap.id.slice(0, 8)} of ${snap.time.replace('T', ' ').slice(0, 19)} (${snap.host}):`,
            );
            for (const v of found) s.out.line(`  ${longLine(v)}`);
            s.out.emit({
              message_type: 'found',
              snapshot: snap.id,
              time: snap.time,
              host: snap.host,
              matches: found.map(nodeJson),
            });
          }
          s.out.line(`${plural(total, 'match', 'matches')} in ${plural(snaps.length, 'snapshot')}`);
        } finally {
          await s.close();
        }
      },
    );

  withFilterOptions(program.command('diff'))
    .description('show what changed between two snapshots')
    .argument('<snapshot1>', 'the older snapshot')
    .argument('<snapshot2>', 'the newer snapshot')
    .addHelpText('after', '\n+ added, - removed, M content changed, T type changed, U only metadata changed')
    .action(async (a: string, b: string, flags: FilterFlags, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const s = await openSession(g, { lock: 'none', command: 'diff', readOnly: true });
      try {
        const filter = snapshotFilter(flags);
        const [x, y] = [await s.repo.findSnapshot(a, filter), await s.repo.findSnapshot(b, filter)];
        const counts: Record<string, number> = { '+': 0, '-': 0, M: 0, T: 0, U: 0 };
        for await (const d of diffTrees(s.repo, x.tree, y.tree)) {
          counts[d.change] = (counts[d.change] ?? 0) + 1;
          s.out.line(`${d.change}  ${d.path}`);
          s.out.emit({ message_type: 'change', change: d.change, path: d.path });
        }
        s.out.line(
          `added ${counts['+']}, removed ${counts['-']}, modified ${counts.M}, type changed ${counts.T}, metadata changed ${counts.U}`,
        );
        s.out.emit({
          message_type: 'statistics',
          source_snapshot: x.id,
          target_snapshot: y.id,
          added: counts['+'],
          removed: counts['-'],
          modified: counts.M,
          type_changed: counts.T,
          metadata_changed: counts.U,
        });
      } finally {
        await s.close();
      }
    });

  withFilterOptions(program.command('dump'))
    .description('write one file of a snapshot to standard output')
    .argument('<snapshot>', 'snapshot id (or unique prefix), or "latest"')
    .argument('<file>', "the file's path in the snapshot")
    .action(async (ref: string, file: string, flags: FilterFlags, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const s = await openSession(g, { lock: 'shared', command: 'dump', readOnly: true });
      try {
        const snap = await s.repo.findSnapshot(ref, snapshotFilter(flags));
        const node = await findNode(s.repo, snap, file);
        if (node.type !== 'file') {
          throw new CairnError(
            'USAGE',
            `Cannot dump ${file}: it is a ${node.type}, not a file; use "cairn restore" for folders`,
          );
        }
        for await (const chunk of fileContent(s.repo, node)) {
          if (!process.stdout.write(chunk)) await new Promise((r) => process.stdout.once('drain', r));
        }
      } finally {
        await s.close();
      }
    });

  withFilterOptions(program.command('stats'), 'count only')
    .description('sizes: what the snapshots hold, what is stored once, and what that costs on disk')
    .argument('[snapshot...]', 'only these snapshots (default: all)')
    .action(async (refs: string[], flags: FilterFlags, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const s = await openSession(g, { lock: 'none', command: 'stats', readOnly: true });
      try {
        const filter = snapshotFilter(flags);
        const snaps =
          refs.length > 0
            ? await Promise.all(refs.map((r) => s.repo.findSnapshot(r, filter)))
            : await listMatching(s.repo, filter, s.out);
        let files = 0;
        let restoreSize = 0;
        const blobs = new Set<string>();
        for (const snap of snaps) {
          for await (const v of walk(s.repo, await findNode(s.repo, snap, '/'), '/')) {
            if (v.node.type !== 'file') continue;
            files++;
            restoreSize += v.node.size;
            for (const id of v.node.content ?? []) blobs.add(id);
          }
        }
        let raw = 0;
        let stored = 0;
        for (const id of blobs) {
          const loc = s.repo.lookup(Buffer.from(id, 'hex'));
          raw += loc?.rawLength ?? 0;
          stored += loc?.length ?? 0;
        }
        const dedup = raw > 0 ? restoreSize / raw : 1;
        const compression = stored > 0 ? raw / stored : 1;
        s.out.line(`snapshots:            ${snaps.length}`);
        s.out.line(`files:                ${files}`);
        s.out.line(`restore size:         ${formatBytes(restoreSize)}`);
        s.out.line(
          `unique data:          ${formatBytes(raw)} in ${plural(blobs.size, 'blob')} (deduplication ${dedup.toFixed(2)}x)`,
        );
        s.out.line(`stored:               ${formatBytes(stored)} (compression ${compression.toFixed(2)}x)`);
        s.out.emit({
          message_type: 'stats',
          snapshots_count: snaps.length,
          total_file_count: files,
          total_size: restoreSize,
          total_blob_count: blobs.size,
          total_uncompressed_size: raw,
          total_stored_size: stored,
          deduplication_ratio: dedup,
          compression_ratio: compression,
        });
      } finally {
        await s.close();
      }
    });
}
