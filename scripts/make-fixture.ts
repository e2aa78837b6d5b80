// Makes the repository fixture of the current format version: a small repository with known
// content that every later version of Cairn must open (test/integration/format-fixtures.test.ts).
// Run once per released format version; never regenerate an existing fixture.
//   node scripts/make-fixture.ts test/fixtures/repo-v1
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LocalBackend } from '../src/backend/index.ts';
import { backup, Repository, writeKeySlot, FORMAT_VERSION } from '../src/repo/index.ts';

const out = path.resolve(process.argv[2] ?? `test/fixtures/repo-v${FORMAT_VERSION}`);
const PASSWORD = 'cairn-fixture';
const KEK = Buffer.alloc(32, 0x42);
const src = await fs.mkdtemp(path.join(os.tmpdir(), 'cairn-fixture-src-'));
const root = path.join(src, 'data');

// Deterministic content: text, binary, empty, a multi-chunk file, a sparse file, a symlink.
let x = 0x12345678;
const rnd = (n: number) => {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
};
await fs.mkdir(path.join(root, 'docs/nested'), { recursive: true });
await fs.writeFile(
  path.join(root, 'docs/readme.txt'),
  'Cairn fixture: this repository must open forever.\n'.repeat(20),
);
await fs.writeFile(path.join(root, 'docs/nested/random.bin'), rnd(50_000));
await fs.writeFile(path.join(root, 'empty'), '');
await fs.writeFile(
  path.join(root, 'multi-chunk.bin'),
  Buffer.concat([rnd(20_000), Buffer.alloc(30_000, 7), rnd(20_000)]),
);
const sparse = await fs.open(path.join(root, 'sparse.img'), 'w');
await sparse.write(Buffer.from('start'), 0, 5, 0);
await sparse.write(Buffer.from('end'), 0, 3, 200_000);
await sparse.close();
await fs.symlink('docs/readme.txt', path.join(root, 'link'));
await fs.chmod(path.join(root, 'docs/nested/random.bin'), 0o640);

const manifest: Record<
  string,
  { type: string; mode?: number; sha256?: string; target?: string; mtimeMs?: number }
> = {};
const when = new Date('2026-11-01T12:00:00Z');
async function walk(dir: string, rel: string): Promise<void> {
  for (const name of (await fs.readdir(dir)).sort()) {
    const full = path.join(dir, name);
    const r = path.posix.join(rel, name);
    const st = await fs.lstat(full);
    if (st.isDirectory()) await walk(full, r);
    if (!st.isSymbolicLink()) await fs.utimes(full, when, when);
    else await fs.lutimes(full, when, when);
    const s2 = await fs.lstat(full);
    if (s2.isSymbolicLink()) manifest[r] = { type: 'symlink', target: await fs.readlink(full) };
    else if (s2.isDirectory()) manifest[r] = { type: 'dir', mode: s2.mode & 0o7777, mtimeMs: s2.mtimeMs };
    else {
      const sha256 = createHash('sha256')
        .update(await fs.readFile(full))
        .digest('hex');
      manifest[r] = { type: 'file', mode: s2.mode & 0o7777, sha256, mtimeMs: s2.mtimeMs };
    }
  }
}
await walk(root, '');
await fs.utimes(root, when, when);

await fs.rm(out, { recursive: true, force: true });
const repo = await Repository.init(
  new LocalBackend(out),
  { password: PASSWORD },
  {
    scrypt: { N: 1024, r: 8, p: 1 },
    packSize: 64 * 1024,
    chunker: { minSize: 4096, avgSize: 16384, maxSize: 65536 },
  },
);
await writeKeySlot(
  repo.backend,
  repo.key,
  { kek: KEK },
  { scrypt: { N: 1024, r: 8, p: 1 }, label: 'fixture kek' },
);
const first = await backup(repo, [root], { host: 'fixture-host', tags: ['fixture'] });
const second = await backup(repo, [root], {
  host: 'fixture-host',
  tags: ['fixture', 'second'],
  parent: { ...first.snapshot, id: first.id },
});
await fs.writeFile(
  `${out}.manifest.json`,
  JSON.stringify(
    {
      formatVersion: FORMAT_VERSION,
      password: PASSWORD,
      kekHex: KEK.toString('hex'),
      sourceRoot: root,
      snapshots: [first.id, second.id],
      files: manifest,
    },
    null,
    2,
  ) + '\n',
);
await fs.rm(src, { recursive: true, force: true });
console.log(`fixture written to ${out}`);
