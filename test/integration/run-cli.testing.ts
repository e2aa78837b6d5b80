/**
 * Running the built CLI (bin/cairn) from the integration tests, with the repository and password
 * in its environment.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { statSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import path from 'node:path';

export const ROOT = path.resolve(import.meta.dirname, '..', '..');
export const CAIRN = path.join(ROOT, 'bin', 'cairn');

/** Fails unless dist/ holds a build at least as new as every source file the CLI runs. */
export async function assertBuilt(): Promise<void> {
  const main = path.join(ROOT, 'dist', 'cli', 'main.js');
  let built: number;
  try {
    built = statSync(main).mtimeMs;
  } catch {
    assert.fail(`${main} is missing: build the CLI first (npm run -s build)`);
  }
  for (const f of await readdir(path.join(ROOT, 'src'), { recursive: true })) {
    if (!f.endsWith('.ts') || f.endsWith('.test.ts') || f.endsWith('.testing.ts')) continue;
    const changed = statSync(path.join(ROOT, 'src', f)).mtimeMs;
    assert.ok(changed <= built, `src/${f} is newer than dist/: rebuild the CLI first (npm run -s build)`);
  }
}

export function cliEnv(repo: string, password = 'x'): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k.startsWith('CAIRN_') || k === 'NODE_TEST_CONTEXT' || k === 'NODE_OPTIONS') continue;
    env[k] = v;
  }
  return { ...env, CAIRN_REPOSITORY: repo, CAIRN_PASSWORD: password };
}

export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Starts `cairn args`; `done` resolves when it has exited and its output is collected. */
export function startCairn(
  args: readonly string[],
  env: NodeJS.ProcessEnv,
): { child: ChildProcess; done: Promise<Exit> } {
  const child = spawn(CAIRN, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const done = new Promise<Exit>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  return { child, done };
}

export function cairn(args: readonly string[], env: NodeJS.ProcessEnv): Promise<Exit> {
  return startCairn(args, env).done;
}
