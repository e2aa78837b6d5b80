/**
 * Tenants as the system administrator provisions them, for the API (`POST /api/v1/tenants`) and
 * the command line (`cairn tenant create`) alike: in one step the tenant with its limits, its
 * storage root, a first repository with a key of its own, and an administrator whose password is
 * shown once.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Catalog, RepositoryRow, TenantRow } from '../catalog/index.ts';
import { CairnError, isCairnError, reason } from '../errors.ts';
import {
  checkTenantPlaces,
  checkVolumeRequest,
  createRepository,
  discardVolume,
  dropVolume,
  growVolume,
  makeVolume,
  mountVolume,
  NameSchema,
  tenantLists,
  unmountVolume,
  validate,
  volumeImageOf,
  volumeMounted,
  type Actor,
  type Tenancy,
} from '../jobs/index.ts';
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
  /**
   * Bytes of a volume of its own: an XFS image loop-mounted on its storage root (made at least
   * VOLUME_MIN_BYTES; a change grows it, it never shrinks).
   */
  readonly volumeBytes?: number;
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
  // Names become paths (the repository's place) and log-on names: checked here for every caller.
  for (const [field, value] of [
    ['name', input.name],
    ['repository', input.repository],
    ['admin', input.admin],
  ] as const)
    if (typeof value === 'string' && validate(NameSchema, value).length > 0)
      throw new CairnError(
        'INVALID_INPUT',
        `${field}: "${value}" is not a name (${String(NameSchema.description)})`,
      );
  if (await catalog.tenantByName(input.name))
    throw new CairnError('CONFLICT', `Cannot create tenant ${input.name}: the name is taken`);
  const storageRoot =
    input.storageRoot === undefined ? path.join(tenancy.dataDir, 'tenants', input.name) : input.storageRoot;
  await checkTenantPlaces(catalog, tenancy, { ...input, storageRoot });
  let volume: { image: string; bytes: number } | null = null;
  if (input.volumeBytes !== undefined) {
    const image = volumeImageOf(tenancy.dataDir, input.name);
    const bytes = checkVolumeRequest({ name: input.name, storageRoot, bytes: input.volumeBytes, image });
    // The storage root is local: checkVolumeRequest refuses none and s3:.
    await makeVolume({ name: input.name, storageRoot: storageRoot!, bytes, image });
    volume = { image, bytes };
  } else if (storageRoot && !/^s3:/i.test(storageRoot))
    mkdirSync(storageRoot, { recursive: true, mode: 0o700 });
  // Nothing half made: when a later step fails, the volume goes again with everything in it.
  const undoVolume = async (err: unknown): Promise<never> => {
    if (volume && storageRoot) {
      try {
        await dropVolume(input.name, volume.image, storageRoot);
      } catch (e) {
        throw new CairnError(
          isCairnError(err) ? err.code : 'INTERNAL',
          `${reason(err)}; and the volume made for it could not be removed (${reason(e)}): unmount ${storageRoot} and remove ${volume.image}`,
          { cause: err },
        );
      }
    }
    throw err;
  };
  let tenant: TenantRow;
  let madeUser: string | undefined;
  try {
    tenant = await catalog.createTenant({ ...input, storageRoot, volume });
  } catch (err) {
    return undoVolume(err);
  }
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
      madeUser = user.id;
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
        volumeBytes: volume?.bytes ?? null,
      },
    });
    return { tenant, repository, admin };
  } catch (err) {
    // Nothing half made: a tenant whose repository or administrator failed is removed again.
    for (const r of await catalog.allRepositories(tenant.id)) await catalog.deleteRepository(tenant.id, r.id);
    if (madeUser) await catalog.deleteUser(madeUser);
    await catalog.deleteTenant(tenant.id);
    return undoVolume(err);
  }
}

export async function changeTenant(
  catalog: Catalog,
  tenancy: Tenancy,
  tenant: TenantRow,
  set: TenantSettings,
  by: string,
): Promise<TenantRow> {
  if (tenant.volume_image && set.storageRoot !== undefined && set.storageRoot !== tenant.storage_root)
    throw new CairnError(
      'CONFLICT',
      `storageRoot: tenant ${tenant.name}'s storage root is where its volume is mounted; it stays where it is`,
    );
  if (set.storageRoot !== undefined && set.storageRoot !== tenant.storage_root) {
    const repos = await catalog.allRepositories(tenant.id);
    if (repos.length > 0)
      throw new CairnError(
        'CONFLICT',
        `storageRoot: tenant ${tenant.name} already has repositories in ${tenant.storage_root ?? 'places of its own'}; move them first`,
      );
  }
  await checkTenantPlaces(catalog, tenancy, { name: tenant.name, ...set }, tenant.id);
  const { volumeBytes, ...rest } = set;
  if (volumeBytes !== undefined) {
    if (tenant.volume_image) {
      const bytes = await growVolume(tenant, volumeBytes);
      await catalog.setTenantVolume(tenant.id, { image: tenant.volume_image, bytes });
    } else {
      // A tenant without a volume gets one on its (new) storage root, which must be empty.
      const storageRoot = rest.storageRoot !== undefined ? rest.storageRoot : tenant.storage_root;
      const image = volumeImageOf(tenancy.dataDir, tenant.name);
      const bytes = checkVolumeRequest({ name: tenant.name, storageRoot, bytes: volumeBytes, image });
      await makeVolume({ name: tenant.name, storageRoot: storageRoot!, bytes, image });
      try {
        await catalog.updateTenant(tenant.id, { storageRoot });
        await catalog.setTenantVolume(tenant.id, { image, bytes });
      } catch (err) {
        await dropVolume(tenant.name, image, storageRoot!).catch(() => undefined);
        throw err;
      }
    }
  }
  await catalog.updateTenant(tenant.id, rest);
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

/**
 * Deletes a tenant without repositories, and the users that belonged to it alone; a volume of its
 * own is unmounted and its image removed, with whatever it still holds.
 */
export async function removeTenant(catalog: Catalog, tenant: TenantRow, by: string): Promise<void> {
  if (tenant.volume_image) {
    // Refused before the volume is touched: a tenant with repositories stays as it is.
    const repos = await catalog.allRepositories(tenant.id);
    if (repos.length > 0)
      throw new CairnError(
        'CONFLICT',
        `Cannot delete the tenant: it still has repositories (${repos.map((r) => r.name).join(', ')}); delete them first`,
      );
    // A busy volume (a run, a shell in it) is refused here, with nothing deleted.
    await unmountVolume(tenant);
  }
  try {
    await catalog.deleteTenant(tenant.id);
  } catch (err) {
    if (tenant.volume_image) await mountVolume(tenant).catch(() => undefined);
    throw err;
  }
  // Its users (NAME@TENANT) go with it, so a new tenant of the same name starts without them.
  await catalog.deleteTenantUsers(tenant.name);
  if (tenant.volume_image && tenant.storage_root)
    await discardVolume(tenant.volume_image, tenant.storage_root);
  await catalog.audit({
    tenantId: null,
    user: by,
    action: 'tenant.delete',
    object: tenant.id,
    detail: { name: tenant.name, ...(tenant.volume_image ? { volumeRemoved: tenant.volume_bytes } : {}) },
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
    /** Its own volume's size; null: its storage root is a folder of the data disk. */
    volumeBytes: t.volume_bytes,
    volumeImage: t.volume_image,
    /** Whether that volume is mounted on its storage root now; null without a volume. */
    volumeMounted: volumeMounted(t),
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
