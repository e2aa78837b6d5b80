// Plugins through the built CLI: bpipe round trips (a dump program's output through a writer
// program), failing readers that must fail the backup, directive errors with their columns, and
// the Python example plugin backing up and restoring an SQLite database over the out-of-process
// protocol.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cairn, jsonLines, message, removeTemp, ROOT, show } from './cli.testing.ts';
import { tempRepo } from './repo.testing.ts';

const PASSWORD = 'plugins-e2e-password';
const PYTHON_PLUGINS = path.join(ROOT, 'examples', 'plugins', 'python');
const hasPython = spawnSync('python3', ['-c', 'import sqlite3'], { stdio: 'ignore' }).status === 0;

function python(code: string): string {
  const r = spawnSync('python3', ['-c', code], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}

describe('plugins', () => {
  let dir: string;
  let env: Record<string, string>;

  before(async () => {
    ({ dir, env } = await tempRepo(PASSWORD));
  });

  after(() => removeTemp(dir));

  async function snapshotIds(): Promise<string[]> {
    const r = await cairn(['snapshots', '--json'], { env });
    assert.equal(r.code, 0, show(r));
    return (JSON.parse(r.stdout) as { id: string }[]).map((s) => s.id);
  }

  it('bpipe stores a dump under its pseudo path, lists it, and feeds it to the writer at restore', async () => {
    const files = path.join(dir, 'files');
    await fs.mkdir(files, { recursive: true });
    await fs.writeFile(path.join(files, 'notes.txt'), 'beside the dump\n');
    const r = await cairn(
      [
        'backup',
        files,
        '--json',
        '--source',
        // A program run directly (no shell) as reader, a shell the user chose as writer.
        `bpipe:file=/DUMPS/numbers.txt:reader=seq 1 100000:writer=sh -c 'sha256sum > numbers.sha256'`,
        '--source',
        `bpipe:file=/DUMPS/shell.txt:reader=sh -c 'seq 1 50000 | sed s/^/n/':writer=tee copy.txt`,
      ],
      { env },
    );
    assert.equal(r.code, 0, show(r));
    const id = String(message(r.stdout, 'summary').snapshot_id);

    const ls = await cairn(['ls', id], { env });
    assert.equal(ls.code, 0, show(ls));
    assert.match(ls.stdout, /^\/DUMPS\/numbers\.txt$/m);
    assert.match(ls.stdout, /^\/DUMPS\/shell\.txt$/m);

    const snaps = await cairn(['snapshots', '--json'], { env });
    const snap = (JSON.parse(snaps.stdout) as { id: string; paths: string[] }[]).find((s) => s.id === id);
    assert.deepEqual(snap?.paths, ['/DUMPS/numbers.txt', '/DUMPS/shell.txt', files].sort());

    const target = path.join(dir, 'bpipe-restore');
    const res = await cairn(['restore', id, '--target', target], { env });
    assert.equal(res.code, 0, show(res));
    assert.match(res.stdout, /1 entry went to bpipe, 1 entry went to bpipe/);
    const numbers = Array.from({ length: 100000 }, (_, i) => `${i + 1}\n`).join('');
    const expected = spawnSync('sha256sum', { input: numbers, encoding: 'utf8' }).stdout;
    assert.equal(await fs.readFile(path.join(target, 'numbers.sha256'), 'utf8'), expected);
    const copy = await fs.readFile(path.join(target, 'copy.txt'), 'utf8');
    assert.equal(copy.split('\n').length, 50001);
    assert.ok(copy.startsWith('n1\nn2\n'));
    assert.equal(await fs.readFile(path.join(target, files, 'notes.txt'), 'utf8'), 'beside the dump\n');
    // The pseudo folder is not made: its entries went to their writers.
    await assert.rejects(fs.stat(path.join(target, 'DUMPS')));

    // --as-files: the stored bytes as plain files, no writer; --plugin-options: another writer.
    const plain = path.join(dir, 'bpipe-plain');
    const p = await cairn(['restore', id, '--target', plain, '--as-files'], { env });
    assert.equal(p.code, 0, show(p));
    assert.equal(await fs.readFile(path.join(plain, 'DUMPS', 'numbers.txt'), 'utf8'), numbers);
    const over = path.join(dir, 'bpipe-override');
    const o = await cairn(
      [
        'restore',
        id,
        '--target',
        over,
        '--plugin-options',
        `bpipe:file=/DUMPS/numbers.txt:writer=sh -c 'wc -l > lines'`,
      ],
      { env },
    );
    assert.equal(o.code, 0, show(o));
    assert.equal((await fs.readFile(path.join(over, 'lines'), 'utf8')).trim(), '100000');
    assert.ok((await fs.stat(path.join(over, 'copy.txt'))).isFile());
  });

  it('a failing or missing reader fails the backup with its stderr, and no snapshot is written', async () => {
    const before = await snapshotIds();
    const failing = await cairn(
      [
        'backup',
        '--source',
        `bpipe:file=/db.sql:reader=sh -c 'echo "CREATE TABLE half"; echo "mysqldump\\: Got error 1045" >&2; exit 2'`,
      ],
      { env },
    );
    assert.equal(failing.code, 82, show(failing));
    assert.match(
      failing.stderr,
      /Cannot back up \/db.sql: the bpipe reader "sh -c .*" exited with code 2; its standard error ends with:\nmysqldump: Got error 1045 \[PLUGIN_FAILED\]/,
    );
    const missing = await cairn(['backup', '--source', 'bpipe:file=/db.sql:reader=cairn-no-such-dump'], {
      env,
    });
    assert.equal(missing.code, 82, show(missing));
    assert.match(missing.stderr, /"cairn-no-such-dump" cannot be started: no such program/);
    assert.deepEqual(await snapshotIds(), before);
    const check = await cairn(['check'], { env });
    assert.equal(check.code, 0, show(check));
  });

  it('refuses directives that do not fit, naming the option and its column', async () => {
    const cases: [string[], number, RegExp][] = [
      [
        ['--source', 'bpipe:file=/x:raeder=cat'],
        80,
        /unknown option "raeder" at column 15; bpipe takes file, reader, writer/,
      ],
      [['--source', 'bpipe:file=/x'], 80, /option reader is missing/],
      [['--source', 'bpipe:file=/x:reader=a:'], 80, /empty option at column 24/],
      [['--source', 'nosuch:a=b'], 81, /Cannot find a plugin named nosuch/],
      [['/tmp', '--option-plugin', 'maxsize:size=lots'], 80, /option size at column 14: expected a size/],
      [
        ['--source', 'bpipe:file=/x:reader=true', '--level', 'weekly'],
        2,
        /choose full, incremental or differential/,
      ],
    ];
    for (const [args, code, pattern] of cases) {
      const r = await cairn(['backup', ...args], { env });
      assert.equal(r.code, code, `${args.join(' ')}: ${show(r)}`);
      assert.match(r.stderr, pattern);
    }
  });

  it('lists the plugins and their options', async () => {
    const r = await cairn(['plugins', '--json', '--plugin-dir', PYTHON_PLUGINS], { env });
    assert.equal(r.code, 0, show(r));
    const list = JSON.parse(r.stdout) as { name: string; kind: string; source: string }[];
    assert.deepEqual(
      list.map((p) => `${p.name}/${p.kind}/${p.source}`),
      hasPython
        ? [
            'bpipe/command/built-in',
            'maxsize/option/built-in',
            'postgresql/command/built-in',
            'sqlite/command/process',
          ]
        : ['bpipe/command/built-in', 'maxsize/option/built-in', 'postgresql/command/built-in'],
    );
  });

  it('the Python example plugin backs up and restores an SQLite database', { skip: !hasPython }, async () => {
    const db = path.join(dir, 'app', 'app.db');
    await fs.mkdir(path.dirname(db), { recursive: true });
    python(`
import sqlite3
c = sqlite3.connect(${JSON.stringify(db)})
c.execute("create table notes(id integer primary key, body text, blob blob)")
c.executemany("insert into notes(body, blob) values (?, ?)",
  [("note %d: colons: and \\\\ backslashes, 'quotes'\\nand lines" % i, bytes([i % 256]) * 50) for i in range(3000)])
c.commit()
`);
    const plugin = ['--plugin-dir', PYTHON_PLUGINS];
    const source = `sqlite:db=${db}`;
    const first = await cairn(['backup', ...plugin, '--source', source, '--json'], { env });
    assert.equal(first.code, 0, show(first));
    assert.ok(
      jsonLines(first.stdout).some(
        (m) => m.message_type === 'plugin_log' && /3000 rows \(first run\)/.test(String(m.message)),
      ),
      first.stdout,
    );
    python(`
import sqlite3
c = sqlite3.connect(${JSON.stringify(db)})
c.execute("delete from notes where id <= 100")
c.execute("insert into notes(body) values ('after the first backup')")
c.commit()
`);
    const second = await cairn(['backup', ...plugin, '--source', source], { env });
    assert.equal(second.code, 0, show(second));
    assert.match(second.stdout, /level: incremental/);
    assert.match(second.stdout, /sqlite: app\.db: 1 tables, 2901 rows; notes changed since the last run/);

    const ls = await cairn(['ls', 'latest'], { env });
    assert.match(ls.stdout, /^\/sqlite\/app\.db\.sql$/m);

    const target = path.join(dir, 'sqlite-restore');
    const res = await cairn(['restore', 'latest', '--target', target, ...plugin], { env });
    assert.equal(res.code, 0, show(res));
    assert.match(res.stdout, /1 entry went to sqlite/);
    const restored = path.join(target, db);
    const dump = (file: string) =>
      python(`import sqlite3\nprint("\\n".join(sqlite3.connect(${JSON.stringify(file)}).iterdump()))`);
    assert.equal(dump(restored), dump(db));

    // It refuses to overwrite, fails with its message (exit 82); an override says where instead.
    const again = await cairn(['restore', 'latest', '--target', target, ...plugin], { env });
    assert.equal(again.code, 82, show(again));
    assert.match(again.stderr, /it exists \(give sqlite:replace=yes to replace it\)/);
    const elsewhere = path.join(dir, 'elsewhere.db');
    const over = await cairn(
      [
        'restore',
        'latest',
        '--target',
        target,
        ...plugin,
        '--plugin-options',
        `sqlite:restoreTo=${elsewhere}`,
      ],
      { env },
    );
    assert.equal(over.code, 0, show(over));
    assert.equal(dump(elsewhere), dump(db));

    // Without the plugin directory the restore says what is missing and how to go on.
    const without = await cairn(['restore', 'latest', '--target', path.join(dir, 'x')], { env });
    assert.equal(without.code, 81, show(without));
    assert.match(without.stderr, /has entries of sqlite \(\/sqlite\/app\.db\.sql\).*--as-files/);
    const sql = path.join(dir, 'as-files');
    const asFiles = await cairn(['restore', 'latest', '--target', sql, '--as-files'], { env });
    assert.equal(asFiles.code, 0, show(asFiles));
    assert.match(await fs.readFile(path.join(sql, 'sqlite', 'app.db.sql'), 'utf8'), /after the first backup/);
  });

  it('an out-of-process plugin that breaks the protocol or speaks another API version is refused', async () => {
    const plugins = path.join(dir, 'bad-plugins');
    await fs.mkdir(plugins, { recursive: true });
    await fs.writeFile(path.join(plugins, 'chatty'), '#!/bin/sh\necho "hello, I print text"\nsleep 5\n', {
      mode: 0o755,
    });
    await fs.writeFile(
      path.join(plugins, 'future.py'),
      `#!/usr/bin/env python3
import json, struct, sys
head = sys.stdin.buffer.read(5)
msg = json.loads(sys.stdin.buffer.read(struct.unpack(">I", head[1:])[0]))
body = json.dumps({"jsonrpc": "2.0", "id": msg["id"], "result": {"name": "future", "kind": "command", "apiVersion": 99}}).encode()
sys.stdout.buffer.write(b"J" + struct.pack(">I", len(body)) + body)
sys.stdout.buffer.flush()
sys.stdin.buffer.read()
`,
      { mode: 0o755 },
    );
    const chatty = await cairn(['backup', '--plugin-dir', plugins, '--source', 'chatty:a=b'], { env });
    assert.equal(chatty.code, 83, show(chatty));
    assert.match(chatty.stderr, /Plugin chatty broke the plugin protocol: a frame of unknown type "h"/);
    if (hasPython) {
      const future = await cairn(['backup', '--plugin-dir', plugins, '--source', 'future:a=b'], { env });
      assert.equal(future.code, 84, show(future));
      assert.match(future.stderr, /speaks plugin API version 99; this Cairn speaks 1/);
    }
  });
});
