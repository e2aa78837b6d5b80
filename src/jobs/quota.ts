/**
 * Tenants' storage: what each repository stores, what each tenant uses in all, and the quota that
 * bounds the backups of a tenant.
 *
 * - stored size: the bytes of a repository's files (config, key slots, packs, index files,
 *   snapshots; not lock files) as its storage lists them: after deduplication and compression,
 *   what the disk or the bucket really holds. A listing, never a read: cheap on a local disk and
 *   on S3 (the sizes come with the list).
 * - usage: the sum of the stored sizes of a tenant's repositories, as last measured. Measured
 *   after every run that may change a repository (backups with their retention and prune) and at
 *   the server's start, kept per repository (`repositories.stored_bytes`) and per tenant
 *   (`tenants.usage_bytes`).
 * - budget: what the tenant's backups may still write: quota − usage. The backups of one tenant
 *   that run at once on this server share one budget (a counter in shared memory, as each runs in
 *   a worker thread of its own), opened when the first of them starts and closed when the last
 *   ends; the repository refuses the pack that does not fit (QUOTA_EXCEEDED) before any snapshot.
 */
import type { Catalog, RepositoryRow, TenantRow } from '../catalog/index.ts';
import type { FileType } from '../backend/index.ts';
import { CairnError } from '../errors.ts';
import type { WriteBudget } from '../repo/index.ts';
import { backendFor } from './repos.ts';

/** The share of its quota at which a tenant is warned (a run log line, an audit event). */
export const QUOTA_WARNING = 0.9;

/** The file types a repository's stored size counts: lock files come and go and are left out. */
const STORED: readonly FileType[] = ['config', 'keys', 'data', 'index', 'snapshots'];

/** Bytes in words for messages: `20.0 MiB`. */
export function sizeText(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = Math.abs(n);
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  const sign = n < 0 ? '−' : '';
  return i === 0 ? `${sign}${v} B` : `${sign}${v.toFixed(v < 10 ? 2 : 1)} ${units[i]}`;
}

/**
 * What a repository counts against its tenant's quota: its stored size less the bytes that only
 * restore points in its recycle bin need (insider protection keeps those outside the quota).
 */
export function countedBytes(r: Pick<RepositoryRow, 'stored_bytes' | 'recycled_bytes'>): number {
  return Math.max(0, (r.stored_bytes ?? 0) - (r.recycled_bytes ?? 0));
}

/** The stored size of the repository at `location`: its files' sizes as the storage lists them. */
export async function storedBytes(location: string): Promise<number> {
  const backend = backendFor(location);
  try {
    let bytes = 0;
    for (const type of STORED) for await (const f of backend.list(type)) bytes += f.size;
    return bytes;
  } finally {
    await backend.close();
  }
}

/** A tenant's usage against its quota, as the usage API and the tenants API show it. */
export interface TenantUsage {
  readonly tenant: { readonly id: string; readonly name: string };
  /** null: no limit. */
  readonly quotaBytes: number | null;
  /** The sum of its repositories' stored sizes as last measured (unmeasured ones count 0). */
  readonly usageBytes: number;
  /** Stored bytes only restore points in recycle bins need: kept, not counted in `usageBytes`. */
  readonly recycledBytes: number;
  /** usageBytes / quotaBytes × 100, one decimal; null without a quota. */
  readonly usedPercent: number | null;
  /** The oldest measurement the sum is made of; null when none is measured. */
  readonly measuredAt: string | null;
  readonly repositories: readonly {
    readonly id: string;
    readonly name: string;
    readonly storedBytes: number | null;
    /** Of which only restore points in the recycle bin need (not counted in the usage). */
    readonly recycledBytes: number;
    readonly measuredAt: string | null;
  }[];
}

/** A tenant's quota and usage from the catalog (nothing is measured). */
export async function tenantUsage(catalog: Catalog, tenantId: string): Promise<TenantUsage> {
  const tenant = await catalog.tenant(tenantId);
  if (!tenant)
    throw new CairnError('NOT_FOUND', `Cannot show the usage of tenant ${tenantId}: no such tenant`);
  const repos = await catalog.allRepositories(tenantId);
  const usageBytes = repos.reduce((n, r) => n + countedBytes(r), 0);
  const times = repos.map((r) => r.measured_at).filter((t): t is string => t !== null);
  const quota = tenant.quota_bytes;
  return {
    tenant: { id: tenant.id, name: tenant.name },
    quotaBytes: quota,
    usageBytes,
    recycledBytes: repos.reduce((n, r) => n + (r.recycled_bytes ?? 0), 0),
    usedPercent: quota === null ? null : quota > 0 ? Math.round((usageBytes / quota) * 1000) / 10 : 100,
    measuredAt: times.length > 0 ? times.sort()[0]! : null,
    repositories: repos.map((r) => ({
      id: r.id,
      name: r.name,
      storedBytes: r.stored_bytes,
      recycledBytes: r.recycled_bytes ?? 0,
      measuredAt: r.measured_at,
    })),
  };
}

/** What a measurement of one repository found, and what it made of its tenant's usage. */
export interface Measurement {
  readonly repository: string;
  readonly storedBytes: number;
  readonly tenant: string;
  readonly usageBytes: number;
  readonly quotaBytes: number | null;
  /** The tenant's usage reached QUOTA_WARNING of its quota with this measurement (it was below). */
  readonly crossedWarning: boolean;
}

/** Measurements of one tenant run one after another, so that a crossing is seen once. */
const queues = new Map<string, Promise<unknown>>();

function serially<T>(key: string, fn: () => Promise<T>): Promise<T> {
  const before = queues.get(key) ?? Promise.resolve();
  const next = before.then(fn, fn);
  const tail = next.catch(() => undefined);
  queues.set(key, tail);
  void tail.then(() => {
    if (queues.get(key) === tail) queues.delete(key);
  });
  return next;
}

/**
 * Measures a repository's stored size, keeps it in the catalog, and sums its tenant's usage
 * again. The first measurement at or above QUOTA_WARNING of the quota after one below it (or
 * none) writes the audit event `quota.warning`: once per crossing.
 */
export function measureRepository(catalog: Catalog, repo: RepositoryRow): Promise<Measurement> {
  return serially(repo.tenant_id, async () => {
    const bytes = await storedBytes(repo.location);
    await catalog.updateRepository(repo.tenant_id, repo.id, {
      stored_bytes: bytes,
      measured_at: catalog.now().toISOString(),
    });
    const tenant = await catalog.tenant(repo.tenant_id);
    if (!tenant)
      throw new CairnError(
        'NOT_FOUND',
        `Cannot measure repository ${repo.name}: its tenant no longer exists`,
      );
    const usage = (await catalog.allRepositories(tenant.id)).reduce((n, r) => n + countedBytes(r), 0);
    await catalog.setTenantUsage(tenant.id, usage);
    const quota = tenant.quota_bytes;
    const mark = quota === null ? Infinity : QUOTA_WARNING * quota;
    const crossedWarning = usage >= mark && (tenant.usage_bytes === null || tenant.usage_bytes < mark);
    if (crossedWarning && quota !== null) {
      await catalog.audit({
        tenantId: tenant.id,
        user: 'cairn',
        action: 'quota.warning',
        object: tenant.id,
        detail: {
          tenant: tenant.name,
          usageBytes: usage,
          quotaBytes: quota,
          percent: Math.round((usage / quota) * 1000) / 10,
          repository: repo.name,
        },
      });
    }
    return {
      repository: repo.name,
      storedBytes: bytes,
      tenant: tenant.name,
      usageBytes: usage,
      quotaBytes: quota,
      crossedWarning,
    };
  });
}

/**
 * Measures every repository of every tenant (the server's start): one listing each, one at a
 * time. A repository whose storage cannot be listed keeps its last size; its error is returned.
 */
export async function measureAllRepositories(
  catalog: Catalog,
): Promise<{ measured: number; failed: { repository: RepositoryRow; error: unknown }[] }> {
  let measured = 0;
  const failed: { repository: RepositoryRow; error: unknown }[] = [];
  for (const repo of await catalog.allRepositories()) {
    try {
      await measureRepository(catalog, repo);
      measured++;
    } catch (error) {
      failed.push({ repository: repo, error });
    }
  }
  return { measured, failed };
}

/**
 * The tenant figures the metrics show: every tenant's usage and quota, and what only restore
 * points in its recycle bins need (the recycledBytes of tenantUsage).
 */
export async function tenantFigures(catalog: Catalog): Promise<
  {
    tenant: string;
    usageBytes: number | null;
    quotaBytes: number | null;
    recycledBytes: number;
  }[]
> {
  const recycled = new Map<string, number>();
  for (const r of await catalog.allRepositories())
    recycled.set(r.tenant_id, (recycled.get(r.tenant_id) ?? 0) + (r.recycled_bytes ?? 0));
  return (await catalog.listTenants()).map((t) => ({
    tenant: t.name,
    usageBytes: t.usage_bytes,
    quotaBytes: t.quota_bytes,
    recycledBytes: recycled.get(t.id) ?? 0,
  }));
}

/**
 * The quota of one backup run, in plain data (it crosses to the run's worker thread; the counter
 * is shared memory, not copied).
 */
export interface QuotaTask {
  readonly tenant: string;
  readonly quotaBytes: number;
  /** The tenant's usage when the budget was opened, and this run's repository's share of it. */
  readonly usageBytes: number;
  readonly repositoryBytes: number;
  /** Bytes the tenant's backups may write in all while the budget is open: quota − usage. */
  readonly limitBytes: number;
  /** One signed 64-bit count: the bytes taken from the budget by all its backups. */
  readonly taken: SharedArrayBuffer;
}

/**
 * The write budget of one backup (repository layer's WriteBudget) over a QuotaTask: packs are
 * taken from the shared count with an atomic add, and given back when they do not fit, so two
 * backups of the tenant never both take the last bytes.
 */
export function quotaBudget(q: QuotaTask, repository: string): WriteBudget {
  const taken = new BigInt64Array(q.taken);
  const limit = BigInt(Math.floor(q.limitBytes));
  let mine = 0;
  return {
    reserve(bytes) {
      const n = BigInt(bytes);
      if (Atomics.add(taken, 0, n) + n > limit) {
        Atomics.sub(taken, 0, n);
        return false;
      }
      mine += bytes;
      return true;
    },
    charge(bytes) {
      Atomics.add(taken, 0, BigInt(bytes));
      mine += bytes;
    },
    refusal(bytes) {
      const all = Number(Atomics.load(taken, 0));
      const others = all - mine;
      const left = Math.max(0, q.limitBytes);
      return (
        `Cannot back up to repository ${repository}: tenant ${q.tenant} has a quota of ${sizeText(q.quotaBytes)} (${q.quotaBytes} bytes) ` +
        `and stored ${sizeText(q.usageBytes)} when this backup began (${sizeText(q.repositoryBytes)} in this repository, ` +
        `${sizeText(q.usageBytes - q.repositoryBytes)} in its others), which left ${sizeText(left)} to write; ` +
        `this backup wrote ${sizeText(mine)}${others > 0 ? ` (other backups of the tenant ${sizeText(others)})` : ''} ` +
        `and needed ${sizeText(bytes)} more for its next pack, ${sizeText(q.usageBytes + all + bytes)} in all. ` +
        `No restore point was written; what was written is kept for the next backup. ` +
        `Ask the system administrator to raise the quota, or free space (forget restore points, then prune)`
      );
    },
  };
}

interface Opened {
  readonly tenant: string;
  readonly quotaBytes: number;
  readonly usageBytes: number;
  readonly sizes: ReadonlyMap<string, number>;
  readonly taken: SharedArrayBuffer;
  /** The measurement of the repository of the backup that opened the budget. */
  readonly measured: Measurement;
}

interface Batch {
  runs: number;
  readonly opened: Promise<Opened>;
}

/**
 * The budgets of the tenants whose backups run on this server. A budget opens with the first
 * backup of a tenant (its repository measured then, the others as last measured) and closes when
 * the last one running ends; space freed meanwhile (a retention's prune) counts for the backups
 * that start after it closes, and so does a quota changed meanwhile. Servers sharing a catalog
 * keep budgets of their own: backups of one tenant on two servers at once may together write
 * what each budget allows.
 */
export class QuotaBook {
  readonly #catalog: Catalog;
  readonly #batches = new Map<string, Batch>();

  constructor(catalog: Catalog) {
    this.#catalog = catalog;
  }

  /**
   * The quota of a backup of `repo` (undefined when its tenant has none), and the measurement of
   * the repository when this backup opened the budget. Once join() is called, leave() must be
   * called when the run ends, whether join() resolved or rejected.
   */
  async join(
    tenant: TenantRow,
    repo: RepositoryRow,
  ): Promise<{ task: QuotaTask | undefined; measured?: Measurement }> {
    let batch = this.#batches.get(tenant.id);
    let opener = false;
    if (batch === undefined) {
      if (tenant.quota_bytes === null) return { task: undefined };
      batch = { runs: 0, opened: this.#open(tenant, tenant.quota_bytes, repo) };
      this.#batches.set(tenant.id, batch);
      opener = true;
    }
    batch.runs++;
    const b = await batch.opened;
    return {
      task: {
        tenant: b.tenant,
        quotaBytes: b.quotaBytes,
        usageBytes: b.usageBytes,
        repositoryBytes: b.sizes.get(repo.id) ?? 0,
        limitBytes: b.quotaBytes - b.usageBytes,
        taken: b.taken,
      },
      ...(opener ? { measured: b.measured } : {}),
    };
  }

  leave(tenantId: string): void {
    const batch = this.#batches.get(tenantId);
    if (batch === undefined) return;
    batch.runs--;
    if (batch.runs <= 0) this.#batches.delete(tenantId);
  }

  async #open(tenant: TenantRow, quota: number, repo: RepositoryRow): Promise<Opened> {
    const measured = await measureRepository(this.#catalog, repo);
    const repos = await this.#catalog.allRepositories(tenant.id);
    const sizes = new Map(repos.map((r) => [r.id, countedBytes(r)]));
    const fresh = repos.find((r) => r.id === repo.id);
    sizes.set(
      repo.id,
      countedBytes({ stored_bytes: measured.storedBytes, recycled_bytes: fresh?.recycled_bytes ?? null }),
    );
    return {
      tenant: tenant.name,
      // The quota as the measurement read it (newer than the row the run began with).
      quotaBytes: measured.quotaBytes ?? quota,
      usageBytes: [...sizes.values()].reduce((n, x) => n + x, 0),
      sizes,
      taken: new SharedArrayBuffer(8),
      measured,
    };
  }
}
