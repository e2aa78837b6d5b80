import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { blobId, generateMasterKey } from '../crypto/index.ts';
import { CairnError } from '../errors.ts';
import { StoredBlobCheck, verifyStoredBlob } from './blob.ts';
import { BLOB_TYPE } from './format.ts';
import { sealInline } from './seal-pool.ts';

describe('verifying a stored blob in pieces', () => {
  const key = generateMasterKey();
  /** The verdict: undefined when the blob verifies, else the message of the error. */
  const verdict = (f: () => void): string | undefined => {
    try {
      f();
      return undefined;
    } catch (err) {
      assert.ok(err instanceof CairnError, String(err));
      assert.equal(err.code, 'BLOB_CORRUPT');
      return err.message;
    }
  };

  it('gives the verdict of the whole blob, for any pieces and any damage', () => {
    const content = fc.oneof(
      fc.uint8Array({ maxLength: 3000 }).map((u) => Buffer.from(u)),
      fc.tuple(fc.string({ maxLength: 12 }), fc.nat(60000)).map(([s, n]) => Buffer.from(s.repeat(n))),
    );
    fc.assert(
      fc.property(
        content,
        fc.constantFrom('none', 'zstd', 'gzip'),
        fc.array(fc.nat(), { maxLength: 5 }),
        fc.option(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 }))),
        fc.constantFrom(0, 1, -1),
        fc.boolean(),
        (data, codec, cuts, damage, lengthError, forged) => {
          const id = blobId(key, forged ? Buffer.from('another') : data);
          const s = sealInline(key, { codec }, BLOB_TYPE.data, id, data);
          const sealed = Buffer.from(s.sealed);
          if (damage !== null) sealed[damage[0] % sealed.length]! ^= damage[1];
          const place = {
            pack: 'ab'.repeat(32),
            type: BLOB_TYPE.data,
            codec: s.codec,
            rawLength: Math.max(0, s.rawLength + lengthError),
          };
          const whole = verdict(() => verifyStoredBlob(key, id, place, Buffer.from(sealed), undefined));
          const check = new StoredBlobCheck(key, id, place, sealed.length);
          const at = [0, ...cuts.map((c) => c % (sealed.length + 1)).sort((a, b) => a - b), sealed.length];
          for (let i = 1; i < at.length; i++) check.update(sealed.subarray(at[i - 1], at[i]));
          const pieces = verdict(() => check.end());
          if (whole === undefined) assert.equal(pieces, undefined);
          else {
            // The reason in brackets may be worded by a different decompressor; the verdict is the same.
            assert.equal(pieces?.replace(/ \(.*\)$/, ''), whole.replace(/ \(.*\)$/, ''));
          }
          if (damage === null && lengthError === 0 && !forged) assert.equal(pieces, undefined);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('fails authentication for a blob cut short', () => {
    const data = Buffer.from('cut short '.repeat(1000));
    const id = blobId(key, data);
    const s = sealInline(key, { codec: 'zstd' }, BLOB_TYPE.data, id, data);
    const place = { pack: 'cd'.repeat(32), type: BLOB_TYPE.data, codec: s.codec, rawLength: data.length };
    const check = new StoredBlobCheck(key, id, place, s.sealed.length);
    check.update(s.sealed.subarray(0, s.sealed.length - 1));
    assert.match(verdict(() => check.end()) ?? '', /in pack (cd)+: it fails authentication/);
  });
});
