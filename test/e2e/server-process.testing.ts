/**
 * `cairn server` as its own process, started from dist/ (bin/cairn) on a free loopback port: the
 * tests that kill servers, or run several on one catalog, use it.
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../../src/catalog/postgres.testing.ts';
import { startCairn, type Exit } from '../integration/run-cli.testing.ts';

export interface ServerProcess {
  readonly url: string;
  readonly done: Promise<Exit>;
  /** Sends a signal unless the process has ended. */
  kill(signal: NodeJS.Signals): void;
  /** What it wrote to stderr so far. */
  stderr(): string;
}

/** Starts `cairn server --listen 127.0.0.1:PORT ...args` and resolves once it listens. */
export async function serverProcess(args: readonly string[], env: NodeJS.ProcessEnv): Promise<ServerProcess> {
  const port = await freePort();
  const { child, done } = startCairn(['server', '--listen', `127.0.0.1:${port}`, ...args], env);
  let err = '';
  child.stderr?.on('data', (d: string | Buffer) => (err += String(d)));
  const s: ServerProcess = {
    url: `http://127.0.0.1:${port}`,
    done,
    kill: (signal) => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    },
    stderr: () => err,
  };
  const end = Date.now() + 60_000;
  while (!/listening on/.test(err)) {
    if (child.exitCode !== null) assert.fail(`the server ended: ${err}`);
    if (Date.now() > end) {
      s.kill('SIGKILL');
      assert.fail(`the server does not listen after 60 s: ${err}`);
    }
    await sleep(25);
  }
  return s;
}
