/**
 * What a new user of the command line meets first (issue 21): `cairn` alone, `cairn version`,
 * shell completions that really complete, and the password from a program (restic's
 * --password-command), whose output never shows in a message.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { cairn, show, tempDir } from './cli.testing.ts';

describe('the first hour on the command line', () => {
  it('cairn alone prints a short help on standard output and exits 0', async () => {
    const r = await cairn([]);
    assert.equal(r.code, 0, show(r));
    assert.equal(r.stderr, '');
    assert.match(r.stdout, /^cairn \d+\.\d+\.\d+: /);
    assert.match(r.stdout, /^ {2}backup +back up files/m);
    assert.match(r.stdout, /^ {2}completion +print a completion script/m);
    assert.ok(r.stdout.split('\n').length < 40, 'short: one line a command');
  });

  it('cairn version says the version, and with --json Node and the platform', async () => {
    const text = await cairn(['version']);
    assert.equal(text.code, 0, show(text));
    const dashV = await cairn(['--version']);
    assert.equal(text.stdout.trim(), `cairn ${dashV.stdout.trim()}`);
    const json = await cairn(['version', '--json']);
    const v = JSON.parse(json.stdout) as { version: string; node: string };
    assert.equal(v.version, dashV.stdout.trim());
    assert.match(v.node, /^24\./);
  });

  it('completes commands, subcommands and options in a real bash', async (t) => {
    const dir = await tempDir(t, 'cairn-completion-');
    const script = path.join(dir, 'cairn.bash');
    const r = await cairn(['completion', 'bash']);
    assert.equal(r.code, 0, show(r));
    writeFileSync(script, r.stdout);
    const complete = (...words: string[]) => {
      const b = spawnSync(
        'bash',
        [
          '-c',
          `source ${script}; COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _cairn; printf '%s\\n' "\${COMPREPLY[@]}"`,
        ],
        { encoding: 'utf8' },
      );
      assert.equal(b.status, 0, b.stderr);
      return b.stdout.split('\n').filter(Boolean).sort();
    };
    assert.deepEqual(complete('cairn', 'ba'), ['backup']);
    assert.ok(complete('cairn', 'key', '').includes('add'));
    assert.ok(complete('cairn', 'backup', '--exc').includes('--exclude'));
    assert.ok(complete('cairn', 'backup', '--pass').includes('--password-command'), 'global options too');
    for (const shell of ['zsh', 'fish']) {
      const s = await cairn(['completion', shell]);
      assert.equal(s.code, 0, show(s));
      assert.match(s.stdout, /backup/);
    }
    const bad = await cairn(['completion', 'tcsh']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /"tcsh": give bash, zsh, fish/);
  });

  it('reads the password from a program, and never shows what it printed', async (t) => {
    const dir = await tempDir(t, 'cairn-password-command-');
    const repo = path.join(dir, 'repo');
    const secret = 'correct-horse-from-a-vault';
    const vault = path.join(dir, 'vault');
    writeFileSync(vault, `#!/bin/sh\necho '${secret}'\necho 'a second line is ignored'\n`, { mode: 0o755 });
    const env = { CAIRN_REPOSITORY: repo };
    const init = await cairn(['init', '--password-command', vault], { env });
    assert.equal(init.code, 0, show(init));
    assert.doesNotMatch(init.stderr, /note: the password is only/, 'a long password gets no note');
    // The same password opens it, given by the variable or by a file.
    const byVar = await cairn(['snapshots'], { env: { ...env, CAIRN_PASSWORD_COMMAND: vault } });
    assert.equal(byVar.code, 0, show(byVar));
    const byEnv = await cairn(['snapshots'], { env: { ...env, CAIRN_PASSWORD: secret } });
    assert.equal(byEnv.code, 0, show(byEnv));

    const failing = await cairn(['snapshots', '--password-command', 'sh -c "echo leaked; exit 3"'], { env });
    assert.equal(failing.code, 16, show(failing));
    assert.match(failing.stderr, /password command sh: it exited with code 3 \[REPO_NO_PASSWORD\]/);
    assert.doesNotMatch(failing.stderr + failing.stdout, /leaked/);
    const missing = await cairn(['snapshots', '--password-command', path.join(dir, 'nope')], { env });
    assert.equal(missing.code, 16, show(missing));
    assert.match(missing.stderr, /no such program/);
    const wrong = await cairn(['snapshots', '--password-command', 'echo not-it'], { env });
    assert.equal(wrong.code, 12, show(wrong));
    assert.doesNotMatch(wrong.stderr, /not-it/);
    const both = await cairn(['snapshots', '--password-command', vault, '--password-file', vault], { env });
    assert.equal(both.code, 2, show(both));
    assert.match(both.stderr, /a password file and a password command are both given/);
  });

  it('init says a short password is short (without failing), and a key file is not a password', async (t) => {
    const dir = await tempDir(t, 'cairn-init-note-');
    const short = await cairn(['init'], {
      env: { CAIRN_REPOSITORY: path.join(dir, 'a'), CAIRN_PASSWORD: 'hunter2' },
    });
    assert.equal(short.code, 0, show(short));
    assert.match(short.stderr, /note: the password is only 7 characters long/);
    assert.doesNotMatch(short.stderr, /hunter2/);
    const json = await cairn(['init', '--json'], {
      env: { CAIRN_REPOSITORY: path.join(dir, 'b'), CAIRN_PASSWORD: 'hunter2' },
    });
    assert.equal((JSON.parse(json.stdout) as { short_password?: boolean }).short_password, true);
    const kek = path.join(dir, 'kek');
    writeFileSync(kek, 'ab'.repeat(32) + '\n');
    const byKey = await cairn(['init', '--kek-file', kek], {
      env: { CAIRN_REPOSITORY: path.join(dir, 'c') },
    });
    assert.equal(byKey.code, 0, show(byKey));
    assert.match(byKey.stdout, /Keep the key-encryption key file safe/);
    assert.doesNotMatch(byKey.stdout + byKey.stderr, /Keep the password safe|note:/);
  });

  it('warns of patterns that cannot do what they seem to, and of an --include that restores nothing', async (t) => {
    const dir = await tempDir(t, 'cairn-patterns-');
    const src = path.join(dir, 'src');
    mkdirSync(src);
    writeFileSync(path.join(src, 'a.txt'), 'a');
    const env = { CAIRN_REPOSITORY: path.join(dir, 'repo'), CAIRN_PASSWORD: 'a long enough password' };
    assert.equal((await cairn(['init'], { env })).code, 0);
    const b = await cairn(
      ['backup', src, '--exclude', '[bad', '--exclude', '/etc/*.conf', '--exclude', '*.tmp'],
      {
        env,
      },
    );
    assert.equal(b.code, 3, show(b));
    assert.match(b.stderr, /the exclude pattern "\[bad" has an unclosed "\["/);
    assert.match(b.stderr, /the exclude pattern "\/etc\/\*\.conf" can never match/);
    assert.doesNotMatch(b.stderr, /\*\.tmp/);
    const none = await cairn(
      ['restore', 'latest', '--target', path.join(dir, 'r'), '--include', '*.nomatch'],
      { env },
    );
    assert.equal(none.code, 3, show(none));
    assert.match(none.stderr, /--include patterns \("\*\.nomatch"\) match nothing in snapshot/);
    const some = await cairn(['restore', 'latest', '--target', path.join(dir, 'r2'), '--include', '*.txt'], {
      env,
    });
    assert.equal(some.code, 0, show(some));
    // A failed restore leaves no folder it made behind.
    const failed = await cairn(['restore', 'latest:/nope', '--target', path.join(dir, 'new', 'deeper')], {
      env,
    });
    assert.equal(failed.code, 30, show(failed));
    assert.equal(existsSync(path.join(dir, 'new')), false, 'the folders the failed restore made are gone');
  });
});
