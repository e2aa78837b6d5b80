import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { LocalBackend } from '../backend/index.ts';
import { generateMasterKey, masterKeyBytes, sha256 } from '../crypto/index.ts';
import { isCairnError, type ErrorCode } from '../errors.ts';
import { FAST_SCRYPT, tempDir } from './fixtures.testing.ts';
import { listKeySlots, openKeySlots, validateKek, writeKeySlot } from './keys.ts';

/** A local backend with just the folder key slots live in (create() would make 262). */
async function backendIn(t: TestContext): Promise<LocalBackend> {
  const dir = await tempDir(t, 'cairn-keys-');
  await fs.mkdir(path.join(dir, 'keys'));
  return new LocalBackend(dir);
}

function code(c: ErrorCode, message?: RegExp): (err: unknown) => boolean {
  return (err) => {
    assert.ok(isCairnError(err, c), `expected ${c}, got ${String(err)}`);
    if (message) assert.match(err.message, message);
    return true;
  };
}

describe('key slots', () => {
  it('open with the right password and give back the master key', async (t) => {
    const backend = await backendIn(t);
    const master = generateMasterKey();
    const id = await writeKeySlot(backend, master, { password: 'correct horse' }, { scrypt: FAST_SCRYPT });
    const { master: opened, slot } = await openKeySlots(backend, { password: 'correct horse' });
    assert.ok(masterKeyBytes(opened).equals(masterKeyBytes(master)));
    assert.equal(slot.id, id);
    assert.equal(slot.kind, 'password');
    assert.equal(slot.host, hostname());
    assert.deepEqual({ ...slot.kdf, salt: undefined }, { name: 'scrypt', ...FAST_SCRYPT, salt: undefined });
  });

  it('refuse a wrong password with REPO_WRONG_PASSWORD', async (t) => {
    const backend = await backendIn(t);
    await writeKeySlot(backend, generateMasterKey(), { password: 'a' }, { scrypt: FAST_SCRYPT });
    await assert.rejects(openKeySlots(backend, { password: 'b' }), code('REPO_WRONG_PASSWORD', /password/));
    await assert.rejects(openKeySlots(backend, { password: '' }), code('REPO_WRONG_PASSWORD'));
    // A key-encryption key does not open a password slot.
    await assert.rejects(
      openKeySlots(backend, { kek: randomBytes(32) }),
      code('REPO_WRONG_PASSWORD', /key-encryption key/),
    );
  });

  it('open a KEK slot with its key and nothing else', async (t) => {
    const backend = await backendIn(t);
    const master = generateMasterKey();
    const kek = randomBytes(32);
    await writeKeySlot(backend, master, { kek }, { label: 'hsm' });
    const { master: opened, slot } = await openKeySlots(backend, { kek });
    assert.ok(masterKeyBytes(opened).equals(masterKeyBytes(master)));
    assert.equal(slot.kind, 'kek');
    assert.equal(slot.label, 'hsm');
    assert.equal(slot.kdf, undefined);
    await assert.rejects(openKeySlots(backend, { kek: randomBytes(32) }), code('REPO_WRONG_PASSWORD'));
    await assert.rejects(openKeySlots(backend, { password: 'x' }), code('REPO_WRONG_PASSWORD'));
  });

  it('open the same master key from either of two slots', async (t) => {
    const backend = await backendIn(t);
    const master = generateMasterKey();
    const kek = randomBytes(32);
    const a = await writeKeySlot(backend, master, { password: 'one' }, { scrypt: FAST_SCRYPT });
    const b = await writeKeySlot(backend, master, { password: 'two' }, { scrypt: FAST_SCRYPT });
    const c = await writeKeySlot(backend, master, { kek });
    assert.equal(new Set([a, b, c]).size, 3);
    assert.equal((await listKeySlots(backend)).length, 3);
    for (const secret of [{ password: 'one' }, { password: 'two' }, { kek }]) {
      const { master: opened } = await openKeySlots(backend, secret);
      assert.ok(masterKeyBytes(opened).equals(masterKeyBytes(master)));
    }
    const { slot } = await openKeySlots(backend, { password: 'two' });
    assert.equal(slot.id, b);
  });

  it('are named by the SHA-256 of their bytes and listed oldest first', async (t) => {
    const backend = await backendIn(t);
    const master = generateMasterKey();
    const late = await writeKeySlot(backend, master, { kek: randomBytes(32) }, { now: new Date(2030, 0) });
    const early = await writeKeySlot(backend, master, { kek: randomBytes(32) }, { now: new Date(2020, 0) });
    for (const id of [late, early]) {
      assert.equal(sha256([await backend.read({ type: 'keys', name: id })]).toString('hex'), id);
    }
    assert.deepEqual(
      (await listKeySlots(backend)).map((s) => s.id),
      [early, late],
    );
  });

  it('report a damaged slot file as KEY_CORRUPT', async (t) => {
    const backend = await backendIn(t);
    const id = await writeKeySlot(backend, generateMasterKey(), { password: 'x' }, { scrypt: FAST_SCRYPT });
    const good = await backend.read({ type: 'keys', name: id });
    const slot = JSON.parse(good.toString()) as Record<string, unknown>;
    const variants: [string, Buffer][] = [
      ['truncated JSON', good.subarray(0, good.length - 5)],
      ['not JSON', Buffer.from('\u0000\u0001garbage')],
      ['unknown version', Buffer.from(JSON.stringify({ ...slot, version: 2 }))],
      ['unknown kind', Buffer.from(JSON.stringify({ ...slot, kind: 'pgp' }))],
      ['no wrapped key', Buffer.from(JSON.stringify({ ...slot, wrapped: undefined }))],
      ['no key derivation', Buffer.from(JSON.stringify({ ...slot, kdf: undefined }))],
      ['unknown key derivation', Buffer.from(JSON.stringify({ ...slot, kdf: { name: 'argon2' } }))],
    ];
    for (const [what, bytes] of variants) {
      await backend.write({ type: 'keys', name: id }, [bytes]);
      await assert.rejects(
        openKeySlots(backend, { password: 'x' }),
        code('KEY_CORRUPT', new RegExp(id)),
        what,
      );
    }
  });

  it('report a repository without key slots as KEY_CORRUPT', async (t) => {
    const backend = await backendIn(t);
    await assert.rejects(openKeySlots(backend, { password: 'x' }), code('KEY_CORRUPT', /no key slots/));
  });

  it('treat a slot whose wrapped key was changed as not opening', async (t) => {
    const backend = await backendIn(t);
    const id = await writeKeySlot(backend, generateMasterKey(), { password: 'x' }, { scrypt: FAST_SCRYPT });
    const slot = JSON.parse((await backend.read({ type: 'keys', name: id })).toString()) as {
      wrapped: string;
    };
    const wrapped = Buffer.from(slot.wrapped, 'base64');
    wrapped[10]! ^= 1;
    for (const w of [wrapped, wrapped.subarray(0, 40)]) {
      const file = path.join(backend.location, 'keys', id);
      await fs.writeFile(file, JSON.stringify({ ...slot, wrapped: w.toString('base64') }));
      await assert.rejects(openKeySlots(backend, { password: 'x' }), code('REPO_WRONG_PASSWORD'));
    }
  });

  it('accept only 32-byte key-encryption keys', () => {
    assert.equal(validateKek(Buffer.alloc(32), 'f').length, 32);
    for (const n of [0, 16, 31, 33, 64]) {
      assert.throws(() => validateKek(Buffer.alloc(n), 'kek.bin'), code('USAGE', /kek\.bin.*32 bytes/));
    }
  });
});
