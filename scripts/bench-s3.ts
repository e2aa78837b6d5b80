/**
 * Backup and restore throughput of Cairn to a real Ceph RADOS Gateway (BlueStore), next to Cairn
 * on the local disk and restic's S3 backend on the same gateway, in one run.
 *
 *   npm run -s build && node scripts/bench-s3.ts [DATASET...]
 *
 * Datasets: `docs` (/usr/share/doc: thousands of small files) and `bulk` (4 files of 128 MiB of
 * random bytes, generated). Needs Ceph (scripts/setup.sh) and restic (apt-get install restic).
 * Each tool gets a fresh repository and a fresh cache; the source is read once beforehand so that
 * every run finds it in the page cache. Prints a Markdown table.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

import { startRgw } from '../src/backend/rgw.testing.ts';

const exec = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, '..');
const CAIRN = path.join(ROOT, 'bin', 'cairn');

async function du(dir: string): Promise<{ files: number; bytes: number }> {
  let files = 0;
  let bytes = 0;
  for (const e of await fs.readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!e.isFile()) continue;
    files++;
    bytes += (await fs.stat(path.join(e.parentPath, e.name))).size;
  }
  return { files, bytes };
}

async function timed(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const t = performance.now();
  try {
    await exec(cmd, args, { env, maxBuffer: 64 * 1024 * 1024 });
  } catch (err) {
    const e = err as { stderr?: string; stdout?: string };
    throw new Error(
      `${path.basename(cmd)} ${args.join(' ')} failed: ${e.stderr ?? ''}${e.stdout?.slice(-2000) ?? ''}`,
    );
  }
  return (performance.now() - t) / 1000;
}

const datasets = process.argv.slice(2).length > 0 ? process.argv.slice(2) : ['docs', 'bulk'];
const work = await fs.mkdtemp(path.join(os.tmpdir(), 'cairn-bench-s3-'));
const rgw = await startRgw({ store: 'bluestore' });
console.error(`Ceph RGW (BlueStore) up in ${rgw.startupMs} ms at ${rgw.endpoint}`);
const rows: string[] = [];
try {
  const s3env = {
    AWS_ACCESS_KEY_ID: rgw.accessKeyId,
    AWS_SECRET_ACCESS_KEY: rgw.secretAccessKey,
    AWS_DEFAULT_REGION: 'us-east-1',
  };
  const base: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env))
    if (!k.startsWith('CAIRN_') && !k.startsWith('AWS_')) base[k] = v;
  for (const set of datasets) {
    let src: string;
    if (set === 'docs') src = '/usr/share/doc';
    else if (set === 'bulk') {
      src = path.join(work, 'bulk');
      await fs.mkdir(src);
      for (let i = 0; i < 4; i++) {
        const fh = await fs.open(path.join(src, `f${i}`), 'w');
        for (let j = 0; j < 128; j++) await fh.write(randomBytes(1024 * 1024));
        await fh.close();
      }
    } else throw new Error(`unknown dataset ${set}`);
    const { files, bytes } = await du(src);
    await exec('tar', ['cf', '/dev/null', src]); // into the page cache
    const mib = bytes / 1024 / 1024;
    const targets: { name: string; repo: string; tool: 'cairn' | 'restic' }[] = [
      { name: 'Cairn, local disk', repo: path.join(work, `${set}-local`), tool: 'cairn' },
      { name: 'Cairn, Ceph RGW', repo: `s3:${rgw.endpoint}/cairn-${set}`, tool: 'cairn' },
      { name: 'restic 0.14, Ceph RGW', repo: `s3:${rgw.endpoint}/restic-${set}`, tool: 'restic' },
    ];
    for (const t of targets) {
      const cache = path.join(work, `cache-${set}-${t.tool}-${t.name.length}`);
      const env = {
        ...base,
        ...s3env,
        XDG_CACHE_HOME: cache,
        CAIRN_REPOSITORY: t.repo,
        CAIRN_PASSWORD: 'bench',
        RESTIC_REPOSITORY: t.repo,
        RESTIC_PASSWORD: 'bench',
      };
      const target = path.join(work, `restore-${set}-${t.tool}-${t.name.length}`);
      let backup: number;
      let restore: number;
      if (t.tool === 'cairn') {
        await timed(CAIRN, ['init'], env);
        backup = await timed(CAIRN, ['backup', '--quiet', src], env);
        restore = await timed(CAIRN, ['restore', 'latest', '--quiet', '--target', target], env);
      } else {
        await timed('restic', ['init', '--cache-dir', cache], env);
        backup = await timed('restic', ['backup', '--quiet', '--cache-dir', cache, src], env);
        restore = await timed(
          'restic',
          ['restore', 'latest', '--quiet', '--cache-dir', cache, '--target', target],
          env,
        );
      }
      const restored = await du(path.join(target, src));
      if (restored.files !== files || restored.bytes !== bytes) {
        throw new Error(
          `${t.name}: restored ${restored.files} files, ${restored.bytes} bytes, not ${files}, ${bytes}`,
        );
      }
      await fs.rm(target, { recursive: true, force: true });
      rows.push(
        `| ${set} (${files} files, ${mib.toFixed(0)} MiB) | ${t.name} | ${backup.toFixed(1)} s | ${(mib / backup).toFixed(0)} MiB/s | ${restore.toFixed(1)} s | ${(mib / restore).toFixed(0)} MiB/s |`,
      );
      console.error(rows[rows.length - 1]);
    }
  }
} finally {
  await rgw.stop();
  await fs.rm(work, { recursive: true, force: true });
}
console.log(`| data | where | backup | backup rate | restore | restore rate |
|---|---|---|---|---|---|
${rows.join('\n')}`);
