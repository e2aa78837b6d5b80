/**
 * Damage to a repository is found and named: a flipped byte anywhere in a pack, a damaged index
 * file or snapshot, a missing pack; and a backup whose storage fails part-way leaves nothing
 * behind that check objects to.
 */
import assert from 'node:assert/strict';
import { existsSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { LocalBackend, RetryBackend, type Backend } from '../../src/backend/index.ts';
import { sha256 } from '../../src/crypto/index.ts';
import { FaultBackend } from '../../src/backend/fault.ts';
import { backup } from '../../src/repo/archiver.ts';
import { findNode } from '../../src/repo/browse.ts';
import { restore } from '../../src/repo/restorer.ts';
import { check, type CheckResult, type Finding } from '../../src/repo/check.ts';
import {
  FAST_SCRYPT,
  KiB,
  PASSWORD,
  openRepo,
  prng,
  randInt,
  seededBytes,
  tempDir,
  textBytes,
} from '../../src/repo/fixtures.testing.ts';
import { sealFile } from '../../src/repo/format.ts';
import { encodeIndex } from '../../src/repo/index-file.ts';
import { parseTrailer, trailerRange } from '../../src/repo/pack.ts';
import { Repository, type InitOptions } from '../../src/repo/repository.ts';
import { assertBuilt, cairn, cliEnv } from './run-cli.testing.ts';

const SEED = Number(process.env.CAIRN_TEST_SEED ?? 0xc0ffee);

/** Chunks of 64 KiB or more, so that data packs hold aligned blobs with padding between them. */
const OPTIONS: InitOptions = {
  scrypt: FAST_SCRYPT,
  packSize: 512 * KiB,
  chunker: { minSize: 64 * KiB, avgSize: 128 * KiB, maxSize: 256 * KiB },
};

type Region = 'blob' | 'padding' | 'trailer' | 'tail';

interface PackLayout {
  readonly name: string;
  readonly file: string;
  readonly size: number;
  readonly type: 0 | 1;
  readonly blobs: readonly { id: string; start: number; end: number }[];
  readonly gaps: readonly { start: number; end: number }[];
  readonly trailer: { start: number; end: number };
}

let base: string;
let src: string;
/** Data blob id → the files (absolute paths, in any snapshot) that need it. */
const filesOfBlob = new Map<string, Set<string>>();

async function packFiles(repoDir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const sub of await fs.readdir(path.join(repoDir, 'data'))) {
    for (const f of await fs.readdir(path.join(repoDir, 'data', sub)))
      out.set(f, path.join(repoDir, 'data', sub, f));
  }
  return out;
}

async function layouts(repo: Repository, repoDir: string): Promise<PackLayout[]> {
  const out: PackLayout[] = [];
  for (const [name, file] of await packFiles(repoDir)) {
    const bytes = await fs.readFile(file);
    const range = trailerRange(name, bytes.length, bytes);
    const entries = parseTrailer(
      repo.key,
      name,
      bytes.length,
      bytes.subarray(range.offset, range.offset + range.length),
    );
    const blobs = entries
      .map((e) => ({ id: e.id.toString('hex'), start: e.offset, end: e.offset + e.length }))
      .sort((a, b) => a.start - b.start);
    const gaps: { start: number; end: number }[] = [];
    let at = 0;
    for (const b of blobs) {
      if (b.start > at) gaps.push({ start: at, end: b.start });
      at = b.end;
    }
    assert.equal(at, range.offset, 'the trailer follows the last blob');
    out.push({
      name,
      file,
      size: bytes.length,
      type: entries[0]!.type,
      blobs,
      gaps,
      trailer: { start: range.offset, end: range.offset + range.length },
    });
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

async function copyOf(t: TestContext): Promise<string> {
  const dir = path.join(await tempDir(t, 'cairn-corrupt-'), 'repo');
  await fs.cp(base, dir, { recursive: true });
  return dir;
}

async function checkDir(repoDir: string, readData: boolean): Promise<CheckResult> {
  return check(await openRepo(repoDir), { readData });
}

/** The finding about the pack itself (not about a tree or file in it). */
function packFinding(result: CheckResult, pack: string): Finding | undefined {
  return result.errors.find((f) => f.pack === pack && f.blob === undefined && f.message.includes(pack));
}

function describeFindings(r: CheckResult): string {
  return JSON.stringify(
    r.errors.map((e) => e.message),
    null,
    1,
  );
}

describe('corruption', () => {
  before(async () => {
    base = await fs.mkdtemp(path.join(os.tmpdir(), 'cairn-corrupt-base-'));
    src = path.join(base, 'src');
    const repoDir = path.join(base, 'repo');
    await fs.mkdir(path.join(src, 'docs', 'old'), { recursive: true });
    await fs.mkdir(path.join(src, 'media'));
    for (let i = 0; i < 8; i++)
      await fs.writeFile(
        path.join(src, 'media', `r${i}.bin`),
        seededBytes(`r${i}`, 100 * KiB + i * 53 * KiB),
      );
    for (let i = 0; i < 4; i++)
      await fs.writeFile(path.join(src, 'docs', `t${i}.txt`), textBytes(`t${i}`, 150 * KiB));
    for (let i = 0; i < 30; i++)
      await fs.writeFile(path.join(src, 'docs', 'old', `s${i}`), seededBytes(`s${i}`, 1000 + i * 97));
    const repo = await Repository.init(new LocalBackend(repoDir), PASSWORD, OPTIONS);
    await backup(repo, [src]);
    // A second snapshot that shares most of its data with the first.
    await fs.writeFile(path.join(src, 'media', 'r0.bin'), seededBytes('r0 changed', 120 * KiB));
    const r2 = await openRepo(repoDir);
    await r2.loadIndex();
    await backup(r2, [src], { parent: await r2.findSnapshot('latest') });
    base = repoDir;
    // Which files need which data blob, over both snapshots.
    const reader = await openRepo(repoDir);
    await reader.loadIndex();
    const walk = async (tree: string, dir: string): Promise<void> => {
      for (const n of (await reader.loadTree(tree)).nodes) {
        const p = path.posix.join(dir, n.name);
        if (n.subtree) await walk(n.subtree, p);
        for (const b of n.content ?? []) {
          if (!filesOfBlob.has(b)) filesOfBlob.set(b, new Set());
          filesOfBlob.get(b)!.add(p);
        }
      }
    };
    for (const s of (await reader.listSnapshots()).snapshots) await walk(s.tree, '/');
    const clean = await checkDir(repoDir, true);
    assert.deepEqual(clean.errors, []);
    assert.deepEqual(clean.warnings, []);
  });

  after(async () => {
    await fs.rm(path.dirname(base), { recursive: true, force: true });
  });

  it('one byte flipped anywhere in a pack makes check --read-data fail and name that pack', async (t) => {
    const repoDir = await copyOf(t);
    const repo = await openRepo(repoDir);
    const packs = await layouts(repo, repoDir);
    const data = packs.filter((p) => p.type === 0);
    assert.ok(data.length >= 4, `${data.length} data packs`);
    assert.ok(
      packs.some((p) => p.type === 1),
      'a tree pack',
    );
    assert.ok(data.filter((p) => p.gaps.length > 0).length >= 3, 'data packs with padding');
    const rng = prng(SEED);
    t.diagnostic(`seed ${SEED}`);
    const plan: Region[] = ['blob', 'padding', 'trailer', 'blob', 'tail'];
    const hit = new Map<Region, number>();
    const positions = 40;
    for (let i = 0; i < positions; i++) {
      const pack = packs[i % packs.length]!;
      let region = plan[Math.floor(i / packs.length) % plan.length]!;
      if (region === 'padding' && pack.gaps.length === 0) region = 'blob';
      let at: number;
      let blob: string | undefined;
      if (region === 'blob') {
        const b = pack.blobs[randInt(rng, pack.blobs.length)]!;
        at = b.start + randInt(rng, b.end - b.start);
        blob = b.id;
      } else if (region === 'padding') {
        const g = pack.gaps[randInt(rng, pack.gaps.length)]!;
        at = g.start + randInt(rng, g.end - g.start);
      } else if (region === 'trailer') {
        at = pack.trailer.start + randInt(rng, pack.trailer.end - pack.trailer.start);
      } else {
        at = pack.size - 1 - randInt(rng, 12);
      }
      hit.set(region, (hit.get(region) ?? 0) + 1);
      const original = await fs.readFile(pack.file);
      const damaged = Buffer.from(original);
      damaged[at]! ^= 1 + randInt(rng, 255);
      await fs.writeFile(pack.file, damaged);
      const where = `${region} byte ${at} of ${pack.type === 0 ? 'data' : 'tree'} pack ${pack.name}`;

      const full = await checkDir(repoDir, true);
      const finding = packFinding(full, pack.name);
      assert.ok(finding, `${where}: no error names the pack: ${describeFindings(full)}`);
      assert.equal(finding.code, 'PACK_CORRUPT', where);
      if (region === 'blob' && pack.type === 0) {
        // The files that need the blob are named, in every snapshot that has them.
        const want = [...filesOfBlob.get(blob!)!].sort();
        const got = [...new Set((finding.affected ?? []).map((a) => a.path))].sort();
        assert.deepEqual(got, want, where);
        assert.ok((finding.affected ?? []).every((a) => /^[0-9a-f]{64}$/.test(a.snapshot)));
      }
      if (region === 'trailer' || region === 'tail') {
        const quick = await checkDir(repoDir, false);
        assert.ok(
          packFinding(quick, pack.name),
          `${where}: check without --read-data: ${describeFindings(quick)}`,
        );
      }
      await fs.writeFile(pack.file, original);
    }
    t.diagnostic(`flipped ${positions} bytes: ${JSON.stringify(Object.fromEntries(hit))}`);
    for (const r of ['blob', 'padding', 'trailer', 'tail'] as const) assert.ok((hit.get(r) ?? 0) >= 4, r);
    assert.deepEqual((await checkDir(repoDir, true)).errors, []);
  });

  it('the CLI check --read-data exits 27 and names the damaged pack and the files it affects', async (t) => {
    await assertBuilt();
    const repoDir = await copyOf(t);
    const packs = (await layouts(await openRepo(repoDir), repoDir)).filter((p) => p.type === 0);
    const pack = packs[0]!;
    const b = pack.blobs[0]!;
    const bytes = await fs.readFile(pack.file);
    bytes[b.start + 40]! ^= 0x10;
    await fs.writeFile(pack.file, bytes);
    const env = cliEnv(repoDir);
    const quick = await cairn(['check'], env);
    assert.equal(quick.code, 0, quick.stderr);
    const full = await cairn(['check', '--read-data'], env);
    assert.equal(full.code, 27, full.stderr);
    assert.match(full.stdout, new RegExp(`error: pack ${pack.name} is damaged`));
    for (const file of filesOfBlob.get(b.id)!)
      assert.ok(full.stdout.includes(file), `${file} in\n${full.stdout}`);
    assert.match(full.stderr, /CHECK_FAILED|27|errors/);
  });

  it('a damaged index file is an INDEX_CORRUPT finding, and the files it indexed are missing', async (t) => {
    const repoDir = await copyOf(t);
    const [name] = await fs.readdir(path.join(repoDir, 'index'));
    const file = path.join(repoDir, 'index', name!);
    const bytes = await fs.readFile(file);
    bytes[bytes.length >> 1]! ^= 1;
    await fs.writeFile(file, bytes);
    const r = await checkDir(repoDir, false);
    const codes = new Set<string>(r.errors.map((e) => e.code));
    assert.ok(codes.has('INDEX_CORRUPT'), describeFindings(r));
    assert.ok(r.errors.some((e) => e.code === 'INDEX_CORRUPT' && e.message.includes(name!)));
    // Its packs are no longer referenced, and what needed their blobs is reported.
    assert.ok(r.warnings.some((w) => w.code === 'PACK_UNREFERENCED'));
    assert.ok(codes.has('BLOB_MISSING'), describeFindings(r));
  });

  it('an index entry that disagrees with its pack trailer is an INDEX_CORRUPT finding naming the pack', async (t) => {
    const repoDir = await copyOf(t);
    const repo = await openRepo(repoDir);
    const [name] = await fs.readdir(path.join(repoDir, 'index'));
    const file = path.join(repoDir, 'index', name!);
    const content = repo.decodeIndexFile(name!, await fs.readFile(file));
    const [first, ...rest] = content.packs;
    const [e, ...others] = first!.entries;
    // Sealed with the repository key and named right: only the trailer can tell.
    const forged = encodeIndex({
      supersedes: [],
      packs: [{ id: first!.id, entries: [{ ...e!, length: e!.length - 1 }, ...others] }, ...rest],
    });
    const bytes = sealFile(repo.key, 'index', forged, false);
    await fs.rm(file);
    await fs.writeFile(path.join(repoDir, 'index', sha256([bytes]).toString('hex')), bytes);
    const r = await checkDir(repoDir, false);
    const finding = packFinding(r, first!.id);
    assert.ok(finding, describeFindings(r));
    assert.equal(finding.code, 'INDEX_CORRUPT');
    assert.match(finding.message, /1 blobs of the index are not in its trailer/);
  });

  it('a damaged snapshot is a SNAPSHOT_CORRUPT finding', async (t) => {
    const repoDir = await copyOf(t);
    const [name] = await fs.readdir(path.join(repoDir, 'snapshots'));
    const file = path.join(repoDir, 'snapshots', name!);
    const bytes = await fs.readFile(file);
    bytes[20]! ^= 1;
    await fs.writeFile(file, bytes);
    const r = await checkDir(repoDir, false);
    assert.equal(r.errors.length, 1, describeFindings(r));
    assert.equal(r.errors[0]?.code, 'SNAPSHOT_CORRUPT');
    assert.match(r.errors[0].message, new RegExp(`snapshot ${name}`));
    assert.equal(r.snapshots, 1);
  });

  it('a file whose blobs lie in two missing packs is named in the finding of each', async (t) => {
    const repoDir = await copyOf(t);
    const data = (await layouts(await openRepo(repoDir), repoDir)).filter((p) => p.type === 0);
    const packOf = new Map(data.flatMap((p) => p.blobs.map((b) => [b.id, p] as const)));
    // A file of the second snapshot whose content spans two packs.
    const reader = await openRepo(repoDir);
    await reader.loadIndex();
    let spanning: { file: string; packs: PackLayout[] } | undefined;
    const walk = async (tree: string, dir: string): Promise<void> => {
      for (const n of (await reader.loadTree(tree)).nodes) {
        const p = path.posix.join(dir, n.name);
        if (n.subtree) await walk(n.subtree, p);
        const packs = [...new Set((n.content ?? []).map((b) => packOf.get(b)!))];
        if (packs.length >= 2) spanning ??= { file: p, packs };
      }
    };
    await walk((await reader.findSnapshot('latest')).tree, '/');
    assert.ok(spanning, 'no file spans two packs');
    for (const p of spanning.packs.slice(0, 2)) await fs.rm(p.file);
    const r = await checkDir(repoDir, false);
    for (const p of spanning.packs.slice(0, 2)) {
      const finding = packFinding(r, p.name);
      assert.ok(finding, describeFindings(r));
      assert.ok(
        finding.affected?.some((a) => a.path === spanning!.file),
        `the finding for pack ${p.name} does not name ${spanning.file}: ${finding.message}`,
      );
      assert.doesNotMatch(finding.message, /no file of any snapshot needs it/);
    }
  });

  it('a damaged tree pack names the folders that cannot be restored', async (t) => {
    const repoDir = await copyOf(t);
    const tree = (await layouts(await openRepo(repoDir), repoDir)).find((p) => p.type === 1)!;
    await fs.rm(tree.file);
    const r = await checkDir(repoDir, false);
    const finding = packFinding(r, tree.name);
    assert.ok(finding, describeFindings(r));
    assert.ok((finding.affected ?? []).length > 0, finding.message);
    assert.doesNotMatch(finding.message, /no file of any snapshot needs it/);
    // A restore leaves out the folders whose trees were in that pack, and nothing of them is made.
    const repo = await openRepo(repoDir);
    await repo.loadIndex();
    const target = path.join(path.dirname(repoDir), 'target');
    const sum = await restore(repo, await repo.findSnapshot('latest'), target);
    assert.ok(sum.notRestored.length > 0);
    for (const n of sum.notRestored) {
      assert.deepEqual([n.kind, n.code, n.pack], ['folder', 'BACKEND_NOT_FOUND', tree.name], n.path);
      if (n.dest === target) assert.deepEqual(await fs.readdir(target), []);
      else assert.equal(existsSync(n.dest), false, n.dest);
    }
  });

  it('a damaged tree blob loses only its folder: the rest restores byte for byte', async (t) => {
    const repoDir = await copyOf(t);
    const repo = await openRepo(repoDir);
    await repo.loadIndex();
    const snap = await repo.findSnapshot('latest');
    const old = path.join(src, 'docs', 'old');
    const lost = (await findNode(repo, snap, old)).subtree!;
    const tree = (await layouts(repo, repoDir)).find((p) => p.blobs.some((b) => b.id === lost))!;
    const blob = tree.blobs.find((b) => b.id === lost)!;
    const bytes = await fs.readFile(tree.file);
    bytes[(blob.start + blob.end) >> 1]! ^= 0x40;
    await fs.writeFile(tree.file, bytes);
    const target = path.join(path.dirname(repoDir), 'target');
    const sum = await restore(repo, snap, target);
    assert.deepEqual(
      sum.notRestored.map((n) => [n.path, n.kind, n.code, n.tree, n.pack]),
      [[old, 'folder', 'BLOB_CORRUPT', lost, tree.name]],
    );
    assert.equal(existsSync(path.join(target, old)), false);
    let compared = 0;
    for (const dir of ['media', 'docs']) {
      for (const e of await fs.readdir(path.join(src, dir), { withFileTypes: true })) {
        if (!e.isFile()) continue;
        const rel = path.join(src, dir, e.name);
        assert.ok((await fs.readFile(path.join(target, rel))).equals(await fs.readFile(rel)), rel);
        compared++;
      }
    }
    assert.equal(compared, 12);
    assert.equal(sum.files, 12);
  });

  it('a missing pack is an error naming it and the files and snapshots that need it', async (t) => {
    const repoDir = await copyOf(t);
    const repo = await openRepo(repoDir);
    const data = (await layouts(repo, repoDir)).filter((p) => p.type === 0);
    // A pack whose blobs both snapshots need.
    const { snapshots } = await repo.listSnapshots();
    const pack = data.find((p) =>
      p.blobs.some((b) => [...(filesOfBlob.get(b.id) ?? [])].some((f) => f.includes('/docs/'))),
    )!;
    await fs.rm(pack.file);
    const r = await checkDir(repoDir, false);
    const finding = packFinding(r, pack.name);
    assert.ok(finding, describeFindings(r));
    assert.equal(finding.code, 'BACKEND_NOT_FOUND');
    assert.match(finding.message, /missing from storage/);
    const want = new Set(pack.blobs.flatMap((b) => [...(filesOfBlob.get(b.id) ?? [])]));
    assert.deepEqual(new Set(finding.affected!.map((a) => a.path)), want);
    assert.deepEqual(new Set(finding.affected!.map((a) => a.snapshot)), new Set(snapshots.map((s) => s.id)));
    assert.match(
      finding.message,
      new RegExp(`affects ${finding.affected!.length} files? or folders? in 2 snapshot`),
    );
  });

  it('a backup whose writes start failing part-way fails with BACKEND_IO and leaves the repository whole', async (t) => {
    const repoDir = await copyOf(t);
    const more = path.join(path.dirname(repoDir), 'more');
    await fs.mkdir(more);
    for (let i = 0; i < 6; i++) await fs.writeFile(path.join(more, `m${i}`), seededBytes(`m${i}`, 300 * KiB));
    // Fail from the first pack on, from a middle pack on, at the index file, at the snapshot.
    const cases: [string, (f: FaultBackend) => FaultBackend][] = [
      ['the first write', (f) => f.failAfterWrites(0)],
      ['the third write', (f) => f.failAfterWrites(2)],
      ['the index write', (f) => f.failNext('write', Infinity, 'BACKEND_IO', (h) => h.type === 'index')],
      [
        'the snapshot write',
        (f) => f.failNext('write', Infinity, 'BACKEND_IO', (h) => h.type === 'snapshots'),
      ],
    ];
    for (const [what, arm] of cases) {
      const fault = arm(new FaultBackend(new LocalBackend(repoDir)));
      const repo = await Repository.open(fault, PASSWORD);
      await repo.loadIndex();
      await assert.rejects(backup(repo, [more]), (err: unknown) => {
        assert.equal((err as { code?: string }).code, 'BACKEND_IO', `${what}: ${String(err)}`);
        return true;
      });
      assert.ok(fault.injected >= 1, what);
      const r = await checkDir(repoDir, false);
      assert.deepEqual(r.errors, [], what);
      assert.equal(r.snapshots, 2, what);
    }
    // Retrying does not hide storage that keeps failing.
    const fault = new FaultBackend(new LocalBackend(repoDir)).failAfterWrites(0);
    const retrying: Backend = new RetryBackend(fault, { sleep: async () => undefined });
    const repo = await Repository.open(retrying, PASSWORD);
    await repo.loadIndex();
    await assert.rejects(
      backup(repo, [more]),
      (err: unknown) => (err as { code?: string }).code === 'BACKEND_IO',
    );
    assert.ok(fault.injected >= 5, `${fault.injected} failures injected`);
    // Then a backup on working storage succeeds and everything reads back.
    const ok = await openRepo(repoDir);
    await ok.loadIndex();
    await backup(ok, [more]);
    const final = await checkDir(repoDir, true);
    assert.deepEqual(final.errors, []);
    assert.equal(final.snapshots, 3);
  });

  it('a backup that meets a full disk fails with NO_SPACE and leaves the repository whole', async (t) => {
    const repoDir = await copyOf(t);
    const more = path.join(path.dirname(repoDir), 'more');
    await fs.mkdir(more);
    for (let i = 0; i < 4; i++) await fs.writeFile(path.join(more, `n${i}`), seededBytes(`n${i}`, 400 * KiB));
    for (const n of [0, 2, 4]) {
      // NO_SPACE is not retried: the wrapper passes it straight through.
      const fault = new FaultBackend(new LocalBackend(repoDir)).failAfterWrites(n, 'NO_SPACE');
      const repo = await Repository.open(new RetryBackend(fault, { sleep: async () => undefined }), PASSWORD);
      await repo.loadIndex();
      await assert.rejects(backup(repo, [more]), (err: unknown) => {
        assert.equal((err as { code?: string }).code, 'NO_SPACE', String(err));
        return true;
      });
      assert.ok(fault.injected >= 1);
      const r = await checkDir(repoDir, true);
      assert.deepEqual(r.errors, [], `after ${n} writes`);
    }
  });
});
