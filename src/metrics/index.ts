/**
 * Metrics: counters turned into rates, the host's disk and network throughput, busy time per
 * pipeline stage (the bottleneck of a backup), and Prometheus exposition.
 *
 * - counter: a cumulative value that only grows (bytes read so far); a rate is its increase over
 *   an interval divided by the interval's length, never an instantaneous reading.
 * - stage: one kind of work in a pipeline (read the source, chunk, seal, write); busy while at
 *   least one of its operations is in flight.
 *
 * A leaf: it imports nothing of Cairn but errors.ts.
 */
export { RateTracker, DEFAULT_RATE_CAPACITY, type RateSample } from './rate.ts';
export {
  parseDiskstats,
  parseNetDev,
  DISKSTATS_SECTOR,
  type DiskCounters,
  type DiskstatsOptions,
  type NetCounters,
  type NetDevOptions,
} from './proc.ts';
export { HostSampler, type HostSamplerOptions, type DiskRates, type NetRates } from './host.ts';
export { StageClock, type StageLoad, type StageReport } from './stage-clock.ts';
export {
  createMetrics,
  RUN_DURATION_BUCKETS,
  RUN_STATES,
  type CairnMetrics,
  type CatalogFigures,
  type JobFigures,
  type RepositoryFigures,
  type MetricsOptions,
  type RunCounts,
  type RunMetrics,
  type TenantFigures,
} from './prometheus.ts';
