// --run-before and --run-after (Bareos' client RunScript) through the built CLI: a failing
// --run-before fails the backup before anything is read (exit 45, its stderr in the message, no
// snapshot), or only warns by policy; --run-after sees the result, the snapshot and the level but
// never the password, and its failure is a warning or, by policy, a failure that keeps the
// snapshot; time limits, and the checks of the flags.
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cairn, jsonLines, message, removeTemp, show } from './cli.testing.ts';
import { tempRepo } from './repo.testing.ts';

const PASSWORD = 'run-scripts-e2e-password';

describe('--run-before and --run-after', () => {
  let dir: string;
  let env: Record<string, string>;
  let files: string;

  before(async () => {
    ({ dir, env } = await tempRepo(PASSWORD));
    files = path.join(dir, 'files');
    await fs.mkdir(files, { recursive: true });
    await fs.writeFile(path.join(files, 'a.txt'), 'alpha\n');
  });

  after(() => removeTemp(dir));

  async function snapshotIds(): Promise<string[]> {
    const r = await cairn(['snapshots', '--json'], { env });
    assert.equal(r.code, 0, show(r));
    return (JSON.parse(r.stdout) as { id: string }[]).map((s) => s.id);
  }

  it('a failing --run-before fails the backup with its stderr, writes no snapshot, and --run-after still runs', async () => {
    const before = await snapshotIds();
    const seen = path.join(dir, 'failed.txt');
    const r = await cairn(
      [
        'backup',
        files,
        '--run-before',
        `sh -c 'echo "cannot stop the app: it is busy" >&2; exit 3'`,
        '--run-after',
        `sh -c 'echo "$CAIRN_RESULT $CAIRN_MESSAGE" > ${seen}'`,
      ],
      { env },
    );
    assert.equal(r.code, 45, show(r));
    assert.match(
      r.stderr,
      /Cannot back up: --run-before "sh -c .*" exited with code 3; its standard error ends with:\ncannot stop the app: it is busy \[RUN_SCRIPT_FAILED\]/,
    );
    assert.match(r.stdout, /^run-before: cannot stop the app: it is busy$/m);
    assert.deepEqual(await snapshotIds(), before);
    assert.match(await fs.readFile(seen, 'utf8'), /^failed Cannot back up: --run-before/);

    // A program that is not there, or runs out of time, fails the same way.
    const missing = await cairn(['backup', files, '--run-before', 'cairn-no-such-program --now'], { env });
    assert.equal(missing.code, 45, show(missing));
    assert.match(missing.stderr, /"cairn-no-such-program --now" cannot be started: no such program/);
    const slow = await cairn(['backup', files, '--run-before', 'sleep 30', '--run-timeout', '1'], { env });
    assert.equal(slow.code, 45, show(slow));
    assert.match(slow.stderr, /--run-before "sleep 30" was stopped after its time limit of 1 s/);
    assert.deepEqual(await snapshotIds(), before);
  });

  it('with --run-before-on-error warn the backup goes on and exits 3', async () => {
    const r = await cairn(['backup', files, '--run-before', 'false', '--run-before-on-error', 'warn'], {
      env,
    });
    assert.equal(r.code, 3, show(r));
    assert.match(r.stderr, /warning: --run-before "false" exited with code 1, the backup goes on/);
    assert.match(r.stdout, /snapshot [0-9a-f]{12} saved/);
  });

  it('--run-after sees the result, snapshot and level but no CAIRN_PASSWORD; its output is JSON lines with --json', async () => {
    const seen = path.join(dir, 'after.env');
    const r = await cairn(
      [
        'backup',
        files,
        '--json',
        '--run-before',
        `sh -c 'echo "preparing at level $CAIRN_LEVEL"'`,
        '--run-after',
        `sh -c 'env | grep ^CAIRN_ | sort > ${seen}; echo done >&2'`,
      ],
      { env },
    );
    assert.equal(r.code, 0, show(r));
    const id = String(message(r.stdout, 'summary').snapshot_id);
    assert.equal(
      await fs.readFile(seen, 'utf8'),
      `CAIRN_LEVEL=incremental\nCAIRN_RESULT=success\nCAIRN_SNAPSHOT=${id}\n`,
    );
    const lines = jsonLines(r.stdout).filter((m) => m.message_type === 'script_output');
    assert.deepEqual(lines, [
      {
        message_type: 'script_output',
        script: 'run-before',
        stream: 'stdout',
        message: 'preparing at level incremental',
      },
      { message_type: 'script_output', script: 'run-after', stream: 'stderr', message: 'done' },
    ]);
  });

  it('a failing --run-after is a warning, or with --run-after-on-error fail exit 45; the snapshot stays', async () => {
    const warned = await cairn(['backup', files, '--run-after', 'false'], { env });
    assert.equal(warned.code, 3, show(warned));
    assert.match(warned.stderr, /warning: After the backup, --run-after "false" exited with code 1/);
    const count = (await snapshotIds()).length;
    const failed = await cairn(
      [
        'backup',
        files,
        '--run-after',
        `sh -c 'echo "upload refused" >&2; exit 7'`,
        '--run-after-on-error',
        'fail',
      ],
      { env },
    );
    assert.equal(failed.code, 45, show(failed));
    assert.match(failed.stdout, /snapshot [0-9a-f]{12} saved/);
    assert.match(
      failed.stderr,
      /exited with code 7; its standard error ends with:\nupload refused \[RUN_SCRIPT_FAILED\]/,
    );
    assert.equal((await snapshotIds()).length, count + 1);
  });

  it('gives a plugin backup its level: a first full', async () => {
    const seen = path.join(dir, 'level.txt');
    const r = await cairn(
      [
        'backup',
        '--source',
        'bpipe:file=/db.sql:reader=echo dump',
        '--run-before',
        `sh -c 'echo "$CAIRN_LEVEL" > ${seen}'`,
      ],
      { env },
    );
    assert.equal(r.code, 0, show(r));
    assert.equal(await fs.readFile(seen, 'utf8'), 'full\n');
  });

  it('refuses flags that do not fit before anything runs', async () => {
    const marker = path.join(dir, 'never');
    const cases: [string[], RegExp][] = [
      [
        ['--run-before', `sh -c 'unclosed`],
        /Cannot use --run-before "sh -c 'unclosed": a single quote is not closed \(column 7\)/,
      ],
      [['--run-before-on-error', 'maybe'], /Cannot use --run-before-on-error maybe: choose fail or warn/],
      [['--run-timeout', '0'], /Cannot use --run-timeout 0: give a whole number of seconds/],
      [['--source', 'bpipe:file=/x:raeder=cat'], /unknown option "raeder"/],
    ];
    for (const [args, pattern] of cases) {
      const r = await cairn(['backup', files, '--run-after', `touch ${marker}`, ...args], { env });
      assert.notEqual(r.code, 0, show(r));
      assert.ok(r.code === 2 || r.code === 80, show(r));
      assert.match(r.stderr, pattern);
    }
    await assert.rejects(fs.stat(marker), /ENOENT/);
  });
});
