// Looking into snapshots without restoring them: ls, find, diff, dump and stats.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cairn, jsonLines, message, removeTemp, show } from './cli.testing.ts';
import { tempRepo } from './repo.testing.ts';

const PASSWORD = 'browse-e2e-password';

describe('browsing snapshots', () => {
  let dir: string;
  let src: string;
  let env: Record<string, string>;
  let first: string;
  let second: string;
  const binary = randomBytes(3_000_000);

  before(async () => {
    ({ dir, env } = await tempRepo(PASSWORD));
    src = path.join(dir, 'src');
    await fs.mkdir(path.join(src, 'etc'), { recursive: true });
    await fs.writeFile(path.join(src, 'etc', 'app.conf'), 'setting = 1\n');
    await fs.writeFile(path.join(src, 'notes.txt'), 'first\n');
    await fs.writeFile(path.join(src, 'big.bin'), binary);
    await fs.symlink('notes.txt', path.join(src, 'link'));
    const a = await cairn(['backup', src, '--json'], { env });
    first = String(message(a.stdout, 'summary').snapshot_id);
    await fs.writeFile(path.join(src, 'notes.txt'), 'second\n');
    await fs.rm(path.join(src, 'etc', 'app.conf'));
    await fs.writeFile(path.join(src, 'etc', 'other.conf'), 'x\n');
    await fs.chmod(path.join(src, 'big.bin'), 0o600);
    const b = await cairn(['backup', src, '--json'], { env });
    second = String(message(b.stdout, 'summary').snapshot_id);
  });

  after(() => removeTemp(dir));

  it('ls lists a snapshot below a path, long and as JSON', async () => {
    const r = await cairn(['ls', first, src, '--long'], { env });
    assert.equal(r.code, 0, show(r));
    assert.match(r.stdout, new RegExp(`^-rw-r--r-- \\S+ +12 .* ${path.join(src, 'etc', 'app.conf')}$`, 'm'));
    assert.match(r.stdout, new RegExp(`^l.* ${path.join(src, 'link')} -> notes.txt$`, 'm'));
    const j = await cairn(['ls', second, path.join(src, 'etc'), '--json'], { env });
    const entries = jsonLines(j.stdout);
    assert.deepEqual(
      entries.map((e) => e.path),
      [path.join(src, 'etc'), path.join(src, 'etc', 'other.conf')],
    );
    const missing = await cairn(['ls', first, '/no/such/dir'], { env });
    assert.equal(missing.code, 30, show(missing));
    assert.match(missing.stderr, /\/no does not exist there/);
  });

  it('find tells which snapshots hold a file', async () => {
    const r = await cairn(['find', 'app.conf', '--json'], { env });
    assert.equal(r.code, 0, show(r));
    const found = jsonLines(r.stdout).filter((m) => m.message_type === 'found');
    assert.deepEqual(
      found.map((f) => f.snapshot),
      [first],
    );
    const conf = await cairn(['find', '*.CONF', '--ignore-case'], { env });
    assert.match(conf.stdout, /2 matches in 2 snapshots/);
  });

  it('diff names what was added, removed, modified and changed in metadata only', async () => {
    const r = await cairn(['diff', first, second], { env });
    assert.equal(r.code, 0, show(r));
    const lines = r.stdout.split('\n');
    assert.ok(lines.includes(`-  ${path.join(src, 'etc', 'app.conf')}`), r.stdout);
    assert.ok(lines.includes(`+  ${path.join(src, 'etc', 'other.conf')}`), r.stdout);
    assert.ok(lines.includes(`M  ${path.join(src, 'notes.txt')}`), r.stdout);
    assert.ok(lines.includes(`U  ${path.join(src, 'big.bin')}`), r.stdout);
    assert.match(r.stdout, /added 1, removed 1, modified 1/);
  });

  it('dump writes a file byte for byte to standard output, and refuses a folder', async () => {
    const r = await cairn(['dump', first, path.join(src, 'notes.txt')], { env });
    assert.equal(r.code, 0, show(r));
    assert.equal(r.stdout, 'first\n');
    const big = await cairn(['dump', first, path.join(src, 'big.bin')], { env });
    assert.equal(big.code, 0);
    assert.ok(Buffer.from(big.stdoutBytes ?? []).equals(binary), 'binary content is exact');
    const folder = await cairn(['dump', first, src], { env });
    assert.equal(folder.code, 2, show(folder));
  });

  it('stats reports sizes and the deduplication between snapshots', async () => {
    const r = await cairn(['stats', '--json'], { env });
    assert.equal(r.code, 0, show(r));
    const st = message(r.stdout, 'stats');
    assert.equal(st.snapshots_count, 2);
    assert.equal(st.total_file_count, 6);
    assert.ok(Number(st.deduplication_ratio) > 1.9, JSON.stringify(st));
  });
});

describe('restoring part of a snapshot', () => {
  let dir: string;
  let src: string;
  let env: Record<string, string>;

  before(async () => {
    ({ dir, env } = await tempRepo(PASSWORD));
    src = path.join(dir, 'src');
    for (const rel of ['etc/a.conf', 'etc/sub/b.conf', 'etc/readme', 'var/log/x.log', 'top.txt']) {
      await fs.mkdir(path.dirname(path.join(src, rel)), { recursive: true });
      await fs.writeFile(path.join(src, rel), rel);
    }
    const r = await cairn(['backup', src], { env });
    assert.equal(r.code, 0, show(r));
  });

  after(() => removeTemp(dir));

  async function files(root: string): Promise<string[]> {
    const out: string[] = [];
    for (const e of await fs.readdir(root, { recursive: true, withFileTypes: true })) {
      if (e.isFile()) out.push(path.relative(root, path.join(e.parentPath, e.name)));
    }
    return out.sort();
  }

  it("SNAPSHOT:SUBPATH puts that folder's contents in the target, and --verify reads them back", async () => {
    const target = path.join(dir, 'sub');
    const r = await cairn(['restore', `latest:${path.join(src, 'etc')}`, '--target', target, '--verify'], {
      env,
    });
    assert.equal(r.code, 0, show(r));
    assert.deepEqual(await files(target), ['a.conf', 'readme', 'sub/b.conf']);
    assert.match(r.stdout, /3 files read back and verified/);
  });

  it('--include restores only matching paths and the folders they need; --exclude leaves paths out', async () => {
    const inc = path.join(dir, 'inc');
    assert.equal(
      (await cairn(['restore', 'latest', '--target', inc, '--include', '*.conf'], { env })).code,
      0,
    );
    assert.deepEqual(await files(path.join(inc, src)), ['etc/a.conf', 'etc/sub/b.conf']);
    assert.deepEqual(
      await fs.readdir(path.join(inc, src)),
      ['etc'],
      'no empty folders for what was not included',
    );
    const exc = path.join(dir, 'exc');
    assert.equal(
      (await cairn(['restore', 'latest', '--target', exc, '--exclude', 'etc', '--exclude', '*.log'], { env }))
        .code,
      0,
    );
    assert.deepEqual(await files(path.join(exc, src)), ['top.txt']);
  });

  it('--dry-run writes nothing and says how much it would restore', async () => {
    const target = path.join(dir, 'dry');
    const r = await cairn(['restore', 'latest', '--target', target, '--dry-run', '--json'], { env });
    assert.equal(r.code, 0, show(r));
    const sum = message(r.stdout, 'summary');
    assert.equal(sum.dry_run, true);
    assert.equal(sum.files_restored, 5);
    await assert.rejects(fs.stat(target));
  });
});

describe('restoring over existing files', () => {
  let dir: string;
  let src: string;
  let env: Record<string, string>;

  before(async () => {
    ({ dir, env } = await tempRepo(PASSWORD));
    src = path.join(dir, 'src');
    await fs.mkdir(path.join(src, 'd'), { recursive: true });
    for (const name of ['old.txt', 'new.txt', 'same.txt'])
      await fs.writeFile(path.join(src, name), `snapshot ${name}`);
    await fs.writeFile(path.join(src, 'd', 'inner.txt'), 'inner');
    const t = new Date('2026-06-01T00:00:00Z');
    for (const name of ['old.txt', 'new.txt', 'same.txt']) await fs.utimes(path.join(src, name), t, t);
    const r = await cairn(['backup', src], { env });
    assert.equal(r.code, 0, show(r));
  });

  after(() => removeTemp(dir));

  /** A target that already holds older, newer and foreign files. */
  async function prepared(name: string): Promise<string> {
    const target = path.join(dir, name);
    const base = path.join(target, src);
    await fs.mkdir(path.join(base, 'd'), { recursive: true });
    await fs.writeFile(path.join(base, 'old.txt'), 'target, older');
    await fs.utimes(path.join(base, 'old.txt'), new Date('2025-01-01Z'), new Date('2025-01-01Z'));
    await fs.writeFile(path.join(base, 'new.txt'), 'target, newer');
    await fs.utimes(path.join(base, 'new.txt'), new Date('2027-01-01Z'), new Date('2027-01-01Z'));
    await fs.writeFile(path.join(base, 'foreign.txt'), 'not in the snapshot');
    await fs.writeFile(path.join(base, 'd', 'stray.txt'), 'not in the snapshot');
    return target;
  }

  const read = (target: string, rel: string) => fs.readFile(path.join(target, src, rel), 'utf8');

  it('--replace ifnewer replaces only files the snapshot has newer; never keeps all; always replaces', async () => {
    const t1 = await prepared('ifnewer');
    const r1 = await cairn(['restore', 'latest', '--target', t1, '--replace', 'ifnewer'], { env });
    assert.equal(r1.code, 0, show(r1));
    assert.equal(await read(t1, 'old.txt'), 'snapshot old.txt');
    assert.equal(await read(t1, 'new.txt'), 'target, newer');
    assert.match(r1.stdout, /1 existing entries kept \(--replace ifnewer\)/);
    const t2 = await prepared('ifolder');
    assert.equal(
      (await cairn(['restore', 'latest', '--target', t2, '--replace', 'ifolder'], { env })).code,
      0,
    );
    assert.equal(await read(t2, 'old.txt'), 'target, older');
    assert.equal(await read(t2, 'new.txt'), 'snapshot new.txt');
    const t3 = await prepared('never');
    assert.equal((await cairn(['restore', 'latest', '--target', t3, '--replace', 'never'], { env })).code, 0);
    assert.equal(await read(t3, 'old.txt'), 'target, older');
    assert.equal(await read(t3, 'same.txt'), 'snapshot same.txt', 'missing files are still restored');
    const t4 = await prepared('always');
    assert.equal((await cairn(['restore', 'latest', '--target', t4], { env })).code, 0);
    assert.equal(await read(t4, 'new.txt'), 'snapshot new.txt');
    assert.equal(await read(t4, 'foreign.txt'), 'not in the snapshot', 'without --delete nothing else goes');
    const bad = await cairn(['restore', 'latest', '--target', t4, '--replace', 'sometimes'], { env });
    assert.equal(bad.code, 2, show(bad));
  });

  it('--delete makes the target match the snapshot; with --dry-run it only counts', async () => {
    const t = await prepared('delete');
    const dry = await cairn(['restore', 'latest', '--target', t, '--delete', '--dry-run', '--json'], { env });
    assert.equal(message(dry.stdout, 'summary').entries_deleted, 2);
    assert.equal(await read(t, 'foreign.txt'), 'not in the snapshot');
    const r = await cairn(['restore', 'latest', '--target', t, '--delete'], { env });
    assert.equal(r.code, 0, show(r));
    await assert.rejects(fs.stat(path.join(t, src, 'foreign.txt')));
    await assert.rejects(fs.stat(path.join(t, src, 'd', 'stray.txt')));
    assert.equal(await read(t, 'd/inner.txt'), 'inner');
    const mixed = await cairn(['restore', 'latest', '--target', t, '--delete', '--include', '*.txt'], {
      env,
    });
    assert.equal(mixed.code, 2, show(mixed));
  });
});

describe('restore -i', () => {
  let dir: string;
  let src: string;
  let env: Record<string, string>;

  before(async () => {
    ({ dir, env } = await tempRepo(PASSWORD));
    src = path.join(dir, 'src');
    for (const rel of ['docs/a.txt', 'docs/b.txt', 'docs/deep/c.txt', 'other.txt']) {
      await fs.mkdir(path.dirname(path.join(src, rel)), { recursive: true });
      await fs.writeFile(path.join(src, rel), rel);
    }
    assert.equal((await cairn(['backup', src], { env })).code, 0);
  });

  after(() => removeTemp(dir));

  it('walks the tree, marks and unmarks, estimates, and restores only what is marked on done', async () => {
    const target = path.join(dir, 'target');
    const script = [
      `cd ${src}`,
      'mark docs other.txt',
      'ls',
      'cd docs',
      'unmark b.txt',
      'mark b.txt',
      'unmark b.txt',
      'cd ..',
      'unmark docs',
      'cd docs',
      'mark a.txt deep',
      'estimate',
      'marked',
      'done',
    ];
    const r = await cairn(['restore', 'latest', '-i', '--target', target], {
      env,
      input: script.join('\n') + '\n',
    });
    assert.equal(r.code, 0, show(r));
    assert.match(r.stdout, /\* docs\//);
    assert.match(r.stdout, /3 files, 34 B marked/);
    const got: string[] = [];
    for (const e of await fs.readdir(target, { recursive: true, withFileTypes: true })) {
      if (e.isFile()) got.push(path.relative(path.join(target, src), path.join(e.parentPath, e.name)));
    }
    assert.deepEqual(got.sort(), ['docs/a.txt', 'docs/deep/c.txt', 'other.txt']);
  });

  it('quit, or the end of input, restores nothing', async () => {
    const target = path.join(dir, 'nothing');
    const r = await cairn(['restore', 'latest', '-i', '--target', target], {
      env,
      input: `cd ${src}\nmark docs\nquit\n`,
    });
    assert.equal(r.code, 0, show(r));
    assert.match(r.stdout, /nothing restored/);
    await assert.rejects(fs.stat(target));
    const eof = await cairn(['restore', 'latest', '-i', '--target', target], { env, input: 'ls\n' });
    assert.equal(eof.code, 0, show(eof));
    await assert.rejects(fs.stat(target));
  });
});
