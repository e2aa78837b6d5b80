/**
 * Byte streams as backup sources: standard input, and the output of a program started without a
 * shell. A program that exits non-zero (or is killed) fails the backup: an empty or partial dump
 * must never pass for a good one.
 */
import { spawn } from 'node:child_process';
import type { Readable } from 'node:stream';
import { CairnError, reason } from '../errors.ts';
import type { StreamSource } from '../repo/index.ts';

/** Reads a Readable into caller buffers, FileHandle.read style (0 at the end). */
export function readerOf(stream: Readable): StreamSource['read'] {
  let pending: Buffer | undefined;
  let ended = false;
  let failure: unknown;
  let wake: (() => void) | undefined;
  const notify = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  stream.on('end', () => {
    ended = true;
    notify();
  });
  stream.on('error', (err) => {
    failure = err;
    notify();
  });
  stream.on('readable', notify);
  return async (buf, offset, length) => {
    for (;;) {
      if (pending === undefined || pending.length === 0) {
        const next = stream.read() as Buffer | null;
        pending = next ?? undefined;
      }
      if (pending !== undefined && pending.length > 0) {
        const n = Math.min(length, pending.length);
        pending.copy(buf, offset, 0, n);
        pending = pending.subarray(n);
        return n;
      }
      if (failure !== undefined) throw failure instanceof Error ? failure : new Error(reason(failure));
      if (ended) return 0;
      await new Promise<void>((resolve) => (wake = resolve));
    }
  };
}

export function stdinSource(name: string): StreamSource {
  return { name, read: readerOf(process.stdin) };
}

/** Runs `command args...` (no shell) and backs up what it writes to standard output. */
export function commandSource(
  name: string,
  command: string,
  args: readonly string[],
  signal?: AbortSignal,
): StreamSource {
  // The dump program gets Cairn's environment without its own variables: no password.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('CAIRN_')));
  const child = spawn(command, args, {
    stdio: ['ignore', 'pipe', 'inherit'],
    env,
    ...(signal ? { signal } : {}),
  });
  const exited = new Promise<{ code: number | null; sig: NodeJS.Signals | null; error?: Error }>(
    (resolve) => {
      child.on('error', (error) => resolve({ code: null, sig: null, error }));
      child.on('close', (code, sig) => resolve({ code, sig }));
    },
  );
  const shown = [command, ...args].join(' ');
  return {
    name,
    read: readerOf(child.stdout),
    async finish() {
      const { code, sig, error } = await exited;
      if (error) {
        throw new CairnError(
          'SOURCE_EXIT_NONZERO',
          `Cannot back up the output of "${shown}": ${error.message}`,
          { cause: error },
        );
      }
      if (code !== 0) {
        const how = sig ? `was killed by ${sig}` : `exited with code ${code}`;
        throw new CairnError(
          'SOURCE_EXIT_NONZERO',
          `Cannot back up the output of "${shown}": it ${how}; no snapshot was written`,
        );
      }
    },
  };
}
