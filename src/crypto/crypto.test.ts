import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  aesKeyUnwrap,
  aesKeyWrap,
  blobId,
  deriveScrypt,
  generateMasterKey,
  KeyWrapError,
  masterKeyBytes,
  masterKeyFromBytes,
  open,
  seal,
  sealOwned,
  DecryptError,
  Opening,
} from './index.ts';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

describe('RFC 3394 AES key wrap', () => {
  const kek128 = hex('000102030405060708090A0B0C0D0E0F');
  const kek192 = hex('000102030405060708090A0B0C0D0E0F1011121314151617');
  const kek256 = hex('000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F');
  const data128 = hex('00112233445566778899AABBCCDDEEFF');
  const data192 = hex('00112233445566778899AABBCCDDEEFF0001020304050607');
  const data256 = hex('00112233445566778899AABBCCDDEEFF000102030405060708090A0B0C0D0E0F');
  // RFC 3394 §4.1–§4.6.
  const vectors: [string, Buffer, Buffer, string][] = [
    ['4.1', kek128, data128, '1FA68B0A8112B447 AEF34BD8FB5A7B82 9D3E862371D2CFE5'],
    ['4.2', kek192, data128, '96778B25AE6CA435 F92B5B97C050AED2 468AB8A17AD84E5D'],
    ['4.3', kek256, data128, '64E8C3F9CE0F5BA2 63E9777905818A2A 93C8191E7D6E8AE7'],
    ['4.4', kek192, data192, '031D33264E15D332 68F24EC260743EDC E1C6C7DDEE725A93 6BA814915C6762D2'],
    ['4.5', kek256, data192, 'A8F9BC1612C68B3F F6E6F4FBE30E71E4 769C8B80A32CB895 8CD5D17D6B254DA1'],
    [
      '4.6',
      kek256,
      data256,
      '28C9F404C4B810F4 CBCCB35CFB87F826 3F5786E2D80ED326 CBC7F0E71A99F43B FB988B9B7A02DD21',
    ],
  ];
  for (const [section, kek, data, expected] of vectors) {
    it(`wraps and unwraps the test vector of section ${section}`, () => {
      assert.deepEqual(aesKeyWrap(kek, data), hex(expected));
      assert.deepEqual(aesKeyUnwrap(kek, hex(expected)), data);
    });
  }

  it('refuses to unwrap with the wrong key-encryption key', () => {
    const wrapped = aesKeyWrap(kek256, data256);
    const wrong = Buffer.from(kek256);
    wrong[0] = (wrong[0] ?? 0) ^ 1;
    assert.throws(() => aesKeyUnwrap(wrong, wrapped), KeyWrapError);
  });

  it('refuses a damaged wrapped key', () => {
    const wrapped = aesKeyWrap(kek256, data256);
    wrapped[10] = (wrapped[10] ?? 0) ^ 0x80;
    assert.throws(() => aesKeyUnwrap(kek256, wrapped), KeyWrapError);
  });

  it('rejects key-encryption keys of the wrong size', () => {
    assert.throws(() => aesKeyWrap(Buffer.alloc(20), data128), /16, 24 or 32 bytes/);
  });
});

describe('AES-256-GCM sealing', () => {
  it('opens the known answer of GCM test case 14 (McGrew and Viega)', () => {
    const key = Buffer.alloc(32);
    const sealed = Buffer.concat([
      Buffer.alloc(12),
      hex('cea7403d4d606b6e074ec5d3baf39d18'),
      hex('d0d1c8a799996bf0265b98b5d48ab919'),
    ]);
    assert.deepEqual(open(key, sealed, Buffer.alloc(0)), Buffer.alloc(16));
  });

  it('round-trips any plaintext and additional data', () => {
    const key = generateMasterKey().encKey;
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 4096 }), fc.uint8Array({ maxLength: 64 }), (pt, aad) => {
        const sealed = Buffer.concat(seal(key, pt, aad));
        assert.equal(sealed.length, pt.length + 28);
        assert.deepEqual(open(key, sealed, aad), Buffer.from(pt));
      }),
    );
  });

  it('detects any flipped bit and any change of the additional data', () => {
    const key = generateMasterKey().encKey;
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 512 }), fc.nat(), fc.nat(7), (pt, pos, bit) => {
        const sealed = Buffer.concat(seal(key, pt, Buffer.from('data')));
        const i = pos % sealed.length;
        sealed[i] = (sealed[i] ?? 0) ^ (1 << bit);
        assert.throws(() => open(key, sealed, Buffer.from('data')), DecryptError);
      }),
      { numRuns: 200 },
    );
    const sealed = Buffer.concat(seal(key, Buffer.from('x'), Buffer.from('data')));
    assert.throws(() => open(key, sealed, Buffer.from('tree')), DecryptError);
  });

  it('opens in any pieces what seal() sealed, and fails for a flipped bit or a short message', () => {
    const key = generateMasterKey().encKey;
    const aad = Buffer.from('data');
    /** Feeds `sealed` to an Opening in pieces cut at `cuts`; the plaintext, or the error of end(). */
    const inPieces = (sealed: Buffer, length: number, cuts: number[]) => {
      const o = new Opening(key, length, aad);
      const out: Buffer[] = [];
      const at = [0, ...cuts.map((c) => c % (sealed.length + 1)).sort((a, b) => a - b), sealed.length];
      for (let i = 1; i < at.length; i++) {
        const plain = o.update(sealed.subarray(at[i - 1], at[i]));
        if (plain) out.push(plain);
      }
      try {
        o.end();
        return Buffer.concat(out);
      } catch (err) {
        return err;
      }
    };
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 3000 }),
        fc.array(fc.nat(), { maxLength: 6 }),
        fc.nat(),
        fc.nat(7),
        (pt, cuts, pos, bit) => {
          const sealed = Buffer.concat(seal(key, pt, aad));
          assert.deepEqual(inPieces(sealed, sealed.length, cuts), Buffer.from(pt));
          const short = sealed.subarray(0, pos % sealed.length);
          assert.ok(inPieces(short, sealed.length, cuts) instanceof DecryptError, 'a short message');
          const i = pos % sealed.length;
          sealed[i] = (sealed[i] ?? 0) ^ (1 << bit);
          assert.ok(inPieces(sealed, sealed.length, cuts) instanceof DecryptError, `bit ${bit} of byte ${i}`);
        },
      ),
      { numRuns: 300 },
    );
    assert.ok(inPieces(Buffer.alloc(10), 10, []) instanceof DecryptError, 'shorter than nonce and tag');
  });

  it('uses a fresh nonce for every seal', () => {
    const key = generateMasterKey().encKey;
    const a = Buffer.concat(seal(key, Buffer.from('same'), Buffer.alloc(0)));
    const b = Buffer.concat(seal(key, Buffer.from('same'), Buffer.alloc(0)));
    assert.notDeepEqual(a.subarray(0, 12), b.subarray(0, 12));
  });

  it('never repeats a nonce across many refills of its pool, in either form of seal', () => {
    const key = generateMasterKey().encKey;
    const seen = new Set<string>();
    for (let i = 0; i < 3000; i++) {
      const parts =
        i % 2 === 0
          ? seal(key, Buffer.from('x'), Buffer.alloc(0))
          : [sealOwned(key, Buffer.from('x'), Buffer.alloc(0))];
      const nonce = Buffer.concat(parts).subarray(0, 12).toString('hex');
      assert.ok(!seen.has(nonce), `nonce ${nonce} repeated at seal ${i}`);
      assert.notEqual(nonce, '00'.repeat(12));
      seen.add(nonce);
    }
  });
});

describe('master key and blob ids', () => {
  it('round-trips the master key bytes', () => {
    const key = generateMasterKey();
    assert.deepEqual(masterKeyBytes(masterKeyFromBytes(masterKeyBytes(key))), masterKeyBytes(key));
  });

  it('names blobs by HMAC-SHA-256 under the id key', () => {
    // A zero key is padded to the block size with zeros, so this is the well-known
    // HMAC-SHA-256 of an empty key and an empty message.
    const key = masterKeyFromBytes(Buffer.alloc(64));
    assert.equal(
      blobId(key, Buffer.alloc(0)).toString('hex'),
      'b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad',
    );
  });
});

describe('scrypt', () => {
  it('matches the RFC 7914 §12 test vector with N=16', async () => {
    const out = await deriveScrypt('password', Buffer.from('NaCl'), { N: 1024, r: 8, p: 16 }, 64);
    assert.equal(
      out.toString('hex'),
      'fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b3731622eaf30d92e22a3886ff109279d9830dac727afb94a83ee6d8360cbdfa2cc0640',
    );
  });
});
