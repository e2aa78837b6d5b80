/**
 * The catalog's migrations, in code so that the same steps run on SQLite and PostgreSQL. A
 * migration is never edited once released: a change of schema is a new entry at the end.
 */
import { sql, type Kysely } from 'kysely';
import type { Migration, MigrationProvider } from 'kysely/migration';

const migrations: Record<string, Migration> = {
  '0001_initial': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('tenants')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull().unique())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('users')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull().unique())
        .addColumn('password_hash', 'text', (c) => c.notNull())
        .addColumn('system_admin', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('disabled', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('created_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('user_roles')
        .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id').onDelete('cascade'))
        .addColumn('role', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('user_roles_pk', ['user_id', 'tenant_id'])
        .execute();
      await db.schema
        .createTable('sessions')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('token_hash', 'text', (c) => c.notNull().unique())
        .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id').onDelete('cascade'))
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('last_seen_at', 'text', (c) => c.notNull())
        .addColumn('idle_seconds', 'integer', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('api_keys')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id').onDelete('cascade'))
        .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('key_hash', 'text', (c) => c.notNull().unique())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('last_used_at', 'text')
        .execute();
      await db.schema
        .createTable('repositories')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id').onDelete('cascade'))
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('location', 'text', (c) => c.notNull())
        .addColumn('password_file', 'text', (c) => c.notNull())
        .addColumn('max_concurrent', 'integer', (c) => c.notNull().defaultTo(2))
        .addColumn('origin', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addUniqueConstraint('repositories_tenant_name', ['tenant_id', 'name'])
        .execute();
      await db.schema
        .createTable('jobs')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id').onDelete('cascade'))
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('repository_id', 'text', (c) => c.notNull().references('repositories.id'))
        .addColumn('spec', 'text', (c) => c.notNull())
        .addColumn('enabled', 'integer', (c) => c.notNull().defaultTo(1))
        .addColumn('origin', 'text', (c) => c.notNull())
        .addColumn('next_run_at', 'text')
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .addUniqueConstraint('jobs_tenant_name', ['tenant_id', 'name'])
        .execute();
      await db.schema
        .createTable('runs')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id').onDelete('cascade'))
        .addColumn('job_id', 'text')
        .addColumn('job_name', 'text', (c) => c.notNull())
        .addColumn('repository_id', 'text', (c) => c.notNull())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('params', 'text', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('result', 'text')
        .addColumn('trigger', 'text', (c) => c.notNull())
        .addColumn('attempt', 'integer', (c) => c.notNull())
        .addColumn('not_before', 'text', (c) => c.notNull())
        .addColumn('queued_at', 'text', (c) => c.notNull())
        .addColumn('started_at', 'text')
        .addColumn('ended_at', 'text')
        .addColumn('claimed_by', 'text')
        .addColumn('cancel_requested', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('message', 'text')
        .addColumn('snapshot_id', 'text')
        .addColumn('stats', 'text')
        .addColumn('log_count', 'integer', (c) => c.notNull().defaultTo(0))
        .execute();
      await db.schema.createIndex('runs_state').on('runs').columns(['state', 'not_before']).execute();
      await db.schema.createIndex('runs_job').on('runs').columns(['job_id', 'queued_at']).execute();
      await db.schema
        .createTable('run_logs')
        .addColumn('run_id', 'text', (c) => c.notNull().references('runs.id').onDelete('cascade'))
        .addColumn('seq', 'integer', (c) => c.notNull())
        .addColumn('at', 'text', (c) => c.notNull())
        .addColumn('level', 'text', (c) => c.notNull())
        .addColumn('message', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('run_logs_pk', ['run_id', 'seq'])
        .execute();
      await db.schema
        .createTable('tasks')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id').onDelete('cascade'))
        .addColumn('user_id', 'text')
        .addColumn('operation', 'text', (c) => c.notNull())
        .addColumn('run_id', 'text', (c) => c.notNull().references('runs.id').onDelete('cascade'))
        .addColumn('created_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('audit')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('at', 'text', (c) => c.notNull())
        .addColumn('tenant_id', 'text')
        .addColumn('user_name', 'text', (c) => c.notNull())
        .addColumn('action', 'text', (c) => c.notNull())
        .addColumn('object', 'text', (c) => c.notNull())
        .addColumn('detail', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('audit_at').on('audit').columns(['tenant_id', 'at']).execute();
    },
  },
  // Tenants as the system administrator provisions them (issue 19): where their repositories
  // live, how much they may store, which folders of the server their jobs may read and restore
  // into; repositories whose password the server keeps wrapped under its own key; jobs saved by
  // a tenant user (checked again at run time); programs only the system administrator defines.
  '0002_tenants': {
    async up(db: Kysely<unknown>) {
      const add = (table: string) => db.schema.alterTable(table);
      await add('tenants').addColumn('storage_root', 'text').execute();
      await add('tenants').addColumn('quota_bytes', 'double precision').execute();
      await add('tenants')
        .addColumn('source_roots', 'text', (c) => c.notNull().defaultTo('[]'))
        .execute();
      await add('tenants')
        .addColumn('restore_roots', 'text', (c) => c.notNull().defaultTo('[]'))
        .execute();
      await add('tenants')
        .addColumn('webhook_allow', 'text', (c) => c.notNull().defaultTo('[]'))
        .execute();
      await add('tenants').addColumn('max_runs', 'integer').execute();
      await add('tenants')
        .addColumn('protection_days', 'integer', (c) => c.notNull().defaultTo(0))
        .execute();
      await add('tenants').addColumn('usage_bytes', 'double precision').execute();
      await add('tenants').addColumn('updated_at', 'text').execute();
      await add('repositories').addColumn('wrapped_key', 'text').execute();
      await add('repositories')
        .addColumn('key_custody', 'text', (c) => c.notNull().defaultTo('server'))
        .execute();
      await add('repositories').addColumn('stored_bytes', 'double precision').execute();
      await add('repositories').addColumn('measured_at', 'text').execute();
      await add('jobs')
        .addColumn('confined', 'integer', (c) => c.notNull().defaultTo(0))
        .execute();
      await db.schema
        .createTable('scripts')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull().unique())
        .addColumn('command', 'text', (c) => c.notNull())
        .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
        .addColumn('timeout_seconds', 'integer')
        .addColumn('tenants', 'text', (c) => c.notNull().defaultTo('[]'))
        .addColumn('origin', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .execute();
    },
  },
  // A tenant's storage root may be a volume of its own (issue 19): a sparse XFS image in the data
  // directory, loop-mounted on the storage root. The server mounts recorded volumes at its start
  // and refuses a tenant's runs while its volume is not mounted.
  '0003_tenant_volumes': {
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable('tenants').addColumn('volume_image', 'text').execute();
      await db.schema.alterTable('tenants').addColumn('volume_bytes', 'double precision').execute();
    },
  },
  // A tenant's bandwidth: bytes a second its runs may write to its repositories, all together
  // (issue 19); null: no limit.
  '0004_tenant_bandwidth': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .alterTable('tenants')
        .addColumn('bandwidth_bytes_per_second', 'double precision')
        .execute();
    },
  },
  // Insider protection (issue 19): restore points that a tenant's retention forgets stay in the
  // repository, hidden from the tenant, for the protection period the system administrator set;
  // the bytes only they need are kept outside the tenant's quota.
  '0005_recycle_bin': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('recycle_bin')
        .addColumn('tenant_id', 'text', (c) => c.notNull())
        .addColumn('repository_id', 'text', (c) => c.notNull())
        .addColumn('snapshot_id', 'text', (c) => c.notNull())
        .addColumn('snapshot_time', 'text', (c) => c.notNull())
        .addColumn('job_name', 'text', (c) => c.notNull())
        .addColumn('deleted_at', 'text', (c) => c.notNull())
        .addColumn('deleted_by', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('recycle_bin_pk', ['repository_id', 'snapshot_id'])
        .execute();
      await db.schema.createIndex('recycle_bin_tenant').on('recycle_bin').columns(['tenant_id']).execute();
      await db.schema.alterTable('repositories').addColumn('recycled_bytes', 'double precision').execute();
    },
  },
  // Leases and exactly one active run per job (issue 20). A server holds its runs by a heartbeat
  // in `servers` (its lease, timed by the database's clock); a run whose server's lease expired is
  // taken over by any live server. A partial unique index lets a job have one queued or running
  // run at most, whichever server queues it. Duplicates left by earlier versions (two servers
  // starting a job at once) are canceled first: the running one is kept, else the oldest queued.
  '0006_run_leases': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('servers')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('host', 'text', (c) => c.notNull())
        .addColumn('pid', 'integer', (c) => c.notNull())
        .addColumn('started_at', 'text', (c) => c.notNull())
        .addColumn('seen_at', 'double precision', (c) => c.notNull())
        .addColumn('lease_ms', 'integer', (c) => c.notNull())
        .execute();
      const now = new Date().toISOString();
      await sql`update runs set state = 'canceled', result = 'canceled', ended_at = ${now},
        message = 'canceled: another run of the job was already queued or running (a job has one at a time)'
        where job_id is not null and state in ('queued', 'running') and exists (
          select 1 from runs o where o.job_id = runs.job_id and o.id <> runs.id
            and o.state in ('queued', 'running')
            and ((o.state = 'running' and runs.state = 'queued')
              or (o.state = runs.state and (o.queued_at < runs.queued_at
                or (o.queued_at = runs.queued_at and o.id < runs.id)))))`.execute(db);
      await sql`create unique index runs_one_active on runs (job_id)
        where job_id is not null and state in ('queued', 'running')`.execute(db);
    },
  },
};

export const migrationProvider: MigrationProvider = {
  getMigrations: () => Promise.resolve(migrations),
};
