/**
 * What the metrics read from the catalog at each scrape: tenants' storage, runs by state and the
 * queue, repositories' sizes, jobs' last successes and whether they are overdue. Read from the
 * catalog, so every server sharing it shows the same.
 */
import type { Catalog } from '../catalog/index.ts';
import type { CatalogFigures } from '../metrics/index.ts';
import { judgeJobs } from './overdue.ts';
import { tenantFigures } from './quota.ts';

export async function catalogFigures(
  catalog: Catalog,
  options: { readonly graceMs: number },
): Promise<CatalogFigures> {
  const [tenants, tenantRows, repos, jobs, successes, states] = await Promise.all([
    tenantFigures(catalog),
    catalog.listTenants(),
    catalog.allRepositories(),
    catalog.allJobs(),
    catalog.lastSuccesses(),
    catalog.runStates(),
  ]);
  const nameOf = new Map(tenantRows.map((t) => [t.id, t.name]));
  const runs = new Map<string, Record<string, number>>();
  const queue = new Map<string, number>();
  for (const s of states) {
    const name = nameOf.get(s.tenantId);
    if (name === undefined) continue;
    const r = runs.get(name) ?? {};
    r[s.state] = s.count;
    runs.set(name, r);
    queue.set(name, (queue.get(name) ?? 0) + s.due);
  }
  const overdue = new Map(
    judgeJobs(jobs, successes, catalog.now(), options.graceMs).map((w) => [w.job.id, w.overdue]),
  );
  const named = <T extends { tenant_id: string }>(rows: readonly T[]) =>
    rows.flatMap((row) => {
      const tenant = nameOf.get(row.tenant_id);
      return tenant === undefined ? [] : [{ row, tenant }];
    });
  return {
    tenants: tenants.map((t) => ({
      ...t,
      runs: runs.get(t.tenant) ?? {},
      queueDepth: queue.get(t.tenant) ?? 0,
    })),
    repositories: named(repos).map(({ row, tenant }) => ({
      tenant,
      repository: row.name,
      storedBytes: row.stored_bytes,
    })),
    jobs: named(jobs).map(({ row, tenant }) => {
      const at = successes.get(row.id);
      return {
        tenant,
        job: row.name,
        lastSuccessSeconds: at === undefined ? null : Date.parse(at) / 1000,
        overdue: overdue.get(row.id) ?? null,
      };
    }),
  };
}
