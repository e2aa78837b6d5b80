/**
 * Insider protection (Veeam Cloud Connect's recycle bin): restore points that a protected
 * tenant's retention forgets are kept in the repository, hidden from the tenant, for the number
 * of days the system administrator set (`tenants.protection_days`), and only then purged. A
 * stolen tenant password can shorten a job's retention, but what it forgets stays restorable by
 * the system administrator until the period ends.
 *
 * The bin is a list in the catalog; the snapshot files stay where they are, so every prune (and
 * every older Cairn) keeps the data they need: nothing in the repository format changes. Losing
 * the catalog shows the bin's restore points again as ordinary ones — never the other way round.
 */
import type { Catalog, RecycleRow, RepositoryRow, TenantRow } from '../catalog/index.ts';
import { CairnError, reason } from '../errors.ts';
import { purgeSnapshots } from '../repo/index.ts';
import { openRepository } from './repos.ts';
import { refOf, type Tenancy } from './tenancy.ts';
import type { RecycleTask } from './work.ts';
import { plural } from '../words.ts';

const DAY_MS = 24 * 60 * 60 * 1000;

/** When a restore point in the bin may be purged under the tenant's current protection period. */
export function purgeAfter(row: Pick<RecycleRow, 'deleted_at'>, protectionDays: number): Date {
  return new Date(Date.parse(row.deleted_at) + protectionDays * DAY_MS);
}

/** What a run's retention must know of its repository's bin; undefined when there is nothing. */
export async function recycleTaskFor(
  catalog: Catalog,
  tenant: TenantRow | undefined,
  repo: RepositoryRow,
): Promise<RecycleTask | undefined> {
  const days = tenant?.protection_days ?? 0;
  const bin = await catalog.recycleBin({ repositoryId: repo.id });
  if (days <= 0 && bin.length === 0) return undefined;
  const now = catalog.now().getTime();
  return {
    protectionDays: Math.max(0, days),
    bin: bin.map((r) => r.snapshot_id),
    expired: bin.filter((r) => purgeAfter(r, days).getTime() <= now).map((r) => r.snapshot_id),
  };
}

/** Keeps in the catalog what a run's retention put into the bin and purged from it. */
export async function recordRecycle(
  catalog: Catalog,
  repo: RepositoryRow,
  jobName: string,
  stats: Record<string, unknown>,
): Promise<{ recycled: number; purged: number }> {
  const recycled = (stats.recycled as { id: string; time: string }[] | undefined) ?? [];
  const purged = (stats.purged as string[] | undefined) ?? [];
  const at = catalog.now().toISOString();
  await catalog.recycle(
    recycled.map((s) => ({
      tenant_id: repo.tenant_id,
      repository_id: repo.id,
      snapshot_id: s.id,
      snapshot_time: s.time,
      job_name: jobName,
      deleted_at: at,
      deleted_by: `retention of job ${jobName}`,
    })),
  );
  await catalog.unrecycle(repo.id, purged);
  if (typeof stats.recycledBytes === 'number')
    await catalog.updateRepository(repo.tenant_id, repo.id, { recycled_bytes: stats.recycledBytes });
  return { recycled: recycled.length, purged: purged.length };
}

/** The ids of the restore points in a repository's bin (hidden from the tenant's users). */
export async function binOf(catalog: Catalog, repositoryId: string): Promise<Set<string>> {
  return new Set((await catalog.recycleBin({ repositoryId })).map((r) => r.snapshot_id));
}

/**
 * Purges restore points from a repository's bin now: their snapshot files are removed (the data
 * only they needed goes at the next prune) and their records dropped. Used for those whose
 * protection ended (the server's sweep) and by the system administrator.
 */
export async function purgeRecycled(
  catalog: Catalog,
  tenancy: Tenancy | undefined,
  repo: RepositoryRow,
  ids: readonly string[],
): Promise<string[]> {
  if (ids.length === 0) return [];
  const open = await openRepository(refOf(repo, tenancy), {
    lock: 'gc',
    command: 'purge recycle bin',
    index: false,
  });
  try {
    const done = await purgeSnapshots(open.repo, ids);
    await catalog.unrecycle(repo.id, done);
    return done;
  } finally {
    await open.close();
  }
}

export interface SweepResult {
  readonly purged: number;
  readonly failed: { readonly repository: string; readonly error: string }[];
}

/**
 * Purges every restore point whose protection has ended, in every repository (the server does
 * this at its start and every hour). A repository that a prune or repair holds is left for the
 * next sweep.
 */
export async function sweepRecycleBins(catalog: Catalog, tenancy: Tenancy | undefined): Promise<SweepResult> {
  const now = catalog.now().getTime();
  const rows = await catalog.recycleBin();
  const byRepo = new Map<string, RecycleRow[]>();
  for (const r of rows) byRepo.set(r.repository_id, [...(byRepo.get(r.repository_id) ?? []), r]);
  let purged = 0;
  const failed: { repository: string; error: string }[] = [];
  for (const [repositoryId, bin] of byRepo) {
    const first = bin[0]!;
    const [tenant, repo] = await Promise.all([
      catalog.tenant(first.tenant_id),
      catalog.repository(first.tenant_id, repositoryId),
    ]);
    if (!repo) continue;
    const days = tenant?.protection_days ?? 0;
    const expired = bin.filter((r) => purgeAfter(r, days).getTime() <= now).map((r) => r.snapshot_id);
    if (expired.length === 0) continue;
    try {
      const done = await purgeRecycled(catalog, tenancy, repo, expired);
      purged += done.length;
      await catalog.audit({
        tenantId: repo.tenant_id,
        user: 'cairn',
        action: 'recycle.purge',
        object: repo.id,
        detail: { repository: repo.name, snapshots: done, reason: 'protection ended' },
      });
    } catch (err) {
      if (err instanceof CairnError && err.code === 'REPO_LOCKED') continue;
      failed.push({ repository: repo.name, error: reason(err) });
    }
  }
  return { purged, failed };
}

/**
 * The restore points a caller must not see in a repository: its bin, for anyone but the system
 * administrator (for a tenant user, what retention forgot is gone).
 */
export async function hiddenFrom(
  catalog: Catalog,
  systemAdmin: boolean,
  repositoryId: string,
): Promise<ReadonlySet<string>> {
  return systemAdmin ? new Set() : binOf(catalog, repositoryId);
}

/** SNAPSHOT_NOT_FOUND, as for a snapshot that does not exist, when `id` is hidden. */
export function refuseHidden(hidden: ReadonlySet<string>, ref: string, id: string): void {
  if (hidden.has(id))
    throw new CairnError('SNAPSHOT_NOT_FOUND', `Cannot find snapshot ${ref}: no snapshot has that id`);
}

/**
 * Whether a tenant user may delete a repository: not while its tenant is protected and the
 * repository holds restore points (deleting it drops its key, which would undo the protection).
 */
export async function checkRepositoryDeletable(
  catalog: Catalog,
  tenancy: Tenancy | undefined,
  repo: RepositoryRow,
  systemAdmin: boolean,
): Promise<void> {
  if (systemAdmin) return;
  const tenant = await catalog.tenant(repo.tenant_id);
  const days = tenant?.protection_days ?? 0;
  if (days <= 0) return;
  const open = await openRepository(refOf(repo, tenancy), { lock: 'none', command: 'list', index: false });
  let count: number;
  try {
    const { snapshots, damaged } = await open.repo.listSnapshots();
    count = snapshots.length + damaged.length;
  } finally {
    await open.close();
  }
  if (count > 0)
    throw new CairnError(
      'CONFLICT',
      `Cannot delete repository ${repo.name}: tenant ${tenant?.name ?? repo.tenant_id} is under insider protection (${plural(days, 'day')}) and the repository holds ${plural(count, 'restore point')}; deleting it would drop its key. Its retention can forget them (kept ${plural(days, 'day')} in the recycle bin), or the system administrator can delete it`,
    );
}
