// Scripts run around a backup, and plugins in jobs: real programs (sh, true, false, cat), no mocks.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isCairnError } from '../errors.ts';
import { checkConfigPlugins, parseConfig } from './config.ts';
import { checkJobPlugins, sourcesOf, usesPlugins } from './plugins.ts';
import {
  commandWords,
  runProgram,
  runScripts,
  scriptEnv,
  type Script,
  type ScriptIO,
} from '../plugins/index.ts';
import { checkSpec, scriptsOf, type JobSpec } from './spec.ts';

const env = scriptEnv();

function script(argv: string[], onError: Script['onError'] = 'fail', timeoutSeconds = 30): Script {
  return { label: 'test', argv, onError, timeoutSeconds };
}

/** A ScriptIO that keeps what it is told. */
function recorder(): ScriptIO & { lines: string[]; warnings: string[] } {
  const lines: string[] = [];
  const warnings: string[] = [];
  return {
    lines,
    warnings,
    line: (s, stream, text) => lines.push(`${s.label} ${stream}: ${text}`),
    warn: (m) => warnings.push(m),
  };
}

describe('runProgram', () => {
  it('runs without a shell and passes output on line by line', async () => {
    const lines: string[] = [];
    const end = await runProgram(
      ['sh', '-c', 'echo one; echo two >&2; printf "three"; echo "$1"', 'sh', '$HOME'],
      {
        env,
        timeoutMs: 10_000,
        onLine: (stream, line) => lines.push(`${stream}: ${line}`),
      },
    );
    assert.equal(end.ok, true);
    assert.equal(end.how, 'exited with code 0');
    // The argument "$HOME" reached the program as it was: nothing expanded it.
    assert.deepEqual(lines.sort(), ['stderr: two', 'stdout: one', 'stdout: three$HOME'].sort());
  });

  it('tells how a program ended: exit code with its stderr, signal, missing, time limit', async () => {
    const failed = await runProgram(['sh', '-c', 'echo "pg_dump: connection refused" >&2; exit 2'], {
      env,
      timeoutMs: 10_000,
    });
    assert.deepEqual(
      [failed.ok, failed.how, failed.stderrTail],
      [false, 'exited with code 2', 'pg_dump: connection refused'],
    );
    const killed = await runProgram(['sh', '-c', 'kill -KILL $$'], { env, timeoutMs: 10_000 });
    assert.equal(killed.how, 'was killed by SIGKILL');
    const missing = await runProgram(['cairn-no-such-program'], { env, timeoutMs: 10_000 });
    assert.equal(missing.how, 'cannot be started: no such program');
    const t0 = Date.now();
    const slow = await runProgram(['sleep', '30'], { env, timeoutMs: 300 });
    assert.deepEqual(
      [slow.ok, slow.timedOut, slow.how],
      [false, true, 'was stopped after its time limit of 0.3 s'],
    );
    assert.ok(Date.now() - t0 < 5000, 'stopped at once');
  });

  it('does not wait for a child the program left running with its pipes', async () => {
    const t0 = Date.now();
    const end = await runProgram(['sh', '-c', 'sleep 20 & echo started'], {
      env,
      timeoutMs: 30_000,
      onLine: () => {},
    });
    assert.equal(end.ok, true);
    assert.ok(Date.now() - t0 < 10_000, `took ${Date.now() - t0} ms`);
  });
});

describe('scriptEnv', () => {
  it("leaves out every CAIRN_* variable (the repository password) and adds the caller's", () => {
    process.env.CAIRN_PASSWORD = 'secret';
    process.env.CAIRN_KEK_FILE = '/k';
    try {
      const e = scriptEnv({ CAIRN_LEVEL: 'full' });
      assert.equal(e.CAIRN_PASSWORD, undefined);
      assert.equal(e.CAIRN_KEK_FILE, undefined);
      assert.equal(e.CAIRN_LEVEL, 'full');
      assert.equal(e.PATH, process.env.PATH);
    } finally {
      delete process.env.CAIRN_PASSWORD;
      delete process.env.CAIRN_KEK_FILE;
    }
  });
});

describe('runScripts', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'cairn-scripts-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('before: a failure fails at once with the stderr tail, and the later scripts do not run', async () => {
    const io = recorder();
    const marker = path.join(dir, 'not-run');
    await assert.rejects(
      runScripts(
        'before',
        [
          script(['true']),
          script(['sh', '-c', 'echo "cannot stop app: busy" >&2; exit 4']),
          script(['touch', marker]),
        ],
        {},
        io,
      ),
      (err: unknown) => {
        assert.ok(isCairnError(err, 'RUN_SCRIPT_FAILED'), String(err));
        assert.match(
          err.message,
          /^Cannot back up: test "sh -c 'echo .*'" exited with code 4; its standard error ends with:\ncannot stop app: busy$/,
        );
        return true;
      },
    );
    assert.throws(() => readFileSync(marker), /ENOENT/);
    assert.deepEqual(io.lines, ['test stderr: cannot stop app: busy']);
  });

  it('warn: a failure is a warning, counted, and the next scripts run', async () => {
    const io = recorder();
    const n = await runScripts(
      'before',
      [
        script(['false'], 'warn'),
        script(['cairn-no-such-program'], 'warn'),
        script(['sh', '-c', 'echo fine']),
      ],
      {},
      io,
    );
    assert.equal(n, 2);
    assert.match(
      io.warnings[0] ?? '',
      /^test "false" exited with code 1, the backup goes on \(on error: warn\)$/,
    );
    assert.match(io.warnings[1] ?? '', /cannot be started: no such program/);
    assert.deepEqual(io.lines, ['test stdout: fine']);
  });

  it('after: every script runs with the variables given, then the first failure is thrown', async () => {
    const io = recorder();
    const out = path.join(dir, 'env');
    await assert.rejects(
      runScripts(
        'after',
        [script(['false']), script(['sh', '-c', `env | grep ^CAIRN_ | sort > ${out}`])],
        { CAIRN_RESULT: 'success', CAIRN_SNAPSHOT: 'abc' },
        io,
      ),
      (err: unknown) =>
        isCairnError(err, 'RUN_SCRIPT_FAILED') && /^After the backup, test "false"/.test(err.message),
    );
    assert.equal(readFileSync(out, 'utf8'), 'CAIRN_RESULT=success\nCAIRN_SNAPSHOT=abc\n');
  });

  it('a cancel stops the script and ends as interrupted', async () => {
    const abort = new AbortController();
    setTimeout(() => abort.abort(), 200);
    await assert.rejects(
      runScripts('before', [script(['sleep', '30'])], {}, recorder(), abort.signal),
      (err: unknown) => isCairnError(err, 'INTERRUPTED'),
    );
  });
});

describe('scripts and plugins in a job', () => {
  const job = (extra: Partial<JobSpec>): JobSpec => ({ sources: ['/etc'], ...extra });

  it('splits commands as a shell would, with defaults by phase, and names a bad one with its column', () => {
    assert.deepEqual(commandWords(`pg_dump -f '/var/dump/a b.sql' db`), [
      'pg_dump',
      '-f',
      '/var/dump/a b.sql',
      'db',
    ]);
    assert.deepEqual(commandWords(['a b', 'c']), ['a b', 'c']);
    const spec = job({
      runBefore: [{ command: 'systemctl stop app' }],
      runAfter: [{ command: ['systemctl', 'start', 'app'], onError: 'fail', timeoutSeconds: 60 }],
    });
    assert.deepEqual(scriptsOf(spec, 'before'), [
      { label: 'runBefore[0]', argv: ['systemctl', 'stop', 'app'], onError: 'fail', timeoutSeconds: 3600 },
    ]);
    assert.deepEqual(scriptsOf(spec, 'after'), [
      { label: 'runAfter[0]', argv: ['systemctl', 'start', 'app'], onError: 'fail', timeoutSeconds: 60 },
    ]);
    assert.equal(scriptsOf(job({ runAfter: [{ command: 'true' }] }), 'after')[0]?.onError, 'warn');
    assert.throws(
      () => checkSpec(job({ runBefore: [{ command: 'true' }, { command: `sh -c 'echo` }] })),
      /^CairnError: runBefore\[1\]\.command: a single quote is not closed \(column 7\)/,
    );
  });

  it('takes directives among the sources and checks them against the plugin schemas, naming the field', async () => {
    const spec = job({ sources: ['/etc', 'bpipe:file=/db.sql:reader=pg_dump db'] });
    checkSpec(spec);
    assert.deepEqual(sourcesOf(spec), {
      paths: ['/etc'],
      directives: ['bpipe:file=/db.sql:reader=pg_dump db'],
    });
    assert.equal(usesPlugins(spec), true);
    assert.equal(usesPlugins(job({})), false);
    assert.equal(usesPlugins(job({ optionPlugins: ['maxsize:size=1G'] })), true);
    await checkJobPlugins(spec, undefined);
    const problem = async (s: JobSpec) => {
      try {
        await checkJobPlugins(s, undefined);
      } catch (err) {
        assert.ok(isCairnError(err, 'USAGE'), String(err));
        return err.message;
      }
      assert.fail('accepted');
    };
    assert.equal(
      await problem(job({ sources: ['/etc', 'bpipe:file=/x:raeder=cat'] })),
      'sources[1]: unknown option "raeder" at column 15; bpipe takes file, reader, writer',
    );
    assert.match(
      await problem(job({ sources: ['nosuch:a=b'] })),
      /^sources\[0\]: Cannot find a plugin named nosuch/,
    );
    assert.match(
      await problem(job({ optionPlugins: ['maxsize:size=lots'] })),
      /^optionPlugins\[0\]: option size at column 14: expected a size/,
    );
    assert.match(
      await problem(job({ sources: ['maxsize:size=1G'] })),
      /^sources\[0\]: Cannot use maxsize as a backup source: it is an option plugin \(give it in optionPlugins\)/,
    );
    assert.throws(() => checkSpec(job({ sources: ['etc'] })), /sources\[0\]: "etc" is not an absolute path/);
  });

  it('reports a bad directive of the configuration file with its line and column', async () => {
    const config = parseConfig(
      `repositories:
  - { name: main, location: /srv/repo }
pluginNames: []
jobs:
  - name: db
    repository: main
    sources:
      - /etc
      - "bpipe:file=/x:raeder=cat"
    runBefore:
      - { command: "systemctl stop app", onError: warn, timeoutSeconds: 60 }
`,
      'cairn.yaml',
    );
    await assert.rejects(checkConfigPlugins(config, {}), (err: unknown) => {
      assert.ok(isCairnError(err, 'CONFIG_INVALID'), String(err));
      assert.equal(
        err.message,
        'cairn.yaml:9:9: jobs[0].sources[1] unknown option "raeder" at column 15; bpipe takes file, reader, writer',
      );
      return true;
    });
  });
});
