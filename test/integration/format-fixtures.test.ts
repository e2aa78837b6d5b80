// Every released repository format version must open forever: each fixture under test/fixtures
// (made by scripts/make-fixture.ts when its version was released, never regenerated) is opened
// with a password and with a key-encryption key, checked byte for byte, and restored.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LocalBackend } from '../../src/backend/index.ts';
import { check, restore, Repository } from '../../src/repo/index.ts';

const fixtures = new URL('../fixtures/', import.meta.url);

interface Manifest {
  formatVersion: number;
  password: string;
  kekHex: string;
  sourceRoot: string;
  snapshots: string[];
  files: Record<string, { type: string; mode?: number; sha256?: string; target?: string; mtimeMs?: number }>;
}

/** A writable copy (opening takes a lock); git keeps no empty folders, so they are re-made. */
async function copyFixture(name: string): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), `cairn-${name}-`));
  await fs.cp(new URL(name, fixtures), dir, { recursive: true });
  for (const sub of ['keys', 'index', 'snapshots', 'locks'])
    await fs.mkdir(path.join(dir, sub), { recursive: true });
  for (let i = 0; i < 256; i++)
    await fs.mkdir(path.join(dir, 'data', i.toString(16).padStart(2, '0')), { recursive: true });
  return dir;
}

const names = (await fs.readdir(fixtures)).filter((n) => /^repo-v\d+$/.test(n));

describe('repository format fixtures', () => {
  it('include one for format version 1', () => {
    assert.ok(names.includes('repo-v1'));
  });

  for (const name of names) {
    it(`${name} opens, checks clean with --read-data and restores its files exactly`, async () => {
      const manifest = JSON.parse(
        await fs.readFile(new URL(`${name}.manifest.json`, fixtures), 'utf8'),
      ) as Manifest;
      const dir = await copyFixture(name);
      const target = await fs.mkdtemp(path.join(os.tmpdir(), 'cairn-fixture-restore-'));
      try {
        const repo = await Repository.open(new LocalBackend(dir), { password: manifest.password });
        assert.equal(repo.config.version, manifest.formatVersion);
        const result = await check(repo, { readData: true });
        assert.deepEqual(result.errors, []);
        const { snapshots } = await repo.listSnapshots();
        assert.deepEqual(snapshots.map((s) => s.id).sort(), [...manifest.snapshots].sort());
        const latest = await repo.findSnapshot(manifest.snapshots[manifest.snapshots.length - 1]!);
        await restore(repo, latest, target);
        const base = path.join(target, manifest.sourceRoot);
        for (const [rel, want] of Object.entries(manifest.files)) {
          const full = path.join(base, rel);
          const st = await fs.lstat(full);
          if (want.type === 'symlink') {
            assert.ok(st.isSymbolicLink(), rel);
            assert.equal(await fs.readlink(full), want.target, rel);
            continue;
          }
          assert.equal(st.mode & 0o7777, want.mode, `${rel} mode`);
          assert.equal(Math.round(st.mtimeMs), Math.round(want.mtimeMs ?? 0), `${rel} mtime`);
          if (want.type === 'file') {
            const sha = createHash('sha256')
              .update(await fs.readFile(full))
              .digest('hex');
            assert.equal(sha, want.sha256, `${rel} content`);
          }
        }
        // The key-encryption-key slot opens the same repository.
        const byKek = await Repository.open(new LocalBackend(dir), {
          kek: Buffer.from(manifest.kekHex, 'hex'),
        });
        assert.equal(byKek.config.id, repo.config.id);
      } finally {
        await fs.rm(dir, { recursive: true, force: true });
        await fs.rm(target, { recursive: true, force: true });
      }
    });
  }
});
