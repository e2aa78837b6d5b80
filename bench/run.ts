/**
 * The benchmark of Cairn against restic and Borg (issue 4). Run with `npm run bench -- [options]`
 * (which builds Cairn first) or `node bench/run.ts [options]`; `--help` lists the options, and
 * docs/benchmarks.md says what is measured and how.
 *
 * Each round runs every tool in turn (the order rotates between rounds) on the same copy of the
 * data: first backup, unchanged incremental, incremental after changing 1% of the files, full
 * restore (compared byte for byte with the source: a difference fails the run), check reading
 * every byte. Each command runs under GNU time for its CPU time and peak RSS. The medians go to a
 * table with the ratios Cairn/restic and Cairn/Borg, and everything to a JSON file under
 * bench/results/.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { chunkBuffer, FastCdcChunker, gearTable } from '../src/chunker/index.ts';
import { zstdImplementation } from '../src/compress/index.ts';
import {
  changeFiles,
  chooseFiles,
  compareTrees,
  copyDataset,
  generateBigFile,
  generateRandomFiles,
  generateSmallFiles,
  listFiles,
  revertChanges,
  warmCache,
  type Change,
} from './lib/data.ts';
import { describeMachine } from './lib/machine.ts';
import { duBytes, measure, runQuiet, type Command, type MeasuredRun } from './lib/measure.ts';
import { medians, tables, targetLines, targets, type Sample } from './lib/report.ts';
import {
  ensurePrograms,
  ROOT,
  TOOL_NAMES,
  TOOL_SETTINGS,
  TOOLS,
  type ChunkerSizes,
  type Tool,
  type ToolName,
} from './lib/tools.ts';
import { cpuBound, runStages, stageTable, type StageResult } from './stages.ts';

export const STANDARD_SCENARIOS = ['first', 'unchanged', 'changed', 'restore', 'check'] as const;
export const SCALE_SCENARIOS = ['small-files', 'big-file', 'many-blobs'] as const;
type Scenario = (typeof STANDARD_SCENARIOS)[number] | (typeof SCALE_SCENARIOS)[number];

const SCENARIO_TITLES: Record<string, string> = {
  first: 'first backup',
  unchanged: 'unchanged incremental',
  changed: 'incremental, 1% of files changed',
  restore: 'full restore',
  check: 'check, reading all data',
  'small-files': 'small files: first backup',
  'small-files-unchanged': 'small files: unchanged incremental',
  'small-files-check': 'small files: check (structure, index loaded)',
  'big-file': 'one big file: first backup',
  'many-blobs': 'many blobs: first backup',
  'many-blobs-check': 'many blobs: check (structure, index loaded)',
};

const HELP = `Usage: npm run bench -- [options]     (or: node bench/run.ts [options])

Benchmarks Cairn against restic and Borg on the same data, several rounds, and reports medians
of wall time, CPU time, peak RSS and repository size with the ratios Cairn/restic and Cairn/Borg.

Options:
  --data DIR             a folder to back up (repeatable; default /usr/share and /usr/lib)
  --rounds N             rounds of every scenario (default 3)
  --tools LIST           comma-separated: cairn,restic,borg (default all three)
  --scenarios LIST       comma-separated: first,unchanged,changed,restore,check (the "standard"
                         ones, default), "scale" for small-files,big-file,many-blobs, or "all";
                         a first backup always runs, as the others need it
  --quick                a smoke run: /usr/share/doc (unless --data), 1 round (unless --rounds)
  --out FILE             where to write the JSON (default bench/results/DATE-HOST.json)
  --work DIR             folder for the data copy, repositories and restores (default: a new
                         temporary folder; keep it on the disk under test); removed afterwards
  --change-percent P     share of files the "changed" scenario modifies (default 1)
  --small-files N        files of the small-files scenario (default 1000000)
  --big-file SIZE        size of the big-file scenario, e.g. 20GiB (default 20GiB)
  --blobs N              blobs of the many-blobs scenario (default 2000000)
  --stages               also run the per-stage micro-benchmarks (bench/stages.ts)
  -h, --help             this text

Restic and borgbackup are installed with apt-get when missing (as root; otherwise it says how).`;

interface Options {
  readonly data: string[];
  readonly rounds: number;
  readonly tools: ToolName[];
  readonly scenarios: Scenario[];
  readonly quick: boolean;
  readonly out: string | undefined;
  readonly work: string | undefined;
  readonly changePercent: number;
  readonly smallFiles: number;
  readonly bigFileBytes: number;
  readonly blobs: number;
  readonly stages: boolean;
}

export function parseSize(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(B|KiB|MiB|GiB|TiB|K|M|G|T)?$/i.exec(text.trim());
  if (!m) throw new Error(`cannot read size "${text}" (e.g. 2GiB, 512MiB)`);
  const unit = (m[2] ?? 'B').toUpperCase().replace('IB', '');
  const mult: Record<string, number> = { B: 1, K: 2 ** 10, M: 2 ** 20, G: 2 ** 30, T: 2 ** 40 };
  return Math.round(Number(m[1]) * mult[unit]!);
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
      data: { type: 'string', multiple: true },
      rounds: { type: 'string' },
      tools: { type: 'string', default: TOOL_NAMES.join(',') },
      scenarios: { type: 'string', default: 'standard' },
      quick: { type: 'boolean', default: false },
      out: { type: 'string' },
      work: { type: 'string' },
      'change-percent': { type: 'string', default: '1' },
      'small-files': { type: 'string', default: '1000000' },
      'big-file': { type: 'string', default: '20GiB' },
      blobs: { type: 'string', default: '2000000' },
      stages: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) return 'help';
  const tools = values.tools.split(',').map((t) => t.trim());
  for (const t of tools) {
    if (!(TOOL_NAMES as readonly string[]).includes(t))
      throw new Error(`unknown tool "${t}" (cairn, restic, borg)`);
  }
  const scenarios = new Set<Scenario>();
  for (const s of values.scenarios.split(',').map((x) => x.trim())) {
    if (s === 'standard' || s === 'all') for (const x of STANDARD_SCENARIOS) scenarios.add(x);
    if (s === 'scale' || s === 'all') for (const x of SCALE_SCENARIOS) scenarios.add(x);
    if (
      (STANDARD_SCENARIOS as readonly string[]).includes(s) ||
      (SCALE_SCENARIOS as readonly string[]).includes(s)
    ) {
      scenarios.add(s as Scenario);
    } else if (!['standard', 'scale', 'all'].includes(s)) {
      throw new Error(
        `unknown scenario "${s}" (${[...STANDARD_SCENARIOS, ...SCALE_SCENARIOS].join(', ')}, standard, scale, all)`,
      );
    }
  }
  const changePercent = Number(values['change-percent']);
  if (!(changePercent > 0 && changePercent <= 100)) throw new Error('--change-percent must be in (0, 100]');
  return {
    data: values.data ?? (values.quick ? ['/usr/share/doc'] : ['/usr/share', '/usr/lib']),
    rounds: values.rounds !== undefined ? positiveInt('rounds', values.rounds) : values.quick ? 1 : 3,
    tools: [...new Set(tools as ToolName[])],
    scenarios: [...scenarios],
    quick: values.quick,
    out: values.out,
    work: values.work,
    changePercent,
    smallFiles: positiveInt('small-files', values['small-files']),
    bigFileBytes: parseSize(values['big-file']),
    blobs: positiveInt('blobs', values.blobs),
    stages: values.stages,
  };
}

function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

function human(bytes: number): string {
  const MiB = bytes / 2 ** 20;
  return MiB >= 1024 ? `${(MiB / 1024).toFixed(2)} GiB` : `${MiB.toFixed(1)} MiB`;
}

function describe(r: MeasuredRun): string {
  return `${r.wallS.toFixed(2)} s, CPU ${r.cpuS.toFixed(2)} s, peak RSS ${human(r.maxRssBytes)}`;
}

class Bench {
  readonly samples: Sample[] = [];
  readonly o: Options;
  readonly work: string;
  readonly scratch: string;

  constructor(o: Options, work: string) {
    this.o = o;
    this.work = work;
    this.scratch = path.join(work, 'scratch');
  }

  /** A fresh repository (and state folder: caches, keys) for the tool; removes any earlier one. */
  async freshRepo(
    tool: Tool,
    init: { chunker?: ChunkerSizes } = {},
  ): Promise<{ repo: string; env: NodeJS.ProcessEnv }> {
    const repo = path.join(this.work, 'repos', tool.name);
    const state = path.join(this.work, 'state', tool.name);
    await fs.rm(repo, { recursive: true, force: true });
    await fs.rm(state, { recursive: true, force: true });
    await fs.mkdir(state, { recursive: true });
    await fs.mkdir(path.dirname(repo), { recursive: true });
    const env = tool.env(repo, state);
    await measure(tool.init(repo, env, init), this.scratch, `${tool.name}-init`);
    return { repo, env };
  }

  async dropRepo(tool: Tool): Promise<void> {
    await fs.rm(path.join(this.work, 'repos', tool.name), { recursive: true, force: true });
    await fs.rm(path.join(this.work, 'state', tool.name), { recursive: true, force: true });
  }

  async step(
    tool: Tool,
    scenario: string,
    round: number,
    c: Command,
    after: { repo?: string; parse?: boolean; extra?: Record<string, number> } = {},
  ): Promise<Sample> {
    // Untimed: the dirty pages of what ran before (another tool's restore, a deleted target) are
    // written out first, so no command pays for its predecessor's writeback.
    await runQuiet('sync', []);
    const loadAverage = os.loadavg()[0]!;
    const r = await measure(c, this.scratch, `${tool.name}-${scenario}-${round}`);
    const size = after.repo !== undefined ? await duBytes(after.repo) : undefined;
    const backup = after.parse ? tool.parseBackup(r.stdout) : undefined;
    const sample: Sample = {
      tool: tool.name,
      scenario,
      round,
      wallS: r.wallS,
      cpuS: r.cpuS,
      userS: r.userS,
      sysS: r.sysS,
      maxRssBytes: r.maxRssBytes,
      loadAverage,
      ...(size ? { repoBytes: size.allocated, repoApparentBytes: size.apparent } : {}),
      ...(backup ? { backup } : {}),
      ...(after.extra ? { extra: after.extra } : {}),
    };
    this.samples.push(sample);
    const extra = size ? `, repository ${human(size.allocated)}` : '';
    const load = backup?.bottleneck ? `, bottleneck ${backup.bottleneck} ${JSON.stringify(backup.load)}` : '';
    log(`  ${tool.name.padEnd(6)} ${scenario.padEnd(22)} ${describe(r)}${extra}${load}`);
    return sample;
  }

  /** One round of the standard scenarios for one tool on the copies (paths under work/data). */
  async standardRound(
    tool: Tool,
    round: number,
    copies: readonly string[],
    changed: readonly string[],
  ): Promise<void> {
    const want = (s: Scenario): boolean => this.o.scenarios.includes(s);
    const { repo, env } = await this.freshRepo(tool);
    let changes: Change[] = [];
    let last = `first-r${round}`;
    try {
      await warmCache(copies);
      await this.step(tool, 'first', round, tool.backup(repo, env, copies, last), { repo, parse: true });
      if (want('unchanged')) {
        await warmCache(copies);
        last = `unchanged-r${round}`;
        await this.step(tool, 'unchanged', round, tool.backup(repo, env, copies, last), {
          repo,
          parse: true,
        });
      }
      if (want('changed')) {
        changes = await changeFiles(changed, path.dirname(copies[0]!), path.join(this.work, 'stash'));
        await warmCache(copies);
        last = `changed-r${round}`;
        await this.step(tool, 'changed', round, tool.backup(repo, env, copies, last), { repo, parse: true });
      }
      if (want('restore')) {
        const target = path.join(this.work, 'restore', tool.name);
        await fs.rm(target, { recursive: true, force: true });
        await fs.mkdir(target, { recursive: true });
        const sample = await this.step(tool, 'restore', round, tool.restore(repo, env, target, last));
        const total = { files: 0, dirs: 0, symlinks: 0, bytes: 0, differences: 0 };
        const problems: string[] = [];
        for (const copy of copies) {
          const cmp = await compareTrees(copy, path.join(target, copy));
          total.files += cmp.files;
          total.dirs += cmp.dirs;
          total.symlinks += cmp.symlinks;
          total.bytes += cmp.bytes;
          total.differences += cmp.differenceCount;
          problems.push(...cmp.differences);
        }
        this.samples[this.samples.indexOf(sample)] = { ...sample, verified: total };
        await fs.rm(target, { recursive: true, force: true });
        if (total.differences > 0) {
          throw new Error(
            `${tool.name} restored a tree that differs from its source in ${total.differences} places:\n  ${problems.join('\n  ')}`,
          );
        }
        log(
          `  ${tool.name.padEnd(6)} restore verified: ${total.files} files, ${human(total.bytes)}, equal to the source`,
        );
      }
      if (want('check')) await this.step(tool, 'check', round, tool.checkData(repo, env));
    } finally {
      if (changes.length > 0) await revertChanges(changes);
      await this.dropRepo(tool);
    }
  }

  async indexMemory(env: NodeJS.ProcessEnv): Promise<Record<string, number>> {
    const out = await runQuiet(
      process.execPath,
      ['--expose-gc', path.join(ROOT, 'bench', 'index-memory.ts')],
      { env },
    );
    const r = JSON.parse(out) as Record<string, number>;
    return {
      blobs: r.blobs!,
      indexStructureBytesPerBlob: r.structureBytesPerBlob!,
      indexRssBytesPerBlob: r.rssBytesPerBlob!,
      indexLoadSeconds: r.loadSeconds!,
    };
  }

  async smallFiles(tools: readonly Tool[]): Promise<Record<string, number>> {
    const dir = path.join(this.work, 'scale', 'small');
    log(`generating ${this.o.smallFiles} small files`);
    const { bytes } = await generateSmallFiles(dir, this.o.smallFiles);
    for (const tool of tools) {
      const { repo, env } = await this.freshRepo(tool);
      try {
        await warmCache([dir]);
        await this.step(tool, 'small-files', 1, tool.backup(repo, env, [dir], 'small'), {
          repo,
          parse: true,
        });
        await this.step(tool, 'small-files-unchanged', 1, tool.backup(repo, env, [dir], 'small2'), {
          repo,
          parse: true,
        });
        const extra = tool.name === 'cairn' ? await this.indexMemory(env) : undefined;
        await this.step(tool, 'small-files-check', 1, tool.checkStructure(repo, env), extra ? { extra } : {});
      } finally {
        await this.dropRepo(tool);
      }
    }
    await fs.rm(dir, { recursive: true, force: true });
    return { files: this.o.smallFiles, bytes };
  }

  async bigFile(tools: readonly Tool[]): Promise<Record<string, number>> {
    const dir = path.join(this.work, 'scale', 'big');
    await fs.mkdir(dir, { recursive: true });
    log(`generating one file of ${human(this.o.bigFileBytes)}`);
    await generateBigFile(path.join(dir, 'big.bin'), this.o.bigFileBytes);
    for (const tool of tools) {
      const { repo, env } = await this.freshRepo(tool);
      try {
        await warmCache([dir]);
        await this.step(tool, 'big-file', 1, tool.backup(repo, env, [dir], 'big'), { repo, parse: true });
      } finally {
        await this.dropRepo(tool);
      }
    }
    await fs.rm(dir, { recursive: true, force: true });
    return { bytes: this.o.bigFileBytes };
  }

  /**
   * Cairn only (restic and Borg cannot be given chunk sizes this small): a repository with
   * `blobs` data blobs, from random data in files of 1 MiB cut into chunks of 256–2048 bytes.
   */
  async manyBlobs(): Promise<Record<string, number>> {
    const tool = TOOLS.cairn;
    const chunker = { min: 256, avg: 512, max: 2048 };
    // the mean chunk length of these parameters, measured with the project's chunker on random data
    const sample = randomBytes(4 * 2 ** 20);
    const params = { minSize: chunker.min, avgSize: chunker.avg, maxSize: chunker.max };
    const mean =
      sample.length / chunkBuffer(sample, new FastCdcChunker(params, gearTable(randomBytes(32)))).length;
    const size = Math.round(this.o.blobs * mean);
    const dir = path.join(this.work, 'scale', 'blobs');
    await fs.mkdir(dir, { recursive: true });
    log(`generating ${human(size)} of random data for about ${this.o.blobs} blobs`);
    // files of 1 MiB (about 1700 blobs each): the index grows, no single file's list of chunks does
    const { files } = await generateRandomFiles(dir, size, 2 ** 20);
    const { repo, env } = await this.freshRepo(tool, { chunker });
    try {
      await warmCache([dir]);
      await this.step(tool, 'many-blobs', 1, tool.backup(repo, env, [dir], 'blobs'), { repo, parse: true });
      const extra = await this.indexMemory(env);
      log(
        `  cairn  index: ${extra.blobs} blobs, ${extra.indexStructureBytesPerBlob!.toFixed(1)} bytes per blob in the structure, ` +
          `${extra.indexRssBytesPerBlob!.toFixed(1)} of RSS, loaded in ${extra.indexLoadSeconds!.toFixed(2)} s`,
      );
      await this.step(tool, 'many-blobs-check', 1, tool.checkStructure(repo, env), { extra });
    } finally {
      await this.dropRepo(tool);
      await fs.rm(dir, { recursive: true, force: true });
    }
    return { bytes: size, files, chunkMin: chunker.min, chunkAvg: chunker.avg, chunkMax: chunker.max };
  }
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

export async function main(argv: readonly string[]): Promise<number> {
  const parsed = parseOptions(argv);
  if (parsed === 'help') {
    console.log(HELP);
    return 0;
  }
  const o = parsed;
  for (const d of o.data) {
    if (!existsSync(d)) throw new Error(`--data ${d}: no such folder`);
  }
  await ensurePrograms(o.tools, log);
  const work = o.work ?? (await fs.mkdtemp(path.join(os.tmpdir(), 'cairn-bench-')));
  await fs.mkdir(work, { recursive: true });
  const machine = await describeMachine(work);
  const versions: Record<string, string> = {};
  for (const t of o.tools) versions[t] = await TOOLS[t].version();
  if (o.tools.includes('cairn')) versions['cairn-zstd'] = zstdImplementation;
  versions.node = process.version;
  log(
    `machine: ${machine.cpuModel}, ${machine.cores} cores, ${human(machine.memoryBytes)}, ${machine.kernel}, ${machine.workFs}`,
  );
  log(
    `versions: ${Object.entries(versions)
      .map(([k, v]) => `${k} ${v.split('\n')[0]}`)
      .join('; ')}`,
  );

  const bench = new Bench(o, work);
  const started = new Date();
  const loadAtStart = os.loadavg();
  const dataset: Record<string, unknown> = { sources: o.data };
  const scale: Record<string, Record<string, number>> = {};
  let stages: StageResult[] | undefined;
  const errors: string[] = [];
  try {
    const standard = o.scenarios.some((s) => (STANDARD_SCENARIOS as readonly string[]).includes(s));
    if (standard) {
      log(`copying ${o.data.join(', ')}`);
      const copies = await copyDataset(o.data, path.join(work, 'data'));
      const files = await listFiles(copies);
      let bytes = 0;
      for (const f of files) bytes += (await fs.stat(f)).size;
      const changed = chooseFiles(files, path.join(work, 'data'), o.changePercent);
      Object.assign(dataset, {
        files: files.length,
        bytes,
        changedFiles: changed.length,
        changePercent: o.changePercent,
      });
      log(
        `dataset: ${files.length} files, ${human(bytes)}; the changed scenario modifies ${changed.length} of them`,
      );
      for (let round = 1; round <= o.rounds; round++) {
        const order = o.tools.map((_, i) => o.tools[(i + round - 1) % o.tools.length]!);
        log(`round ${round}/${o.rounds}: ${order.join(', ')}`);
        for (const t of order) await bench.standardRound(TOOLS[t], round, copies, changed);
      }
      await fs.rm(path.join(work, 'data'), { recursive: true, force: true });
    }
    const tools = o.tools.map((t) => TOOLS[t]);
    // a failing scale scenario is reported, and the others and the results still come
    const attempt = async (name: string, fn: () => Promise<Record<string, number>>): Promise<void> => {
      try {
        scale[name] = await fn();
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        errors.push(`${name}: ${message}`);
        log(`${name} failed: ${message}`);
      }
    };
    if (o.scenarios.includes('small-files')) await attempt('small-files', () => bench.smallFiles(tools));
    if (o.scenarios.includes('big-file')) await attempt('big-file', () => bench.bigFile(tools));
    if (o.scenarios.includes('many-blobs') && o.tools.includes('cairn')) {
      await attempt('many-blobs', () => bench.manyBlobs());
    }
    if (o.stages) {
      log('stage micro-benchmarks');
      stages = await runStages({
        data: ['/usr/lib'],
        corpusBytes: 128 * 2 ** 20,
        diskDir: work,
        minSeconds: 1,
      });
    }
  } finally {
    if (o.work === undefined) await fs.rm(work, { recursive: true, force: true });
    else {
      for (const made of ['data', 'repos', 'state', 'scratch', 'restore', 'stash', 'scale']) {
        await fs.rm(path.join(work, made), { recursive: true, force: true });
      }
    }
  }

  const ms = medians(bench.samples);
  const order = [
    ...STANDARD_SCENARIOS,
    'small-files',
    'small-files-unchanged',
    'small-files-check',
    'big-file',
    'many-blobs',
    'many-blobs-check',
  ].filter((s) => ms.some((m) => m.scenario === s));
  const table = tables(ms, order, o.tools);
  const ts = o.tools.includes('cairn') && o.tools.includes('restic') ? targets(ms) : [];
  console.log(`\n${table}`);
  if (ts.some((t) => t.ratio !== undefined))
    console.log(`Targets of issue 4 (Cairn/restic in this run):\n${targetLines(ts)}\n`);
  if (stages) {
    console.log(stageTable(stages));
    console.log(
      `\nCPU stages in series on ${machine.cores} cores: at most ${cpuBound(stages, machine.cores).toFixed(0)} MB/s\n`,
    );
  }
  const result = {
    started: started.toISOString(),
    finished: new Date().toISOString(),
    machine,
    loadAverage: { start: loadAtStart, end: os.loadavg() },
    versions,
    settings: Object.fromEntries(o.tools.map((t) => [t, TOOL_SETTINGS[t]])),
    options: {
      rounds: o.rounds,
      tools: o.tools,
      scenarios: o.scenarios,
      quick: o.quick,
      changePercent: o.changePercent,
      ...(o.scenarios.includes('small-files') ? { smallFiles: o.smallFiles } : {}),
      ...(o.scenarios.includes('big-file') ? { bigFileBytes: o.bigFileBytes } : {}),
      ...(o.scenarios.includes('many-blobs') ? { blobs: o.blobs } : {}),
    },
    dataset,
    scale,
    scenarios: Object.fromEntries(order.map((s) => [s, SCENARIO_TITLES[s] ?? s])),
    medians: ms,
    targets: ts,
    ...(stages ? { stages, stagesCpuBoundMBps: cpuBound(stages, machine.cores) } : {}),
    samples: bench.samples,
    ...(errors.length > 0 ? { errors } : {}),
  };
  const out =
    o.out ?? path.join(ROOT, 'bench', 'results', `${today()}-${machine.host}${o.quick ? '-quick' : ''}.json`);
  await writeJson(out, result);
  const rel = path.relative(process.cwd(), out);
  log(`results: ${rel.startsWith('..') ? out : rel}`);
  return errors.length > 0 ? 1 : 0;
}

if (import.meta.main) {
  try {
    process.exitCode = await main(process.argv.slice(2));
  } catch (err) {
    log(`bench: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  }
}
