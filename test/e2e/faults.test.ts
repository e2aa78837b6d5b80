/**
 * Bad input and damaged or busy repositories: each failure exits with the code of its kind (from
 * src/errors.ts) and a message that names the object and the reason.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ERRORS } from '../../src/errors.ts';
import { Lock } from '../../src/repo/index.ts';
import { cairn, esc, makeTemp, message, removeTemp, show, startCairn, type Run } from './cli.testing.ts';
import {
  damageBlob,
  deadPid,
  lockAs,
  makeRepo,
  openRepo,
  snapshotsSharingAPrefix,
  treeOf,
} from './repo.testing.ts';

const PASSWORD = 'faults-e2e-password';

/** Asserts the exit code and that stderr ends with the one error line of `code`, matching every pattern. */
function fails(r: Run, code: keyof typeof ERRORS, ...patterns: (string | RegExp)[]): string {
  assert.equal(r.code, ERRORS[code].exit, show(r));
  const line = r.stderr.trimEnd().split('\n').at(-1) ?? '';
  assert.match(line, new RegExp(`^error: .*\\[${code}\\]$`), show(r));
  for (const p of patterns) {
    if (typeof p === 'string') assert.ok(line.includes(p), `"${p}" is not in: ${line}`);
    else assert.match(line, p);
  }
  return line;
}

describe('errors and faults', () => {
  let dir: string;
  let repo: string;
  let src: string;
  let env: Record<string, string>;

  before(async () => {
    dir = await makeTemp();
    src = path.join(dir, 'source');
    await fs.mkdir(src);
    await fs.writeFile(path.join(src, 'a.txt'), 'alpha\n');
    await fs.writeFile(path.join(src, 'b.txt'), 'beta\n');
    repo = path.join(dir, 'repo');
    await makeRepo(repo, PASSWORD, [src]);
    env = { CAIRN_REPOSITORY: repo, CAIRN_PASSWORD: PASSWORD };
  });

  after(() => removeTemp(dir));

  describe('opening a repository', () => {
    it('a wrong password exits 13, names the repository, and never echoes the password', async () => {
      const secret = 'not-the-right-one-7431';
      const r = await cairn(['snapshots'], { env: { ...env, CAIRN_PASSWORD: secret } });
      fails(r, 'REPO_WRONG_PASSWORD', repo, 'no key slot opens with the given password');
      assert.ok(!(r.stdout + r.stderr).includes(secret));
      // With --json the error is a JSON line on stdout as well.
      const j = await cairn(['snapshots', '--json'], { env: { ...env, CAIRN_PASSWORD: secret } });
      assert.equal(j.code, 12);
      const e = message(j.stdout, 'error');
      assert.equal(e.code, 'REPO_WRONG_PASSWORD');
      assert.ok((e.message as string).includes(repo));
    });

    it('without a password and without a terminal, a command exits 16 and says how to give one', async () => {
      const r = await cairn(['snapshots'], { env: { CAIRN_REPOSITORY: repo } });
      fails(r, 'REPO_NO_PASSWORD', 'no password given', 'CAIRN_PASSWORD', '--password-file');
      const fresh = path.join(dir, 'never-made');
      const init = await cairn(['init', '--repo', fresh]);
      fails(init, 'REPO_NO_PASSWORD', 'not a terminal', 'CAIRN_NEW_PASSWORD');
      assert.equal(existsSync(fresh), false);
    });

    it('a location without a repository exits 10, names it and suggests cairn init', async () => {
      const nowhere = path.join(dir, 'no-repo-here');
      const r = await cairn(['snapshots', '--repo', nowhere], { env });
      fails(r, 'REPO_NOT_FOUND', nowhere, 'there is no repository there', 'cairn init');
      assert.equal(existsSync(nowhere), false, 'opening must not create the folder');
    });

    it('a folder holding something else exits 11: a foreign config to open, foreign files to init', async () => {
      const foreign = path.join(dir, 'foreign');
      await fs.mkdir(path.join(foreign, 'data'), { recursive: true });
      await fs.writeFile(path.join(foreign, 'config'), Buffer.from([0x8f, 0x00, 0x13, 0x37, 0xff]));
      const r = await cairn(['snapshots', '--repo', foreign], { env });
      fails(r, 'REPO_NOT_CAIRN', foreign, 'is not a Cairn config');

      const notes = path.join(dir, 'notes');
      await fs.mkdir(notes);
      await fs.writeFile(path.join(notes, 'todo.txt'), 'buy milk\n');
      const init = await cairn(['init', '--repo', notes], { env });
      fails(init, 'REPO_NOT_CAIRN', notes, 'not empty', 'todo.txt');
      assert.deepEqual(await fs.readdir(notes), ['todo.txt']);
    });

    it('a repository location that is a regular file exits 11 at once', async () => {
      const file = path.join(dir, 'plain-file');
      await fs.writeFile(file, 'not a folder\n');
      const r = await cairn(['snapshots', '--repo', file], { env });
      fails(r, 'REPO_NOT_CAIRN', file);
    });

    it('init over an existing repository exits 12 and leaves it as it was', async () => {
      const keys = await fs.readdir(path.join(repo, 'keys'));
      const config = await fs.readFile(path.join(repo, 'config'));
      const r = await cairn(['init'], { env: { ...env, CAIRN_PASSWORD: 'another-password' } });
      fails(r, 'REPO_EXISTS', repo, 'a repository already exists there');
      assert.deepEqual(await fs.readdir(path.join(repo, 'keys')), keys);
      assert.deepEqual(await fs.readFile(path.join(repo, 'config')), config);
    });
  });

  describe('backup and restore', () => {
    it('backup of a path that does not exist exits 40, names it, and writes no snapshot', async () => {
      const before = await fs.readdir(path.join(repo, 'snapshots'));
      const missing = path.join(dir, 'not', 'there');
      const r = await cairn(['backup', missing], { env });
      fails(r, 'SOURCE_NOT_FOUND', missing, 'does not exist');
      assert.deepEqual(await fs.readdir(path.join(repo, 'snapshots')), before);
    });

    it('backup of a missing path beside others warns (exit 3) and backs up the others', async () => {
      const before = await fs.readdir(path.join(repo, 'snapshots'));
      const missing = path.join(dir, 'not', 'there');
      const r = await cairn(['backup', src, missing], { env });
      assert.equal(r.code, 3, show(r));
      assert.match(
        r.stderr,
        new RegExp(`warning: ${missing}: it does not exist: left out, the other paths are backed up`),
      );
      const after = await fs.readdir(path.join(repo, 'snapshots'));
      assert.equal(after.length, before.length + 1, 'a snapshot of the paths that exist');
      const ls = await cairn(['ls', 'latest', src], { env });
      assert.equal(ls.code, 0, show(ls));
      assert.match(ls.stdout, new RegExp(src));
    });

    it('restore of an unknown snapshot id exits 30 and names the id', async () => {
      const ids = await fs.readdir(path.join(repo, 'snapshots'));
      const unused = [...'0123456789abcdef'].find((c) => !ids.some((id) => id.startsWith(c)))!;
      const ref = `${unused}0123456789`;
      const r = await cairn(['restore', ref, '--target', path.join(dir, 'unused')], { env });
      fails(r, 'SNAPSHOT_NOT_FOUND', ref, 'no snapshot has that id');
    });

    it('restore of a prefix that several snapshots share exits 31 and asks for more characters', async () => {
      const r0 = await openRepo(repo, PASSWORD);
      let prefix: string;
      try {
        prefix = await snapshotsSharingAPrefix(r0);
      } finally {
        await r0.close();
      }
      const r = await cairn(['restore', prefix, '--target', path.join(dir, 'unused')], { env });
      fails(r, 'SNAPSHOT_AMBIGUOUS', `snapshot ${prefix}:`, /matches \d+ snapshots; give more characters/);
    });

    it(
      'restore onto a full file system exits 43 and names the file that did not fit',
      { skip: process.getuid?.() === 0 ? false : 'mounting a small tmpfs needs root' },
      async (t) => {
        // Incompressible bytes, so the file is as large in the restore as it is in the snapshot.
        const big = path.join(dir, 'big-source');
        await fs.mkdir(big);
        await fs.writeFile(path.join(big, 'large.bin'), randomBytes(3 * 1024 * 1024));
        const b = await cairn(['backup', big, '--json'], { env });
        assert.equal(b.code, 0, show(b));
        const id = String(message(b.stdout, 'summary').snapshot_id);
        const small = path.join(dir, 'small-fs');
        await fs.mkdir(small);
        execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', small]);
        t.after(() => execFileSync('umount', [small]));
        const r = await cairn(['restore', id, '--target', small], { env });
        fails(r, 'NO_SPACE', path.join(small, big, 'large.bin'), 'no space left on the target device');
      },
    );

    it('restore into a target that is a regular file exits 42, names it and leaves it alone', async () => {
      const target = path.join(dir, 'a-file');
      await fs.writeFile(target, 'keep me\n');
      const r = await cairn(['restore', 'latest', '--target', target], { env });
      fails(r, 'TARGET_UNWRITABLE', `Cannot restore ${target}:`, 'exists and is not a folder');
      assert.equal(await fs.readFile(target, 'utf8'), 'keep me\n');
      // Below a regular file, likewise.
      const below = path.join(target, 'sub');
      fails(await cairn(['restore', 'latest', '--target', below], { env }), 'TARGET_UNWRITABLE', below);
    });
  });

  describe('locks', () => {
    it('while a live process holds an exclusive lock, a backup exits 14 and names the holder', async () => {
      const r0 = await openRepo(repo, PASSWORD);
      const lock = await Lock.acquire(r0, { exclusive: true, command: 'e2e holder', refresh: false });
      try {
        const r = await cairn(['backup', src], { env });
        fails(
          r,
          'REPO_LOCKED',
          repo,
          `an exclusive lock held by "e2e holder" (pid ${process.pid} on `,
          'cairn unlock',
        );
      } finally {
        await lock.release();
        await r0.close();
      }
      assert.deepEqual(await fs.readdir(path.join(repo, 'locks')), [], 'the failed command left its lock');
    });

    it('while a live process holds a shared lock, a command needing an exclusive one exits 14', async () => {
      const r0 = await openRepo(repo, PASSWORD);
      const lock = await Lock.acquire(r0, { exclusive: false, command: 'e2e reader', refresh: false });
      try {
        const r = await cairn(['key', 'remove', 'ffff'], { env });
        fails(r, 'REPO_LOCKED', 'a shared lock held by "e2e reader"');
      } finally {
        await lock.release();
        await r0.close();
      }
    });

    it("a dead process's lock blocks nothing, and unlock removes it but keeps a live one", async () => {
      const r0 = await openRepo(repo, PASSWORD);
      const locks = path.join(repo, 'locks');
      let live: Lock | undefined;
      try {
        const dead = await lockAs(r0, deadPid(), { exclusive: true, command: 'killed backup' });
        live = await Lock.acquire(r0, { exclusive: false, command: 'e2e reader', refresh: false });
        assert.equal((await fs.readdir(locks)).length, 2);

        const check = await cairn(['check'], { env });
        assert.equal(check.code, 0, show(check));

        const r = await cairn(['unlock'], { env });
        assert.equal(r.code, 0, show(r));
        assert.match(r.stdout, /^removed 1 locks?\n$/);
        assert.deepEqual(await fs.readdir(locks), [live.name]);
        assert.ok(!(await fs.readdir(locks)).includes(dead.name));

        const all = await cairn(['unlock', '--remove-all', '--json'], { env });
        assert.equal(all.code, 0, show(all));
        assert.deepEqual(message(all.stdout, 'unlocked').removed, [live.name]);
        assert.deepEqual(await fs.readdir(locks), []);
      } finally {
        await live?.release();
        await r0.close();
      }
    });
  });

  describe('interruption', () => {
    it('SIGINT during a backup exits 130, writes no snapshot, keeps what was stored and leaves no lock', async () => {
      // A 64 GiB sparse file: nothing on disk, but minutes of reading, so the signal surely lands mid-backup.
      const slow = path.join(dir, 'slow');
      await fs.mkdir(slow);
      await fs.writeFile(path.join(slow, 'huge'), '');
      await fs.truncate(path.join(slow, 'huge'), 64 * 2 ** 30);
      const snapshots = await fs.readdir(path.join(repo, 'snapshots'));
      const b = startCairn(['backup', '--json', slow], { env, timeoutMs: 60_000 });
      // Status lines come once a second while files are read.
      await b.lineMatching(/"message_type":"status"/);
      b.child.kill('SIGINT');
      const r = await b.done;
      // With --json the error is said once, as the last JSON line on standard output.
      assert.equal(r.code, ERRORS.INTERRUPTED.exit, show(r));
      const last = JSON.parse(r.stdout.trimEnd().split('\n').at(-1) ?? '{}') as Record<string, unknown>;
      assert.equal(last.message_type, 'error', show(r));
      assert.equal(last.code, 'INTERRUPTED');
      assert.equal(last.exit_code, 130);
      assert.match(String(last.message), /Backup cancelled: no snapshot was written/);
      assert.doesNotMatch(r.stderr, /^error: /m, 'not said twice');
      assert.deepEqual(await fs.readdir(path.join(repo, 'snapshots')), snapshots);
      assert.deepEqual(await fs.readdir(path.join(repo, 'locks')), []);
      // What was stored before the signal is indexed: the repository checks clean.
      const check = await cairn(['check'], { env });
      assert.equal(check.code, 0, show(check));
      assert.doesNotMatch(check.stdout, /in no index/);
    });
  });

  describe('damaged data', () => {
    let damaged: string;
    let denv: Record<string, string>;
    let pack: string;
    let victim: string;

    before(async () => {
      const src2 = path.join(dir, 'source-2');
      victim = path.join(src2, 'victim.bin');
      await fs.mkdir(src2);
      await fs.writeFile(victim, Buffer.alloc(100_000, 'incompressible? no, but sealed all the same'));
      await fs.writeFile(path.join(src2, 'bystander.txt'), 'in another blob\n');
      damaged = path.join(dir, 'damaged');
      await makeRepo(damaged, PASSWORD, [src2]);
      denv = { CAIRN_REPOSITORY: damaged, CAIRN_PASSWORD: PASSWORD };
      // The pack with the victim's blob (the only data blob of 100 000 bytes), one byte flipped in it.
      pack = (await damageBlob(damaged, PASSWORD, (e) => e.rawLength === 100_000)).pack;
    });

    it('check --read-data exits 27 and names the damaged pack and the file that needs it', async () => {
      const r = await cairn(['check', '--read-data'], { env: denv });
      fails(r, 'CHECK_FAILED', 'The repository has 1 error;', `pack ${pack} is damaged`);
      assert.match(
        r.stdout,
        new RegExp(`^error: pack ${pack} is damaged: .*1 of its \\d+ blobs fail verification`, 'm'),
      );
      assert.match(r.stdout, new RegExp(`^ +${esc(victim)} \\(snapshot [0-9a-f]{8}\\)$`, 'm'));
      assert.ok(!r.stdout.includes('bystander.txt'), 'an intact file is reported as damaged');

      const j = await cairn(['check', '--read-data', '--json'], { env: denv });
      assert.equal(j.code, 27, show(j));
      const sum = message(j.stdout, 'summary');
      assert.equal(sum.ok, false);
      const errors = sum.errors as { code: string; pack: string; affected: { path: string }[] }[];
      assert.equal(errors.length, 1);
      assert.equal(errors[0]!.code, 'PACK_CORRUPT');
      assert.equal(errors[0]!.pack, pack);
      assert.deepEqual(
        errors[0]!.affected.map((a) => a.path),
        [victim],
      );
    });

    it('restore leaves out the file with the damaged blob: exit 29, naming it and the pack', async () => {
      const target = path.join(dir, 'restore-damaged');
      const r = await cairn(['restore', 'latest', '--target', target], { env: denv });
      fails(r, 'RESTORE_INCOMPLETE', '1 file left out', 'the rest was restored');
      assert.match(
        r.stdout,
        new RegExp(`^  ${esc(victim)} \\(file\\): .*in pack ${pack}.*fails authentication`, 'm'),
      );
      assert.equal(existsSync(path.join(target, victim)), false, 'the damaged file is left under its name');
      const bystander = path.join(path.dirname(victim), 'bystander.txt');
      assert.equal(await fs.readFile(path.join(target, bystander), 'utf8'), 'in another blob\n');
    });

    it('a damaged snapshot file is a warning on stderr: snapshots --json still prints one array, marking it, and exits 3', async () => {
      const r0 = await openRepo(damaged, PASSWORD);
      let garbled: string;
      try {
        const [first] = (await r0.listSnapshots()).snapshots;
        const { id: _id, ...manifest } = first!;
        garbled = await r0.saveSnapshot({ ...manifest, time: new Date().toISOString() });
      } finally {
        await r0.close();
      }
      await fs.writeFile(path.join(damaged, 'snapshots', garbled), 'garbage');
      const r = await cairn(['snapshots', '--json'], { env: denv });
      assert.equal(r.code, 3, show(r));
      // The damaged file is listed too, marked, after the snapshots that can be read.
      const list = JSON.parse(r.stdout) as { id: string; damaged?: boolean; reason?: string }[];
      assert.equal(list.length, 2);
      assert.notEqual(list[0]!.id, garbled);
      assert.equal(list[0]!.damaged, undefined);
      assert.deepEqual(list[1], {
        id: garbled,
        short_id: garbled.slice(0, 8),
        damaged: true,
        reason: 'its content does not match its name (SHA-256)',
        code: 'SNAPSHOT_CORRUPT',
      });
      assert.match(
        r.stderr,
        new RegExp(`^warning: Cannot read snapshot ${garbled}: .*does not match its name`, 'm'),
      );
    });
  });
  describe('restoring a damaged snapshot', () => {
    let broken: string;
    let benv: Record<string, string>;
    let src3: string;
    let tree: { id: string; pack: string };
    let dataPack: string;

    /** A source with folders that stay whole, one whose tree blob is damaged, and a damaged file. */
    before(async () => {
      src3 = path.join(dir, 'source-3');
      for (const d of ['keep/deep', 'lost/sub', 'data'])
        await fs.mkdir(path.join(src3, d), { recursive: true });
      await fs.writeFile(path.join(src3, 'top.txt'), 'top\n');
      await fs.writeFile(path.join(src3, 'keep', 'one.txt'), 'one\n');
      await fs.writeFile(path.join(src3, 'keep', 'deep', 'two.bin'), randomBytes(50_000));
      await fs.writeFile(path.join(src3, 'lost', 'x.txt'), 'x\n');
      await fs.writeFile(path.join(src3, 'lost', 'sub', 'y.txt'), 'y\n');
      // The victim's content: one blob of 200 000 bytes, the second half of it not zeros.
      await fs.writeFile(
        path.join(src3, 'data', 'victim.bin'),
        Buffer.concat([Buffer.alloc(100_000), randomBytes(100_000)]),
      );
      await fs.link(path.join(src3, 'data', 'victim.bin'), path.join(src3, 'data', 'zz-link.bin'));
      await fs.writeFile(path.join(src3, 'data', 'fine.bin'), randomBytes(30_000));
      broken = path.join(dir, 'broken');
      await makeRepo(broken, PASSWORD, [src3]);
      benv = { CAIRN_REPOSITORY: broken, CAIRN_PASSWORD: PASSWORD };
      const r0 = await openRepo(broken, PASSWORD);
      let lostTree: string;
      try {
        lostTree = await treeOf(r0, path.join(src3, 'lost'));
      } finally {
        await r0.close();
      }
      const t = await damageBlob(broken, PASSWORD, (e) => e.id.toString('hex') === lostTree);
      tree = { id: lostTree, pack: t.pack };
      dataPack = (await damageBlob(broken, PASSWORD, (e) => e.rawLength === 200_000)).pack;
    });

    /** Asserts the restored copy of `rel` (under the source) equals the source's, byte for byte. */
    async function same(target: string, rel: string): Promise<void> {
      const want = await fs.readFile(path.join(src3, rel));
      const got = await fs.readFile(path.join(target, src3, rel));
      assert.ok(got.equals(want), `${rel} differs from the source`);
    }

    it('restores every other folder and file byte for byte, lists what it left out and exits 29', async () => {
      const target = path.join(dir, 'restore-broken');
      const r = await cairn(['restore', 'latest', '--target', target], { env: benv });
      fails(r, 'RESTORE_INCOMPLETE', '2 files and 1 folder left out', 'the rest was restored');
      for (const rel of ['top.txt', 'keep/one.txt', 'keep/deep/two.bin', 'data/fine.bin'])
        await same(target, rel);
      const lost = path.join(src3, 'lost');
      assert.match(r.stdout, /^not restored: 2 files and 1 folder$/m);
      assert.match(
        r.stdout,
        new RegExp(
          `^  ${esc(lost)} \\(folder, with all it holds\\): .*${tree.pack}.*\\[BLOB_CORRUPT\\]$`,
          'm',
        ),
      );
      assert.match(
        r.stdout,
        new RegExp(`^  ${esc(path.join(src3, 'data', 'victim.bin'))} \\(file\\): .*in pack ${dataPack}`, 'm'),
      );
      assert.match(r.stdout, /hard link of .*victim\.bin, which was not restored/);
      assert.match(r.stdout, /^hint: cairn check --read-data /m);
      assert.match(r.stdout, /^hint: cairn repair snapshots /m);
      // Nothing left under the names of what was not restored: no folder, no 0-byte file, no link.
      assert.equal(existsSync(path.join(target, lost)), false);
      assert.deepEqual((await fs.readdir(path.join(target, src3, 'data'))).sort(), ['fine.bin']);
    });

    it('--json lists each entry left out with its kind, code and reason', async () => {
      const target = path.join(dir, 'restore-broken-json');
      const r = await cairn(['restore', 'latest', '--target', target, '--json'], { env: benv });
      assert.equal(r.code, ERRORS.RESTORE_INCOMPLETE.exit, show(r));
      const sum = message(r.stdout, 'summary');
      assert.equal(sum.files_not_restored, 2);
      assert.equal(sum.folders_not_restored, 1);
      const list = sum.not_restored as Record<string, string>[];
      const byPath = new Map(list.map((n) => [n.path, n]));
      const folder = byPath.get(path.join(src3, 'lost'))!;
      assert.deepEqual(
        { kind: folder.kind, code: folder.code, tree: folder.tree, pack: folder.pack },
        { kind: 'folder', code: 'BLOB_CORRUPT', tree: tree.id, pack: tree.pack },
      );
      assert.equal(folder.target_path, path.join(target, src3, 'lost'));
      const victim = byPath.get(path.join(src3, 'data', 'victim.bin'))!;
      assert.equal(victim.kind, 'file');
      assert.equal(victim.code, 'BLOB_CORRUPT');
      assert.match(victim.reason ?? '', new RegExp(`in pack ${dataPack}`));
      assert.equal(victim.partial, undefined);
      assert.equal(byPath.get(path.join(src3, 'data', 'zz-link.bin'))?.code, 'BLOB_CORRUPT');
      assert.equal(message(r.stdout, 'error').code, 'RESTORE_INCOMPLETE');
    });

    it('--keep-partial keeps what could be read as NAME.cairn-partial, the damaged range a hole', async () => {
      const target = path.join(dir, 'restore-broken-partial');
      const r = await cairn(['restore', 'latest', '--target', target, '--keep-partial', '--json'], {
        env: benv,
      });
      assert.equal(r.code, ERRORS.RESTORE_INCOMPLETE.exit, show(r));
      const victim = path.join(target, src3, 'data', 'victim.bin');
      const list = message(r.stdout, 'summary').not_restored as Record<string, string>[];
      assert.equal(list.find((n) => n.target_path === victim)?.partial, `${victim}.cairn-partial`);
      assert.equal(existsSync(victim), false);
      const kept = await fs.readFile(`${victim}.cairn-partial`);
      // The one blob was damaged: the size is the file's, and every byte a hole (zeros).
      assert.equal(kept.length, 200_000);
      assert.ok(kept.equals(Buffer.alloc(200_000)), 'the damaged range holds bytes');
      assert.deepEqual((await fs.readdir(path.dirname(victim))).sort(), [
        'fine.bin',
        'victim.bin.cairn-partial',
      ]);
    });

    it('a subpath beside the damaged folder restores whole and exits 0', async () => {
      const target = path.join(dir, 'restore-broken-sub');
      const r = await cairn(['restore', `latest:${path.join(src3, 'keep')}`, '--target', target], {
        env: benv,
      });
      assert.equal(r.code, 0, show(r));
      assert.equal(await fs.readFile(path.join(target, 'one.txt'), 'utf8'), 'one\n');
    });
  });

  describe('an unwritable target', () => {
    it('restore --target under /proc ends at once with TARGET_UNWRITABLE naming the path', async () => {
      const started = Date.now();
      const r = await cairn(['restore', 'latest', '--target', '/proc/cairn-x'], { env, timeoutMs: 20_000 });
      fails(
        r,
        'TARGET_UNWRITABLE',
        'Cannot restore /proc/cairn-x:',
        'no such file or folder (mkdir /proc/cairn-x)',
      );
      assert.ok(Date.now() - started < 10_000, `it took ${Date.now() - started} ms`);
    });
  });
});
