/**
 * The catalog: the server's database (SQLite by default, PostgreSQL at scale). Only this folder
 * speaks SQL; jobs/ and api/ call its methods. The repository stays the source of truth for restore
 * points: the catalog holds definitions, runs, logs, users, sessions and the audit trail.
 */
export {
  Catalog,
  FINAL_STATES,
  splitUserName,
  tenantUserName,
  type Page,
  type PageQuery,
  type RunFilter,
  type RunState,
  type Takeover,
  type NewRun,
  type NewScript,
  type NewTenant,
} from './catalog.ts';
export { describeCatalog } from './connect.ts';
export type {
  ApiKeyRow,
  AuditRow,
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
