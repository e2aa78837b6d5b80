/**
 * The memory of Cairn's in-memory index: opens the repository named by CAIRN_REPOSITORY (password
 * in CAIRN_PASSWORD), loads every index file, and prints as JSON the number of blobs, the bytes of
 * the index structure (MasterIndex.byteSize) and how much the process grew (RSS, array buffers),
 * each also per blob. Run it with --expose-gc so the garbage of decoding is collected first:
 *
 *   node --expose-gc bench/index-memory.ts
 */
import { LocalBackend } from '../src/backend/index.ts';
import { Repository } from '../src/repo/index.ts';

function settle(): NodeJS.MemoryUsage {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc) for (let i = 0; i < 3; i++) gc();
  return process.memoryUsage();
}

const location = process.env.CAIRN_REPOSITORY;
const password = process.env.CAIRN_PASSWORD;
if (location === undefined || password === undefined) {
  console.error('set CAIRN_REPOSITORY and CAIRN_PASSWORD');
  process.exit(2);
}
const repo = await Repository.open(new LocalBackend(location), { password });
const before = settle();
const started = performance.now();
await repo.loadIndex();
const loadS = (performance.now() - started) / 1000;
const after = settle();
const blobs = repo.index.size;
const per = (n: number): number => (blobs > 0 ? n / blobs : 0);
const rss = after.rss - before.rss;
const buffers = after.arrayBuffers - before.arrayBuffers;
console.log(
  JSON.stringify({
    blobs,
    packs: repo.index.packCount,
    loadSeconds: loadS,
    structureBytes: repo.index.byteSize,
    structureBytesPerBlob: per(repo.index.byteSize),
    rssGrowthBytes: rss,
    rssBytesPerBlob: per(rss),
    arrayBufferGrowthBytes: buffers,
    heapGrowthBytes: after.heapUsed - before.heapUsed,
    rssAfterBytes: after.rss,
  }),
);
