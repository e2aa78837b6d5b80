/**
 * The restore points of a repository, read from the repository itself: listing them, one of them,
 * a folder of one, a search by name across them, and downloads of a file or a folder (as a tar
 * archive). Each request opens the repository without a lock (reads only; a download with a
 * shared lock) and closes it at the end.
 *
 * | Route                                                       | Who may call it          |
 * |-------------------------------------------------------------|--------------------------|
 * | GET /api/v1/repositories/{id}/snapshots                     | any role (viewer and up) |
 * | GET /api/v1/repositories/{id}/snapshots/{snapshot}          | any role                 |
 * | GET /api/v1/repositories/{id}/snapshots/{snapshot}/tree     | any role                 |
 * | GET /api/v1/repositories/{id}/search                        | any role                 |
 * | GET /api/v1/repositories/{id}/snapshots/{snapshot}/download | restore-operator and up  |
 *
 * Roles: viewer < restore-operator < operator < administrator (src/api/auth.ts); the system
 * administrator may call every route, in whatever tenant it is logged on to.
 */
import path from 'node:path';
import { Readable } from 'node:stream';
import { Type } from '@sinclair/typebox';
import picomatch from 'picomatch';
import tar from 'tar-stream';
import { CairnError } from '../../errors.ts';
import { hiddenFrom, jobTag, openRepository, refOf, refuseHidden } from '../../jobs/index.ts';
import {
  fileContent,
  findNode,
  walk,
  type Repository,
  type SnapshotInfo,
  type TreeNode,
} from '../../repo/index.ts';
import {
  answer,
  PaginationSchema,
  problems,
  ref,
  SearchResultSchema,
  SnapshotDetailSchema,
  SnapshotSchema,
  TreeSchema,
} from '../answers.ts';
import { callerOf, type ApiContext, type ApiRoutes, type Caller } from '../context.ts';
import { API } from '../views.ts';
import { repositoryOf, withRepository } from './repositories.ts';
import { Id, Paging } from './schemas.ts';

/**
 * The restore points a caller may see: a tenant user never sees those in its repository's recycle
 * bin (insider protection); for it they are gone, as if forgotten.
 */
async function visible(
  ctx: ApiContext,
  c: Caller,
  repositoryId: string,
  repo: Repository,
): Promise<{
  snapshots: SnapshotInfo[];
  damaged: Awaited<ReturnType<Repository['listSnapshots']>>['damaged'];
}> {
  const hidden = await hiddenFrom(ctx.catalog, c.systemAdmin, repositoryId);
  const { snapshots, damaged } = await repo.listSnapshots();
  return { snapshots: snapshots.filter((s) => !hidden.has(s.id)), damaged };
}

/** `latest` or an id (prefix) among the restore points the caller may see. */
export async function findVisible(
  ctx: ApiContext,
  c: Caller,
  repositoryId: string,
  repo: Repository,
  ref: string,
): Promise<SnapshotInfo> {
  const hidden = await hiddenFrom(ctx.catalog, c.systemAdmin, repositoryId);
  const snap = await repo.findSnapshot(ref, (s) => !hidden.has(s.id));
  refuseHidden(hidden, ref, snap.id);
  return snap;
}

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

/**
 * What reading a repository can answer besides the errors of the route's kind: the repository
 * locked (409, a download), the server's secret not opening it or no repository there (422), the
 * storage refusing (502).
 */
const READING = problems(409, 422, 502);

const Binary = { type: 'string', format: 'binary' } as const;

const mtimeOf = (n: TreeNode) => new Date(Number(BigInt(n.mtimeNs) / 1_000_000n)).toISOString();

export const snapshotRoutes: ApiRoutes = (app, { ctx }, done) => {
  const { catalog } = ctx;

  app.get(
    '/api/v1/repositories/:id/snapshots',
    {
      config: { permission: 'read' },
      schema: {
        tags: ['repositories'],
        operationId: 'listSnapshots',
        summary: 'Restore points in the repository, newest first (read from the repository itself)',
        params: Id,
        response: {
          200: answer(
            Type.Object({
              data: Type.Array(ref(SnapshotSchema)),
              pagination: ref(PaginationSchema),
              damaged: Type.Array(
                Type.Object(
                  { id: Type.String(), reason: Type.String(), code: Type.String() },
                  { additionalProperties: false },
                ),
                { description: 'snapshot files that cannot be read, whatever the job filter' },
              ),
            }),
            'A page of restore points, and the snapshot files that cannot be read',
          ),
          ...READING,
        },
        querystring: Type.Object(
          { ...Paging, job: Type.Optional(Type.String({ maxLength: 64 })) },
          { additionalProperties: false },
        ),
      },
    },
    async (request) => {
      const c = callerOf(request);
      const r = await repositoryOf(ctx, c, (request.params as { id: string }).id);
      const q = request.query as { skip?: number; limit?: number; job?: string };
      const open = await openRepository(refOf(r, ctx.tenancy), {
        lock: 'none',
        command: 'list',
        index: false,
      });
      try {
        const { snapshots, damaged } = await visible(ctx, c, r.id, open.repo);
        const filtered = snapshots.filter((s) => !q.job || s.tags.includes(`job:${q.job}`)).reverse();
        const skip = q.skip ?? 0;
        const limit = q.limit ?? 50;
        const data = filtered.slice(skip, skip + limit).map((s) => ({
          id: s.id,
          time: s.time,
          host: s.host,
          paths: s.paths,
          tags: s.tags,
          job: s.tags.find((t) => t.startsWith('job:'))?.slice(4) ?? null,
          summary: s.summary ?? null,
          links: [
            { rel: 'self', href: `${API}/repositories/${r.id}/snapshots/${s.id}`, method: 'GET' },
            { rel: 'restore', href: `${API}/restores`, method: 'POST' },
          ],
        }));
        return {
          data,
          pagination: { total: filtered.length, count: data.length, skip, limit },
          // Snapshot files that cannot be read, whatever the job filter: their tags are unknown.
          damaged: damaged.map((d) => ({ id: d.id, reason: d.reason, code: d.error.code })),
        };
      } finally {
        await open.close();
      }
    },
  );

  app.get(
    '/api/v1/repositories/:id/snapshots/:snapshot',
    {
      config: { permission: 'read' },
      schema: {
        tags: ['repositories'],
        operationId: 'getSnapshot',
        summary: 'One restore point',
        response: { 200: answer(ref(SnapshotDetailSchema), 'The restore point'), ...READING },
        params: Type.Object(
          { id: Type.String({ maxLength: 64 }), snapshot: Type.String({ minLength: 1, maxLength: 64 }) },
          { additionalProperties: false },
        ),
      },
    },
    async (request) => {
      const c = callerOf(request);
      const p = request.params as { id: string; snapshot: string };
      const r = await repositoryOf(ctx, c, p.id);
      const open = await openRepository(refOf(r, ctx.tenancy), {
        lock: 'none',
        command: 'list',
        index: false,
      });
      try {
        const s = await findVisible(ctx, c, r.id, open.repo, p.snapshot);
        return {
          id: s.id,
          time: s.time,
          host: s.host,
          paths: s.paths,
          tags: s.tags,
          summary: s.summary ?? null,
          links: [{ rel: 'restore', href: `${API}/restores`, method: 'POST' }],
        };
      } finally {
        await open.close();
      }
    },
  );

  app.get(
    '/api/v1/repositories/:id/snapshots/:snapshot/tree',
    {
      config: { permission: 'read' },
      schema: {
        tags: ['repositories'],
        operationId: 'getSnapshotTree',
        summary: 'The entries of a folder of a restore point',
        params: SnapParams,
        querystring: PathQuery,
        response: { 200: answer(ref(TreeSchema), "The folder's entries"), ...READING },
      },
    },
    (request) =>
      withRepository(ctx, request, async (open, row) => {
        const p = (request.params as { snapshot: string }).snapshot;
        const at = path.posix.normalize((request.query as { path?: string }).path ?? '/');
        const snap = await findVisible(ctx, callerOf(request), row.id, open.repo, p);
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
        operationId: 'searchRepository',
        summary: 'Find entries by name (a glob such as *.conf) across restore points, newest first',
        params: Id,
        response: { 200: answer(ref(SearchResultSchema), 'The entries found'), ...READING },
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
      withRepository(ctx, request, async (open, row) => {
        const q = request.query as { name: string; job?: string; limit?: number };
        const limit = q.limit ?? 200;
        const match = picomatch(q.name.includes('*') || q.name.includes('?') ? q.name : `*${q.name}*`, {
          nocase: true,
          dot: true,
        });
        const { snapshots } = await visible(ctx, callerOf(request), row.id, open.repo);
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
        operationId: 'downloadFromSnapshot',
        summary: 'A file of a restore point, or a folder as a tar archive',
        params: SnapParams,
        querystring: PathQuery,
        response: {
          200: {
            description:
              'The file (application/octet-stream) or the folder as a tar archive (application/x-tar)',
            headers: {
              'content-disposition': { type: 'string', description: 'attachment; filename="…"' },
            },
            content: {
              'application/octet-stream': { schema: Binary },
              'application/x-tar': { schema: Binary },
            },
          },
          ...READING,
        },
      },
    },
    async (request, reply) => {
      const c = callerOf(request);
      const { id, snapshot } = request.params as { id: string; snapshot: string };
      const at = path.posix.normalize((request.query as { path?: string }).path ?? '/');
      const row = await repositoryOf(ctx, c, id);
      const open = await openRepository(refOf(row, ctx.tenancy), {
        lock: 'shared',
        command: 'download (server)',
        index: true,
      });
      let handedOver = false;
      try {
        const snap = await findVisible(ctx, c, row.id, open.repo, snapshot);
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

  done();
};
