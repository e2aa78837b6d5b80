/**
 * The benchmark of Cairn's PostgreSQL plugin beside pgBackRest (issue 5). Run with
 * `npm run bench:pg -- [options]` (which builds Cairn first) or `node bench/pg.ts [options]`;
 * `--help` lists the options, and docs/benchmarks.md says what is measured and how.
 *
 * One cluster (PostgreSQL 15, as the postgres user) in a temporary folder, loaded by
 * `pgbench -i -s SCALE`, archives every WAL segment both into a plain folder for Cairn and into
 * pgBackRest's repositories. Each round, on fresh repositories: a full backup by each tool, a
 * pgbench run, an incremental backup by each tool, and a restore of the latest backup by each
 * tool, proven by starting PostgreSQL on the restored data directory and comparing the pgbench
 * tables' row counts and balance sum with the source. The tools run in turn, their order swapped
 * from round to round; every command under GNU time. Medians go to a table with the ratios
 * Cairn/pgBackRest, everything to a JSON file under bench/results/.
 */
import { existsSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { zstdImplementation } from '../src/compress/index.ts';
import { warmCache } from './lib/data.ts';
import { describeMachine } from './lib/machine.ts';
import { duBytes, measure, runQuiet, type MeasuredRun } from './lib/measure.ts';
import {
  appendSettings,
  freePort,
  initCluster,
  IS_ROOT,
  mkdirForPostgres,
  parsePgbench,
  pgBinDir,
  runAsPostgres,
  Server,
  type Counts,
} from './lib/pg.ts';
import { sampleTreeRss } from './lib/pg-rss.ts';
import {
  formatBytes,
  formatSeconds,
  PG_SCENARIO_TITLES,
  pgMedians,
  pgRatio,
  pgTable,
  type PgMedian,
  type PgSample,
} from './lib/pg-report.ts';
import {
  archiveCommand,
  cairnDirective,
  cairnPlugin,
  ensurePgbackrest,
  PG_TOOL_LABELS,
  PG_TOOL_NAMES,
  PG_TOOL_SETTINGS,
  pgbackrest,
  pgbackrestConfig,
  pgbackrestVersion,
  pgTools,
  type Level,
  type PgLayout,
  type PgTool,
  type PgToolName,
} from './lib/pg-tools.ts';
import { CAIRN_BIN, cairn, ensurePrograms, ROOT } from './lib/tools.ts';

const HELP = `Usage: npm run bench:pg -- [options]     (or: node bench/pg.ts [options])

Benchmarks Cairn's PostgreSQL plugin beside pgBackRest on one pgbench database: full backup,
incremental backup after a pgbench run, restore of the latest backup (proven by starting
PostgreSQL on it and comparing row counts and a balance sum with the source), repository sizes;
medians of the rounds with the ratios Cairn/pgBackRest.

Options:
  --scale N            pgbench scale factor: N × 100,000 accounts, about 15 MB each (default 100)
  --rounds N           rounds of every scenario, on fresh repositories (default 1)
  --tools LIST         comma-separated: cairn, pgbackrest (defaults: process-max 1),
                       pgbackrest-p2 (--process-max=2) (default all three)
  --duration S         seconds of pgbench between the full and the incremental backup (default 30)
  --transactions N     instead of --duration: N transactions in all (split over the clients)
  --clients N          pgbench clients (and threads) (default 2)
  --out FILE           where to write the JSON (default bench/results/DATE-HOST-pg.json)
  --work DIR           folder for the cluster, archives, repositories and restores (default: a new
                       temporary folder; keep it on the disk under test); what it makes there is
                       removed afterwards
  --keep               keep the work folder with the restores and logs (the clusters stopped)
  -h, --help           this text

Needs root (PostgreSQL runs as the postgres user through runuser), PostgreSQL (15) and pgBackRest;
pgBackRest is installed with apt-get when missing.`;

interface Options {
  readonly scale: number;
  readonly rounds: number;
  readonly tools: PgToolName[];
  readonly durationS: number;
  readonly transactions: number | undefined;
  readonly clients: number;
  readonly out: string | undefined;
  readonly work: string | undefined;
  readonly keep: boolean;
}

function positiveInt(name: string, text: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 1)
    throw new Error(`--${name} must be a positive integer, got "${text}"`);
  return n;
}

export function parseOptions(argv: readonly string[]): Options | 'help' {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      scale: { type: 'string', default: '100' },
      rounds: { type: 'string', default: '1' },
      tools: { type: 'string', default: PG_TOOL_NAMES.join(',') },
      duration: { type: 'string', default: '30' },
      transactions: { type: 'string' },
      clients: { type: 'string', default: '2' },
      out: { type: 'string' },
      work: { type: 'string' },
      keep: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) return 'help';
  const tools = [...new Set(values.tools.split(',').map((t) => t.trim()))];
  for (const t of tools) {
    if (!(PG_TOOL_NAMES as readonly string[]).includes(t))
      throw new Error(`unknown tool "${t}" (${PG_TOOL_NAMES.join(', ')})`);
  }
  // Cairn first: it is the column the ratios are taken from
  const ordered = PG_TOOL_NAMES.filter((t) => tools.includes(t));
  return {
    scale: positiveInt('scale', values.scale),
    rounds: positiveInt('rounds', values.rounds),
    tools: ordered,
    durationS: positiveInt('duration', values.duration),
    transactions:
      values.transactions === undefined ? undefined : positiveInt('transactions', values.transactions),
    clients: positiveInt('clients', values.clients),
    out: values.out,
    work: values.work,
    keep: values.keep,
  };
}

function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

function today(): string {
  return new Date().toISOString().slice(0, 10);
}

async function writeJson(file: string, value: unknown): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp`;
  await fs.writeFile(tmp, `${JSON.stringify(value, null, 2)}\n`);
  await fs.rename(tmp, file);
}

function sameCounts(a: Counts, b: Counts): boolean {
  return a.accounts === b.accounts && a.balanceSum === b.balanceSum && a.history === b.history;
}

function showCounts(c: Counts): string {
  return `${c.accounts} accounts, balance sum ${c.balanceSum}, ${c.history} history rows`;
}

/** The last lines of a file, for an error message (empty when it cannot be read). */
async function tailOf(file: string, lines = 20): Promise<string> {
  try {
    return (await fs.readFile(file, 'utf8')).trim().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

interface RoundInfo {
  round: number;
  order: PgToolName[];
  pgbench: { transactions: number; tps: number; seconds: number; walBytes: number };
  source: Counts;
  /** Bytes of WAL in Cairn's plain archive folder at the end of the round. */
  walArchiveBytes: number;
}

class PgBench {
  readonly samples: PgSample[] = [];
  readonly rounds: RoundInfo[] = [];
  readonly errors: string[] = [];
  readonly o: Options;
  readonly work: string;
  readonly layout: PgLayout;
  readonly server: Server;
  readonly tools: PgTool[];
  readonly scratch: string;

  constructor(o: Options, work: string, layout: PgLayout, server: Server) {
    this.o = o;
    this.work = work;
    this.layout = layout;
    this.server = server;
    this.tools = pgTools(layout, o.tools);
    this.scratch = path.join(work, 'scratch');
  }

  get pgbackrestRepos(): number {
    return this.o.tools.includes('pgbackrest-p2') ? 2 : this.o.tools.includes('pgbackrest') ? 1 : 0;
  }

  /** Empty repositories for every tool, and an empty WAL folder for Cairn. */
  async freshRepositories(): Promise<void> {
    const l = this.layout;
    await fs.rm(l.cairnRepo, { recursive: true, force: true });
    for (let i = 1; i <= 2; i++)
      await fs.rm(path.join(l.pgbrDir, `repo${i}`), { recursive: true, force: true });
    for (const f of await fs.readdir(l.walArchive)) await fs.rm(path.join(l.walArchive, f), { force: true });
    if (this.o.tools.includes('cairn')) {
      await runQuiet(CAIRN_BIN, ['init', '-r', l.cairnRepo, '--json'], { env: cairn.env(l.cairnRepo, '') });
    }
    if (this.pgbackrestRepos > 0) {
      for (let i = 1; i <= this.pgbackrestRepos; i++)
        await mkdirForPostgres(path.join(l.pgbrDir, `repo${i}`), 0o750);
      await pgbackrest(l, ['stanza-create']);
      // switches to a new WAL segment and waits until every repository has it
      await pgbackrest(l, ['check']);
    } else {
      await this.server.sql('SELECT pg_switch_wal()');
    }
  }

  async step(
    tool: PgTool,
    scenario: 'full' | 'incremental' | 'restore',
    round: number,
    target?: string,
  ): Promise<PgSample> {
    const level: Level = scenario === 'full' ? 'full' : 'incremental';
    if (scenario !== 'restore') {
      // no archiving left over from the step before (the other tool's backup stop, pgbench's
      // last segments): each backup archives and waits for its own WAL only
      await this.server.archiverIdle();
      await warmCache([this.layout.dataDir]);
    }
    // the dirty pages of the step before (the load, the other tool's restore) go to disk first,
    // so that no tool's fsyncs wait for another's writes
    await runQuiet('sync', []);
    const c = scenario === 'restore' ? tool.restore(target!) : tool.backup(level);
    const loadAverage = os.loadavg()[0]!;
    const sampler = sampleTreeRss();
    let r: MeasuredRun;
    try {
      r = await measure(c, this.scratch, `${tool.name}-${scenario}-${round}`);
    } finally {
      sampler.stop();
    }
    const treeRssBytes = Math.max(sampler.stop(), r.maxRssBytes);
    const size = scenario === 'restore' ? undefined : await duBytes(tool.repo);
    const backup = scenario === 'restore' ? undefined : await tool.report(r.stdout);
    const sample: PgSample = {
      tool: tool.name,
      scenario,
      round,
      wallS: r.wallS,
      cpuS: r.cpuS,
      userS: r.userS,
      sysS: r.sysS,
      maxRssBytes: r.maxRssBytes,
      treeRssBytes,
      loadAverage,
      ...(size ? { repoBytes: size.allocated, repoApparentBytes: size.apparent } : {}),
      ...(backup ? { backup } : {}),
    };
    this.samples.push(sample);
    const parts = [
      `${formatSeconds(r.wallS)}, CPU ${formatSeconds(r.cpuS)}, peak RSS ${formatBytes(r.maxRssBytes)} (tree ${formatBytes(treeRssBytes)})`,
      ...(size ? [`repository ${formatBytes(size.allocated)}`] : []),
      ...(backup?.bytesStored !== undefined ? [`added ${formatBytes(backup.bytesStored)}`] : []),
      `load ${loadAverage.toFixed(1)}`,
    ];
    log(`  ${tool.label.padEnd(14)} ${scenario.padEnd(12)} ${parts.join(', ')}`);
    return sample;
  }

  /** Restores the latest backup, starts PostgreSQL on it, compares with the source, stops it. */
  async restoreAndProve(tool: PgTool, round: number, source: Counts): Promise<void> {
    const target = path.join(this.work, 'restore', tool.name);
    await tool.prepareTarget(target);
    try {
      const sample = await this.step(tool, 'restore', round, target);
      const dataDir = tool.restoredDataDir(target);
      if (!existsSync(path.join(dataDir, 'PG_VERSION'))) {
        throw new Error(`${tool.label}: no data directory at ${dataDir} after the restore`);
      }
      // what the restore wrote: the data directory, and for Cairn the WAL to replay
      const restoredBytes = (await duBytes(target)).allocated;
      const port = await freePort();
      const logFile = path.join(this.work, 'logs', `restored-${tool.name}-${round}.log`);
      const restored = new Server(this.server.bin, dataDir, port, this.layout.socketDir, logFile);
      const loadAverage = os.loadavg()[0]!;
      const started = process.hrtime.bigint();
      try {
        // archive_mode=off: the restored server must not push WAL into the live archive
        await restored.start(['archive_mode=off']);
      } catch (err) {
        throw new Error(
          `${tool.label}: PostgreSQL did not start on the restored data directory: ${err instanceof Error ? err.message : String(err)}\n${await tailOf(logFile)}`,
        );
      }
      let startS: number;
      let counts: Counts;
      try {
        await restored.recovered();
        startS = Number(process.hrtime.bigint() - started) / 1e9;
        counts = await restored.counts();
      } finally {
        await restored.stop();
      }
      const matched = sameCounts(counts, source);
      this.samples[this.samples.indexOf(sample)] = {
        ...sample,
        restoredBytes,
        verified: { restored: counts, source, matched },
      };
      this.samples.push({ tool: tool.name, scenario: 'start', round, wallS: startS, loadAverage });
      log(
        `  ${tool.label.padEnd(14)} ${'start'.padEnd(12)} ${formatSeconds(startS)} until recovery ended (restored ${formatBytes(restoredBytes)}); ` +
          `${showCounts(counts)}: ${matched ? 'equal to the source' : 'DIFFERENT from the source'}`,
      );
      if (!matched) {
        this.errors.push(
          `${tool.label} round ${round}: restored ${showCounts(counts)}, source had ${showCounts(source)}`,
        );
      }
    } finally {
      if (!this.o.keep) await fs.rm(target, { recursive: true, force: true });
    }
  }

  /** Changes data between the full and the incremental backups; returns what pgbench did. */
  async pgbench(): Promise<RoundInfo['pgbench']> {
    const c = String(this.o.clients);
    const run =
      this.o.transactions !== undefined
        ? ['-t', String(Math.max(1, Math.ceil(this.o.transactions / this.o.clients)))]
        : ['-T', String(this.o.durationS)];
    const before = await this.server.sql('SELECT pg_current_wal_lsn()');
    const started = process.hrtime.bigint();
    const out = await this.server.pgbench(['-c', c, '-j', c, ...run]);
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const walBytes = Number(await this.server.sql(`SELECT pg_current_wal_lsn() - '${before}'::pg_lsn`));
    const { transactions, tps } = parsePgbench(out);
    log(
      `  pgbench: ${transactions} transactions in ${formatSeconds(seconds)} (${tps.toFixed(0)} tps), ${formatBytes(walBytes)} of WAL`,
    );
    return { transactions, tps, seconds, walBytes };
  }

  async round(round: number): Promise<void> {
    const names = this.o.tools;
    const order = names.map((_, i) => names[(i + round - 1) % names.length]!);
    const tools = order.map((n) => this.tools.find((t) => t.name === n)!);
    log(`round ${round}/${this.o.rounds}: ${order.map((n) => PG_TOOL_LABELS[n]).join(', ')}`);
    await this.freshRepositories();
    for (const t of tools) await this.step(t, 'full', round);
    const pgbench = await this.pgbench();
    const source = await this.server.counts();
    log(`  source: ${showCounts(source)}`);
    for (const t of tools) await this.step(t, 'incremental', round);
    const after = await this.server.counts();
    if (!sameCounts(after, source))
      throw new Error(`the source changed during the backups: ${showCounts(after)}`);
    for (const t of tools) {
      try {
        await this.restoreAndProve(t, round, source);
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        this.errors.push(`${t.label} round ${round}: ${message}`);
        log(`  ${t.label} restore failed: ${message}`);
      }
    }
    const walArchiveBytes = (await duBytes(this.layout.walArchive)).allocated;
    this.rounds.push({ round, order, pgbench, source, walArchiveBytes });
  }
}

async function settingsOf(server: Server): Promise<Record<string, string>> {
  const names = [
    'server_version',
    'wal_level',
    'archive_mode',
    'archive_command',
    'shared_buffers',
    'max_wal_size',
    'checkpoint_timeout',
    'fsync',
    'full_page_writes',
    'wal_compression',
    'data_checksums',
  ];
  const out: Record<string, string> = {};
  for (const n of names) out[n] = await server.sql(`SHOW ${n}`);
  return out;
}

/** pgBackRest's defaults for the options that matter here, as its own help states them. */
async function pgbackrestDefaults(): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const o of ['compress-type', 'compress-level', 'process-max', 'repo1-bundle', 'start-fast']) {
    try {
      const text = await runQuiet('pgbackrest', ['help', 'backup', o]);
      // compress-level has no single default: one per compress-type ("* gz - 6")
      const level = new RegExp(`^\\* ${out['compress-type'] ?? 'gz'} - (\\d+)$`, 'm').exec(text)?.[1];
      out[o] = /^default: (.*)$/m.exec(text)?.[1] ?? level ?? 'not reported';
    } catch {
      out[o] = 'unknown';
    }
  }
  return out;
}

export async function main(argv: readonly string[]): Promise<number> {
  const parsed = parseOptions(argv);
  if (parsed === 'help') {
    console.log(HELP);
    return 0;
  }
  const o = parsed;
  if (!IS_ROOT)
    throw new Error('the PostgreSQL benchmark runs as root (PostgreSQL runs as postgres through runuser)');
  const bin = pgBinDir();
  if (!bin) throw new Error('PostgreSQL is not installed (apt-get install -y postgresql)');
  await ensurePrograms(o.tools.includes('cairn') ? ['cairn'] : [], log);
  if (o.tools.some((t) => t !== 'cairn')) await ensurePgbackrest(log);
  const plugin = o.tools.includes('cairn')
    ? await cairnPlugin()
    : { present: false, options: new Set<string>() };
  if (o.tools.includes('cairn') && !plugin.present) {
    throw new Error(
      `Cairn has no postgresql plugin ("${CAIRN_BIN} plugins" does not list it): build it, or run --tools pgbackrest,pgbackrest-p2`,
    );
  }

  const work = o.work ?? (await fs.mkdtemp(path.join(os.tmpdir(), 'cairn-pg-bench-')));
  await fs.mkdir(work, { recursive: true });
  // PostgreSQL (as postgres) goes through it to its data directory, sockets and archives
  await fs.chmod(work, 0o755);
  const made = ['pg', 'sock', 'wal-archive', 'pgbackrest', 'cairn-repo', 'restore', 'scratch', 'logs'];
  const machine = await describeMachine(work);
  const loadAtStart = os.loadavg();
  const started = new Date();
  const port = await freePort();
  const layout: PgLayout = {
    dataDir: path.join(work, 'pg', 'data'),
    port,
    socketDir: path.join(work, 'sock'),
    walArchive: path.join(work, 'wal-archive'),
    pgbrConfig: path.join(work, 'pgbackrest', 'pgbackrest.conf'),
    pgbrDir: path.join(work, 'pgbackrest'),
    cairnRepo: path.join(work, 'cairn-repo'),
    cairnArchiveModeOption: plugin.options.has('archiveMode'),
    cairnStartFastOption: plugin.options.has('startFast'),
  };
  const server = new Server(
    bin,
    layout.dataDir,
    port,
    layout.socketDir,
    path.join(work, 'logs', 'source.log'),
  );
  const bench = new PgBench(o, work, layout, server);
  const versions: Record<string, string> = {};
  const dataset: Record<string, unknown> = { scale: o.scale };
  let cluster: Record<string, string> = {};
  let pgbrDefaults: Record<string, string> = {};
  try {
    await mkdirForPostgres(layout.socketDir, 0o755);
    await mkdirForPostgres(layout.walArchive, 0o755);
    await mkdirForPostgres(layout.pgbrDir, 0o750);
    await mkdirForPostgres(path.join(layout.pgbrDir, 'log'), 0o750);
    await mkdirForPostgres(path.join(work, 'logs'), 0o755);
    log(
      `machine: ${machine.cpuModel}, ${machine.cores} cores, ${formatBytes(machine.memoryBytes)}, ${machine.kernel}, ${machine.workFs}`,
    );
    // archiving discards the WAL of the initial load; the real command is set before the rounds
    await initCluster(bin, layout.dataDir, {
      listen_addresses: '127.0.0.1',
      port: String(port),
      unix_socket_directories: layout.socketDir,
      wal_level: 'replica',
      archive_mode: 'on',
      archive_command: '/bin/true',
    });
    await server.start();
    versions.postgresql = await server.version();
    versions.pgbench = (await runAsPostgres([path.join(bin, 'pgbench'), '--version'])).trim();
    if (o.tools.includes('cairn')) {
      versions.cairn = (await runQuiet(CAIRN_BIN, ['--version'])).trim();
      versions['cairn-zstd'] = zstdImplementation;
    }
    if (bench.pgbackrestRepos > 0) {
      versions.pgbackrest = await pgbackrestVersion();
      pgbrDefaults = await pgbackrestDefaults();
    }
    versions.node = process.version;
    log(
      `versions: ${Object.entries(versions)
        .map(([k, v]) => `${k} ${v}`)
        .join('; ')}`,
    );

    log(`loading: pgbench -i -s ${o.scale}`);
    const loadStarted = process.hrtime.bigint();
    await server.pgbench(['-i', '-s', String(o.scale), '-I', 'dtGvp', '-q']);
    await server.sql('CHECKPOINT');
    const loadS = Number(process.hrtime.bigint() - loadStarted) / 1e9;
    const initial = await server.counts();
    const dbBytes = Number(await server.sql("SELECT pg_database_size('postgres')"));
    const dataDirBytes = (await duBytes(layout.dataDir)).allocated;
    Object.assign(dataset, {
      accounts: initial.accounts,
      databaseBytes: dbBytes,
      dataDirBytes,
      loadSeconds: loadS,
    });
    log(
      `dataset: ${initial.accounts} accounts, database ${formatBytes(dbBytes)}, data directory ${formatBytes(dataDirBytes)} (loaded in ${formatSeconds(loadS)})`,
    );

    // from now on every segment goes to Cairn's folder and to pgBackRest's repositories
    if (bench.pgbackrestRepos > 0) {
      await fs.writeFile(layout.pgbrConfig, pgbackrestConfig(layout, bench.pgbackrestRepos));
      await runQuiet('chown', ['postgres:postgres', layout.pgbrConfig]);
    }
    const command =
      bench.pgbackrestRepos > 0
        ? archiveCommand(layout)
        : `(test -f ${layout.walArchive}/%f || (cp %p ${layout.walArchive}/%f.part && mv ${layout.walArchive}/%f.part ${layout.walArchive}/%f))`;
    await appendSettings(layout.dataDir, { archive_command: command });
    await server.sql('SELECT pg_reload_conf()');
    cluster = await settingsOf(server);
    if (o.tools.includes('cairn')) log(`Cairn's source: ${cairnDirective(layout)}`);

    for (let round = 1; round <= o.rounds; round++) {
      try {
        await bench.round(round);
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        bench.errors.push(`round ${round}: ${message}`);
        log(`round ${round} failed: ${message}`);
        break;
      }
    }
  } finally {
    try {
      if (await server.running()) await server.stop();
    } catch (err) {
      log(`stopping the source cluster: ${err instanceof Error ? err.message : String(err)}`);
    }
    if (!o.keep) {
      if (o.work === undefined) await fs.rm(work, { recursive: true, force: true });
      else for (const m of made) await fs.rm(path.join(work, m), { recursive: true, force: true });
    } else log(`kept: ${work}`);
  }

  const ms = pgMedians(bench.samples);
  const table = pgTable(ms, o.tools);
  const loads = bench.samples.map((s) => s.loadAverage);
  console.log(`\nMedians of ${o.rounds} round${o.rounds === 1 ? '' : 's'}, scale ${o.scale}:\n\n${table}\n`);
  console.log(notes(o, ms, bench.rounds));
  if (loads.length > 0)
    console.log(
      `Load average (1 min) when the steps started: ${Math.min(...loads).toFixed(2)}–${Math.max(...loads).toFixed(2)}\n`,
    );
  const ratios: Record<string, Record<string, number>> = {};
  for (const other of o.tools.filter((t) => t !== 'cairn')) {
    if (!o.tools.includes('cairn')) break;
    const r: Record<string, number> = {};
    for (const s of ['full', 'incremental', 'restore', 'start'] as const) {
      for (const metric of [
        'wallS',
        'cpuS',
        'maxRssBytes',
        'treeRssBytes',
        'repoBytes',
        'bytesStored',
        'restoredBytes',
      ] as const) {
        const v = pgRatio(ms, s, metric, other);
        if (v !== undefined) r[`${s}.${metric}`] = v;
      }
    }
    ratios[`cairn/${other}`] = r;
  }
  const result = {
    started: started.toISOString(),
    finished: new Date().toISOString(),
    machine,
    loadAverage: { start: loadAtStart, end: os.loadavg() },
    versions,
    settings: {
      ...Object.fromEntries(o.tools.map((t) => [t, PG_TOOL_SETTINGS[t]])),
      pgbackrestDefaults: pgbrDefaults,
      cluster,
      ...(o.tools.includes('cairn')
        ? { cairnSource: cairnDirective(layout), cairnArchiveModeOff: layout.cairnArchiveModeOption }
        : {}),
    },
    options: {
      scale: o.scale,
      rounds: o.rounds,
      tools: o.tools,
      clients: o.clients,
      ...(o.transactions !== undefined ? { transactions: o.transactions } : { durationS: o.durationS }),
    },
    dataset,
    rounds: bench.rounds,
    scenarios: PG_SCENARIO_TITLES,
    medians: ms,
    ratios,
    samples: bench.samples,
    ...(bench.errors.length > 0 ? { errors: bench.errors } : {}),
  };
  const out =
    o.out ??
    path.join(
      ROOT,
      'bench',
      'results',
      `${today()}-${machine.host}-pg${o.scale === 100 ? '' : `-s${o.scale}`}.json`,
    );
  await writeJson(out, result);
  const rel = path.relative(process.cwd(), out);
  log(`results: ${rel.startsWith('..') ? out : rel}`);
  if (bench.errors.length > 0) log(`errors:\n  ${bench.errors.join('\n  ')}`);
  return bench.errors.length > 0 ? 1 : 0;
}

/** The closing note: the ratios in words, and what the incrementals do differently. */
function notes(o: Options, ms: readonly PgMedian[], rounds: readonly RoundInfo[]): string {
  const lines: string[] = [];
  const wal = rounds.map((r) => r.pgbench.walBytes);
  if (wal.length > 0) {
    lines.push(
      `pgbench wrote ${wal.map(formatBytes).join(', ')} of WAL between the full and the incremental backups ` +
        `(${rounds.map((r) => r.pgbench.transactions).join(', ')} transactions).`,
    );
  }
  if (o.tools.includes('cairn') && o.tools.length > 1) {
    lines.push(
      "Not the same work: Cairn's incremental stores the WAL written since the last backup, while pgBackRest's " +
        'incr copies every data file changed since (whole 1 GiB segments of pgbench_accounts): the same restore ' +
        'point, reached by replaying more WAL after a Cairn restore (the "restored server start" row).',
    );
    for (const other of o.tools.filter((t) => t !== 'cairn')) {
      const parts: string[] = [];
      for (const [s, metric, what] of [
        ['full', 'wallS', 'full backup time'],
        ['incremental', 'wallS', 'incremental time'],
        ['restore', 'wallS', 'restore time'],
        ['incremental', 'repoBytes', 'repository size'],
      ] as const) {
        const r = pgRatio(ms, s, metric, other);
        if (r !== undefined) parts.push(`${what} ${r.toFixed(2)}×`);
      }
      if (parts.length > 0) lines.push(`Cairn/${PG_TOOL_LABELS[other]}: ${parts.join(', ')}.`);
    }
  }
  return `${lines.join('\n')}\n`;
}

if (import.meta.main) {
  try {
    process.exitCode = await main(process.argv.slice(2));
  } catch (err) {
    log(`bench:pg: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  }
}
