// Backing up streams: standard input, and the output of a program run without a shell, where a
// failing program must never leave a snapshot that looks good.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cairn, message, removeTemp, show } from './cli.testing.ts';
import { tempRepo } from './repo.testing.ts';

const PASSWORD = 'streams-e2e-password';
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('stream backups', () => {
  let dir: string;
  let env: Record<string, string>;

  before(async () => {
    ({ dir, env } = await tempRepo(PASSWORD));
  });

  after(() => removeTemp(dir));

  async function snapshotCount(): Promise<number> {
    const r = await cairn(['snapshots', '--json'], { env });
    assert.equal(r.code, 0, show(r));
    return (JSON.parse(r.stdout) as unknown[]).length;
  }

  it('backs up standard input as a named file that restores byte for byte', async () => {
    const data = Buffer.concat([randomBytes(1_500_000), Buffer.alloc(2_000_000, 7), randomBytes(700_000)]);
    const r = await cairn(['backup', '--stdin', '--stdin-filename', 'disk.img', '--json'], {
      env,
      input: data,
    });
    assert.equal(r.code, 0, show(r));
    const sum = message(r.stdout, 'summary');
    assert.equal(sum.total_bytes_processed, data.length);
    const target = path.join(dir, 'stdin-restore');
    const res = await cairn(['restore', String(sum.snapshot_id), '--target', target], { env });
    assert.equal(res.code, 0, show(res));
    assert.equal(sha(await fs.readFile(path.join(target, 'disk.img'))), sha(data));
  });

  it('backs up the output of a command, and its paths name the file', async () => {
    const r = await cairn(
      [
        'backup',
        '--stdin-from-command',
        '--stdin-filename',
        'numbers.txt',
        '--json',
        '--',
        'seq',
        '1',
        '100000',
      ],
      { env },
    );
    assert.equal(r.code, 0, show(r));
    const id = String(message(r.stdout, 'summary').snapshot_id);
    const list = await cairn(['snapshots', '--json'], { env });
    const snap = (JSON.parse(list.stdout) as { id: string; paths: string[] }[]).find((s) => s.id === id);
    assert.deepEqual(snap?.paths, ['/numbers.txt']);
    const target = path.join(dir, 'cmd-restore');
    assert.equal((await cairn(['restore', id, '--target', target], { env })).code, 0);
    const text = await fs.readFile(path.join(target, 'numbers.txt'), 'utf8');
    assert.equal(text.split('\n').length, 100001);
  });

  it('gives the command no CAIRN_* variable: the password never reaches it', async () => {
    assert.ok(env.CAIRN_PASSWORD, 'the test repository is opened with CAIRN_PASSWORD');
    const r = await cairn(
      ['backup', '--stdin-from-command', '--stdin-filename', 'env.txt', '--json', '--', 'env'],
      { env },
    );
    assert.equal(r.code, 0, show(r));
    const id = String(message(r.stdout, 'summary').snapshot_id);
    const target = path.join(dir, 'env-restore');
    assert.equal((await cairn(['restore', id, '--target', target], { env })).code, 0);
    const seen = await fs.readFile(path.join(target, 'env.txt'), 'utf8');
    assert.match(seen, /^PATH=/m);
    assert.doesNotMatch(seen, /^CAIRN_/m);
    assert.ok(!seen.includes(env.CAIRN_PASSWORD));
  });

  it('fails with exit 44 and writes no snapshot when the command exits non-zero or cannot start', async () => {
    const before = await snapshotCount();
    const failing = await cairn(
      ['backup', '--stdin-from-command', '--', 'sh', '-c', 'echo partial; exit 4'],
      { env },
    );
    assert.equal(failing.code, 44, show(failing));
    assert.match(
      failing.stderr,
      /"sh -c echo partial; exit 4": it exited with code 4; no snapshot was written/,
    );
    const missing = await cairn(['backup', '--stdin-from-command', '--', 'cairn-no-such-program'], { env });
    assert.equal(missing.code, 44, show(missing));
    assert.match(missing.stderr, /cairn-no-such-program/);
    assert.equal(await snapshotCount(), before);
    const check = await cairn(['check'], { env });
    assert.equal(check.code, 0, show(check));
  });

  it('refuses mixed or incomplete stream options with usage errors', async () => {
    const cases: [string[], RegExp][] = [
      [['backup', '--stdin', '--stdin-from-command', '--', 'true'], /not both/],
      [['backup', '--stdin-from-command'], /give the command after --/],
      [['backup', '--stdin', '/etc'], /standard input and paths/],
      [['backup', '--stdin', '--stdin-filename', 'a/b'], /give a plain file name/],
    ];
    for (const [args, pattern] of cases) {
      const r = await cairn(args, { env, input: Buffer.from('x') });
      assert.equal(r.code, 2, `${args.join(' ')}: ${show(r)}`);
      assert.match(r.stderr, pattern);
    }
  });
});
