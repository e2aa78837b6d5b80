/**
 * The catalog: every query Cairn's server makes. Each method that reads or changes a tenant's
 * objects takes the tenant id and puts it in the WHERE clause, so one tenant never sees another's
 * rows, whatever id a caller guesses.
 */
import { randomUUID } from 'node:crypto';
import { sql, type Kysely, type Selectable, type Transaction } from 'kysely';
import { CairnError } from '../errors.ts';
import { connectCatalog, type CatalogKind } from './connect.ts';
import type {
  ApiKeyRow,
  AuditRow,
  Database,
  JobRow,
  RecycleRow,
  RepositoryRow,
  RunLogRow,
  RunRow,
  ScriptRow,
  ServerRow,
  SessionRow,
  TaskRow,
  TenantRow,
  UserRow,
} from './schema.ts';

export interface Page<T> {
  readonly data: T[];
  readonly pagination: { total: number; count: number; skip: number; limit: number };
}

export interface PageQuery {
  readonly skip?: number;
  readonly limit?: number;
}

export type RunState = 'queued' | 'running' | 'success' | 'warning' | 'failed' | 'canceled';
export const FINAL_STATES: readonly RunState[] = ['success', 'warning', 'failed', 'canceled'];

export interface RunFilter extends PageQuery {
  readonly jobId?: string;
  readonly state?: string;
  readonly kind?: string;
  readonly since?: string;
}

export interface NewRun {
  readonly tenantId: string;
  readonly jobId: string | null;
  readonly jobName: string;
  readonly repositoryId: string;
  readonly kind: 'backup' | 'restore';
  readonly params: unknown;
  readonly trigger: 'schedule' | 'manual' | 'retry' | 'api';
  readonly attempt?: number;
  readonly notBefore?: string;
}

/** A run a server took over from a server whose lease expired (see takeOverExpiredRuns). */
export interface Takeover {
  /** The run as it was while its server held it. */
  readonly run: RunRow;
  /** The server that held it and stopped answering. */
  readonly server: string;
  readonly state: 'failed' | 'canceled';
  readonly message: string;
  /** The job's next attempt, queued by its retry policy. */
  readonly retry?: RunRow;
}

export interface NewTenant {
  readonly name: string;
  readonly storageRoot?: string | null;
  readonly quotaBytes?: number | null;
  readonly sourceRoots?: readonly string[];
  readonly restoreRoots?: readonly string[];
  readonly webhookAllow?: readonly string[];
  readonly maxRuns?: number | null;
  readonly bandwidthBytesPerSecond?: number | null;
  readonly protectionDays?: number;
  /** Its volume: the image mounted on its storage root, and its size (only at creation). */
  readonly volume?: { readonly image: string; readonly bytes: number } | null;
}

export interface NewScript {
  readonly name: string;
  readonly command: readonly string[];
  readonly description?: string;
  readonly timeoutSeconds?: number | null;
  /** Tenant names that may use it; ["*"]: every tenant. */
  readonly tenants?: readonly string[];
  readonly origin: 'config' | 'api';
}

const newId = (): string => randomUUID();

/** The key of the PostgreSQL advisory lock under which runs are claimed ("cairn" + 1). */
const CLAIM_LOCK = 0x636169726e01;

function clampPage(q: PageQuery): { skip: number; limit: number } {
  return {
    skip: Math.max(0, Math.floor(q.skip ?? 0)),
    limit: Math.min(500, Math.max(1, Math.floor(q.limit ?? 50))),
  };
}

/**
 * The name a tenant's user is stored under: `NAME@TENANT`. User and tenant names follow
 * NameSchema, which has no '@', so nobody can type this form as a plain name, and `users.name`
 * (unique over all tenants) is unique per tenant without a new index. The first administrator and
 * system administrators keep plain names.
 */
export function tenantUserName(name: string, tenant: string): string {
  return `${name}@${tenant}`;
}

/** A stored user name as its user knows it: the name, and the tenant that scopes it (null: plain). */
export function splitUserName(stored: string): { name: string; tenant: string | null } {
  const at = stored.indexOf('@');
  return at < 0
    ? { name: stored, tenant: null }
    : { name: stored.slice(0, at), tenant: stored.slice(at + 1) };
}

/**
 * Runs a write, turning the database's refusal of a duplicate (a unique index) into CONFLICT with
 * `message`; other errors pass as they are.
 */
async function conflictOnUnique<T>(write: () => Promise<T>, message: string): Promise<T> {
  try {
    return await write();
  } catch (err) {
    if (isUniqueViolation(err)) throw new CairnError('CONFLICT', message);
    throw err;
  }
}

export class Catalog {
  readonly db: Kysely<Database>;
  readonly kind: CatalogKind;
  readonly #close: () => Promise<void>;
  readonly now: () => Date;

  private constructor(db: Kysely<Database>, kind: CatalogKind, close: () => Promise<void>, now: () => Date) {
    this.db = db;
    this.kind = kind;
    this.#close = close;
    this.now = now;
  }

  /** Opens (and migrates) the catalog at a file path, `sqlite:` URL or `postgres://` URL. */
  static async open(url: string, options: { now?: () => Date } = {}): Promise<Catalog> {
    const c = await connectCatalog(url);
    return new Catalog(c.db, c.kind, c.close, options.now ?? (() => new Date()));
  }

  close(): Promise<void> {
    return this.#close();
  }

  private iso(offsetMs = 0): string {
    return new Date(this.now().getTime() + offsetMs).toISOString();
  }

  // --- tenants and users ---

  async ensureTenant(name: string): Promise<TenantRow> {
    const found = await this.tenantByName(name);
    if (found) return found;
    await this.db
      .insertInto('tenants')
      .values(this.newTenantRow({ name }))
      .onConflict((oc) => oc.column('name').doNothing())
      .execute();
    return await this.db.selectFrom('tenants').selectAll().where('name', '=', name).executeTakeFirstOrThrow();
  }

  private newTenantRow(t: NewTenant): TenantRow {
    return {
      id: newId(),
      name: t.name,
      created_at: this.iso(),
      storage_root: t.storageRoot ?? null,
      quota_bytes: t.quotaBytes ?? null,
      source_roots: JSON.stringify(t.sourceRoots ?? []),
      restore_roots: JSON.stringify(t.restoreRoots ?? []),
      webhook_allow: JSON.stringify(t.webhookAllow ?? []),
      max_runs: t.maxRuns ?? null,
      bandwidth_bytes_per_second: t.bandwidthBytesPerSecond ?? null,
      protection_days: t.protectionDays ?? 0,
      usage_bytes: null,
      updated_at: null,
      volume_image: t.volume?.image ?? null,
      volume_bytes: t.volume?.bytes ?? null,
    };
  }

  async createTenant(t: NewTenant): Promise<TenantRow> {
    const row = this.newTenantRow(t);
    await conflictOnUnique(
      () => this.db.insertInto('tenants').values(row).execute(),
      `Cannot create tenant ${t.name}: the name is taken`,
    );
    return row;
  }

  /** Records a tenant's volume (its image and size), or that it has none. */
  async setTenantVolume(id: string, volume: { image: string; bytes: number } | null): Promise<void> {
    await this.db
      .updateTable('tenants')
      .set({
        volume_image: volume?.image ?? null,
        volume_bytes: volume?.bytes ?? null,
        updated_at: this.iso(),
      })
      .where('id', '=', id)
      .execute();
  }

  /** Changes a tenant's settings; fields left out stay as they are. */
  async updateTenant(id: string, t: Partial<Omit<NewTenant, 'name' | 'volume'>>): Promise<void> {
    const set: Partial<TenantRow> = { updated_at: this.iso() };
    if (t.storageRoot !== undefined) set.storage_root = t.storageRoot;
    if (t.quotaBytes !== undefined) set.quota_bytes = t.quotaBytes;
    if (t.sourceRoots !== undefined) set.source_roots = JSON.stringify(t.sourceRoots);
    if (t.restoreRoots !== undefined) set.restore_roots = JSON.stringify(t.restoreRoots);
    if (t.webhookAllow !== undefined) set.webhook_allow = JSON.stringify(t.webhookAllow);
    if (t.maxRuns !== undefined) set.max_runs = t.maxRuns;
    if (t.bandwidthBytesPerSecond !== undefined) set.bandwidth_bytes_per_second = t.bandwidthBytesPerSecond;
    if (t.protectionDays !== undefined) set.protection_days = t.protectionDays;
    await this.db.updateTable('tenants').set(set).where('id', '=', id).execute();
  }

  async setTenantUsage(id: string, bytes: number): Promise<void> {
    await this.db.updateTable('tenants').set({ usage_bytes: bytes }).where('id', '=', id).execute();
  }

  /** Deletes a tenant that holds no repository; its users' roles, jobs and runs go with it. */
  async deleteTenant(id: string): Promise<void> {
    const repos = await this.db
      .selectFrom('repositories')
      .select('name')
      .where('tenant_id', '=', id)
      .execute();
    if (repos.length > 0)
      throw new CairnError(
        'CONFLICT',
        `Cannot delete the tenant: it still has repositories (${repos.map((r) => r.name).join(', ')}); delete them first`,
      );
    await this.db.deleteFrom('tenants').where('id', '=', id).execute();
  }

  tenant(id: string): Promise<TenantRow | undefined> {
    return this.db.selectFrom('tenants').selectAll().where('id', '=', id).executeTakeFirst();
  }

  tenantByName(name: string): Promise<TenantRow | undefined> {
    return this.db.selectFrom('tenants').selectAll().where('name', '=', name).executeTakeFirst();
  }

  /** The run limits of some tenants (the runner's refresh of running tenants' bandwidth). */
  async tenantLimits(
    ids: readonly string[],
  ): Promise<Pick<TenantRow, 'id' | 'max_runs' | 'bandwidth_bytes_per_second'>[]> {
    if (ids.length === 0) return [];
    return this.db
      .selectFrom('tenants')
      .select(['id', 'max_runs', 'bandwidth_bytes_per_second'])
      .where('id', 'in', [...ids])
      .execute();
  }

  listTenants(): Promise<TenantRow[]> {
    return this.db.selectFrom('tenants').selectAll().orderBy('name').execute();
  }

  // --- scripts: programs the system administrator defines, that tenants' jobs name ---

  async createScript(x: NewScript): Promise<ScriptRow> {
    const now = this.iso();
    const row: ScriptRow = {
      id: newId(),
      name: x.name,
      command: JSON.stringify(x.command),
      description: x.description ?? '',
      timeout_seconds: x.timeoutSeconds ?? null,
      tenants: JSON.stringify(x.tenants ?? []),
      origin: x.origin,
      created_at: now,
      updated_at: now,
    };
    await conflictOnUnique(
      () => this.db.insertInto('scripts').values(row).execute(),
      `Cannot create script ${x.name}: the name is taken`,
    );
    return row;
  }

  async updateScript(id: string, x: Partial<Omit<NewScript, 'origin'>>): Promise<void> {
    const set: Partial<ScriptRow> = { updated_at: this.iso() };
    if (x.name !== undefined) set.name = x.name;
    if (x.command !== undefined) set.command = JSON.stringify(x.command);
    if (x.description !== undefined) set.description = x.description;
    if (x.timeoutSeconds !== undefined) set.timeout_seconds = x.timeoutSeconds;
    if (x.tenants !== undefined) set.tenants = JSON.stringify(x.tenants);
    await conflictOnUnique(
      () => this.db.updateTable('scripts').set(set).where('id', '=', id).execute(),
      `Cannot rename the script to ${x.name ?? ''}: the name is taken`,
    );
  }

  async deleteScript(id: string): Promise<void> {
    await this.db.deleteFrom('scripts').where('id', '=', id).execute();
  }

  script(id: string): Promise<ScriptRow | undefined> {
    return this.db.selectFrom('scripts').selectAll().where('id', '=', id).executeTakeFirst();
  }

  scriptByName(name: string): Promise<ScriptRow | undefined> {
    return this.db.selectFrom('scripts').selectAll().where('name', '=', name).executeTakeFirst();
  }

  listScripts(): Promise<ScriptRow[]> {
    return this.db.selectFrom('scripts').selectAll().orderBy('name').execute();
  }

  async countUsers(): Promise<number> {
    const r = await this.db
      .selectFrom('users')
      .select((eb) => eb.fn.countAll<string | number>().as('n'))
      .executeTakeFirstOrThrow();
    return Number(r.n);
  }

  async createUser(u: { name: string; passwordHash: string; systemAdmin: boolean }): Promise<UserRow> {
    const row: UserRow = {
      id: newId(),
      name: u.name,
      password_hash: u.passwordHash,
      system_admin: u.systemAdmin ? 1 : 0,
      disabled: 0,
      created_at: this.iso(),
    };
    await conflictOnUnique(
      () => this.db.insertInto('users').values(row).execute(),
      `Cannot create user ${u.name}: the name is taken`,
    );
    return row;
  }

  userByName(name: string): Promise<UserRow | undefined> {
    return this.db.selectFrom('users').selectAll().where('name', '=', name).executeTakeFirst();
  }

  /**
   * Creates a user of one tenant, stored as NAME@TENANT with its role there. A name is taken only
   * by a user the tenant's administrators can already see (NAME@TENANT, or a plain NAME with a
   * role in the tenant): another tenant's users never make a name "taken".
   */
  async createTenantUser(u: {
    tenantId: string;
    name: string;
    passwordHash: string;
    role: string;
  }): Promise<UserRow> {
    const tenant = await this.tenant(u.tenantId);
    if (!tenant) throw new CairnError('NOT_FOUND', `Cannot create user ${u.name}: no such tenant`);
    const taken = () =>
      new CairnError('CONFLICT', `Cannot create user ${u.name}: the name is taken in tenant ${tenant.name}`);
    const row: UserRow = {
      id: newId(),
      name: tenantUserName(u.name, tenant.name),
      password_hash: u.passwordHash,
      system_admin: 0,
      disabled: 0,
      created_at: this.iso(),
    };
    try {
      await this.db.transaction().execute(async (tx) => {
        const plain = await tx
          .selectFrom('users')
          .innerJoin('user_roles', 'user_roles.user_id', 'users.id')
          .select('users.id')
          .where('users.name', '=', u.name)
          .where('user_roles.tenant_id', '=', u.tenantId)
          .executeTakeFirst();
        if (plain) throw taken();
        await tx.insertInto('users').values(row).execute();
        await tx
          .insertInto('user_roles')
          .values({ user_id: row.id, tenant_id: u.tenantId, role: u.role })
          .execute();
      });
    } catch (err) {
      if (isUniqueViolation(err)) throw taken();
      throw err;
    }
    return row;
  }

  /**
   * The user a logon names. With a tenant: NAME@TENANT, else the plain NAME if it is a system
   * administrator or has a role in that tenant (an unknown tenant names nobody). Without: the plain
   * NAME, else NAME@HOME. Every lookup is made whatever the first finds, so the time taken does not
   * tell which exists.
   */
  async userForLogon(
    name: string,
    tenantName: string | undefined,
    home: string,
  ): Promise<UserRow | undefined> {
    if (tenantName === undefined) {
      const [plain, scoped] = await Promise.all([
        this.userByName(name),
        this.userByName(tenantUserName(name, home)),
      ]);
      return plain ?? scoped;
    }
    const [tenant, scoped, plain] = await Promise.all([
      this.tenantByName(tenantName),
      this.userByName(tenantUserName(name, tenantName)),
      this.userByName(name),
    ]);
    const role = await this.roleOf(plain?.id ?? '', tenant?.id ?? '');
    if (!tenant) return undefined;
    if (scoped) return scoped;
    if (!plain) return undefined;
    return plain.system_admin === 1 || role !== undefined ? plain : undefined;
  }

  /**
   * Every user a logon as NAME (to tenant T) may mean, in the order they are tried: with a tenant,
   * its own NAME@T first, then the plain NAME if it is a system administrator or has a role there
   * — the system administrator `admin` logging on to a tenant whose administrator is `admin@T`
   * must reach its own account, told apart by its password. Without one, as userForLogon.
   */
  async logonCandidates(name: string, tenantName: string | undefined, home: string): Promise<UserRow[]> {
    if (tenantName === undefined) {
      const one = await this.userForLogon(name, undefined, home);
      return one ? [one] : [];
    }
    const [tenant, scoped, plain] = await Promise.all([
      this.tenantByName(tenantName),
      this.userByName(tenantUserName(name, tenantName)),
      this.userByName(name),
    ]);
    if (!tenant) return [];
    const out: UserRow[] = [];
    if (scoped) out.push(scoped);
    if (plain && (plain.system_admin === 1 || (await this.roleOf(plain.id, tenant.id)) !== undefined))
      out.push(plain);
    return out;
  }

  /** Users whose name is NAME or NAME@SOME-TENANT: for the machine owner's tools, never the API. */
  usersNamed(name: string): Promise<UserRow[]> {
    const prefix = `${name}@`;
    return this.db
      .selectFrom('users')
      .selectAll()
      .where((eb) =>
        eb.or([
          eb('name', '=', name),
          eb(sql<string>`substr(${sql.ref('name')}, 1, ${sql.lit(prefix.length)})`, '=', prefix),
        ]),
      )
      .orderBy('name')
      .execute();
  }

  systemAdmins(): Promise<UserRow[]> {
    return this.db
      .selectFrom('users')
      .selectAll()
      .where('system_admin', '=', 1)
      .orderBy('created_at')
      .execute();
  }

  /** Changes a user's password hash and whether it is disabled; fields left out stay. */
  async updateUser(id: string, set: { passwordHash?: string; disabled?: boolean }): Promise<void> {
    const values: Partial<UserRow> = {};
    if (set.passwordHash !== undefined) values.password_hash = set.passwordHash;
    if (set.disabled !== undefined) values.disabled = set.disabled ? 1 : 0;
    if (Object.keys(values).length === 0) return;
    await this.db.updateTable('users').set(values).where('id', '=', id).execute();
  }

  /**
   * Deletes the users stored as NAME@TENANT: call it when the tenant goes, so that a new tenant of
   * the same name does not inherit them (their roles went with the old tenant's id).
   */
  async deleteTenantUsers(tenantName: string): Promise<number> {
    const suffix = `@${tenantName}`;
    const r = await this.db
      .deleteFrom('users')
      // substr from length − n + 1: a negative start means the end in SQLite but not in PostgreSQL.
      .where(
        sql<string>`substr(${sql.ref('name')}, length(${sql.ref('name')}) - ${sql.lit(suffix.length - 1)})`,
        '=',
        suffix,
      )
      .executeTakeFirst();
    return Number(r.numDeletedRows);
  }

  user(id: string): Promise<UserRow | undefined> {
    return this.db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
  }

  async setPassword(userId: string, passwordHash: string): Promise<void> {
    await this.db
      .updateTable('users')
      .set({ password_hash: passwordHash })
      .where('id', '=', userId)
      .execute();
  }

  async setRole(userId: string, tenantId: string, role: string): Promise<void> {
    await this.db
      .insertInto('user_roles')
      .values({ user_id: userId, tenant_id: tenantId, role })
      .onConflict((oc) => oc.columns(['user_id', 'tenant_id']).doUpdateSet({ role }))
      .execute();
  }

  async roleOf(userId: string, tenantId: string): Promise<string | undefined> {
    const r = await this.db
      .selectFrom('user_roles')
      .select('role')
      .where('user_id', '=', userId)
      .where('tenant_id', '=', tenantId)
      .executeTakeFirst();
    return r?.role;
  }

  rolesOf(userId: string): Promise<{ tenant_id: string; role: string }[]> {
    return this.db
      .selectFrom('user_roles')
      .select(['tenant_id', 'role'])
      .where('user_id', '=', userId)
      .execute();
  }

  /** The users with a role in a tenant. */
  async listUsers(tenantId: string, q: PageQuery): Promise<Page<UserRow & { role: string }>> {
    const { skip, limit } = clampPage(q);
    const base = this.db
      .selectFrom('users')
      .innerJoin('user_roles', 'user_roles.user_id', 'users.id')
      .where('user_roles.tenant_id', '=', tenantId);
    const total = await base
      .select((eb) => eb.fn.countAll<string | number>().as('n'))
      .executeTakeFirstOrThrow();
    const data = await base
      .selectAll('users')
      .select('user_roles.role')
      .orderBy('users.name')
      .offset(skip)
      .limit(limit)
      .execute();
    return page(data, Number(total.n), skip, limit);
  }

  async deleteUser(id: string): Promise<void> {
    await this.db.deleteFrom('users').where('id', '=', id).execute();
  }

  // --- sessions and API keys ---

  async createSession(s: {
    tokenHash: string;
    userId: string;
    tenantId: string;
    idleSeconds: number;
  }): Promise<SessionRow> {
    const now = this.iso();
    const row: SessionRow = {
      id: newId(),
      token_hash: s.tokenHash,
      user_id: s.userId,
      tenant_id: s.tenantId,
      created_at: now,
      last_seen_at: now,
      idle_seconds: s.idleSeconds,
    };
    await this.db.insertInto('sessions').values(row).execute();
    return row;
  }

  /** The live session with this token hash, its idle time renewed; expired ones are removed. */
  async useSession(tokenHash: string): Promise<SessionRow | undefined> {
    const s = await this.db
      .selectFrom('sessions')
      .selectAll()
      .where('token_hash', '=', tokenHash)
      .executeTakeFirst();
    if (!s) return undefined;
    const now = this.now().getTime();
    if (Date.parse(s.last_seen_at) + s.idle_seconds * 1000 < now) {
      await this.db.deleteFrom('sessions').where('id', '=', s.id).execute();
      return undefined;
    }
    // Written at most every few seconds, not on every request of a busy client.
    if (now - Date.parse(s.last_seen_at) > 5000) {
      await this.db
        .updateTable('sessions')
        .set({ last_seen_at: this.iso() })
        .where('id', '=', s.id)
        .execute();
    }
    return s;
  }

  async deleteSession(id: string): Promise<void> {
    await this.db.deleteFrom('sessions').where('id', '=', id).execute();
  }

  /** Ends a user's sessions, all or all but one (the one that changed the password). */
  async deleteSessionsOf(userId: string, except?: string): Promise<number> {
    let q = this.db.deleteFrom('sessions').where('user_id', '=', userId);
    if (except !== undefined) q = q.where('id', '!=', except);
    const r = await q.executeTakeFirst();
    return Number(r.numDeletedRows);
  }

  async createApiKey(k: {
    tenantId: string;
    userId: string;
    name: string;
    keyHash: string;
  }): Promise<ApiKeyRow> {
    const row: ApiKeyRow = {
      id: newId(),
      tenant_id: k.tenantId,
      user_id: k.userId,
      name: k.name,
      key_hash: k.keyHash,
      created_at: this.iso(),
      last_used_at: null,
    };
    await this.db.insertInto('api_keys').values(row).execute();
    return row;
  }

  async useApiKey(keyHash: string): Promise<ApiKeyRow | undefined> {
    const k = await this.db
      .selectFrom('api_keys')
      .selectAll()
      .where('key_hash', '=', keyHash)
      .executeTakeFirst();
    if (k)
      await this.db
        .updateTable('api_keys')
        .set({ last_used_at: this.iso() })
        .where('id', '=', k.id)
        .execute();
    return k;
  }

  listApiKeys(tenantId: string, userId?: string): Promise<ApiKeyRow[]> {
    let q = this.db.selectFrom('api_keys').selectAll().where('tenant_id', '=', tenantId);
    if (userId) q = q.where('user_id', '=', userId);
    return q.orderBy('created_at').execute();
  }

  async deleteApiKey(tenantId: string, id: string): Promise<boolean> {
    const r = await this.db
      .deleteFrom('api_keys')
      .where('tenant_id', '=', tenantId)
      .where('id', '=', id)
      .executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  // --- repositories ---

  async createRepository(r: {
    tenantId: string;
    name: string;
    location: string;
    passwordFile: string;
    wrappedKey?: string | null;
    keyCustody?: 'server' | 'tenant';
    maxConcurrent: number;
    origin: 'config' | 'api';
  }): Promise<RepositoryRow> {
    const row: RepositoryRow = {
      id: newId(),
      tenant_id: r.tenantId,
      name: r.name,
      location: r.location,
      password_file: r.passwordFile,
      max_concurrent: r.maxConcurrent,
      origin: r.origin,
      created_at: this.iso(),
      wrapped_key: r.wrappedKey ?? null,
      key_custody: r.keyCustody ?? 'server',
      stored_bytes: null,
      recycled_bytes: null,
      measured_at: null,
    };
    await conflictOnUnique(
      () => this.db.insertInto('repositories').values(row).execute(),
      `Cannot create repository ${r.name}: the name is taken in this tenant`,
    );
    return row;
  }

  async updateRepository(
    tenantId: string,
    id: string,
    set: Partial<
      Pick<
        RepositoryRow,
        'location' | 'password_file' | 'max_concurrent' | 'stored_bytes' | 'measured_at' | 'recycled_bytes'
      >
    >,
  ): Promise<void> {
    await this.db
      .updateTable('repositories')
      .set(set)
      .where('tenant_id', '=', tenantId)
      .where('id', '=', id)
      .execute();
  }

  repository(tenantId: string, id: string): Promise<RepositoryRow | undefined> {
    return this.db
      .selectFrom('repositories')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('id', '=', id)
      .executeTakeFirst();
  }

  repositoryByName(tenantId: string, name: string): Promise<RepositoryRow | undefined> {
    return this.db
      .selectFrom('repositories')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('name', '=', name)
      .executeTakeFirst();
  }

  async listRepositories(tenantId: string, q: PageQuery): Promise<Page<RepositoryRow>> {
    const { skip, limit } = clampPage(q);
    const base = this.db.selectFrom('repositories').where('tenant_id', '=', tenantId);
    const total = await base
      .select((eb) => eb.fn.countAll<string | number>().as('n'))
      .executeTakeFirstOrThrow();
    const data = await base.selectAll().orderBy('name').offset(skip).limit(limit).execute();
    return page(data, Number(total.n), skip, limit);
  }

  /** Every repository of every tenant (for the system administrator and usage). */
  allRepositories(tenantId?: string): Promise<RepositoryRow[]> {
    let q = this.db.selectFrom('repositories').selectAll();
    if (tenantId !== undefined) q = q.where('tenant_id', '=', tenantId);
    return q.orderBy('name').execute();
  }

  async deleteRepository(tenantId: string, id: string): Promise<void> {
    const jobs = await this.db
      .selectFrom('jobs')
      .select('name')
      .where('tenant_id', '=', tenantId)
      .where('repository_id', '=', id)
      .execute();
    if (jobs.length > 0)
      throw new CairnError(
        'CONFLICT',
        `Cannot delete the repository: jobs ${jobs.map((j) => j.name).join(', ')} write to it`,
      );
    await this.db.transaction().execute(async (tx) => {
      await tx
        .deleteFrom('recycle_bin')
        .where('tenant_id', '=', tenantId)
        .where('repository_id', '=', id)
        .execute();
      await tx.deleteFrom('repositories').where('tenant_id', '=', tenantId).where('id', '=', id).execute();
    });
  }

  // --- the recycle bin (insider protection) ---

  /** Records restore points a tenant's retention forgot; one already there keeps its first record. */
  async recycle(rows: readonly RecycleRow[]): Promise<void> {
    if (rows.length === 0) return;
    await this.db
      .insertInto('recycle_bin')
      .values([...rows])
      .onConflict((oc) => oc.columns(['repository_id', 'snapshot_id']).doNothing())
      .execute();
  }

  /** The recycle bin of one tenant (or of every tenant), oldest deletion first. */
  recycleBin(filter: { tenantId?: string; repositoryId?: string } = {}): Promise<RecycleRow[]> {
    let q = this.db.selectFrom('recycle_bin').selectAll();
    if (filter.tenantId !== undefined) q = q.where('tenant_id', '=', filter.tenantId);
    if (filter.repositoryId !== undefined) q = q.where('repository_id', '=', filter.repositoryId);
    return q.orderBy('deleted_at').orderBy('snapshot_id').execute();
  }

  /** Takes restore points out of the bin: purged (their files removed) or given back. */
  async unrecycle(repositoryId: string, snapshotIds: readonly string[]): Promise<void> {
    if (snapshotIds.length === 0) return;
    await this.db
      .deleteFrom('recycle_bin')
      .where('repository_id', '=', repositoryId)
      .where('snapshot_id', 'in', [...snapshotIds])
      .execute();
  }

  // --- jobs ---

  async createJob(j: {
    tenantId: string;
    name: string;
    repositoryId: string;
    spec: unknown;
    enabled: boolean;
    origin: 'config' | 'api';
    nextRunAt: string | null;
    confined?: boolean;
  }): Promise<JobRow> {
    const now = this.iso();
    const row: JobRow = {
      id: newId(),
      tenant_id: j.tenantId,
      name: j.name,
      repository_id: j.repositoryId,
      spec: JSON.stringify(j.spec),
      enabled: j.enabled ? 1 : 0,
      origin: j.origin,
      next_run_at: j.nextRunAt,
      created_at: now,
      updated_at: now,
      confined: j.confined ? 1 : 0,
    };
    await conflictOnUnique(
      () => this.db.insertInto('jobs').values(row).execute(),
      `Cannot create job ${j.name}: the name is taken in this tenant`,
    );
    return row;
  }

  async updateJob(
    tenantId: string,
    id: string,
    j: {
      name?: string;
      repositoryId?: string;
      spec?: unknown;
      enabled?: boolean;
      nextRunAt?: string | null;
      confined?: boolean;
    },
  ): Promise<void> {
    await conflictOnUnique(
      () =>
        this.db
          .updateTable('jobs')
          .set({
            ...(j.name !== undefined ? { name: j.name } : {}),
            ...(j.repositoryId !== undefined ? { repository_id: j.repositoryId } : {}),
            ...(j.spec !== undefined ? { spec: JSON.stringify(j.spec) } : {}),
            ...(j.enabled !== undefined ? { enabled: j.enabled ? 1 : 0 } : {}),
            ...(j.nextRunAt !== undefined ? { next_run_at: j.nextRunAt } : {}),
            ...(j.confined !== undefined ? { confined: j.confined ? 1 : 0 } : {}),
            updated_at: this.iso(),
          })
          .where('tenant_id', '=', tenantId)
          .where('id', '=', id)
          .execute(),
      `Cannot rename the job to ${j.name}: the name is taken`,
    );
  }

  job(tenantId: string, id: string): Promise<JobRow | undefined> {
    return this.db
      .selectFrom('jobs')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('id', '=', id)
      .executeTakeFirst();
  }

  jobByName(tenantId: string, name: string): Promise<JobRow | undefined> {
    return this.db
      .selectFrom('jobs')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('name', '=', name)
      .executeTakeFirst();
  }

  async listJobs(tenantId: string, q: PageQuery & { name?: string }): Promise<Page<JobRow>> {
    const { skip, limit } = clampPage(q);
    let base = this.db.selectFrom('jobs').where('tenant_id', '=', tenantId);
    if (q.name) base = base.where('name', 'like', `%${q.name.replace(/[%_\\]/g, (c) => '\\' + c)}%`);
    const total = await base
      .select((eb) => eb.fn.countAll<string | number>().as('n'))
      .executeTakeFirstOrThrow();
    const data = await base.selectAll().orderBy('name').offset(skip).limit(limit).execute();
    return page(data, Number(total.n), skip, limit);
  }

  /** Every enabled job with a schedule, of all tenants: the scheduler's view. */
  scheduledJobs(): Promise<JobRow[]> {
    return this.db
      .selectFrom('jobs')
      .selectAll()
      .where('enabled', '=', 1)
      .where('next_run_at', 'is not', null)
      .execute();
  }

  /** Every job of every tenant, or of one (the metrics and the overdue check). */
  allJobs(tenantId?: string): Promise<JobRow[]> {
    let q = this.db.selectFrom('jobs').selectAll();
    if (tenantId !== undefined) q = q.where('tenant_id', '=', tenantId);
    return q.orderBy('name').execute();
  }

  async deleteJob(tenantId: string, id: string): Promise<void> {
    await this.db.deleteFrom('jobs').where('tenant_id', '=', tenantId).where('id', '=', id).execute();
  }

  /** Sets the next run time only if it is still `expected`, so that two servers fire a time once. */
  async advanceSchedule(jobId: string, expected: string, next: string | null): Promise<boolean> {
    const r = await this.db
      .updateTable('jobs')
      .set({ next_run_at: next })
      .where('id', '=', jobId)
      .where('next_run_at', '=', expected)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  // --- runs ---

  async enqueueRun(r: NewRun): Promise<RunRow> {
    const now = this.iso();
    const row: RunRow = {
      id: newId(),
      tenant_id: r.tenantId,
      job_id: r.jobId,
      job_name: r.jobName,
      repository_id: r.repositoryId,
      kind: r.kind,
      params: JSON.stringify(r.params ?? {}),
      state: 'queued',
      result: null,
      trigger: r.trigger,
      attempt: r.attempt ?? 1,
      not_before: r.notBefore ?? now,
      queued_at: now,
      started_at: null,
      ended_at: null,
      claimed_by: null,
      cancel_requested: 0,
      message: null,
      snapshot_id: null,
      stats: null,
      log_count: 0,
    };
    // runs_one_active: a job has one queued or running run at most, whoever queues it.
    await conflictOnUnique(
      () => this.db.insertInto('runs').values(row).execute(),
      `Cannot queue a run of job ${r.jobName}: it has a run queued or running already`,
    );
    return row;
  }

  /**
   * Takes the oldest queued run that may start now — its time has come, its repository has a free
   * slot (max_concurrent) and its tenant runs fewer than its max_runs — and marks it running for
   * `worker`. The limits are part of the query, so runs held back by one tenant's limit never hide
   * another tenant's run behind them. On PostgreSQL claims are made one at a time over all servers
   * sharing the catalog (a transaction-scoped advisory lock), so none exceeds a limit by counting
   * beside another.
   */
  async claimRun(worker: string): Promise<RunRow | undefined> {
    const pgsql = this.kind === 'postgres';
    return this.db.transaction().execute(async (tx) => {
      if (pgsql) await sql`select pg_advisory_xact_lock(${sql.lit(CLAIM_LOCK)})`.execute(tx);
      let q = tx
        .selectFrom('runs')
        .selectAll()
        .where('state', '=', 'queued')
        .where('not_before', '<=', this.iso())
        .where(
          sql<boolean>`not exists (select 1 from repositories p where p.id = runs.repository_id and p.max_concurrent <= (select count(*) from runs r where r.repository_id = p.id and r.state = 'running'))`,
        )
        .where(
          sql<boolean>`not exists (select 1 from tenants t where t.id = runs.tenant_id and t.max_runs is not null and t.max_runs <= (select count(*) from runs r where r.tenant_id = t.id and r.state = 'running'))`,
        )
        .orderBy('queued_at')
        .limit(1);
      if (pgsql) q = q.forUpdate().skipLocked();
      const run = await q.executeTakeFirst();
      if (!run) return undefined;
      const started = this.iso();
      const r = await tx
        .updateTable('runs')
        .set({ state: 'running', started_at: started, claimed_by: worker, message: null })
        .where('id', '=', run.id)
        .where('state', '=', 'queued')
        .executeTakeFirst();
      if (Number(r.numUpdatedRows) === 0) return undefined;
      return { ...run, state: 'running', started_at: started, claimed_by: worker, message: null };
    });
  }

  /**
   * The queued runs whose time has come but which wait for a limit: their tenant's runs at once
   * (max_runs) or their repository's (max_concurrent). The reason — "waiting: tenant acme runs 2
   * of 2" — becomes the run's message, where the run view shows it, and goes once it no longer
   * holds. Returns the runs whose reason is new, for their logs.
   */
  async noteWaiting(): Promise<{ run: RunRow; reason: string }[]> {
    const queued = await this.db
      .selectFrom('runs')
      .selectAll()
      .where('state', '=', 'queued')
      .where('not_before', '<=', this.iso())
      .orderBy('queued_at')
      .limit(500)
      .execute();
    if (queued.length === 0) return [];
    const counts = async (column: 'tenant_id' | 'repository_id') =>
      new Map(
        (
          await this.db
            .selectFrom('runs')
            .select([column, (eb) => eb.fn.countAll<string | number>().as('n')])
            .where('state', '=', 'running')
            .groupBy(column)
            .execute()
        ).map((x) => [(x as Record<string, unknown>)[column] as string, Number(x.n)]),
      );
    const byTenant = await counts('tenant_id');
    const byRepository = await counts('repository_id');
    const tenants = new Map(
      (
        await this.db
          .selectFrom('tenants')
          .select(['id', 'name', 'max_runs'])
          .where('id', 'in', [...new Set(queued.map((r) => r.tenant_id))])
          .execute()
      ).map((t) => [t.id, t]),
    );
    const repositories = new Map(
      (
        await this.db
          .selectFrom('repositories')
          .select(['id', 'name', 'max_concurrent'])
          .where('id', 'in', [...new Set(queued.map((r) => r.repository_id))])
          .execute()
      ).map((p) => [p.id, p]),
    );
    const changed: { run: RunRow; reason: string }[] = [];
    for (const run of queued) {
      const t = tenants.get(run.tenant_id);
      const p = repositories.get(run.repository_id);
      const tn = byTenant.get(run.tenant_id) ?? 0;
      const pn = byRepository.get(run.repository_id) ?? 0;
      const why =
        t && t.max_runs !== null && tn >= t.max_runs
          ? `waiting: tenant ${t.name} runs ${tn} of ${t.max_runs}`
          : p && pn >= p.max_concurrent
            ? `waiting: repository ${p.name} runs ${pn} of ${p.max_concurrent}`
            : null;
      if (why === run.message || (why === null && !run.message?.startsWith('waiting:'))) continue;
      // Only from the message read: of servers sharing the catalog, one tells a new reason.
      const r = await this.db
        .updateTable('runs')
        .set({ message: why })
        .where('id', '=', run.id)
        .where('state', '=', 'queued')
        .where('message', run.message === null ? 'is' : '=', run.message)
        .executeTakeFirst();
      if (why !== null && Number(r.numUpdatedRows) > 0)
        changed.push({ run: { ...run, message: why }, reason: why });
    }
    return changed;
  }

  run(tenantId: string, id: string): Promise<RunRow | undefined> {
    return this.db
      .selectFrom('runs')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('id', '=', id)
      .executeTakeFirst();
  }

  runById(id: string): Promise<RunRow | undefined> {
    return this.db.selectFrom('runs').selectAll().where('id', '=', id).executeTakeFirst();
  }

  async listRuns(tenantId: string, f: RunFilter): Promise<Page<RunRow>> {
    const { skip, limit } = clampPage(f);
    let base = this.db.selectFrom('runs').where('tenant_id', '=', tenantId);
    if (f.jobId) base = base.where('job_id', '=', f.jobId);
    if (f.state) base = base.where('state', '=', f.state);
    if (f.kind) base = base.where('kind', '=', f.kind);
    if (f.since) base = base.where('queued_at', '>=', f.since);
    const total = await base
      .select((eb) => eb.fn.countAll<string | number>().as('n'))
      .executeTakeFirstOrThrow();
    const data = await base.selectAll().orderBy('queued_at', 'desc').offset(skip).limit(limit).execute();
    return page(data, Number(total.n), skip, limit);
  }

  async lastRun(tenantId: string, jobId: string): Promise<RunRow | undefined> {
    return this.db
      .selectFrom('runs')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('job_id', '=', jobId)
      .orderBy('queued_at', 'desc')
      .limit(1)
      .executeTakeFirst();
  }

  async activeRunOf(jobId: string): Promise<RunRow | undefined> {
    return this.db
      .selectFrom('runs')
      .selectAll()
      .where('job_id', '=', jobId)
      .where('state', 'in', ['queued', 'running'])
      .executeTakeFirst();
  }

  async updateRun(
    id: string,
    set: { stats?: unknown; message?: string | null; snapshotId?: string | null },
  ): Promise<void> {
    await this.db
      .updateTable('runs')
      .set({
        ...(set.stats !== undefined ? { stats: JSON.stringify(set.stats) } : {}),
        ...(set.message !== undefined ? { message: set.message } : {}),
        ...(set.snapshotId !== undefined ? { snapshot_id: set.snapshotId } : {}),
      })
      .where('id', '=', id)
      .execute();
  }

  /**
   * Records the end of a run. With `held`, only while the run is still running and held by that
   * server: a server whose run was taken over (its lease expired) records nothing. Returns whether
   * the end was recorded.
   */
  async finishRun(
    id: string,
    state: RunState,
    message: string | null,
    held?: { readonly worker: string; readonly stats?: unknown },
  ): Promise<boolean> {
    let q = this.db
      .updateTable('runs')
      .set({
        state,
        result: state,
        ended_at: this.iso(),
        message,
        ...(held?.stats !== undefined ? { stats: JSON.stringify(held.stats) } : {}),
      })
      .where('id', '=', id);
    if (held) q = q.where('state', '=', 'running').where('claimed_by', '=', held.worker);
    const r = await q.executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  /**
   * Cancels a queued run at once, and a running one whose server's lease has expired (no server
   * runs it any more); asks a running one held by a live server to stop (its server looks every
   * second). 'ended' when the run has ended.
   */
  async requestCancel(tenantId: string, id: string): Promise<'canceled' | 'requested' | 'ended'> {
    const now = this.dbNowMs();
    return this.db.transaction().execute(async (tx) => {
      const r = await tx
        .selectFrom('runs')
        .leftJoin('servers', 'servers.id', 'runs.claimed_by')
        .select([
          'runs.state',
          'runs.claimed_by',
          'runs.started_at',
          'runs.stats',
          'servers.seen_at',
          sql<number | null>`servers.seen_at + servers.lease_ms - ${now}`.as('remaining'),
        ])
        .where('runs.tenant_id', '=', tenantId)
        .where('runs.id', '=', id)
        .executeTakeFirst();
      if (!r) throw new CairnError('NOT_FOUND', `Cannot cancel run ${id}: no such run`);
      if (r.state === 'queued') {
        await tx
          .updateTable('runs')
          .set({
            state: 'canceled',
            result: 'canceled',
            ended_at: this.iso(),
            message: 'canceled before it started',
          })
          .where('id', '=', id)
          .where('state', '=', 'queued')
          .execute();
        return 'canceled';
      }
      if (r.state !== 'running') return 'ended';
      if (r.remaining === null || Number(r.remaining) < 0) {
        // Its server is gone: nobody would see the request, so the catalog ends the run itself.
        const message = `canceled by request; ${lostServer(r.claimed_by, r.seen_at, r.started_at)}, so no server runs it [INTERRUPTED]`;
        const u = await tx
          .updateTable('runs')
          .set({
            state: 'canceled',
            result: 'canceled',
            ended_at: this.iso(),
            message,
            cancel_requested: 1,
            stats: JSON.stringify({ ...parseStats(r.stats), errorCode: 'INTERRUPTED' }),
          })
          .where('id', '=', id)
          .where('state', '=', 'running')
          .executeTakeFirst();
        if (Number(u.numUpdatedRows) > 0) {
          await this.appendLogIn(tx, id, 'warning', message);
          return 'canceled';
        }
        return 'ended';
      }
      await tx.updateTable('runs').set({ cancel_requested: 1 }).where('id', '=', id).execute();
      return 'requested';
    });
  }

  async cancelRequested(id: string): Promise<boolean> {
    const r = await this.db
      .selectFrom('runs')
      .select('cancel_requested')
      .where('id', '=', id)
      .executeTakeFirst();
    return r?.cancel_requested === 1;
  }

  /**
   * What the server running a run learns of it each second: whether a cancel was asked for, and
   * whether the run is still running and held by this server (false once another server took it
   * over because this server's lease expired).
   */
  async runControl(id: string, worker: string): Promise<{ cancelRequested: boolean; held: boolean }> {
    const r = await this.db
      .selectFrom('runs')
      .select(['cancel_requested', 'state', 'claimed_by'])
      .where('id', '=', id)
      .executeTakeFirst();
    return {
      cancelRequested: r?.cancel_requested === 1,
      held: r?.state === 'running' && r.claimed_by === worker,
    };
  }

  // --- servers and their leases ---

  /** The database's clock in milliseconds since 1970: leases are timed by it alone. */
  private dbNowMs() {
    return this.kind === 'postgres'
      ? sql<number>`(extract(epoch from clock_timestamp()) * 1000)::double precision`
      : sql<number>`((julianday('now') - 2440587.5) * 86400000.0)`;
  }

  /** Records a server that runs jobs, with its first heartbeat: its lease starts now. */
  async registerServer(s: { id: string; host: string; pid: number; leaseMs: number }): Promise<void> {
    await this.db
      .insertInto('servers')
      .values({
        id: s.id,
        host: s.host,
        pid: s.pid,
        started_at: this.iso(),
        seen_at: this.dbNowMs(),
        lease_ms: s.leaseMs,
      })
      .onConflict((oc) => oc.column('id').doUpdateSet({ seen_at: this.dbNowMs(), lease_ms: s.leaseMs }))
      .execute();
  }

  /**
   * A server's heartbeat: its lease, and that of every run it holds, runs on from now. False when
   * its record is gone (another server found its lease expired): it must register again, and the
   * runs it held are no longer its own.
   */
  async renewServer(id: string): Promise<boolean> {
    const r = await this.db
      .updateTable('servers')
      .set({ seen_at: this.dbNowMs() })
      .where('id', '=', id)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  /** A server that stopped cleanly (its runs handed back first). */
  async removeServer(id: string): Promise<void> {
    await this.db.deleteFrom('servers').where('id', '=', id).execute();
  }

  listServers(): Promise<ServerRow[]> {
    return this.db.selectFrom('servers').selectAll().orderBy('started_at').execute();
  }

  /** The runs the catalog says `worker` is running. */
  heldRuns(worker: string): Promise<Pick<RunRow, 'id' | 'started_at' | 'cancel_requested'>[]> {
    return this.db
      .selectFrom('runs')
      .select(['id', 'started_at', 'cancel_requested'])
      .where('state', '=', 'running')
      .where('claimed_by', '=', worker)
      .execute();
  }

  /**
   * Takes over the runs whose server's lease has expired (it died, hangs, or lost the database):
   * each is marked failed — canceled if a cancel was asked for — with the reason in its message
   * and log, which frees its place in its repository's and tenant's limits; `retry` decides
   * whether the job's next attempt is queued (it returns the attempt's not-before time). Each run
   * changes in a transaction of its own, only if it is still running under the same expired
   * lease, so servers taking over at once never take one twice. Also returns in how many
   * milliseconds the next lease of another server's running run ends, to look again then.
   */
  async takeOverExpiredRuns(
    by: string,
    retry: (run: RunRow, job: JobRow) => string | undefined = () => undefined,
  ): Promise<{ taken: Takeover[]; nextExpiryMs: number | undefined }> {
    const rows = await this.db
      .selectFrom('runs')
      .leftJoin('servers', 'servers.id', 'runs.claimed_by')
      .selectAll('runs')
      .select([
        'servers.seen_at as server_seen_at',
        sql<number | null>`servers.seen_at + servers.lease_ms - ${this.dbNowMs()}`.as('remaining'),
      ])
      .where('runs.state', '=', 'running')
      .where((eb) => eb.or([eb('runs.claimed_by', 'is', null), eb('runs.claimed_by', '<>', by)]))
      .execute();
    const taken: Takeover[] = [];
    let nextExpiryMs: number | undefined;
    for (const row of rows) {
      const { server_seen_at: seenAt, remaining, ...run } = row;
      if (remaining !== null && Number(remaining) >= 0) {
        nextExpiryMs = Math.min(nextExpiryMs ?? Infinity, Number(remaining));
        continue;
      }
      let t: Takeover | undefined;
      try {
        t = await this.takeOver(run, seenAt, by, retry);
      } catch (err) {
        // Someone queued a run of the job meanwhile: taken over all the same, without a retry.
        if (!isUniqueViolation(err)) throw err;
        t = await this.takeOver(run, seenAt, by, () => undefined);
      }
      if (t) taken.push(t);
    }
    if (taken.length > 0) {
      // The records of servers whose lease expired and that hold no run any more.
      await this.db
        .deleteFrom('servers')
        .where(sql<boolean>`seen_at + lease_ms < ${this.dbNowMs()}`)
        .where(
          sql<boolean>`not exists (select 1 from runs r where r.claimed_by = servers.id and r.state = 'running')`,
        )
        .execute();
    }
    return { taken, nextExpiryMs };
  }

  private async takeOver(
    run: RunRow,
    seenAt: number | null,
    by: string,
    retry: (run: RunRow, job: JobRow) => string | undefined,
  ): Promise<Takeover | undefined> {
    const server = run.claimed_by ?? 'unknown';
    const lost = lostServer(run.claimed_by, seenAt, run.started_at);
    const canceled = run.cancel_requested === 1;
    const state = canceled ? 'canceled' : 'failed';
    const message = canceled
      ? `canceled by request; ${lost}; server ${by} took the run over [INTERRUPTED]`
      : `${lost}; server ${by} took the run over [INTERRUPTED]`;
    const now = this.dbNowMs();
    return this.db.transaction().execute(async (tx) => {
      let q = tx
        .updateTable('runs')
        .set({
          state,
          result: state,
          ended_at: this.iso(),
          message,
          stats: JSON.stringify({ ...parseStats(run.stats), errorCode: 'INTERRUPTED', takenOverBy: by }),
        })
        .where('id', '=', run.id)
        .where('state', '=', 'running')
        .where(
          sql<boolean>`not exists (select 1 from servers s where s.id = runs.claimed_by and s.seen_at + s.lease_ms >= ${now})`,
        );
      q =
        run.claimed_by === null
          ? q.where('claimed_by', 'is', null)
          : q.where('claimed_by', '=', run.claimed_by);
      const u = await q.executeTakeFirst();
      if (Number(u.numUpdatedRows) === 0) return undefined; // another server took it, or it renewed
      await this.appendLogIn(tx, run.id, canceled ? 'warning' : 'error', message);
      let next: RunRow | undefined;
      const job =
        !canceled && run.kind === 'backup' && run.job_id
          ? await tx.selectFrom('jobs').selectAll().where('id', '=', run.job_id).executeTakeFirst()
          : undefined;
      const notBefore = job ? retry(run, job) : undefined;
      if (job && notBefore !== undefined) {
        const active = await tx
          .selectFrom('runs')
          .select(['id', 'state'])
          .where('job_id', '=', job.id)
          .where('state', 'in', ['queued', 'running'])
          .executeTakeFirst();
        if (active) {
          await this.appendLogIn(
            tx,
            run.id,
            'info',
            `not retried: run ${active.id} of the job is ${active.state}`,
          );
        } else {
          const queuedAt = this.iso();
          next = {
            ...run,
            id: newId(),
            job_name: job.name,
            state: 'queued',
            result: null,
            trigger: 'retry',
            attempt: run.attempt + 1,
            not_before: notBefore,
            queued_at: queuedAt,
            started_at: null,
            ended_at: null,
            claimed_by: null,
            cancel_requested: 0,
            message: null,
            snapshot_id: null,
            stats: null,
            log_count: 0,
          };
          await tx.insertInto('runs').values(next).execute();
          await this.appendLogIn(
            tx,
            run.id,
            'info',
            `attempt ${next.attempt} queued as run ${next.id}, not before ${notBefore}`,
          );
        }
      }
      return { run, server, state, message, ...(next ? { retry: next } : {}) };
    });
  }

  async appendLog(runId: string, level: string, message: string): Promise<void> {
    await this.db.transaction().execute((tx) => this.appendLogIn(tx, runId, level, message));
  }

  private async appendLogIn(
    tx: Transaction<Database>,
    runId: string,
    level: string,
    message: string,
  ): Promise<void> {
    const r = await tx
      .selectFrom('runs')
      .select('log_count')
      .where('id', '=', runId)
      .executeTakeFirstOrThrow();
    const seq = r.log_count + 1;
    await tx.insertInto('run_logs').values({ run_id: runId, seq, at: this.iso(), level, message }).execute();
    await tx.updateTable('runs').set({ log_count: seq }).where('id', '=', runId).execute();
  }

  runLog(runId: string, after = 0, limit = 1000): Promise<RunLogRow[]> {
    return this.db
      .selectFrom('run_logs')
      .selectAll()
      .where('run_id', '=', runId)
      .where('seq', '>', after)
      .orderBy('seq')
      .limit(Math.min(5000, Math.max(1, limit)))
      .execute();
  }

  /**
   * When the last successful backup (success or warning) of each job ended, by job id: the
   * overdue check's and the metrics' view, of every tenant or of one.
   */
  async lastSuccesses(tenantId?: string): Promise<Map<string, string>> {
    let q = this.db
      .selectFrom('runs')
      .select(['job_id', (eb) => eb.fn.max<string | null>('ended_at').as('at')])
      .where('kind', '=', 'backup')
      .where('state', 'in', ['success', 'warning'])
      .where('job_id', 'is not', null);
    if (tenantId !== undefined) q = q.where('tenant_id', '=', tenantId);
    const rows = await q.groupBy('job_id').execute();
    const out = new Map<string, string>();
    for (const r of rows) if (r.job_id !== null && r.at !== null) out.set(r.job_id, r.at);
    return out;
  }

  /**
   * Runs of every tenant by state (all the catalog holds), and the queued ones whose time has come
   * (`due`: waiting for a slot or a limit), for the metrics.
   */
  async runStates(): Promise<{ tenantId: string; state: string; count: number; due: number }[]> {
    const now = this.iso();
    const rows = await this.db
      .selectFrom('runs')
      .select([
        'tenant_id',
        'state',
        (eb) => eb.fn.countAll<string | number>().as('n'),
        (eb) =>
          eb.fn
            .sum<string | number | null>(
              eb.case().when('not_before', '<=', now).then(eb.lit(1)).else(eb.lit(0)).end(),
            )
            .as('due'),
      ])
      .groupBy(['tenant_id', 'state'])
      .execute();
    return rows.map((r) => ({
      tenantId: r.tenant_id,
      state: r.state,
      count: Number(r.n),
      due: r.state === 'queued' ? Number(r.due ?? 0) : 0,
    }));
  }

  /** Counts of runs by state since a time, for the dashboard. */
  async runCounts(tenantId: string, since: string): Promise<Record<string, number>> {
    const rows = await this.db
      .selectFrom('runs')
      .select(['state', (eb) => eb.fn.countAll<string | number>().as('n')])
      .where('tenant_id', '=', tenantId)
      .where('queued_at', '>=', since)
      .groupBy('state')
      .execute();
    return Object.fromEntries(rows.map((r) => [r.state, Number(r.n)]));
  }

  // --- tasks ---

  async createTask(t: {
    tenantId: string;
    userId: string | null;
    operation: string;
    runId: string;
  }): Promise<TaskRow> {
    const row: TaskRow = {
      id: newId(),
      tenant_id: t.tenantId,
      user_id: t.userId,
      operation: t.operation,
      run_id: t.runId,
      created_at: this.iso(),
    };
    await this.db.insertInto('tasks').values(row).execute();
    return row;
  }

  task(tenantId: string, id: string): Promise<(TaskRow & { run: Selectable<RunRow> }) | undefined> {
    return this.db
      .selectFrom('tasks')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('id', '=', id)
      .executeTakeFirst()
      .then(async (t) => {
        if (!t) return undefined;
        const run = await this.runById(t.run_id);
        return run ? { ...t, run } : undefined;
      });
  }

  // --- audit ---

  async audit(a: {
    tenantId: string | null;
    user: string;
    action: string;
    object: string;
    detail?: unknown;
  }): Promise<void> {
    const row: AuditRow = {
      id: newId(),
      at: this.iso(),
      tenant_id: a.tenantId,
      user_name: a.user,
      action: a.action,
      object: a.object,
      detail: JSON.stringify(a.detail ?? {}),
    };
    await this.db.insertInto('audit').values(row).execute();
  }

  /** The newest audit entry of a tenant with this action on this object, if any. */
  lastAudit(tenantId: string, action: string, object: string): Promise<AuditRow | undefined> {
    return this.db
      .selectFrom('audit')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('action', '=', action)
      .where('object', '=', object)
      .orderBy('at', 'desc')
      .limit(1)
      .executeTakeFirst();
  }

  async listAudit(tenantId: string, q: PageQuery): Promise<Page<AuditRow>> {
    const { skip, limit } = clampPage(q);
    const base = this.db.selectFrom('audit').where('tenant_id', '=', tenantId);
    const total = await base
      .select((eb) => eb.fn.countAll<string | number>().as('n'))
      .executeTakeFirstOrThrow();
    const data = await base.selectAll().orderBy('at', 'desc').offset(skip).limit(limit).execute();
    return page(data, Number(total.n), skip, limit);
  }

  /** A trivial query: is the database answering? */
  async ping(): Promise<void> {
    await sql`select 1`.execute(this.db);
  }
}

function page<T>(data: T[], total: number, skip: number, limit: number): Page<T> {
  return { data, pagination: { total, count: data.length, skip, limit } };
}

function parseStats(stats: string | null): Record<string, unknown> {
  try {
    const v: unknown = stats ? JSON.parse(stats) : {};
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

/** "server H:P:X stopped answering at T", from its last heartbeat (database clock, ms). */
function lostServer(server: string | null, seenAt: number | null, startedAt: string | null): string {
  const name = server ?? 'unknown';
  if (seenAt !== null) return `server ${name} stopped answering at ${new Date(Number(seenAt)).toISOString()}`;
  // Claimed before servers had leases, or its record is gone.
  return `server ${name} stopped answering (no heartbeat of it is known; the run started at ${startedAt ?? 'an unknown time'})`;
}

function isUniqueViolation(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown; errcode?: unknown };
  // PostgreSQL: 23505; node:sqlite: SQLITE_CONSTRAINT_UNIQUE in the message or errcode 2067.
  return (
    e.code === '23505' ||
    e.errcode === 2067 ||
    e.errcode === 1555 ||
    (typeof e.message === 'string' && /UNIQUE constraint failed/.test(e.message))
  );
}
