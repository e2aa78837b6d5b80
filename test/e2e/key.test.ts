/**
 * Key slots through the CLI: listing, adding (password from the environment or a file, or a
 * key-encryption key), removing, replacing. No secret ever shows in any output.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cairn, esc, makeTemp, removeTemp, show, type Run, type RunOptions } from './cli.testing.ts';
import { makeRepo } from './repo.testing.ts';

interface SlotJson {
  id: string;
  current: boolean;
  kind: 'password' | 'kek';
  created: string;
  host: string;
  user: string;
  label?: string;
  kdf?: { name: string; N: number; r: number; p: number };
}

describe('key slots', () => {
  const tag = randomBytes(4).toString('hex');
  const PW1 = `first-password-${tag}`;
  const PW2 = `second-password-${tag}`;
  const PW3 = `third-password-${tag}`;
  const PW4 = `fourth-password-${tag}`;
  const KEK = randomBytes(32).toString('hex');
  const secrets = [PW1, PW2, PW3, PW4, KEK];
  let dir: string;
  let repo: string;
  let pwFile: string;
  let kekFile: string;
  /** Slot ids by the secret that opens them. */
  const slot: Record<string, string> = {};

  /** Runs cairn on the repository and asserts no secret is in its output. */
  const k = async (args: string[], extra: RunOptions['env'] = {}): Promise<Run> => {
    const r = await cairn(args, { env: { CAIRN_REPOSITORY: repo, ...extra } });
    for (const s of secrets)
      assert.ok(!(r.stdout + r.stderr).includes(s), `a secret is in the output: ${show(r)}`);
    return r;
  };
  const ok = async (args: string[], extra: RunOptions['env'] = {}): Promise<Run> => {
    const r = await k(args, extra);
    assert.equal(r.code, 0, `cairn ${args.join(' ')}: ${show(r)}`);
    return r;
  };
  const list = async (extra: RunOptions['env'], args: string[] = []): Promise<SlotJson[]> =>
    JSON.parse((await ok(['key', 'list', '--json', ...args], extra)).stdout) as SlotJson[];
  const current = (slots: SlotJson[]): SlotJson => {
    const c = slots.filter((s) => s.current);
    assert.equal(c.length, 1, JSON.stringify(slots));
    return c[0]!;
  };

  before(async () => {
    dir = await makeTemp();
    repo = path.join(dir, 'repo');
    pwFile = path.join(dir, 'password-3');
    await fs.writeFile(pwFile, `${PW3}\n`, { mode: 0o600 });
    kekFile = path.join(dir, 'kek');
    await fs.writeFile(kekFile, `${KEK}\n`, { mode: 0o600 });
    await ok(['init'], { CAIRN_PASSWORD: PW1 });
    slot[PW1] = (await fs.readdir(path.join(repo, 'keys')))[0]!;
  });

  after(() => removeTemp(dir));

  it('key list shows the one slot, marked with * as the one in use', async () => {
    const r = await ok(['key', 'list'], { CAIRN_PASSWORD: PW1 });
    const lines = r.stdout.trimEnd().split('\n');
    assert.match(lines[0]!, /^ ID +Kind +Created +Host \/ user +Label$/);
    assert.match(
      lines[1]!,
      new RegExp(`^\\*${slot[PW1]!.slice(0, 8)}  password  \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d  `),
    );
    assert.equal(lines.length, 3, r.stdout);
    assert.match(lines[2]!, /\* = the slot that opened the repository/);
  });

  it('key list --json marks the current slot and shows the KDF but not the salt or wrapped key', async () => {
    const slots = await list({ CAIRN_PASSWORD: PW1 });
    assert.equal(slots.length, 1);
    const s = slots[0]!;
    assert.equal(s.id, slot[PW1]);
    assert.equal(s.current, true);
    assert.equal(s.kind, 'password');
    assert.deepEqual(s.kdf, { name: 'scrypt', N: 2 ** 15, r: 8, p: 4 });
    assert.ok(!Number.isNaN(Date.parse(s.created)));
    assert.deepEqual(
      Object.keys(s).filter((f) => /salt|wrap/i.test(f)),
      [],
    );
  });

  it('key add --new-kek-file adds a KEK slot that opens with --kek-file and with CAIRN_KEK_FILE', async () => {
    const r = await ok(['key', 'add', '--new-kek-file', kekFile, '--json'], { CAIRN_PASSWORD: PW1 });
    const added = JSON.parse(r.stdout) as { message_type: string; id: string };
    assert.equal(added.message_type, 'key_added');
    const c = current(await list({}, ['--kek-file', kekFile]));
    assert.equal(c.kind, 'kek');
    assert.equal(c.id, added.id);
    assert.equal(c.kdf, undefined);
    slot[KEK] = c.id;
    await ok(['snapshots'], { CAIRN_KEK_FILE: kekFile });
  });

  it('key add takes the new password from CAIRN_NEW_PASSWORD, and that password opens the repository', async () => {
    const r = await ok(['key', 'add'], { CAIRN_KEK_FILE: kekFile, CAIRN_NEW_PASSWORD: PW2 });
    const m = /^added key slot ([0-9a-f]{8})\n$/.exec(r.stdout);
    assert.ok(m, r.stdout);
    const c = current(await list({ CAIRN_PASSWORD: PW2 }));
    assert.ok(c.id.startsWith(m[1]!));
    slot[PW2] = c.id;
  });

  it('key add --new-password-file takes the first line of the file, with a label', async () => {
    await ok(['key', 'add', '--new-password-file', pwFile, '--label', 'from a file'], {
      CAIRN_KEK_FILE: kekFile,
    });
    const slots = await list({}, ['--password-file', pwFile]);
    assert.equal(slots.length, 4);
    const c = current(slots);
    assert.equal(c.label, 'from a file');
    slot[PW3] = c.id;
  });

  it('a KEK file that is not 32 bytes is refused with exit 2, naming the file', async () => {
    const short = path.join(dir, 'short-kek');
    await fs.writeFile(short, 'abcdef\n');
    const r = await k(['snapshots', '--kek-file', short]);
    assert.equal(r.code, 2, show(r));
    assert.match(r.stderr, new RegExp(`key-encryption key from ${esc(short)}: it must be 32 bytes`));
  });

  it('key remove refuses to remove the slot in use (exit 2) and names it', async () => {
    const r = await k(['key', 'remove', slot[KEK]!.slice(0, 12)], { CAIRN_KEK_FILE: kekFile });
    assert.equal(r.code, 2, show(r));
    assert.match(r.stderr, new RegExp(`key slot ${slot[KEK]!.slice(0, 8)}: it is the one in use now`));
    assert.equal((await fs.readdir(path.join(repo, 'keys'))).length, 4);
  });

  it('key remove of an id no slot has exits 18', async () => {
    const ids = await fs.readdir(path.join(repo, 'keys'));
    const unused = [...'0123456789abcdef'].find((c) => !ids.some((id) => id.startsWith(c)))!;
    const r = await k(['key', 'remove', `${unused}${unused}`], { CAIRN_KEK_FILE: kekFile });
    assert.equal(r.code, 18, show(r));
    assert.match(r.stderr, /no slot has that id \[KEY_NOT_FOUND\]/);
  });

  it('key remove of another slot removes it, and its password no longer opens the repository', async () => {
    const r = await ok(['key', 'remove', slot[PW2]!.slice(0, 8)], { CAIRN_KEK_FILE: kekFile });
    assert.equal(r.stdout, `removed key slot ${slot[PW2]!.slice(0, 8)}\n`);
    assert.ok(!existsSync(path.join(repo, 'keys', slot[PW2]!)));
    const denied = await k(['snapshots'], { CAIRN_PASSWORD: PW2 });
    assert.equal(denied.code, 12, show(denied));
  });

  it('key passwd replaces the slot in use by one for the new password, keeping its label', async () => {
    const label = (await list({ CAIRN_PASSWORD_FILE: pwFile })).find((x) => x.id === slot[PW3])?.label;
    assert.ok(label, 'the slot in use has a label');
    const r = await ok(['key', 'passwd', '--password-file', pwFile], { CAIRN_NEW_PASSWORD: PW4 });
    const m = /^replaced key slot ([0-9a-f]{8}) by ([0-9a-f]{8})\n$/.exec(r.stdout);
    assert.ok(m, r.stdout);
    assert.equal(m[1], slot[PW3]!.slice(0, 8));
    const slots = await list({ CAIRN_PASSWORD: PW4 });
    assert.ok(current(slots).id.startsWith(m[2]!));
    assert.equal(current(slots).label, label);
    assert.deepEqual(
      slots.map((s) => s.id).filter((id) => id === slot[PW3]),
      [],
    );
    assert.equal(slots.length, 3);
    const old = await k(['snapshots'], { CAIRN_PASSWORD_FILE: pwFile });
    assert.equal(old.code, 12, show(old));
  });

  it('an empty new password is refused (exit 2) whatever its source, and nothing is written', async () => {
    const empty = path.join(dir, 'empty-password');
    await fs.writeFile(empty, '\n');
    const before = await fs.readdir(path.join(repo, 'keys'));
    const r = await k(['key', 'add', '--new-password-file', empty], { CAIRN_KEK_FILE: kekFile });
    assert.equal(r.code, 2, show(r));
    assert.match(r.stderr, new RegExp(`new password from ${esc(empty)}: it is empty`));
    assert.deepEqual(await fs.readdir(path.join(repo, 'keys')), before);

    const fresh = path.join(dir, 'empty-password-repo');
    const init = await k(['init', '--repo', fresh], { CAIRN_PASSWORD: '' });
    assert.equal(init.code, 2, show(init));
    assert.match(init.stderr, /new password from CAIRN_PASSWORD: it is empty/);
    assert.equal(existsSync(fresh), false);
  });

  it('key add without a new secret and without a terminal exits 16', async () => {
    const r = await k(['key', 'add'], { CAIRN_KEK_FILE: kekFile });
    assert.equal(r.code, 16, show(r));
    assert.match(r.stderr, /CAIRN_NEW_PASSWORD or use --new-password-file/);
  });

  it('key remove of the last slot exits 17', async () => {
    const single = path.join(dir, 'single');
    await makeRepo(single, PW1);
    const [only] = await fs.readdir(path.join(single, 'keys'));
    const r = await cairn(['key', 'remove', only!], {
      env: { CAIRN_REPOSITORY: single, CAIRN_PASSWORD: PW1 },
    });
    assert.equal(r.code, 17, show(r));
    assert.match(r.stderr, new RegExp(`key slot ${only!.slice(0, 8)}: it is the last one`));
    assert.ok(existsSync(path.join(single, 'keys', only!)));
  });
});
