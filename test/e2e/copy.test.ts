/**
 * `init --from-repo` and `copy --from-repo` through the CLI on the default temp file system: what
 * the new repository takes from the source, the refusals, and that no password shows anywhere.
 * Copies by cloning are tested on XFS and Btrfs in test/integration/clone-repo.test.ts.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { masterKeyBytes } from '../../src/crypto/index.ts';
import { cairn, message, show, tempDir, type Run } from './cli.testing.ts';
import { makeRepo, openRepo } from './repo.testing.ts';

const SOURCE_PW = 'source-secret-7d1f';
const NEW_PW = 'new-secret-9c2e';

async function setup(t: Parameters<typeof tempDir>[0]) {
  const dir = await tempDir(t, 'cairn-copy-e2e-');
  const data = path.join(dir, 'data');
  await fs.mkdir(data);
  await fs.writeFile(path.join(data, 'a.txt'), 'hello '.repeat(20_000));
  await fs.writeFile(path.join(data, 'b.bin'), Buffer.alloc(300_000, 7));
  const src = path.join(dir, 'src');
  await makeRepo(src, SOURCE_PW, [data]);
  return { dir, data, src };
}

/** Runs cairn and asserts that neither password is in its output. */
async function run(args: string[], env: Readonly<Record<string, string>>): Promise<Run> {
  const r = await cairn(args, { env });
  for (const s of [SOURCE_PW, NEW_PW]) assert.ok(!(r.stdout + r.stderr).includes(s), show(r));
  return r;
}

describe('init --from-repo and copy', () => {
  it('init --from-repo takes the chunker; --copy-keys the master key too; copy then restores', async (t) => {
    const { dir, data, src } = await setup(t);
    const env = (repo: string) => ({
      CAIRN_REPOSITORY: repo,
      CAIRN_PASSWORD: NEW_PW,
      CAIRN_FROM_PASSWORD: SOURCE_PW,
    });
    const chunkerOnly = path.join(dir, 'chunker-only');
    const shared = path.join(dir, 'shared');
    const a = await run(['init', '--from-repo', src, '--json'], env(chunkerOnly));
    assert.equal(a.code, 0, show(a));
    assert.equal(message(a.stdout, 'initialized').copied_keys, false);
    const b = await run(['init', '--from-repo', src, '--copy-keys'], env(shared));
    assert.equal(b.code, 0, show(b));
    assert.match(b.stdout, /with the master key and chunker of/);

    const [s, x, y] = await Promise.all([
      openRepo(src, SOURCE_PW),
      openRepo(chunkerOnly, NEW_PW),
      openRepo(shared, NEW_PW),
    ]);
    assert.deepEqual(x.config.chunker, s.config.chunker);
    assert.deepEqual(y.config.chunker, s.config.chunker);
    assert.notEqual(x.config.id, s.config.id);
    assert.equal(masterKeyBytes(x.key).equals(masterKeyBytes(s.key)), false);
    assert.equal(masterKeyBytes(y.key).equals(masterKeyBytes(s.key)), true);

    for (const [repo, mode] of [
      [chunkerOnly, 'reencrypt'],
      [shared, 'raw'],
    ] as const) {
      const c = await run(['copy', '--from-repo', src, 'latest', '--json'], env(repo));
      assert.equal(c.code, 0, show(c));
      const summary = message(c.stdout, 'copy');
      assert.equal(summary.mode, mode);
      assert.equal(summary.snapshots_copied, 1);
      assert.equal(summary.bytes_cloned, 0);
      assert.equal(typeof summary.total_duration, 'number');
      const target = path.join(dir, `restore-${mode}`);
      const r = await run(['restore', 'latest', '--target', target], env(repo));
      assert.equal(r.code, 0, show(r));
      for (const f of ['a.txt', 'b.bin']) {
        assert.deepEqual(
          await fs.readFile(path.join(target, data, f)),
          await fs.readFile(path.join(data, f)),
        );
      }
      const again = await run(['copy', '--from-repo', src], env(repo));
      assert.equal(again.code, 0, show(again));
      assert.match(again.stdout, /copied 0 snapshots \(1 skipped\)/);
    }
  });

  it('the source password comes from --from-password-file, never from the destination variables', async (t) => {
    const { dir, src } = await setup(t);
    const dst = path.join(dir, 'dst');
    const file = path.join(dir, 'pw');
    await fs.writeFile(file, `${SOURCE_PW}\n`);
    // CAIRN_PASSWORD is the new repository's; without a source password there is none to use.
    const none = await run(['init', '--from-repo', src], {
      CAIRN_REPOSITORY: dst,
      CAIRN_PASSWORD: SOURCE_PW,
    });
    assert.equal(none.code, 16, show(none));
    assert.match(none.stderr, /CAIRN_FROM_PASSWORD/);
    const ok = await run(['init', '--from-repo', src, '--from-password-file', file], {
      CAIRN_REPOSITORY: dst,
      CAIRN_PASSWORD: NEW_PW,
    });
    assert.equal(ok.code, 0, show(ok));
    const c = await run(['copy'], {
      CAIRN_REPOSITORY: dst,
      CAIRN_PASSWORD: NEW_PW,
      CAIRN_FROM_REPOSITORY: src,
      CAIRN_FROM_PASSWORD_FILE: file,
    });
    assert.equal(c.code, 0, show(c));
  });

  it('refuses --copy-keys without a source, chunker options with one, and copy without a source', async (t) => {
    const { dir, src } = await setup(t);
    const env = {
      CAIRN_REPOSITORY: path.join(dir, 'x'),
      CAIRN_PASSWORD: NEW_PW,
      CAIRN_FROM_PASSWORD: SOURCE_PW,
    };
    const a = await run(['init', '--copy-keys'], env);
    assert.equal(a.code, 2, show(a));
    assert.match(a.stderr, /--copy-keys without --from-repo/);
    const b = await run(['init', '--from-repo', src, '--chunker-avg', '2MiB'], env);
    assert.equal(b.code, 2, show(b));
    assert.match(b.stderr, /the chunker comes from the source repository/);
    const c = await run(['copy'], { ...env, CAIRN_REPOSITORY: src });
    assert.equal(c.code, 2, show(c));
    assert.match(c.stderr, /--from-repo/);
  });
});
