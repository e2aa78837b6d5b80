/**
 * The fault-injection matrix (issue 18): each kind of damage (a flipped byte, a truncation, a
 * deletion) in each kind of file (a data pack, a tree pack, an index file, the newest snapshot, a
 * key slot, the config), done to a copy of one repository with two snapshots. For each:
 * - `check --read-data` detects it and names the damaged object;
 * - a restore of each snapshot never writes a wrong byte, restores every file whose folders'
 *   trees and whose data are intact, and says by its exit code when it restored less;
 * - the repair the messages point to brings the repository back to a clean check wherever the
 *   data still exists.
 * The expected outcome of every case is derived from what was damaged, blob by blob, not listed
 * by hand: a flipped byte damages the blob it falls in, a truncation every blob past the cut and
 * the trailer, a deletion all of them.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ERRORS } from '../../src/errors.ts';
import { LocalBackend } from '../../src/backend/index.ts';
import { Repository, readPackTrailer, type SnapshotInfo } from '../../src/repo/index.ts';
import { flipByte, seededBytes } from '../../src/repo/fixtures.testing.ts';
import { cairn, makeTemp, removeTemp, show, type Run } from './cli.testing.ts';

const PASSWORD = 'fault-matrix';
const OTHER = 'fault-matrix-second-key';

type Damage = 'flip' | 'truncate' | 'delete';
type Kind = 'data pack' | 'tree pack' | 'index' | 'snapshot' | 'key' | 'config';
const DAMAGES: readonly Damage[] = ['flip', 'truncate', 'delete'];
const KINDS: readonly Kind[] = ['data pack', 'tree pack', 'index', 'snapshot', 'key', 'config'];

interface FileNeed {
  /** Absolute path in the snapshot. */
  readonly path: string;
  readonly sha256: string;
  /** Tree blobs of its folders and its data blobs. */
  readonly blobs: readonly string[];
}

interface Blob {
  readonly pack: string;
  readonly start: number;
  readonly end: number;
  readonly type: number;
}

let base: string;
let src: string;
let repoDir: string;
const snaps: SnapshotInfo[] = [];
/** Per snapshot id: its files and what each needs. */
const needs = new Map<string, FileNeed[]>();
const blobs = new Map<string, Blob>();
const packSizes = new Map<string, number>();
let newestTreePack = '';
let sharedDataPack = '';

function sha(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

async function files(dir: string): Promise<string[]> {
  try {
    return (await fs.readdir(dir, { recursive: true, withFileTypes: true }))
      .filter((e) => e.isFile())
      .map((e) => path.join(e.parentPath, e.name))
      .sort();
  } catch {
    return [];
  }
}

before(async () => {
  base = await makeTemp('cairn-fault-matrix-');
  src = path.join(base, 'src');
  repoDir = path.join(base, 'repo');
  for (const d of ['a', 'b', 'c/deep']) await fs.mkdir(path.join(src, d), { recursive: true });
  const write = async (round: number) => {
    for (const [i, d] of ['a', 'b', 'c/deep', 'a', 'b', 'c/deep', 'a', 'b'].entries()) {
      const changes = round > 0 && i % 3 === 0;
      await fs.writeFile(
        path.join(src, d, `f${i}`),
        seededBytes(`${changes ? round : 0}-${i}`, 8_000 + ((i * 37_717) % 120_000)),
      );
    }
  };
  const env = { CAIRN_REPOSITORY: repoDir, CAIRN_PASSWORD: PASSWORD };
  const ok = async (args: string[], extra: Record<string, string> = {}) => {
    const r = await cairn(args, { env: { ...env, ...extra } });
    assert.equal(r.code, 0, show(r));
  };
  await ok(['init', '--pack-size', '128KiB']);
  await ok(['key', 'add'], { CAIRN_NEW_PASSWORD: OTHER });
  for (const round of [0, 1]) {
    await write(round);
    await ok(['backup', src]);
  }

  // What each file of each snapshot needs, and where every blob is.
  const repo = await Repository.open(new LocalBackend(repoDir), { password: PASSWORD });
  await repo.loadIndex();
  for await (const f of repo.backend.list('data')) {
    packSizes.set(f.name, f.size);
    for (const e of await readPackTrailer(repo.backend, repo.key, f.name, f.size))
      blobs.set(e.id.toString('hex'), {
        pack: f.name,
        start: e.offset,
        end: e.offset + e.length,
        type: e.type,
      });
  }
  snaps.push(...(await repo.listSnapshots()).snapshots);
  for (const s of snaps) {
    const list: FileNeed[] = [];
    const walk = async (tree: string, at: string, above: readonly string[]) => {
      for (const n of (await repo.loadTree(tree)).nodes) {
        const p = path.posix.join(at, n.name);
        if (n.type === 'dir' && n.subtree !== undefined) await walk(n.subtree, p, [...above, n.subtree]);
        else if (n.type === 'file') {
          let bytes = Buffer.alloc(0);
          for (const c of n.content ?? [])
            bytes = Buffer.concat([bytes, await repo.loadBlob('data', Buffer.from(c, 'hex'))]);
          list.push({ path: p, sha256: sha(bytes), blobs: [...above, ...(n.content ?? [])] });
        }
      }
    };
    await walk(s.tree, '/', [s.tree]);
    needs.set(s.id, list);
  }
  const newest = snaps.at(-1)!;
  newestTreePack = blobs.get(newest.tree)!.pack;
  // A data pack both snapshots need.
  const inBoth = (id: string) => [...needs.values()].every((l) => l.some((f) => f.blobs.includes(id)));
  sharedDataPack = [...blobs].find(([id, b]) => b.type === 0 && inBoth(id))![1].pack;
  await repo.close();
});

after(() => removeTemp(base));

/** The blobs a damage destroys, and the file it damages. */
async function damage(
  dir: string,
  kind: Kind,
  how: Damage,
): Promise<{ file: string; lost: Set<string>; name: string }> {
  let file: string;
  if (kind === 'data pack' || kind === 'tree pack') {
    const pack = kind === 'data pack' ? sharedDataPack : newestTreePack;
    file = path.join(dir, 'data', pack.slice(0, 2), pack);
  } else if (kind === 'index') file = (await files(path.join(dir, 'index')))[0]!;
  else if (kind === 'snapshot') file = path.join(dir, 'snapshots', snaps.at(-1)!.id);
  else if (kind === 'key') {
    // The slot the first password opens: the other still opens the repository.
    const slots = await files(path.join(dir, 'keys'));
    const first = await Promise.all(
      slots.map(async (s) => ({ s, t: JSON.parse(await fs.readFile(s, 'utf8')).created as string })),
    );
    file = first.sort((x, y) => x.t.localeCompare(y.t) || x.s.localeCompare(y.s))[0]!.s;
  } else file = path.join(dir, 'config');
  const size = (await fs.stat(file)).size;
  const lost = new Set<string>();
  const pack = kind.endsWith('pack') ? path.basename(file) : undefined;
  // A flip in the middle of a blob; a truncation in the middle of the file.
  let at = Math.floor(size / 2);
  if (pack !== undefined && how === 'flip') {
    const inPack = [...blobs].filter(([, b]) => b.pack === pack).sort((x, y) => x[1].start - y[1].start);
    const [, b] = inPack[Math.floor(inPack.length / 2)]!;
    at = Math.floor((b.start + b.end) / 2);
  }
  if (how === 'delete') await fs.rm(file);
  else if (how === 'truncate') await fs.truncate(file, at);
  else await flipByte(file, at, 0x55);
  if (pack !== undefined) {
    for (const [id, b] of blobs) {
      if (b.pack !== pack) continue;
      if (
        how === 'delete' ||
        (how === 'truncate' && b.end > at) ||
        (how === 'flip' && b.start <= at && at < b.end)
      )
        lost.add(id);
    }
  }
  return { file, lost, name: path.basename(file) };
}

/** Restores `snap` into `target` and checks every byte written; returns the run. */
async function restoreAndCompare(
  env: Record<string, string>,
  snap: SnapshotInfo,
  target: string,
  lost: ReadonlySet<string>,
) {
  const r = await cairn(['restore', snap.id, '--target', target, '--json'], { env });
  const want = needs.get(snap.id)!;
  const restorable = want.filter((f) => f.blobs.every((b) => !lost.has(b)));
  let restored = 0;
  for (const f of want) {
    let bytes: Buffer | undefined;
    try {
      bytes = await fs.readFile(path.join(target, f.path));
    } catch {
      bytes = undefined;
    }
    if (bytes !== undefined) {
      assert.equal(sha(bytes), f.sha256, `${f.path} was restored with wrong bytes\n${show(r)}`);
      restored++;
    } else {
      assert.ok(!restorable.includes(f), `${f.path} could have been restored but was not\n${show(r)}`);
    }
  }
  // Nothing else lies in the target: no partial file under any name.
  const extra = (await files(target)).filter((p) => !want.some((f) => path.join(target, f.path) === p));
  assert.deepEqual(extra, [], 'files the snapshot does not have');
  return { r, restored, total: want.length, restorable: restorable.length };
}

const table: string[] = [];

describe('fault matrix', () => {
  for (const kind of KINDS) {
    for (const how of DAMAGES) {
      it(`${how} in a ${kind}: found, named, nothing wrong restored, the most restored, repaired where the data exists`, async () => {
        const dir = path.join(base, `${kind.replace(' ', '-')}-${how}`);
        await fs.cp(repoDir, dir, { recursive: true });
        const env = { CAIRN_REPOSITORY: dir, CAIRN_PASSWORD: PASSWORD };
        const other = { CAIRN_REPOSITORY: dir, CAIRN_PASSWORD: OTHER };
        const { lost, name } = await damage(dir, kind, how);
        const run = (args: string[], e = env): Promise<Run> => cairn(args, { env: e, timeoutMs: 300_000 });
        const outcome: string[] = [];

        // Detected and named.
        const c = await run(['check', '--read-data']);
        const said = c.stdout + c.stderr;
        if (kind === 'snapshot' && how === 'delete') {
          // A deleted snapshot file is a forgotten snapshot: nothing can tell them apart, and
          // nothing else is lost.
          assert.equal(c.code, 0, show(c));
          outcome.push('check exit 0: a deleted snapshot file is a forgotten snapshot');
        } else if (kind === 'key') {
          // The slot no longer opens with its password (exit 12, naming the slot when it no longer
          // parses); the other key opens, and its check is clean: key slots hold no data.
          assert.equal(c.code, ERRORS.REPO_WRONG_PASSWORD.exit, show(c));
          if (how === 'truncate') assert.match(said, new RegExp(name));
          const c2 = await run(['check', '--read-data'], other);
          assert.equal(c2.code, 0, show(c2));
          outcome.push(`check exit ${c.code} with its password, ${c2.code} with the other key`);
        } else {
          assert.notEqual(c.code, 0, `check did not notice\n${show(c)}`);
          // A deleted index file leaves packs in no index, which check names.
          const named =
            kind === 'index' && how === 'delete'
              ? /in no index/.test(said)
              : said.includes(kind.endsWith('pack') ? name : name.slice(0, 12));
          assert.ok(named, `check does not name ${name}\n${show(c)}`);
          outcome.push(`check exit ${c.code}, names it`);
        }

        // Restores.
        const results: string[] = [];
        for (const snap of snaps) {
          const target = path.join(dir + '-restore', snap.id.slice(0, 8));
          const useEnv = kind === 'key' ? other : env;
          const gone = kind === 'snapshot' && snap === snaps.at(-1);
          if (kind === 'config' || gone || kind === 'index') {
            const r = await run(['restore', snap.id, '--target', target], useEnv);
            results.push(`exit ${r.code}`);
            // A damaged index: the restore names what the index lacks; repaired, it restores whole.
            if (kind === 'index') continue;
            assert.notEqual(r.code, 0, show(r));
            assert.deepEqual(await files(target), [], 'nothing is restored from what cannot be read');
            continue;
          }
          const { r, restored, total, restorable } = await restoreAndCompare(useEnv, snap, target, lost);
          assert.equal(restored, restorable);
          assert.equal(r.code, restored === total ? 0 : ERRORS.RESTORE_INCOMPLETE.exit, show(r));
          results.push(`${restored}/${total} files (exit ${r.code})`);
        }
        outcome.push(`restore: ${results.join(', ')}`);

        // Repair, as the messages say.
        let clean: boolean | 'n/a' = 'n/a';
        if (kind === 'index' || kind.endsWith('pack')) {
          const ri = await run(['repair', 'index']);
          assert.ok(ri.code === 0 || ri.code === 3, show(ri));
          const rs = await run(['repair', 'snapshots', '--forget']);
          assert.ok(rs.code === 0 || rs.code === 3, show(rs));
          const after = await run(['check', '--read-data']);
          // The data still exists after index damage and after a deletion (what is gone is cut).
          const exists = kind === 'index' || how === 'delete';
          if (exists) assert.equal(after.code, 0, show(after));
          clean = after.code === 0;
          if (kind === 'index') {
            for (const snap of snaps) {
              const target = path.join(dir + '-again', snap.id.slice(0, 8));
              const { r, restored, total } = await restoreAndCompare(env, snap, target, new Set());
              assert.equal(r.code, 0, show(r));
              assert.equal(restored, total);
            }
          }
        } else if (kind === 'snapshot') {
          if (how !== 'delete') {
            const f = await run(['forget', snaps.at(-1)!.id]);
            assert.equal(f.code, 0, show(f));
          }
          const after = await run(['check', '--read-data']);
          assert.equal(after.code, 0, show(after));
          clean = true;
        } else if (kind === 'key') {
          const slot = path.basename(
            (await files(path.join(dir, 'keys'))).find((f) => path.basename(f) === name) ?? '',
          );
          if (slot !== '') {
            const k = await run(['key', 'remove', slot], other);
            assert.equal(k.code, 0, show(k));
          }
          const after = await run(['check', '--read-data'], other);
          assert.equal(after.code, 0, show(after));
          clean = true;
        }
        outcome.push(`clean check after repair: ${String(clean)}`);
        table.push(`| ${how} | ${kind} | ${outcome.join('; ')} |`);
      });
    }
  }
  after(() => {
    process.stdout.write(`\n| damage | file | outcome |\n|---|---|---|\n${table.join('\n')}\n`);
  });
});
