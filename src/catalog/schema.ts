/**
 * The catalog's tables as Kysely sees them. Times are ISO 8601 strings in UTC (they sort as text on
 * both databases), flags are 0/1 integers and structured values are JSON text, so one set of
 * migrations and one query layer serve SQLite and PostgreSQL alike.
 */

export interface TenantRow {
  id: string;
  name: string;
  created_at: string;
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
}
