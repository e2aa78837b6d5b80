/**
 * The command line itself: every command explains itself with --help, and a command line that
 * is not valid exits 2 (USAGE) before anything is created or opened. No test here needs a key.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CAIRN, cairn, makeTemp, removeTemp, ROOT, run, show } from './cli.testing.ts';

/** Each command with what its --help must mention. */
const COMMANDS: Record<string, readonly string[]> = {
  '': [
    '--repo',
    '--password-file',
    '--kek-file',
    '--json',
    '--quiet',
    '--version',
    'init',
    'backup',
    'snapshots',
    'restore',
    'check',
    'key',
    'unlock',
    'tag',
    '--no-lock',
  ],
  init: [
    '--pack-size',
    '--alignment',
    '--compression',
    '--chunker-min',
    '--chunker-avg',
    '--chunker-max',
    'CAIRN_PASSWORD',
  ],
  backup: [
    '[path...]',
    '--tag',
    '--host',
    '--parent',
    '--force',
    '--exclude',
    '--exclude-file',
    '--exclude-caches',
    '--one-file-system',
    '--files-from',
    'Exit codes',
  ],
  snapshots: ['--host', '--tag', '--path'],
  restore: ['<snapshot>', 'latest', '-t, --target <dir>', '--host', '--tag', '--path'],
  tag: ['--add', '--remove', '--set', '--host', '--tag', '--path', '--dry-run', 'original'],
  check: ['--read-data', '--read-data-subset', 'Exit code 27'],
  key: ['list', 'add', 'remove', 'passwd'],
  'key list': [],
  'key add': ['--new-password-file', '--new-kek-file', '--label', 'CAIRN_NEW_PASSWORD'],
  'key remove': ['<id>'],
  'key passwd': ['--new-password-file', '--new-kek-file', '--label'],
  unlock: ['--remove-all'],
};

describe('the command line', { concurrency: true }, () => {
  for (const [name, mentions] of Object.entries(COMMANDS)) {
    const words = name === '' ? [] : name.split(' ');
    it(`cairn ${name ? `${name} ` : ''}--help exits 0 and describes its options`, async () => {
      const r = await cairn([...words, '--help']);
      assert.equal(r.code, 0, show(r));
      assert.equal(r.stderr, '');
      assert.ok(r.stdout.startsWith(`Usage: cairn ${name ? `${name} ` : ''}[options]`), r.stdout);
      for (const m of [...mentions, '--help'])
        assert.ok(r.stdout.includes(m), `"${m}" is not in:\n${r.stdout}`);
      // Global options are listed with every command: where the repository is, how to open it.
      for (const g of ['--repo', '--password-file', '--kek-file']) assert.ok(r.stdout.includes(g), `no ${g}`);
    });
  }

  it('cairn help <command> prints the same help as <command> --help', async () => {
    const [a, b] = await Promise.all([cairn(['help', 'restore']), cairn(['restore', '--help'])]);
    assert.equal(a.code, 0, show(a));
    assert.equal(a.stdout, b.stdout);
  });

  it('ends quietly, with no stack trace, when the reader of its output has gone', async () => {
    // `true` exits without reading, long before Cairn has started: its writes meet a closed pipe
    // (EPIPE), where a C program would die of SIGPIPE. pipefail gives Cairn's exit status.
    for (const args of [['--help'], ['help', 'backup'], ['--version']]) {
      const r = await run('bash', ['-c', 'set -o pipefail; "$0" "$@" | true', CAIRN, ...args]);
      assert.equal(r.stderr, '', `cairn ${args.join(' ')}: ${show(r)}`);
      assert.equal(r.code, 0, `cairn ${args.join(' ')}: ${show(r)}`);
    }
  });

  it('cairn --version prints the version of package.json', async () => {
    const r = await cairn(['--version']);
    const pkg = JSON.parse(await fs.readFile(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
    assert.equal(r.code, 0, show(r));
    assert.equal(r.stdout, `${pkg.version}\n`);
  });

  const usage: [string, string[], RegExp][] = [
    ['an unknown command', ['frobnicate'], /unknown command 'frobnicate'/],
    ['an unknown option', ['snapshots', '--frobnicate'], /unknown option '--frobnicate'/],
    ['an unknown global option', ['--frobnicate', 'snapshots'], /unknown option '--frobnicate'/],
    ['an unknown key subcommand', ['key', 'rotate'], /unknown command 'rotate'/],
    ['backup without a path', ['backup'], /no paths given \(as arguments or with --files-from\)/],
    ['restore without --target', ['restore', 'latest'], /required option '-t, --target <dir>' not specified/],
    ['an option without its value', ['backup', '/tmp', '--tag'], /option '--tag <tag>' argument missing/],
    ['key remove without an id', ['key', 'remove'], /missing required argument 'id'/],
  ];
  for (const [what, args, pattern] of usage) {
    it(`${what} exits 2 and says what is wrong`, async () => {
      const r = await cairn(args, {
        env: { CAIRN_REPOSITORY: '/nonexistent/cairn-e2e', CAIRN_PASSWORD: 'x' },
      });
      assert.equal(r.code, 2, show(r));
      assert.match(r.stderr, pattern);
      assert.equal(r.stdout, '');
    });
  }

  describe('values that are not valid', () => {
    let dir: string;
    before(async () => {
      dir = await makeTemp();
    });
    after(() => removeTemp(dir));

    const bad: [string, string[], RegExp][] = [
      [
        'a compression codec',
        ['init', '--compression', 'lz4'],
        /Cannot use --compression lz4: unknown codec/,
      ],
      [
        'a compression level',
        ['init', '--compression', 'zstd:99'],
        /level of "zstd:99" must be an integer from 1 to 19/,
      ],
      ['a pack size', ['init', '--pack-size', '1KiB'], /pack size 1024 is outside 64 KiB to 1 GiB/],
      ['a size', ['init', '--pack-size', 'huge'], /Cannot use --pack-size huge: expected a size like/],
      ['an alignment', ['init', '--alignment', '3000'], /alignment 3000 is not a power of two/],
      [
        'a chunker average',
        ['init', '--chunker-avg', '1000000'],
        /avgSize must be a power of two, got 1000000/,
      ],
      ['a check subset', ['check', '--read-data-subset', '3/2'], /Cannot check a subset "3\/2"/],
      ['a percentage subset', ['check', '--read-data-subset', '0%'], /Cannot check a subset "0%"/],
      [
        'a remote location',
        ['snapshots', '--repo', 's3://bucket/cairn'],
        /S3 repositories are named s3:http\(s\):\/\/HOST\[:PORT\]\/BUCKET/,
      ],
      [
        'a location of another kind',
        ['snapshots', '--repo', 'sftp://host/cairn'],
        /local directories and s3:http\(s\):\/\/HOST\[:PORT\]\/BUCKET\[\/PREFIX\] are supported/,
      ],
    ];
    for (const [what, args, pattern] of bad) {
      it(`${what} that is not valid exits 2 with a message naming it, and creates nothing`, async () => {
        const repo = path.join(dir, what.replaceAll(' ', '-'));
        const r = await cairn(args, { env: { CAIRN_REPOSITORY: repo, CAIRN_PASSWORD: 'usage-e2e' } });
        assert.equal(r.code, 2, show(r));
        assert.match(r.stderr, pattern);
        assert.match(r.stderr, /\[USAGE\]\n$/);
        assert.equal(existsSync(repo), false);
      });
    }

    it('no repository location at all exits 2 and says how to give one', async () => {
      const r = await cairn(['snapshots'], { env: { CAIRN_PASSWORD: 'usage-e2e' } });
      assert.equal(r.code, 2, show(r));
      assert.match(r.stderr, /give -r\/--repo DIR or set CAIRN_REPOSITORY/);
    });
  });
});
