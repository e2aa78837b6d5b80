/**
 * The restore-point simulator: how much storage a backup style and retention take over time, run
 * by run, after the Restore Point Simulator (RPS). Pure: no clock, no I/O; the CLI, the API and the
 * web page call it. See docs/simulator.md.
 */
export {
  simulate,
  simulationRuns,
  bandwidthWindows,
  fastCloneChangePercent,
  BANDWIDTH_HOURS,
} from './engine.ts';
export {
  checkInput,
  defaultPoints,
  DEFAULTS,
  INPUT_SCHEMA,
  LIMITS,
  validateInput,
  type InputError,
  type Validation,
  type ValidateOptions,
} from './input.ts';
export {
  formatGfs,
  formatInterval,
  formatMonthly,
  formatSizeText,
  formatWeekdays,
  parseGfsText,
  parseIntervalText,
  parseMonthlyText,
  parsePointsText,
  parseSizeText,
  parseWeekdaysText,
  resolvePoints,
} from './parse.ts';
export {
  inputFromText,
  parseRpsQuery,
  parseShareQuery,
  TEXT_FIELDS,
  TEXT_KEYS,
  toShareQuery,
  type RpsImport,
  type TextInputOptions,
  type TextKey,
} from './share.ts';
export * from './types.ts';
