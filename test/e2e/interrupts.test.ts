/**
 * Ctrl-C always works: a backup whose read is stuck (in the kernel, or on a pipe nobody writes
 * to) still ends on SIGINT or SIGTERM with exit 130, within the grace period, without leaving its
 * lock, and the repository checks clean afterwards; a locked command that runs no operation ends
 * at once.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { GRACE_MS } from '../../src/cli/signals.ts';
import { cairn, makeTemp, removeTemp, show, startCairn, type Run, type Started } from './cli.testing.ts';
import { makeRepo } from './repo.testing.ts';

const PASSWORD = 'interrupts-e2e-password';

/** Why /proc/kmsg cannot serve as a read that blocks in the kernel here, or undefined when it can. */
async function kmsgUnusable(): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return 'reading /proc/kmsg needs root';
  try {
    await (await fs.open('/proc/kmsg', 'r')).close();
    return undefined;
  } catch (err) {
    return `/proc/kmsg cannot be opened: ${(err as Error).message}`;
  }
}

/** Resolves once `file` exists; rejects if the process ends first. */
async function appears(file: string, started: Started): Promise<void> {
  let ended = false;
  void started.done.then(() => (ended = true));
  while (!existsSync(file)) {
    if (ended) throw new Error(`the process ended before ${file} appeared: ${show(await started.done)}`);
    await sleep(20);
  }
}

/** Resolves once standard error has a line matching `pattern`. */
function stderrLine(started: Started, pattern: RegExp): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const onData = (b: Buffer) => {
      seen += b.toString('utf8');
      if (seen.split('\n').some((l) => pattern.test(l))) {
        started.child.stderr.off('data', onData);
        resolve();
      }
    };
    started.child.stderr.on('data', onData);
    void started.done.then((r) => reject(new Error(`no line matching ${pattern}: ${show(r)}`)));
  });
}

/**
 * The one error of an interrupted command, as `error: MESSAGE [CODE]`: with --json the last line
 * of standard output (and then nothing of it on standard error: said once), else the last line of
 * standard error.
 */
function errorLine(r: Run): string {
  const last = r.stdout.trimEnd().split('\n').at(-1) ?? '';
  if (last.startsWith('{')) {
    const j = JSON.parse(last) as { message_type?: string; message?: string; code?: string };
    if (j.message_type === 'error') {
      assert.doesNotMatch(r.stderr, /^error: /m, 'an error is said once');
      return `error: ${j.message} [${j.code}]`;
    }
  }
  return r.stderr.trimEnd().split('\n').at(-1) ?? '';
}

describe('interrupts', () => {
  let dir: string;
  let repo: string;
  let env: Record<string, string>;
  let src: string;

  before(async () => {
    dir = await makeTemp();
    src = path.join(dir, 'source');
    await fs.mkdir(src);
    await fs.writeFile(path.join(src, 'a.txt'), 'alpha\n');
    repo = path.join(dir, 'repo');
    await makeRepo(repo, PASSWORD, [src]);
    env = { CAIRN_REPOSITORY: repo, CAIRN_PASSWORD: PASSWORD };
  });

  after(() => removeTemp(dir));

  /** No lock left, no snapshot added, `check` clean, and the next backup works. */
  async function repositoryIntact(snapshotsBefore: string[]): Promise<void> {
    assert.deepEqual(await fs.readdir(path.join(repo, 'locks')), []);
    assert.deepEqual((await fs.readdir(path.join(repo, 'snapshots'))).sort(), snapshotsBefore);
    const check = await cairn(['check'], { env });
    assert.equal(check.code, 0, show(check));
    const next = await cairn(['backup', src], { env });
    assert.equal(next.code, 0, show(next));
  }

  /** Starts `cairn backup --json /proc/kmsg` and resolves once it is reading (blocked) there. */
  async function kmsgBackup(): Promise<Started> {
    const b = startCairn(['backup', '--json', '/proc/kmsg'], { env, timeoutMs: 60_000 });
    // Status lines come once a second; by the first one naming /proc/kmsg its read has drained
    // the kernel's messages and waits in the kernel for more.
    await b.lineMatching(/"message_type":"status".*"\/proc\/kmsg"/);
    return b;
  }

  it('SIGINT ends a backup of /proc/kmsg (a read that blocks in the kernel) with exit 130 within the grace period, its lock removed', async (t: TestContext) => {
    const why = await kmsgUnusable();
    if (why !== undefined) return t.skip(why);
    const snapshots = (await fs.readdir(path.join(repo, 'snapshots'))).sort();
    const b = await kmsgBackup();
    const sent = performance.now();
    b.child.kill('SIGINT');
    const r = await b.done;
    const seconds = (performance.now() - sent) / 1000;
    assert.equal(r.code, 130, show(r));
    assert.ok(seconds < GRACE_MS / 1000 + 5, `it took ${seconds.toFixed(1)} s to end`);
    assert.match(r.stderr, /^SIGINT: stopping/m);
    assert.match(errorLine(r), /^error: Backup cancelled: no snapshot was written; .* \[INTERRUPTED\]$/);
    await repositoryIntact(snapshots);
  });

  it('a second SIGINT ends it at once', async (t: TestContext) => {
    const why = await kmsgUnusable();
    if (why !== undefined) return t.skip(why);
    const snapshots = (await fs.readdir(path.join(repo, 'snapshots'))).sort();
    const b = await kmsgBackup();
    const stopping = stderrLine(b, /^SIGINT: stopping/);
    b.child.kill('SIGINT');
    await stopping;
    const sent = performance.now();
    b.child.kill('SIGINT');
    const r = await b.done;
    const seconds = (performance.now() - sent) / 1000;
    assert.equal(r.code, 130, show(r));
    assert.ok(seconds < GRACE_MS / 1000, `it took ${seconds.toFixed(1)} s to end`);
    assert.match(
      errorLine(r),
      /at a second signal .* was abandoned; its repository lock was removed \[INTERRUPTED\]$/,
    );
    await repositoryIntact(snapshots);
  });

  it('SIGTERM ends a --stdin-from-command backup whose program never writes and ignores SIGTERM', async () => {
    const snapshots = (await fs.readdir(path.join(repo, 'snapshots'))).sort();
    const pidFile = path.join(dir, 'writer.pid');
    // The shell ignores SIGTERM and so does the sleep it becomes: the pipe stays open, unwritten.
    const script = `echo $$ > '${pidFile}'; trap '' TERM; exec sleep 1000`;
    const b = startCairn(['backup', '--stdin-from-command', '--', 'sh', '-c', script], {
      env,
      timeoutMs: 60_000,
    });
    const killWriter = async () => {
      const pid = Number((await fs.readFile(pidFile, 'utf8').catch(() => '')).trim());
      try {
        if (pid > 0) process.kill(pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    };
    try {
      await appears(pidFile, b);
      const exited = new Promise((resolve) => b.child.once('exit', resolve));
      b.child.kill('SIGTERM');
      await exited;
      // The writer shares Cairn's standard error: its output is complete only once the writer is gone.
      await killWriter();
      const r = await b.done;
      assert.equal(r.code, 130, show(r));
      assert.match(errorLine(r), /^error: Backup cancelled: no snapshot was written; .* \[INTERRUPTED\]$/);
      await repositoryIntact(snapshots);
    } finally {
      await killWriter();
    }
  });

  it('SIGTERM ends a --stdin backup whose standard input stays open and empty', async () => {
    const snapshots = (await fs.readdir(path.join(repo, 'snapshots'))).sort();
    const b = startCairn(['backup', '--json', '--stdin'], { env, timeoutMs: 60_000, stdinOpen: true });
    // A status line once a second: the backup is waiting for its first byte.
    await b.lineMatching(/"message_type":"status"/);
    b.child.kill('SIGTERM');
    const r = await b.done;
    b.child.stdin.destroy();
    assert.equal(r.code, 130, show(r));
    assert.match(errorLine(r), /^error: Backup cancelled: no snapshot was written; .* \[INTERRUPTED\]$/);
    await repositoryIntact(snapshots);
  });
  it('a --run-after program still runs after an interrupted backup, told it failed', async () => {
    const marker = path.join(dir, 'after-ran');
    const script = path.join(dir, 'after.sh');
    await fs.writeFile(script, `#!/bin/sh\necho "$CAIRN_RESULT" > '${marker}'\n`, { mode: 0o755 });
    const b = startCairn(['backup', '--json', '--run-after', script, '--stdin'], {
      env,
      timeoutMs: 60_000,
      stdinOpen: true,
    });
    await b.lineMatching(/"message_type":"status"/);
    b.child.kill('SIGINT');
    const r = await b.done;
    b.child.stdin.destroy();
    assert.equal(r.code, 130, show(r));
    assert.equal(await fs.readFile(marker, 'utf8'), 'failed\n');
    assert.deepEqual(await fs.readdir(path.join(repo, 'locks')), []);
  });
  it('SIGINT while a locked command runs no operation (restore --interactive at its prompt) ends it at once, its lock removed', async () => {
    const target = path.join(dir, 'restore-target');
    const r = startCairn(['restore', 'latest', '--interactive', '--target', target], {
      env,
      timeoutMs: 60_000,
      stdinOpen: true,
    });
    await r.lineMatching(/type help for commands/);
    assert.equal((await fs.readdir(path.join(repo, 'locks'))).length, 1);
    r.child.kill('SIGINT');
    const res = await r.done;
    r.child.stdin.destroy();
    assert.equal(res.code, 130, show(res));
    assert.match(
      errorLine(res),
      /^error: Interrupted by SIGINT: "cairn restore" ended at once, between operations; .*; its repository lock was removed \[INTERRUPTED\]$/,
    );
    assert.deepEqual(await fs.readdir(path.join(repo, 'locks')), []);
    assert.equal(existsSync(target), false);
  });
});
