import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { release } from './memory.ts';

describe('release', () => {
  it('frees a buffer that owns its memory: it is detached and reads as empty', () => {
    const b = Buffer.allocUnsafeSlow(1 << 20).fill(7);
    release(b);
    assert.equal(b.buffer.detached, true);
    assert.equal(b.length, 0);
  });

  it('leaves views into a larger buffer, and slices of the shared pool, as they are', () => {
    const whole = Buffer.alloc(4096, 1);
    const view = whole.subarray(0, 1024);
    release(view);
    assert.equal(whole.buffer.detached, false);
    assert.equal(view.length, 1024);
    const pooled = Buffer.from('a small string lives in the pool');
    const neighbour = Buffer.from('and so does its neighbour');
    release(pooled);
    assert.equal(pooled.toString(), 'a small string lives in the pool');
    assert.equal(neighbour.toString(), 'and so does its neighbour');
  });

  it('takes undefined, empty and already freed buffers without complaint', () => {
    const b = Buffer.allocUnsafeSlow(16);
    release(b);
    release(b);
    release(Buffer.alloc(0));
    release(undefined);
    assert.equal(b.length, 0);
  });
});
