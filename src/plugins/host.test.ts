import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { CairnError } from '../errors.ts';
import { initRepo, KiB, tempDir } from '../repo/fixtures.testing.ts';
import type { BackupLevel, Repository, SnapshotInfo } from '../repo/index.ts';
import { PLUGIN_API_VERSION, type BackupContext, type CommandPlugin, type PriorRun } from './api.ts';
import { bpipe } from './bpipe.ts';
import { backupWithPlugins, prepareBackup, resolveUse, restoreWithPlugins, type PluginUse } from './host.ts';
import { maxsize } from './maxsize.ts';
import { PluginRegistry } from './registry.ts';

interface Setup {
  readonly dir: string;
  readonly repo: Repository;
  readonly registry: PluginRegistry;
}

async function setup(t: TestContext, extra: CommandPlugin[] = []): Promise<Setup> {
  const dir = await tempDir(t, 'cairn-plugins-');
  const repo = await initRepo(path.join(dir, 'repo'));
  await repo.loadIndex();
  const registry = await PluginRegistry.open({ builtins: [bpipe, maxsize, ...extra] });
  t.after(async () => {
    await registry.close();
    await repo.close();
  });
  return { dir, repo, registry };
}

/** Backs up paths and directives as the CLI does; resolves to the snapshot. */
async function run(
  s: Setup,
  sources: { paths?: string[]; commands?: string[]; optionPlugins?: string[]; level?: BackupLevel },
): Promise<SnapshotInfo> {
  const commands: PluginUse[] = [];
  for (const d of sources.commands ?? []) commands.push(await resolveUse(s.registry, d, 'command'));
  const optionUses: PluginUse[] = [];
  for (const d of sources.optionPlugins ?? []) optionUses.push(await resolveUse(s.registry, d, 'option'));
  const request = {
    paths: (sources.paths ?? []).map((p) => path.resolve(p)),
    commands,
    optionUses,
    ...(sources.level ? { level: sources.level } : {}),
    host: 'test-host',
  };
  const { snapshots } = await s.repo.listSnapshots();
  const result = await backupWithPlugins(s.repo, request, prepareBackup(snapshots, request));
  return { ...result.snapshot, id: result.id };
}

async function snapshotCount(repo: Repository): Promise<number> {
  return (await repo.listSnapshots()).snapshots.length;
}

function failsWith(code: CairnError['code'], pattern: RegExp) {
  return (err: unknown) => {
    assert.ok(err instanceof CairnError, String(err));
    assert.equal(err.code, code, err.message);
    assert.match(err.message, pattern);
    return true;
  };
}

describe('bpipe', () => {
  it("stores a reader's output under its pseudo path and feeds it to the writer at restore", async (t) => {
    const s = await setup(t);
    const files = path.join(s.dir, 'files');
    await fs.mkdir(files);
    await fs.writeFile(path.join(files, 'a.txt'), 'plain file\n');
    const snap = await run(s, {
      paths: [files],
      commands: [
        // A program run directly, and a shell the user chose to run.
        'bpipe:file=/dumps/numbers.txt:reader=seq 1 100000:writer=sh -c "cat > restored-numbers.txt"',
        `bpipe:file=/dumps/shell.txt:reader=sh -c 'seq 1 100000 | tail -n 3'`,
      ],
    });
    assert.deepEqual(snap.paths, ['/dumps/numbers.txt', '/dumps/shell.txt', files].sort());
    assert.deepEqual(
      snap.plugins?.map((p) => [p.name, p.kind, p.level, p.paths, p.apiVersion]),
      [
        ['bpipe', 'command', 'full', ['/dumps/numbers.txt'], PLUGIN_API_VERSION],
        ['bpipe', 'command', 'full', ['/dumps/shell.txt'], PLUGIN_API_VERSION],
      ],
    );
    assert.equal(
      snap.plugins?.[0]?.directive,
      'bpipe:file=/dumps/numbers.txt:reader=seq 1 100000:writer=sh -c "cat > restored-numbers.txt"',
    );

    const target = path.join(s.dir, 'target');
    const sum = await restoreWithPlugins(s.repo, snap, target, { registry: s.registry });
    const expected = Array.from({ length: 100000 }, (_, i) => `${i + 1}\n`).join('');
    assert.equal(await fs.readFile(path.join(target, 'restored-numbers.txt'), 'utf8'), expected);
    // Without a writer the entry comes back as a plain file; the walked file as always.
    assert.equal(
      await fs.readFile(path.join(target, 'dumps', 'shell.txt'), 'utf8'),
      '99998\n99999\n100000\n',
    );
    assert.equal(await fs.readFile(path.join(target, files, 'a.txt'), 'utf8'), 'plain file\n');
    await assert.rejects(fs.stat(path.join(target, 'dumps', 'numbers.txt')));
    assert.deepEqual(
      sum.plugins.map((p) => [p.entries, p.restored, p.core]),
      [
        [1, 1, 0],
        [1, 0, 1],
      ],
    );

    // As plain files, no writer runs; an override's writer replaces the stored one.
    const plain = path.join(s.dir, 'plain');
    await restoreWithPlugins(s.repo, snap, plain, { registry: s.registry, asFiles: true });
    assert.equal(await fs.readFile(path.join(plain, 'dumps', 'numbers.txt'), 'utf8'), expected);
    await assert.rejects(fs.stat(path.join(plain, 'restored-numbers.txt')));
    const over = path.join(s.dir, 'override');
    await restoreWithPlugins(s.repo, snap, over, {
      registry: s.registry,
      overrides: ["bpipe:file=dumps/shell.txt:writer=sh -c 'wc -l > count.txt'"],
    });
    assert.equal((await fs.readFile(path.join(over, 'count.txt'), 'utf8')).trim(), '3');
    assert.ok((await fs.stat(path.join(over, 'restored-numbers.txt'))).isFile());
    await assert.rejects(
      restoreWithPlugins(s.repo, snap, over, {
        registry: s.registry,
        overrides: ['bpipe:file=/other:writer=cat'],
      }),
      failsWith('PLUGIN_DIRECTIVE_INVALID', /applies to no plugin use/),
    );
    await assert.rejects(
      restoreWithPlugins(s.repo, snap, over, { registry: s.registry, overrides: ['bpipe:wrtier=cat'] }),
      failsWith('PLUGIN_DIRECTIVE_INVALID', /unknown option "wrtier" at column 7/),
    );
  });

  it('fails the backup, writing no snapshot, when the reader fails, and says how with its stderr', async (t) => {
    const s = await setup(t);
    const before = await snapshotCount(s.repo);
    await assert.rejects(
      run(s, {
        commands: [
          `bpipe:file=/db.sql:reader=sh -c 'echo partial; echo "pg_dump\\: error\\: connection to server failed" >&2; exit 2'`,
        ],
      }),
      failsWith(
        'PLUGIN_FAILED',
        /Cannot back up \/db.sql: the bpipe reader "sh -c .*" exited with code 2; its standard error ends with:\npg_dump: error: connection to server failed/,
      ),
    );
    await assert.rejects(
      run(s, { commands: [`bpipe:file=/db.sql:reader=sh -c 'kill -9 $$'`] }),
      failsWith('PLUGIN_FAILED', /was killed by SIGKILL/),
    );
    await assert.rejects(
      run(s, { commands: ['bpipe:file=/db.sql:reader=cairn-no-such-program --dump'] }),
      failsWith('PLUGIN_FAILED', /"cairn-no-such-program --dump" cannot be started: no such program/),
    );
    assert.equal(await snapshotCount(s.repo), before);
  });

  it('stops the reader when the backup is cancelled', async (t) => {
    const s = await setup(t);
    const use = await resolveUse(
      s.registry,
      `bpipe:file=/slow:reader=sh -c 'seq 1 10; exec sleep 60'`,
      'command',
    );
    const request = { paths: [], commands: [use] };
    const controller = new AbortController();
    const started = Date.now();
    setTimeout(() => controller.abort(new CairnError('INTERRUPTED', 'Interrupted by the test')), 300);
    await assert.rejects(
      backupWithPlugins(s.repo, request, prepareBackup([], request), { signal: controller.signal }),
      failsWith('INTERRUPTED', /cancelled: no snapshot was written/),
    );
    assert.ok(Date.now() - started < 10_000);
    assert.equal(await snapshotCount(s.repo), 0);
  });

  it('fails the restore when the writer fails', async (t) => {
    const s = await setup(t);
    const snap = await run(s, {
      commands: [`bpipe:file=/x:reader=seq 1 10:writer=sh -c 'cat >/dev/null; echo no room >&2; exit 5'`],
    });
    await assert.rejects(
      restoreWithPlugins(s.repo, snap, path.join(s.dir, 't'), { registry: s.registry }),
      failsWith(
        'PLUGIN_FAILED',
        /Cannot restore \/x: the bpipe writer .* exited with code 5; its standard error ends with:\nno room/,
      ),
    );
  });

  it('refuses directives that do not fit, before anything runs', async (t) => {
    const s = await setup(t);
    await assert.rejects(
      resolveUse(s.registry, 'bpipe:file=/x', 'command'),
      failsWith('PLUGIN_DIRECTIVE_INVALID', /option reader is missing/),
    );
    await assert.rejects(
      resolveUse(s.registry, `bpipe:file=/x:reader=sh -c 'echo`, 'command'),
      failsWith('PLUGIN_DIRECTIVE_INVALID', /option reader, column 28: a single quote is not closed/),
    );
    await assert.rejects(
      resolveUse(s.registry, 'bpipe:file=/:reader=true', 'command'),
      failsWith('PLUGIN_DIRECTIVE_INVALID', /expected a pseudo path below \//),
    );
    await assert.rejects(
      resolveUse(s.registry, 'nope:a=b', 'command'),
      failsWith('PLUGIN_NOT_FOUND', /bpipe, maxsize/),
    );
    await assert.rejects(
      resolveUse(s.registry, 'maxsize:size=1M', 'command'),
      failsWith('PLUGIN_INCOMPATIBLE', /option plugin \(give it with --option-plugin\)/),
    );
  });

  it('refuses an entry inside a walked path or on another entry', async (t) => {
    const s = await setup(t);
    const files = path.join(s.dir, 'files');
    await fs.mkdir(files);
    await assert.rejects(
      run(s, { paths: [files], commands: [`bpipe:file=${files}/x:reader=true`] }),
      failsWith('USAGE', /would lie inside the backed-up path/),
    );
    await assert.rejects(
      run(s, { commands: ['bpipe:file=/a:reader=true', 'bpipe:file=/a/b:reader=true'] }),
      failsWith('USAGE', /would lie inside the entry \/a/),
    );
  });
});

describe('plugin state and levels', () => {
  it('hands each run the state of the run it builds on, and upgrades to full without a full', async (t) => {
    const seen: { level: BackupLevel; previous?: PriorRun; since?: PriorRun; full?: PriorRun }[] = [];
    const counter: CommandPlugin = {
      name: 'counter',
      kind: 'command',
      apiVersion: PLUGIN_API_VERSION,
      version: '1',
      description: 'counts its runs',
      options: { key: { type: 'string', required: true, description: 'k' } },
      async *backup(ctx: BackupContext) {
        seen.push({
          level: ctx.level,
          ...(ctx.previous ? { previous: ctx.previous } : {}),
          ...(ctx.since ? { since: ctx.since } : {}),
          ...(ctx.previousFull ? { full: ctx.previousFull } : {}),
        });
        const runs = ((ctx.previous?.state as { runs?: number } | undefined)?.runs ?? 0) + 1;
        ctx.setState({ runs, lsn: `0/${runs}` });
        yield { path: `/counter/run-${runs}`, type: 'file', data: [Buffer.from(String(runs))] };
      },
      restore: () => Promise.reject(new Error('not used')),
    };
    const s = await setup(t, [counter]);
    const a = await run(s, { commands: ['counter:key=a'] });
    const b = await run(s, { commands: ['counter:key=a'], level: 'incremental' });
    const c = await run(s, { commands: ['counter:key=a'], level: 'differential' });
    const d = await run(s, { commands: ['counter:key=a'], level: 'full' });
    const other = await run(s, { commands: ['counter:key=b'], level: 'incremental' });
    assert.deepEqual(
      seen.map((x) => [x.level, x.previous?.snapshot, x.since?.snapshot, x.full?.snapshot]),
      [
        ['full', undefined, undefined, undefined],
        ['incremental', a.id, a.id, a.id],
        ['differential', b.id, a.id, a.id],
        ['full', c.id, undefined, a.id],
        ['full', undefined, undefined, undefined],
      ],
    );
    assert.deepEqual(seen[2]?.previous?.state, { runs: 2, lsn: '0/2' });
    assert.deepEqual(d.plugins?.[0]?.state, { runs: 4, lsn: '0/4' });
    assert.deepEqual(other.plugins?.[0]?.state, { runs: 1, lsn: '0/1' });
    assert.equal(c.plugins?.[0]?.level, 'differential');
  });
});

describe('option plugins', () => {
  it('maxsize leaves out files over its size and records how many', async (t) => {
    const s = await setup(t);
    const files = path.join(s.dir, 'files');
    await fs.mkdir(path.join(files, 'sub'), { recursive: true });
    await fs.writeFile(path.join(files, 'small'), 'x'.repeat(100));
    await fs.writeFile(path.join(files, 'sub', 'big'), 'y'.repeat(200 * KiB));
    const logs: string[] = [];
    const commands: PluginUse[] = [];
    const optionUses = [await resolveUse(s.registry, 'maxsize:size=1K:warn=yes', 'option')];
    const request = {
      paths: [files],
      commands,
      optionUses,
      onLog: (p: string, level: string, m: string) => logs.push(`${p} ${level} ${m}`),
    };
    const result = await backupWithPlugins(s.repo, request, prepareBackup([], request));
    const snap = { ...result.snapshot, id: result.id };
    assert.deepEqual(snap.plugins?.[0]?.state, { skipped: 1, bytes: 200 * KiB });
    assert.equal(snap.plugins?.[0]?.kind, 'option');
    assert.ok(
      logs.some((l) => /maxsize warning .*sub\/big: left out/.test(l)),
      logs.join('\n'),
    );
    const target = path.join(s.dir, 't');
    await restoreWithPlugins(s.repo, snap, target, { registry: s.registry });
    assert.ok((await fs.stat(path.join(target, files, 'small'))).isFile());
    await assert.rejects(fs.stat(path.join(target, files, 'sub', 'big')));
  });
});

describe('the plugin directory', () => {
  it('loads JavaScript modules and leaves other files alone; refuses clashes', async (t) => {
    const dir = await tempDir(t, 'cairn-plugin-dir-');
    await fs.writeFile(
      path.join(dir, 'hello.mjs'),
      `export default {
        name: 'hello', kind: 'command', apiVersion: 1, version: '1', description: 'says hello', options: {},
        async *backup() { yield { path: '/hello.txt', type: 'file', data: [Buffer.from('hello')] }; },
        async restore() { return { async entry() { return 'core'; }, async end() {} }; },
      };\n`,
    );
    await fs.writeFile(path.join(dir, 'README.md'), 'not a plugin');
    await fs.writeFile(path.join(dir, 'helper.py'), 'not executable');
    const registry = await PluginRegistry.open({ pluginDir: dir });
    t.after(() => registry.close());
    assert.deepEqual(
      registry.list().map((p) => `${p.name}:${p.source}`),
      ['bpipe:built-in', 'maxsize:built-in', 'postgresql:built-in', 'hello:module'],
    );
    const hello = await registry.get('hello');
    assert.equal(hello.description, 'says hello');

    const s = await setup(t);
    const use = await resolveUse(registry, 'hello', 'command');
    const request = { paths: [], commands: [use] };
    const result = await backupWithPlugins(s.repo, request, prepareBackup([], request));
    assert.deepEqual(result.snapshot.paths, ['/hello.txt']);

    await assert.rejects(
      PluginRegistry.open({ pluginDir: dir, pluginNames: ['nothere'] }),
      failsWith('PLUGIN_NOT_FOUND', /has no executable or module of that name/),
    );
    await fs.writeFile(path.join(dir, 'bpipe.mjs'), 'export default {};');
    await assert.rejects(
      PluginRegistry.open({ pluginDir: dir }),
      failsWith('PLUGIN_INCOMPATIBLE', /is a built-in plugin/),
    );
    const only = await PluginRegistry.open({ pluginDir: dir, pluginNames: ['hello'] });
    assert.deepEqual(
      only.list().map((p) => p.name),
      ['bpipe', 'maxsize', 'postgresql', 'hello'],
    );
  });
});
