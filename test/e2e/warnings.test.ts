/**
 * Exit code 3: the command did its job, but some entries could not be handled; each is named in a
 * warning. Running as root makes unreadable files rare, so the tests use what root cannot do
 * either: read a file or folder without CAP_DAC_OVERRIDE (dropped with setpriv), read
 * /proc/self/mem at offset 0, or re-create a FIFO in this version's restore.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as net from 'node:net';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  CAIRN,
  cairn,
  jsonLines,
  makeTemp,
  message,
  removeTemp,
  run,
  show,
  type Run,
} from './cli.testing.ts';
import { makeRepo } from './repo.testing.ts';

const PASSWORD = 'warnings-e2e-password';
const isRoot = process.getuid?.() === 0;
/** setpriv arguments that drop root's power to ignore file permissions for the command after them. */
const DROP_DAC = ['--bounding-set', '-dac_override,-dac_read_search', '--'];

describe('warnings and exit code 3', () => {
  let dir: string;
  let env: Record<string, string>;

  before(async () => {
    dir = await makeTemp();
    env = { CAIRN_REPOSITORY: path.join(dir, 'repo'), CAIRN_PASSWORD: PASSWORD };
    await makeRepo(env.CAIRN_REPOSITORY!, PASSWORD);
  });

  after(() => removeTemp(dir));

  /** Whether a command run through setpriv DROP_DAC is denied a file of mode 000 (root only). */
  async function canDropDac(): Promise<boolean> {
    const probe = path.join(dir, 'probe');
    await fs.writeFile(probe, 'x', { mode: 0o000 });
    const r = await run('setpriv', [...DROP_DAC, 'cat', probe]).catch(() => undefined);
    return r !== undefined && r.code !== 0 && /Permission denied/.test(r.stderr);
  }

  it('a file and a folder that cannot be read are warnings: exit 3, and the rest is saved', async (t) => {
    if (isRoot && !(await canDropDac())) {
      t.skip('root, and setpriv cannot drop CAP_DAC_OVERRIDE here');
      return;
    }
    const src = path.join(dir, 'source');
    await fs.mkdir(path.join(src, 'locked'), { recursive: true });
    await fs.writeFile(path.join(src, 'readable.txt'), 'fine\n');
    await fs.writeFile(path.join(src, 'locked', 'inside.txt'), 'unseen\n');
    await fs.writeFile(path.join(src, 'secret.txt'), 'unseen\n', { mode: 0o000 });
    await fs.chmod(path.join(src, 'locked'), 0o000);
    const args = ['backup', '--json', src];
    const r: Run = isRoot
      ? await run('setpriv', [...DROP_DAC, CAIRN, ...args], { env })
      : await cairn(args, { env });
    assert.equal(r.code, 3, show(r));
    const warnings = jsonLines(r.stdout).filter((m) => m.message_type === 'warning');
    assert.deepEqual(warnings.map((w) => w.path).sort(), [
      path.join(src, 'locked'),
      path.join(src, 'secret.txt'),
    ]);
    for (const w of warnings) assert.match(w.message as string, /: permission denied/);
    const sum = message(r.stdout, 'summary');
    assert.equal(sum.warnings, 2);
    assert.match(sum.snapshot_id as string, /^[0-9a-f]{64}$/);

    // The snapshot holds what could be read, and restores without warnings.
    const target = path.join(dir, 'restore-readable');
    const restore = await cairn(['restore', (sum.snapshot_id as string).slice(0, 16), '--target', target], {
      env,
    });
    assert.equal(restore.code, 0, show(restore));
    assert.equal(await fs.readFile(path.join(target, src, 'readable.txt'), 'utf8'), 'fine\n');
    assert.equal(existsSync(path.join(target, src, 'secret.txt')), false);
    assert.equal(existsSync(path.join(target, src, 'locked')), false);
  });

  it('a file even root cannot read (/proc/self/mem) is a warning naming it: exit 3', async (t) => {
    if (!existsSync('/proc/self/mem')) {
      t.skip('no /proc/self/mem here');
      return;
    }
    const r = await cairn(['backup', '/proc/self/mem'], { env });
    assert.equal(r.code, 3, show(r));
    assert.match(r.stderr, /^warning: \/proc\/self\/mem: cannot read: an input\/output error of the device/m);
    assert.match(r.stdout, /^snapshot [0-9a-f]{12} saved with 1 warning \(listed above\)$/m);
    // --quiet keeps the warnings (and the exit code) and drops the rest.
    const quiet = await cairn(['backup', '--quiet', '/proc/self/mem'], { env });
    assert.equal(quiet.code, 3, show(quiet));
    assert.equal(quiet.stdout, '');
    assert.match(
      quiet.stderr,
      /^warning: \/proc\/self\/mem: cannot read: an input\/output error of the device/m,
    );
  });

  it('restore warns about a socket it does not re-create, names it, and exits 3', async () => {
    const src = path.join(dir, 'with-socket');
    await fs.mkdir(src);
    await fs.writeFile(path.join(src, 'plain.txt'), 'plain\n');
    const sock = path.join(src, 'sock');
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(sock, resolve));
    try {
      // A socket is recorded, not read: the backup neither blocks nor warns.
      const backup = await cairn(['backup', src], { env });
      assert.equal(backup.code, 0, show(backup));
    } finally {
      server.close();
    }
    const target = path.join(dir, 'restore-socket');
    const r = await cairn(['restore', 'latest', '--target', target, '--json'], { env });
    assert.equal(r.code, 3, show(r));
    const w = message(r.stdout, 'warning');
    assert.equal(w.path, path.join(target, sock));
    assert.match(w.message as string, /a socket is recorded but not re-created/);
    assert.equal(message(r.stdout, 'summary').warnings, 1);
    assert.equal(await fs.readFile(path.join(target, src, 'plain.txt'), 'utf8'), 'plain\n');
  });
});
