/**
 * The REST API and the server that carries it: `/api/v1` (sessions, repositories, jobs, runs,
 * tasks, restores, users, audit), `/api/openapi.json`, `/api/docs`, `/metrics`.
 */
export { buildApp, type AppOptions } from './app.ts';
export {
  startServer,
  defaultDataDir,
  serverPaths,
  type ServerOptions,
  type RunningServer,
  requireCatalog,
  tenancyOf,
} from './server.ts';
export { initialPasswordPath, retireInitialPassword } from './initial-password.ts';
export { hashPassword, verifyPassword, LogonLimiter, ROLES, type Role, type Permission } from './auth.ts';
export type { ApiContext } from './context.ts';
export type { AnswerFailure } from './openapi.ts';
export {
  changeTenant,
  provisionTenant,
  removeTenant,
  tenantView,
  type Provisioned,
  type TenantInput,
  type TenantSettings,
} from './tenants.ts';
