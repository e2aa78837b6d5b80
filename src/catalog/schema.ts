/**
 * The catalog's tables as Kysely sees them. Times are ISO 8601 strings in UTC (they sort as text on
 * both databases), flags are 0/1 integers and structured values are JSON text, so one set of
 * migrations and one query layer serve SQLite and PostgreSQL alike.
 */

export interface TenantRow {
  id: string;
  name: string;
  created_at: string;
  /** Where the tenant's repositories live: a folder or s3:…; null: only the system administrator places them. */
  storage_root: string | null;
  /** Bytes the tenant's repositories may hold after deduplication and compression; null: no limit. */
  quota_bytes: number | null;
  /** JSON array of folders of this machine the tenant's jobs may read. */
  source_roots: string;
  /** JSON array of folders of this machine the tenant's restores may write into. */
  restore_roots: string;
  /** JSON array of URL prefixes the tenant's webhooks may call. */
  webhook_allow: string;
  /** Runs of the tenant at once; null: no limit of its own. */
  max_runs: number | null;
  /** Bytes a second all its runs together may write to its repositories; null: no limit. */
  bandwidth_bytes_per_second: number | null;
  /** Days what its retention forgets stays in its recycle bin (insider protection; 0: removed at once). */
  protection_days: number;
  /** The stored size of all its repositories when last measured. */
  usage_bytes: number | null;
  updated_at: string | null;
  /** The XFS image loop-mounted on its storage root (its own volume); null: a folder of the data disk. */
  volume_image: string | null;
  /** The image's size in bytes (what the volume's file system spans); null without a volume. */
  volume_bytes: number | null;
}

export interface UserRow {
  id: string;
  name: string;
  /** `scrypt$N$r$p$salt$hash` (base64); never the password. */
  password_hash: string;
  system_admin: number;
  disabled: number;
  created_at: string;
}

export interface UserRoleRow {
  user_id: string;
  tenant_id: string;
  role: string;
}

export interface SessionRow {
  id: string;
  /** SHA-256 of the token; the token itself is only ever in the client's hands. */
  token_hash: string;
  user_id: string;
  tenant_id: string;
  created_at: string;
  last_seen_at: string;
  idle_seconds: number;
}

export interface ApiKeyRow {
  id: string;
  tenant_id: string;
  user_id: string;
  name: string;
  key_hash: string;
  created_at: string;
  last_used_at: string | null;
}

export interface RepositoryRow {
  id: string;
  tenant_id: string;
  name: string;
  location: string;
  /** A file holding the repository password (mode 0600); the catalog never holds the secret. */
  password_file: string;
  max_concurrent: number;
  origin: string;
  created_at: string;
  /** The repository password wrapped (RFC 3394) under the server key, base64; null: password_file. */
  wrapped_key: string | null;
  /** `server`: the server holds the key; `tenant`: only the tenant does (its agents run its jobs). */
  key_custody: string;
  /** The repository's stored size (bytes) when last measured. */
  stored_bytes: number | null;
  measured_at: string | null;
  /** Stored bytes that only restore points in the recycle bin need (outside the quota). */
  recycled_bytes: number | null;
}

export interface JobRow {
  id: string;
  tenant_id: string;
  name: string;
  repository_id: string;
  /** JSON of the job's specification (sources, schedule, retention, hooks, limits). */
  spec: string;
  enabled: number;
  origin: string;
  next_run_at: string | null;
  created_at: string;
  updated_at: string;
  /** 1 when a tenant user saved it: its sources, scripts and hooks are checked again at run time. */
  confined: number;
}

export interface RunRow {
  id: string;
  tenant_id: string;
  job_id: string | null;
  job_name: string;
  repository_id: string;
  kind: string;
  /** JSON of what the run does (for restores: snapshot, target, paths, replace policy). */
  params: string;
  state: string;
  result: string | null;
  trigger: string;
  attempt: number;
  not_before: string;
  queued_at: string;
  started_at: string | null;
  ended_at: string | null;
  claimed_by: string | null;
  cancel_requested: number;
  message: string | null;
  snapshot_id: string | null;
  /** JSON statistics: counts, bytes, load shares, throughput samples. */
  stats: string | null;
  log_count: number;
}

/** A server running jobs from this catalog, and its lease (issue 20). */
export interface ServerRow {
  /** `HOST:PID:RANDOM`, new at each start; runs.claimed_by names it. */
  id: string;
  host: string;
  pid: number;
  started_at: string;
  /**
   * Its last heartbeat, in milliseconds since 1970 by the database's clock (servers' own clocks
   * need not agree). Its lease, and that of every run it holds, ends at seen_at + lease_ms.
   */
  seen_at: number;
  lease_ms: number;
}

export interface RunLogRow {
  run_id: string;
  seq: number;
  at: string;
  level: string;
  message: string;
}

export interface TaskRow {
  id: string;
  tenant_id: string;
  user_id: string | null;
  operation: string;
  run_id: string;
  created_at: string;
}

export interface AuditRow {
  id: string;
  at: string;
  tenant_id: string | null;
  user_name: string;
  action: string;
  object: string;
  detail: string;
}

export interface ScriptRow {
  id: string;
  name: string;
  /** JSON array: the program and its arguments. */
  command: string;
  description: string;
  timeout_seconds: number | null;
  /** JSON array of tenant names that may use it; ["*"]: every tenant. */
  tenants: string;
  origin: string;
  created_at: string;
  updated_at: string;
}

/** A restore point a tenant's retention forgot, kept hidden until the protection period ends. */
export interface RecycleRow {
  tenant_id: string;
  repository_id: string;
  /** The snapshot's full id: its file stays in the repository until purged. */
  snapshot_id: string;
  snapshot_time: string;
  job_name: string;
  deleted_at: string;
  /** What deleted it, e.g. "retention of job nightly". */
  deleted_by: string;
}

export interface Database {
  tenants: TenantRow;
  users: UserRow;
  user_roles: UserRoleRow;
  sessions: SessionRow;
  api_keys: ApiKeyRow;
  repositories: RepositoryRow;
  jobs: JobRow;
  runs: RunRow;
  run_logs: RunLogRow;
  tasks: TaskRow;
  audit: AuditRow;
  scripts: ScriptRow;
  recycle_bin: RecycleRow;
  servers: ServerRow;
}
