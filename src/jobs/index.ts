/**
 * Jobs: the job model and its schema, the YAML configuration, the runner (runs and their states),
 * the scheduler (cron with time zones and a missed-run policy), event hooks, scripts run before and
 * after a backup (also for the CLI), plugins in jobs, tenants' usage and quotas, overdue jobs
 * (missed backups), the catalog's figures for the metrics, and the operations the API and the
 * configuration share.
 */
export {
  JobSpecSchema,
  JobInputSchema,
  RepositoryInputSchema,
  ScheduleSchema,
  RetentionSchema,
  HookSchema,
  LimitsSchema,
  LevelSchema,
  NameSchema,
  ScriptSchema,
  checkSpec,
  scriptsOf,
  nextRunOf,
  nextRuns,
  type JobSpec,
  type JobInput,
  type Level,
  type RepositoryInput,
  type Schedule,
  type ScriptSpec,
} from './spec.ts';
export { ajv, validate, formatPath, type Problem } from './validate.ts';
export {
  checkConfigPlugins,
  loadConfig,
  parseConfig,
  pluginSettingsOf,
  ConfigSchema,
  NamedScriptSchema,
  type NamedScript,
  type ServerConfig,
} from './config.ts';
export { checkJobPlugins, openPlugins, sourcesOf, usesPlugins, type PluginSettings } from './plugins.ts';
export {
  Runner,
  jobTag,
  type BackupRunParams,
  type LiveProgress,
  type RestoreParams,
  type RunObserver,
  type RunnerOptions,
  type ThroughputSample,
} from './runner.ts';
export { Scheduler, type SchedulerOptions } from './scheduler.ts';
export { runHooks, hookEnv, type HookEvent, type RunFacts } from './hooks.ts';
export {
  backendFor,
  ensureRepository,
  openRepository,
  removeRunLocks,
  readPasswordFile,
  secretOf,
  writePasswordFile,
  type OpenRepo,
} from './repos.ts';
export {
  applyConfig,
  createJob,
  createRepository,
  deleteJob,
  startJob,
  startRestore,
  updateJob,
  type Actor,
} from './service.ts';
export { measure, type Measured } from './measure.ts';
export {
  checkConfinedSpec,
  checkTenantPlaces,
  confinementOf,
  confinePath,
  createTenantRepository,
  grantedScript,
  isUnder,
  locationIn,
  realPathOf,
  refOf,
  resolveScripts,
  scriptsFor,
  ServerKey,
  tenantLists,
  webhookAllowed,
  type Confinement,
  type Tenancy,
} from './tenancy.ts';
export {
  measureAllRepositories,
  measureRepository,
  QUOTA_WARNING,
  storedBytes,
  tenantFigures,
  tenantUsage,
  type Measurement,
  type TenantUsage,
} from './quota.ts';
export { runWork, type WorkIO, type WorkTask } from './work.ts';
export {
  judgeJobs,
  overdueTimes,
  OverdueWatch,
  OVERDUE_AUDIT,
  OVERDUE_CHECK_SECONDS,
  OVERDUE_GRACE_SECONDS,
  watchJobs,
  type JobWatch,
  type OverdueWatchOptions,
} from './overdue.ts';
export { catalogFigures } from './figures.ts';
export {
  binOf,
  checkRepositoryDeletable,
  hiddenFrom,
  refuseHidden,
  purgeAfter,
  purgeRecycled,
  recordRecycle,
  recycleTaskFor,
  sweepRecycleBins,
  type SweepResult,
} from './recycle.ts';
export {
  checkVolumeRequest,
  discardVolume,
  dropVolume,
  growVolume,
  makeVolume,
  mountTenantVolumes,
  mountVolume,
  requireVolume,
  unmountVolume,
  volumeImageOf,
  volumeMounted,
  volumeState,
  volumeTools,
  VOLUME_MIN_BYTES,
  VOLUME_MOUNT_OPTIONS,
  XFS_MAGIC,
  type MadeVolume,
  type VolumeState,
} from './volume.ts';
