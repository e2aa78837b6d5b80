/**
 * Looking into a repository without restoring: its usage and growth, a restore point's tree, a
 * search by name across restore points, and downloads of a file or a folder (as a tar archive).
 * Each request opens the repository without a lock (reads only) and closes it at the end.
 */
import { statfs } from 'node:fs/promises';
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import picomatch from 'picomatch';
import tar from 'tar-stream';
import type { RepositoryRow } from '../catalog/index.ts';
import { CairnError } from '../errors.ts';
import { openRepository, jobTag, refOf, type OpenRepo } from '../jobs/index.ts';
import type { SnapshotInfo } from '../repo/index.ts';
import { fileContent, findNode, walk, type TreeNode } from '../repo/index.ts';
import { callerOf, type ApiContext } from './context.ts';

const RepoParams = Type.Object(
  { id: Type.String({ minLength: 1, maxLength: 64 }) },
  { additionalProperties: false },
);
const SnapParams = Type.Object(
  {
    id: Type.String({ minLength: 1, maxLength: 64 }),
    snapshot: Type.String({ minLength: 1, maxLength: 64 }),
  },
  { additionalProperties: false },
);
const PathQuery = Type.Object(
  { path: Type.Optional(Type.String({ minLength: 1, maxLength: 4096, pattern: '^/' })) },
  { additionalProperties: false },
);

function kindOf(n: TreeNode): 'file' | 'dir' | 'symlink' | 'other' {
  return n.type === 'file' || n.type === 'dir' || n.type === 'symlink' ? n.type : 'other';
}

const mtimeOf = (n: TreeNode) => new Date(Number(BigInt(n.mtimeNs) / 1_000_000n)).toISOString();

/** Bytes under a folder, counted by walking it (repositories are local directories). */
async function duBytes(dir: string): Promise<number> {
  let total = 0;
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true, recursive: true });
  } catch {
    return 0;
  }
  for (const e of entries) {
    if (!e.isFile()) continue;
    try {
      total += (await stat(path.join(e.parentPath, e.name))).size;
    } catch {
      /* removed meanwhile (prune) */
    }
  }
  return total;
}

export function registerBrowseRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const { catalog } = ctx;

  async function withRepo<T>(
    request: FastifyRequest,
    fn: (open: OpenRepo, row: RepositoryRow) => Promise<T>,
    index = true,
  ): Promise<T> {
    const c = callerOf(request);
    const { id } = request.params as { id: string };
    const row = await catalog.repository(c.tenantId, id);
    if (!row) throw new CairnError('NOT_FOUND', `No repository ${id} in this tenant`);
    const open = await openRepository(refOf(row, ctx.tenancy), { lock: 'none', command: 'browse', index });
    try {
      return await fn(open, row);
    } finally {
      await open.close();
    }
  }

  app.get(
    '/api/v1/repositories/:id/usage',
    {
      config: { permission: 'read' },
      schema: {
        tags: ['repositories'],
        summary: 'Space used, free space and growth per restore point',
        params: RepoParams,
      },
    },
    (request) =>
      withRepo(request, async (open, row) => {
        const { snapshots } = await open.repo.listSnapshots();
        let bytes = 0;
        let capacityBytes: number | null = null;
        let freeBytes: number | null = null;
        if (/^s3:/i.test(row.location)) {
          // A bucket has no capacity to speak of: its objects' sizes are what it uses.
          for (const type of ['config', 'keys', 'data', 'index', 'snapshots'] as const)
            for await (const f of open.repo.backend.list(type)) bytes += f.size;
        } else {
          const fs = await statfs(row.location);
          bytes = await duBytes(row.location);
          capacityBytes = fs.blocks * fs.bsize;
          freeBytes = fs.bavail * fs.bsize;
        }
        return {
          bytes,
          capacityBytes,
          freeBytes,
          snapshots: snapshots.length,
          growth: snapshots.map((s: SnapshotInfo) => ({
            time: s.time,
            snapshot: s.id,
            addedBytes: s.summary?.dataAddedPacked ?? 0,
          })),
        };
      }),
  );

  app.get(
    '/api/v1/repositories/:id/snapshots/:snapshot/tree',
    {
      config: { permission: 'read' },
      schema: {
        tags: ['repositories'],
        summary: 'The entries of a folder of a restore point',
        params: SnapParams,
        querystring: PathQuery,
      },
    },
    (request) =>
      withRepo(request, async (open) => {
        const p = (request.params as { snapshot: string }).snapshot;
        const at = path.posix.normalize((request.query as { path?: string }).path ?? '/');
        const snap = await open.repo.findSnapshot(p);
        const node = await findNode(open.repo, snap, at);
        if (node.type !== 'dir' || node.subtree === undefined)
          throw new CairnError(
            'INVALID_INPUT',
            `path: ${at} is not a folder in restore point ${snap.id.slice(0, 8)}`,
          );
        const tree = await open.repo.loadTree(node.subtree);
        return {
          snapshot: snap.id,
          path: at,
          entries: tree.nodes.map((n: TreeNode) => ({
            name: n.name,
            path: path.posix.join(at, n.name),
            type: kindOf(n),
            size: n.type === 'file' ? n.size : 0,
            mtime: mtimeOf(n),
          })),
        };
      }),
  );

  app.get(
    '/api/v1/repositories/:id/search',
    {
      config: { permission: 'read' },
      schema: {
        tags: ['repositories'],
        summary: 'Find entries by name (a glob such as *.conf) across restore points, newest first',
        params: RepoParams,
        querystring: Type.Object(
          {
            name: Type.String({ minLength: 1, maxLength: 256 }),
            job: Type.Optional(Type.String({ maxLength: 64 })),
            limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
          },
          { additionalProperties: false },
        ),
      },
    },
    (request) =>
      withRepo(request, async (open) => {
        const q = request.query as { name: string; job?: string; limit?: number };
        const limit = q.limit ?? 200;
        const match = picomatch(q.name.includes('*') || q.name.includes('?') ? q.name : `*${q.name}*`, {
          nocase: true,
          dot: true,
        });
        const { snapshots } = await open.repo.listSnapshots();
        const pool = snapshots
          .filter((s: SnapshotInfo) => !q.job || s.tags.includes(jobTag(q.job)))
          .reverse();
        const data: {
          snapshot: string;
          time: string;
          path: string;
          type: string;
          size: number;
          mtime: string;
        }[] = [];
        for (const snap of pool) {
          for await (const v of walk(open.repo, await findNode(open.repo, snap, '/'), '/')) {
            if (!match(v.node.name)) continue;
            data.push({
              snapshot: snap.id,
              time: snap.time,
              path: v.path,
              type: kindOf(v.node),
              size: v.node.type === 'file' ? v.node.size : 0,
              mtime: mtimeOf(v.node),
            });
            if (data.length >= limit) return { data, truncated: true };
          }
        }
        return { data, truncated: false };
      }),
  );

  app.get(
    '/api/v1/repositories/:id/snapshots/:snapshot/download',
    {
      config: { permission: 'restore' },
      schema: {
        tags: ['repositories'],
        summary: 'A file of a restore point, or a folder as a tar archive',
        params: SnapParams,
        querystring: PathQuery,
      },
    },
    async (request, reply) => {
      const c = callerOf(request);
      const { id, snapshot } = request.params as { id: string; snapshot: string };
      const at = path.posix.normalize((request.query as { path?: string }).path ?? '/');
      const row = await catalog.repository(c.tenantId, id);
      if (!row) throw new CairnError('NOT_FOUND', `No repository ${id} in this tenant`);
      const open = await openRepository(refOf(row, ctx.tenancy), {
        lock: 'shared',
        command: 'download (server)',
        index: true,
      });
      let handedOver = false;
      try {
        const snap = await open.repo.findSnapshot(snapshot);
        const node = await findNode(open.repo, snap, at);
        const base = path.posix.basename(at) || 'snapshot';
        await catalog.audit({
          tenantId: c.tenantId,
          user: c.userName,
          action: 'download',
          object: row.id,
          detail: { snapshot: snap.id, path: at },
        });
        let body: Readable;
        if (node.type === 'file') {
          body = Readable.from(fileContent(open.repo, node));
          void reply.header('content-length', String(node.size)).type('application/octet-stream');
          void reply.header(
            'content-disposition',
            `attachment; filename="${base.replace(/["\\\r\n]/g, '_')}"`,
          );
        } else if (node.type === 'dir') {
          const pack = tar.pack();
          body = Readable.from(pack as AsyncIterable<Buffer>);
          void reply
            .type('application/x-tar')
            .header('content-disposition', `attachment; filename="${base.replace(/["\\\r\n]/g, '_')}.tar"`);
          void (async () => {
            try {
              for await (const v of walk(open.repo, node, at === '/' ? '/' : at)) {
                const name = path.posix.relative(path.posix.dirname(at), v.path) || base;
                const header = {
                  name,
                  mode: v.node.mode & 0o7777,
                  mtime: new Date(mtimeOf(v.node)),
                  uname: v.node.user ?? '',
                  gname: v.node.group ?? '',
                };
                if (v.node.type === 'dir') pack.entry({ ...header, type: 'directory' });
                else if (v.node.type === 'symlink')
                  pack.entry({ ...header, type: 'symlink', linkname: v.node.linkTarget ?? '' });
                else if (v.node.type === 'file') {
                  const file = v.node;
                  await new Promise<void>((resolve, reject) => {
                    const entry = pack.entry({ ...header, type: 'file', size: file.size }, (err) =>
                      err ? reject(err) : resolve(),
                    );
                    void (async () => {
                      for await (const chunk of fileContent(open.repo, file)) {
                        if (!entry.write(chunk))
                          await new Promise<void>((r) => entry.once('drain', () => r()));
                      }
                      (entry as unknown as { end(): void }).end();
                    })().catch(reject);
                  });
                }
              }
              pack.finalize();
            } catch (err) {
              pack.destroy(err instanceof Error ? err : new Error(String(err)));
            }
          })();
        } else {
          throw new CairnError('INVALID_INPUT', `path: ${at} is a ${node.type}, which cannot be downloaded`);
        }
        body.once('close', () => void open.close());
        handedOver = true;
        return reply.send(body);
      } finally {
        if (!handedOver) await open.close();
      }
    },
  );
}
