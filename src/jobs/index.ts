/**
 * Jobs: the job model and its schema, the YAML configuration, the runner (runs and their states),
 * the scheduler (cron with time zones and a missed-run policy), event hooks, and the operations the
 * API and the configuration share.
 */
export {
  JobSpecSchema,
  JobInputSchema,
  RepositoryInputSchema,
  ScheduleSchema,
  RetentionSchema,
  HookSchema,
  LimitsSchema,
  NameSchema,
  checkSpec,
  nextRunOf,
  nextRuns,
  type JobSpec,
  type JobInput,
  type RepositoryInput,
  type Schedule,
} from './spec.ts';
export { ajv, validate, formatPath, type Problem } from './validate.ts';
export { loadConfig, parseConfig, ConfigSchema, type ServerConfig } from './config.ts';
export {
  Runner,
  jobTag,
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
  readPasswordFile,
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
export { runWork, type WorkIO, type WorkTask } from './work.ts';
