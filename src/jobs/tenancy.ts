/**
 * What keeps tenants inside what the system administrator granted them (docs/security.md, "Trust
 * model"): the server key that wraps tenant repositories' keys, the folders a tenant's jobs may
 * read and its restores may write (checked after resolving symlinks, when a job is saved and again
 * when it runs), the programs a tenant may name (only the system administrator's named scripts),
 * the webhooks it may call, and the provisioning of a tenant in one step.
 */
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  realpathSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import type { Catalog, RepositoryRow, ScriptRow, TenantRow } from '../catalog/index.ts';
import { aesKeyUnwrap, aesKeyWrap } from '../crypto/index.ts';
import { CairnError, reason } from '../errors.ts';
import { isDirective } from '../plugins/index.ts';
import { Repository } from '../repo/index.ts';
import { backendFor, type RepoRef } from './repos.ts';
import type { Hook, JobSpec, ScriptSpec } from './spec.ts';
import { requireVolume } from './volume.ts';

/**
 * The server's own key (32 random bytes in `server.key` of the data directory, mode 0600). It wraps
 * (RFC 3394) the key-encryption key of every repository the server made for a tenant, so that the
 * key a scheduled job needs is never in a file a tenant can name.
 */
export class ServerKey {
  readonly #key: Buffer;

  private constructor(key: Buffer) {
    this.#key = key;
  }

  /** Reads the data directory's server key, creating it on first use. */
  static load(dataDir: string): ServerKey {
    const file = path.join(dataDir, 'server.key');
    if (!existsSync(file)) {
      mkdirSync(dataDir, { recursive: true, mode: 0o700 });
      writeFileSync(file, randomBytes(32), { mode: 0o600, flag: 'wx' });
    }
    chmodSync(file, 0o600);
    const key = readFileSync(file);
    if (key.length !== 32)
      throw new CairnError(
        'CONFIG_INVALID',
        `The server key ${file} holds ${key.length} bytes, not 32: restore it from a backup of the data directory`,
      );
    return new ServerKey(key);
  }

  wrap(secret: Buffer): string {
    return aesKeyWrap(this.#key, secret).toString('base64');
  }

  unwrap(wrapped: string, what: string): Buffer {
    try {
      return aesKeyUnwrap(this.#key, Buffer.from(wrapped, 'base64'));
    } catch (err) {
      throw new CairnError(
        'REPO_WRONG_PASSWORD',
        `Cannot open ${what}: its key does not unwrap with this server's key (${reason(err)}); is server.key the one it was made with?`,
        { cause: err },
      );
    }
  }
}

/** What the server knows of its own machine to keep tenants off it. */
export interface Tenancy {
  readonly dataDir: string;
  readonly serverKey: ServerKey;
  /** The catalog file when it lies outside the data directory. */
  readonly catalogFile?: string;
}

/** A repository row as the code that opens it needs it: the key unwrapped, or the password file. */
export function refOf(row: RepositoryRow, tenancy: Tenancy | undefined): RepoRef {
  const ref = { name: row.name, location: row.location, password_file: row.password_file };
  if (!row.wrapped_key) return ref;
  if (!tenancy)
    throw new CairnError('INTERNAL', `repository ${row.name} has a wrapped key but no server key is loaded`);
  return {
    ...ref,
    kek: tenancy.serverKey.unwrap(row.wrapped_key, `repository ${row.name}`).toString('base64'),
  };
}

/**
 * The real path of `p`: every symlink resolved, also one that points to nothing yet (a dangling
 * link is where a write or a later folder would go); the part that does not exist is appended.
 */
export function realPathOf(p: string, depth = 0): string {
  if (depth > 40) throw new CairnError('FORBIDDEN', `${p}: too many levels of symbolic links`);
  const abs = path.resolve(p);
  try {
    return realpathSync(abs);
  } catch {
    const parent = path.dirname(abs);
    if (parent === abs) return abs;
    const at = path.join(realPathOf(parent, depth), path.basename(abs));
    try {
      if (lstatSync(at).isSymbolicLink())
        return realPathOf(path.resolve(path.dirname(at), readlinkSync(at)), depth + 1);
    } catch {
      // Nothing there: the rest of the path cannot be a symlink now.
    }
    return at;
  }
}

export function isUnder(p: string, root: string): boolean {
  const rel = path.relative(root, p);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

function list(json: string): string[] {
  try {
    const v = JSON.parse(json) as unknown;
    return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
  } catch {
    return [];
  }
}

export function tenantLists(t: TenantRow): {
  sourceRoots: string[];
  restoreRoots: string[];
  webhookAllow: string[];
} {
  return {
    sourceRoots: list(t.source_roots),
    restoreRoots: list(t.restore_roots),
    webhookAllow: list(t.webhook_allow),
  };
}

/** The limits a tenant user works within (the system administrator has none). */
export interface Confinement {
  readonly tenant: TenantRow;
  readonly sourceRoots: readonly string[];
  readonly restoreRoots: readonly string[];
  readonly webhookAllow: readonly string[];
  /** Folders no tenant path may reach, whatever its roots: the data directory, storage roots. */
  readonly forbidden: readonly string[];
}

export async function confinementOf(
  catalog: Catalog,
  tenancy: Tenancy,
  tenantId: string,
): Promise<Confinement> {
  const tenant = await catalog.tenant(tenantId);
  if (!tenant) throw new CairnError('NOT_FOUND', `No tenant ${tenantId}`);
  const forbidden = [realPathOf(tenancy.dataDir)];
  if (tenancy.catalogFile) forbidden.push(realPathOf(tenancy.catalogFile));
  for (const t of await catalog.listTenants())
    if (t.storage_root && path.isAbsolute(t.storage_root)) forbidden.push(realPathOf(t.storage_root));
  for (const r of await catalog.allRepositories())
    if (path.isAbsolute(r.location)) forbidden.push(realPathOf(r.location));
  const l = tenantLists(tenant);
  return {
    tenant,
    sourceRoots: l.sourceRoots.map(realPathOf),
    restoreRoots: l.restoreRoots.map(realPathOf),
    webhookAllow: l.webhookAllow,
    forbidden,
  };
}

/**
 * Checks that a path a tenant user gave lies under one of its roots once symlinks are resolved,
 * and inside none of the server's own folders; returns the resolved path.
 */
export function confinePath(
  c: Confinement,
  given: string,
  kind: 'source' | 'restore',
  field: string,
): string {
  const roots = kind === 'source' ? c.sourceRoots : c.restoreRoots;
  const real = realPathOf(given);
  const shown = real === path.resolve(given) ? `"${given}"` : `"${given}" (${real})`;
  const hit = c.forbidden.find((f) => isUnder(real, f) || isUnder(f, real));
  if (hit)
    throw new CairnError(
      'FORBIDDEN',
      `${field}: ${shown} reaches the server's own data, which no tenant may ${kind === 'source' ? 'read' : 'write'}`,
    );
  if (!roots.some((r) => isUnder(real, r)))
    throw new CairnError(
      'FORBIDDEN',
      `${field}: ${shown} is outside tenant ${c.tenant.name}'s ${kind} roots (${roots.length > 0 ? roots.join(', ') : 'none granted: ask the system administrator'})`,
    );
  return real;
}

const PROGRAMS =
  'only the system administrator defines programs that run on the server; name one of the scripts granted to this tenant (GET /api/v1/scripts)';

/**
 * Everything of a job a tenant user may not ask for: programs (runBefore/runAfter commands, hook
 * commands, plugin directives, which start programs or read paths of their own), sources outside
 * its roots, webhooks outside its allow-list, scripts not granted to it. Throws FORBIDDEN naming
 * the field.
 */
export async function checkConfinedSpec(catalog: Catalog, c: Confinement, spec: JobSpec): Promise<void> {
  spec.sources.forEach((s, i) => {
    if (isDirective(s))
      throw new CairnError(
        'FORBIDDEN',
        `sources[${i}]: "${s.slice(0, 64)}" is a plugin directive; plugins start programs and read paths of their own, so only the system administrator may use them`,
      );
    confinePath(c, s, 'source', `sources[${i}]`);
  });
  if ((spec.optionPlugins ?? []).length > 0)
    throw new CairnError(
      'FORBIDDEN',
      'optionPlugins: option plugins run code on the server; only the system administrator may use them',
    );
  for (const field of ['runBefore', 'runAfter'] as const) {
    for (const [i, s] of (spec[field] ?? []).entries()) {
      if (s.command !== undefined) throw new CairnError('FORBIDDEN', `${field}[${i}].command: ${PROGRAMS}`);
      if (s.script !== undefined) await grantedScript(catalog, c.tenant, s.script, `${field}[${i}].script`);
    }
  }
  for (const [i, h] of (spec.hooks ?? []).entries()) {
    if (h.command !== undefined) throw new CairnError('FORBIDDEN', `hooks[${i}].command: ${PROGRAMS}`);
    if (h.script !== undefined) await grantedScript(catalog, c.tenant, h.script, `hooks[${i}].script`);
    if (h.webhook !== undefined && !c.webhookAllow.some((prefix) => webhookAllowed(h.webhook!, prefix)))
      throw new CairnError(
        'FORBIDDEN',
        `hooks[${i}].webhook: ${originOf(h.webhook)} is not among the webhook addresses the system administrator allows tenant ${c.tenant.name} (${c.webhookAllow.join(', ') || 'none'})`,
      );
  }
}

function originOf(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return 'the address';
  }
}

/** A URL is allowed by a prefix when it starts with it at a boundary (no `https://a.b` → `https://a.bc`). */
export function webhookAllowed(url: string, prefix: string): boolean {
  let u: URL;
  let p: URL;
  try {
    u = new URL(url);
    p = new URL(prefix);
  } catch {
    return false;
  }
  if (u.protocol !== p.protocol || u.host !== p.host || u.username || u.password) return false;
  const dir = p.pathname.endsWith('/') ? p.pathname : `${p.pathname}/`;
  return u.pathname === p.pathname || u.pathname.startsWith(dir) || p.pathname === '/';
}

function scriptTenants(s: ScriptRow): string[] {
  return list(s.tenants);
}

/** The named script if this tenant may use it; FORBIDDEN (not found, to a tenant) otherwise. */
export async function grantedScript(
  catalog: Catalog,
  tenant: TenantRow,
  name: string,
  field: string,
): Promise<ScriptRow> {
  const s = await catalog.scriptByName(name);
  const tenants = s ? scriptTenants(s) : [];
  if (!s || !(tenants.includes('*') || tenants.includes(tenant.name)))
    throw new CairnError(
      'FORBIDDEN',
      `${field}: no script "${name}" is granted to tenant ${tenant.name} (GET /api/v1/scripts lists those that are)`,
    );
  return s;
}

/** Scripts a tenant may name. */
export async function scriptsFor(catalog: Catalog, tenant: TenantRow): Promise<ScriptRow[]> {
  return (await catalog.listScripts()).filter((s) => {
    const t = scriptTenants(s);
    return t.includes('*') || t.includes(tenant.name);
  });
}

/**
 * The spec with every named script replaced by its command, as the system administrator defined
 * it now (a script changed or withdrawn since the job was saved counts as it is now).
 */
export async function resolveScripts(
  catalog: Catalog,
  tenant: TenantRow,
  spec: JobSpec,
  /** Only scripts granted to the tenant (a job a tenant user saved); else any (the system administrator's). */
  grantedOnly = true,
): Promise<JobSpec> {
  const find = async (name: string, field: string): Promise<ScriptRow> => {
    if (grantedOnly) return grantedScript(catalog, tenant, name, field);
    const row = await catalog.scriptByName(name);
    if (!row) throw new CairnError('INVALID_INPUT', `${field}: there is no script "${name}"`);
    return row;
  };
  const script = async (s: ScriptSpec, field: string): Promise<ScriptSpec> => {
    if (s.script === undefined) return s;
    const row = await find(s.script, field);
    const { script: _s, ...rest } = s;
    return {
      ...rest,
      command: JSON.parse(row.command) as string[],
      ...(s.timeoutSeconds === undefined && row.timeout_seconds !== null
        ? { timeoutSeconds: row.timeout_seconds }
        : {}),
    };
  };
  const hook = async (h: Hook, field: string): Promise<Hook> => {
    if (h.script === undefined) return h;
    const row = await find(h.script, field);
    const { script: _s, ...rest } = h;
    return { ...rest, command: JSON.parse(row.command) as string[] };
  };
  const out: JobSpec = { ...spec };
  if (spec.runBefore)
    out.runBefore = await Promise.all(spec.runBefore.map((s, i) => script(s, `runBefore[${i}].script`)));
  if (spec.runAfter)
    out.runAfter = await Promise.all(spec.runAfter.map((s, i) => script(s, `runAfter[${i}].script`)));
  if (spec.hooks) out.hooks = await Promise.all(spec.hooks.map((h, i) => hook(h, `hooks[${i}].script`)));
  return out;
}

// ---- tenants' repositories and provisioning -----------------------------------------------------

/** Where a tenant repository named `name` lives in its storage root. */
export function locationIn(storageRoot: string, name: string): string {
  return /^s3:/i.test(storageRoot)
    ? `${storageRoot.replace(/\/+$/, '')}/${name}`
    : path.join(storageRoot, name);
}

/**
 * Makes a new repository in the tenant's storage root with a key of its own: a random 256-bit
 * key-encryption key opens its key slot, and the catalog keeps that key only wrapped under the
 * server key. A location that already holds anything is never adopted.
 */
export async function createTenantRepository(
  tenancy: Tenancy,
  tenant: TenantRow,
  name: string,
): Promise<{ location: string; wrappedKey: string }> {
  if (!tenant.storage_root)
    throw new CairnError(
      'CONFLICT',
      `Cannot create repository ${name}: tenant ${tenant.name} has no storage root (the system administrator sets one: cairn tenant set ${tenant.name} --storage-root DIR)`,
    );
  // Never into the bare folder beneath a volume that is not mounted.
  requireVolume(tenant);
  const location = locationIn(tenant.storage_root, name);
  if (!/^s3:/i.test(location)) {
    mkdirSync(tenant.storage_root, { recursive: true, mode: 0o700 });
    if (existsSync(location) && readdirSync(location).length > 0)
      throw new CairnError(
        'CONFLICT',
        `Cannot create repository ${name}: something is already stored under that name in tenant ${tenant.name}'s storage`,
      );
  }
  const kek = randomBytes(32);
  const backend = backendFor(location);
  try {
    const repo = await Repository.init(backend, { kek });
    await repo.close();
  } catch (err) {
    if (err instanceof CairnError && err.code === 'REPO_EXISTS')
      throw new CairnError(
        'CONFLICT',
        `Cannot create repository ${name}: a repository is already stored under that name in tenant ${tenant.name}'s storage`,
        { cause: err },
      );
    throw err;
  } finally {
    await backend.close();
  }
  return { location, wrappedKey: tenancy.serverKey.wrap(kek) };
}

/** Checks a storage root, source roots and restore roots the system administrator gives a tenant. */
export async function checkTenantPlaces(
  catalog: Catalog,
  tenancy: Tenancy,
  t: {
    name: string;
    storageRoot?: string | null;
    sourceRoots?: readonly string[];
    restoreRoots?: readonly string[];
  },
  self?: string,
): Promise<void> {
  const data = realPathOf(tenancy.dataDir);
  const tenantsDir = path.join(data, 'tenants');
  if (t.storageRoot) {
    if (!/^s3:/i.test(t.storageRoot)) {
      if (!path.isAbsolute(t.storageRoot))
        throw new CairnError(
          'INVALID_INPUT',
          `storageRoot: "${t.storageRoot}" is not an absolute path (or s3:…)`,
        );
      const real = realPathOf(t.storageRoot);
      if (isUnder(real, data) && !isUnder(real, tenantsDir))
        throw new CairnError(
          'INVALID_INPUT',
          `storageRoot: "${t.storageRoot}" is inside the server's data directory (only its tenants/ folder may hold storage)`,
        );
      for (const other of await catalog.listTenants()) {
        if (other.id === self || !other.storage_root || /^s3:/i.test(other.storage_root)) continue;
        const o = realPathOf(other.storage_root);
        if (isUnder(real, o) || isUnder(o, real))
          throw new CairnError(
            'CONFLICT',
            `storageRoot: "${t.storageRoot}" overlaps the storage of tenant ${other.name}; each tenant's storage is its own`,
          );
      }
    } else {
      for (const other of await catalog.listTenants()) {
        if (other.id === self || !other.storage_root) continue;
        const a = `${t.storageRoot.replace(/\/+$/, '')}/`;
        const b = `${other.storage_root.replace(/\/+$/, '')}/`;
        if (a.startsWith(b) || b.startsWith(a))
          throw new CairnError(
            'CONFLICT',
            `storageRoot: "${t.storageRoot}" overlaps the storage of tenant ${other.name}; each tenant's storage is its own`,
          );
      }
    }
  }
  for (const [field, roots] of [
    ['sourceRoots', t.sourceRoots],
    ['restoreRoots', t.restoreRoots],
  ] as const) {
    (roots ?? []).forEach((r, i) => {
      if (!path.isAbsolute(r))
        throw new CairnError('INVALID_INPUT', `${field}[${i}]: "${r}" is not an absolute path`);
      const real = realPathOf(r);
      if (isUnder(real, data))
        throw new CairnError(
          'INVALID_INPUT',
          `${field}[${i}]: "${r}" is inside the server's data directory, which no tenant may reach`,
        );
    });
  }
}

/** Every script a job names exists (jobs of the system administrator may name any). */
export async function checkScriptNames(catalog: Catalog, spec: JobSpec): Promise<void> {
  const named: [string, string][] = [];
  for (const field of ['runBefore', 'runAfter'] as const)
    (spec[field] ?? []).forEach((s, i) => {
      if (s.script !== undefined) named.push([`${field}[${i}].script`, s.script]);
    });
  (spec.hooks ?? []).forEach((h, i) => {
    if (h.script !== undefined) named.push([`hooks[${i}].script`, h.script]);
  });
  for (const [field, name] of named)
    if (!(await catalog.scriptByName(name)))
      throw new CairnError('INVALID_INPUT', `${field}: there is no script "${name}" (GET /api/v1/scripts)`);
}
