/**
 * Tenants as the system administrator provisions them, for the API (`POST /api/v1/tenants`) and
 * the command line (`cairn tenant create`) alike: in one step the tenant with its limits, its
 * storage root, a first repository with a key of its own, and an administrator whose password is
 * shown once.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Catalog, RepositoryRow, TenantRow } from '../catalog/index.ts';
import { CairnError } from '../errors.ts';
import { checkTenantPlaces, createRepository, tenantLists, type Actor, type Tenancy } from '../jobs/index.ts';
import { hashPassword, newToken } from './auth.ts';
import { API } from './views.ts';

export interface TenantSettings {
  readonly storageRoot?: string | null;
  readonly quotaBytes?: number | null;
  readonly sourceRoots?: readonly string[];
  readonly restoreRoots?: readonly string[];
  readonly webhookAllow?: readonly string[];
  readonly maxRuns?: number | null;
  readonly bandwidthBytesPerSecond?: number | null;
  readonly protectionDays?: number;
}

export interface TenantInput extends TenantSettings {
  readonly name: string;
  /** The first repository's name (default "main"); null: none. */
  readonly repository?: string | null;
  /** The first administrator's name (default "admin"); null: none. */
  readonly admin?: string | null;
}

export interface Provisioned {
  readonly tenant: TenantRow;
  readonly repository: RepositoryRow | null;
  /** The administrator's log-on name and password: shown once, kept nowhere. */
  readonly admin: { readonly name: string; readonly logon: string; readonly password: string } | null;
}

export async function provisionTenant(
  catalog: Catalog,
  tenancy: Tenancy,
  input: TenantInput,
  by: string,
): Promise<Provisioned> {
  if (await catalog.tenantByName(input.name))
    throw new CairnError('CONFLICT', `Cannot create tenant ${input.name}: the name is taken`);
  const storageRoot =
    input.storageRoot === undefined ? path.join(tenancy.dataDir, 'tenants', input.name) : input.storageRoot;
  await checkTenantPlaces(catalog, tenancy, { ...input, storageRoot });
  if (storageRoot && !/^s3:/i.test(storageRoot)) mkdirSync(storageRoot, { recursive: true, mode: 0o700 });
  const tenant = await catalog.createTenant({ ...input, storageRoot });
  try {
    const actor: Actor = { tenantId: tenant.id, userId: null, userName: by };
    const repoName = input.repository === undefined ? 'main' : input.repository;
    const repository =
      repoName === null
        ? null
        : await createRepository(catalog, actor, { name: repoName }, '', 'api', tenancy, false);
    let admin: Provisioned['admin'] = null;
    const adminName = input.admin === undefined ? 'admin' : input.admin;
    if (adminName !== null) {
      const password = newToken('').slice(0, 24);
      const user = await catalog.createTenantUser({
        tenantId: tenant.id,
        name: adminName,
        passwordHash: await hashPassword(password),
        role: 'administrator',
      });
      admin = { name: adminName, logon: user.name, password };
    }
    await catalog.audit({
      tenantId: tenant.id,
      user: by,
      action: 'tenant.create',
      object: tenant.id,
      detail: {
        name: tenant.name,
        quotaBytes: tenant.quota_bytes,
        repository: repository?.name ?? null,
        admin: admin?.logon ?? null,
      },
    });
    return { tenant, repository, admin };
  } catch (err) {
    // Nothing half made: a tenant whose repository or administrator failed is removed again.
    for (const r of await catalog.allRepositories(tenant.id)) await catalog.deleteRepository(tenant.id, r.id);
    await catalog.deleteTenant(tenant.id);
    throw err;
  }
}

export async function changeTenant(
  catalog: Catalog,
  tenancy: Tenancy,
  tenant: TenantRow,
  set: TenantSettings,
  by: string,
): Promise<TenantRow> {
  if (set.storageRoot !== undefined && set.storageRoot !== tenant.storage_root) {
    const repos = await catalog.allRepositories(tenant.id);
    if (repos.length > 0)
      throw new CairnError(
        'CONFLICT',
        `storageRoot: tenant ${tenant.name} already has repositories in ${tenant.storage_root ?? 'places of its own'}; move them first`,
      );
  }
  await checkTenantPlaces(catalog, tenancy, { name: tenant.name, ...set }, tenant.id);
  await catalog.updateTenant(tenant.id, set);
  await catalog.audit({
    tenantId: tenant.id,
    user: by,
    action: 'tenant.update',
    object: tenant.id,
    detail: { ...set },
  });
  const now = await catalog.tenant(tenant.id);
  if (!now) throw new CairnError('NOT_FOUND', `tenant ${tenant.name} vanished while it was changed`);
  return now;
}

/** Deletes a tenant without repositories, and the users that belonged to it alone. */
export async function removeTenant(catalog: Catalog, tenant: TenantRow, by: string): Promise<void> {
  await catalog.deleteTenant(tenant.id);
  // Its users (NAME@TENANT) go with it, so a new tenant of the same name starts without them.
  await catalog.deleteTenantUsers(tenant.name);
  await catalog.audit({
    tenantId: null,
    user: by,
    action: 'tenant.delete',
    object: tenant.id,
    detail: { name: tenant.name },
  });
}

export function tenantView(t: TenantRow) {
  const l = tenantLists(t);
  const self = `${API}/tenants/${t.id}`;
  return {
    id: t.id,
    name: t.name,
    storageRoot: t.storage_root,
    quotaBytes: t.quota_bytes,
    usageBytes: t.usage_bytes,
    sourceRoots: l.sourceRoots,
    restoreRoots: l.restoreRoots,
    webhookAllow: l.webhookAllow,
    maxRuns: t.max_runs,
    bandwidthBytesPerSecond: t.bandwidth_bytes_per_second,
    protectionDays: t.protection_days,
    createdAt: t.created_at,
    updatedAt: t.updated_at,
    links: [
      { rel: 'self', href: self, method: 'GET' },
      { rel: 'edit', href: self, method: 'PATCH' },
      { rel: 'delete', href: self, method: 'DELETE' },
      { rel: 'logon', href: `${API}/sessions?tenant=${encodeURIComponent(t.name)}`, method: 'POST' },
    ],
  };
}
