import fs from 'node:fs';
import { generateMasterKey, blobId } from './src/crypto/index.ts';
import { sealInline } from './src/repo/seal-pool.ts';
import { StoredBlobCheck, verifyStoredBlob } from './src/repo/blob.ts';
const key = generateMasterKey();
const chunks: Buffer[] = [];
let total = 0;
function walk(d: string) { for (const e of fs.readdirSync(d, { withFileTypes: true })) { if (total > 300e6) return; const p = d + '/' + e.name; if (e.isDirectory()) walk(p); else if (e.isFile()) { const b = fs.readFileSync(p); for (let i = 0; i < b.length; i += 1 << 20) { chunks.push(Buffer.from(b.subarray(i, i + (1 << 20)))); total += Math.min(1 << 20, b.length - i); } } } }
['/tmp/d/lib/x86_64-linux-gnu', '/tmp/d/share/doc'].forEach(walk);
const blobs = chunks.map((c) => { const id = blobId(key, c); const s = sealInline(key, { codec: 'zstd', level: 2 }, 0, id, c); return { id, place: { pack: 'x', type: 0 as const, codec: s.codec, rawLength: s.rawLength }, sealed: s.sealed }; });
const sealedMB = blobs.reduce((a, b) => a + b.sealed.length, 0) / 1e6;
console.log('blobs', blobs.length, 'sealed MB', sealedMB.toFixed(0), 'raw MB', (total / 1e6).toFixed(0));
const scratch = Buffer.allocUnsafe(9 << 20);
const P = Number(process.argv[2] ?? 512) << 10;
for (let round = 0; round < 3; round++) {
  let t = performance.now();
  for (const b of blobs) verifyStoredBlob(key, b.id, b.place, b.sealed, scratch);
  const whole = performance.now() - t;
  t = performance.now();
  for (const b of blobs) { const c = new StoredBlobCheck(key, b.id, b.place, b.sealed.length); for (let at = 0; at < b.sealed.length; at += P) c.update(b.sealed.subarray(at, at + P)); c.end(); }
  const stream = performance.now() - t;
  console.log(`whole ${whole.toFixed(0)} ms, pieces of ${P >> 10}K ${stream.toFixed(0)} ms`);
}
