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
import { deadPid, lockAs, makeRepo, openRepo, snapshotsSharingAPrefix } from './repo.testing.ts';

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
      const r = await cairn(['backup', src, missing], { env });
      fails(r, 'SOURCE_NOT_FOUND', missing, 'does not exist');
      assert.deepEqual(await fs.readdir(path.join(repo, 'snapshots')), before);
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
      fails(r, 'TARGET_UNWRITABLE', `Cannot restore ${target}:`, 'EEXIST');
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
      fails(r, 'INTERRUPTED', 'Backup cancelled: no snapshot was written');
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
      const r0 = await openRepo(damaged, PASSWORD);
      try {
        const entry = [...r0.index.entries()].find((e) => e.rawLength === 100_000);
        assert.ok(entry, 'no blob of the victim file');
        pack = entry.pack;
        const file = path.join(damaged, 'data', pack.slice(0, 2), pack);
        const fh = await fs.open(file, 'r+');
        try {
          const b = Buffer.alloc(1);
          const at = entry.offset + Math.floor(entry.length / 2);
          await fh.read(b, 0, 1, at);
          b[0] = b[0]! ^ 0x01;
          await fh.write(b, 0, 1, at);
        } finally {
          await fh.close();
        }
      } finally {
        await r0.close();
      }
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

    it('restore refuses the damaged blob: exit 26, naming the pack', async () => {
      const target = path.join(dir, 'restore-damaged');
      const r = await cairn(['restore', 'latest', '--target', target], { env: denv });
      fails(r, 'BLOB_CORRUPT', `in pack ${pack}`, 'fails authentication');
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
});
