/**
 * Out-of-process plugins: a program in the plugin directory, in any language, spoken to with
 * JSON-RPC 2.0 over its standard input and output, in the frames of frames.ts (docs/plugin-api.md
 * has the protocol). Its standard error goes to the log, and its tail into messages when it
 * fails. One process serves one host (one backup or restore), its calls one after another.
 */
import { once } from 'node:events';
import { CairnError, reason } from '../errors.ts';
import { VERSION } from '../version.ts';
import {
  PLUGIN_API_VERSIONS,
  type BackupContext,
  type BackupEntry,
  type CommandPlugin,
  type LogLevel,
  type OptionSchema,
  type OptionSpec,
  type OptionType,
  type RestoreContext,
  type RestoreEntry,
  type RestoreSession,
  type RestoreStatus,
} from './api.ts';
import { DATA_PIECE, encodeData, encodeJson, FrameError, FrameReader, type Frame } from './frames.ts';
import { Program } from './program.ts';
import type { BackupLevel } from '../repo/index.ts';

/** How long a plugin may take to answer `initialize` and `shutdown`. */
const HANDSHAKE_MS = 30_000;

interface RpcError {
  readonly code: number;
  readonly message: string;
}

type Incoming =
  | { readonly kind: 'response'; readonly id: number; readonly result?: unknown; readonly error?: RpcError }
  | { readonly kind: 'notification'; readonly method: string; readonly params: Record<string, unknown> }
  | { readonly kind: 'data'; readonly stream: number; readonly bytes: Buffer };

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The pipe to one plugin process: frames out, frames in, requests matched to responses. */
class Connection {
  readonly program: Program;
  readonly name: string;
  readonly #reader: FrameReader;
  #nextId = 1;
  #log: (level: LogLevel, message: string) => void;
  #broken: CairnError | undefined;

  constructor(program: Program, name: string, log: (level: LogLevel, message: string) => void) {
    this.program = program;
    this.name = name;
    this.#log = log;
    const stdout = program.child.stdout;
    if (stdout === null) throw new Error('plugin started without a standard output pipe');
    this.#reader = new FrameReader(stdout);
  }

  set log(fn: (level: LogLevel, message: string) => void) {
    this.#log = fn;
  }

  protocolError(what: string, cause?: unknown): CairnError {
    const tail = this.program.stderrTail();
    const err = new CairnError(
      'PLUGIN_PROTOCOL',
      `Plugin ${this.name} broke the plugin protocol: ${what}${tail ? `; its standard error ends with:\n${tail}` : ''}`,
      cause === undefined ? undefined : { cause },
    );
    this.#broken ??= err;
    return err;
  }

  async #exitedError(): Promise<CairnError> {
    const exit = await Promise.race([
      this.program.exited,
      new Promise<undefined>((r) => setTimeout(() => r(undefined), 2000).unref()),
    ]);
    const how = exit === undefined ? 'closed its standard output' : Program.describe(exit);
    const err = new CairnError(
      'PLUGIN_PROTOCOL',
      `Plugin ${this.name} ${how} before it was done; ${
        this.program.stderrTail()
          ? `its standard error ends with:\n${this.program.stderrTail()}`
          : 'it wrote nothing to standard error'
      }`,
    );
    this.#broken ??= err;
    return err;
  }

  async #write(buf: Buffer): Promise<void> {
    if (this.#broken) throw this.#broken;
    const stdin = this.program.child.stdin;
    if (stdin === null || stdin.destroyed || stdin.writableEnded) throw await this.#exitedError();
    if (!stdin.write(buf)) {
      const exited = this.program.exited.then(() => 'exited' as const);
      const r = await Promise.race([once(stdin, 'drain').then(() => 'drained' as const), exited]);
      if (r === 'exited') throw await this.#exitedError();
    }
  }

  /** Sends a request; returns its id (the response is read with `response`). */
  async request(method: string, params: Record<string, unknown>): Promise<number> {
    const id = this.#nextId++;
    await this.#write(encodeJson({ jsonrpc: '2.0', id, method, params }));
    return id;
  }

  async data(stream: number, bytes: Uint8Array): Promise<void> {
    for (let at = 0; at < bytes.length; at += DATA_PIECE) {
      await this.#write(encodeData(stream, bytes.subarray(at, Math.min(bytes.length, at + DATA_PIECE))));
    }
  }

  async endStream(stream: number): Promise<void> {
    await this.#write(encodeData(stream, new Uint8Array(0)));
  }

  /** The next message or data frame, with log notifications handled on the way. */
  async next(): Promise<Incoming> {
    for (;;) {
      if (this.#broken) throw this.#broken;
      let frame: Frame | undefined;
      try {
        frame = await this.#reader.next();
      } catch (err) {
        if (err instanceof FrameError) throw this.protocolError(err.message, err);
        throw await this.#exitedError();
      }
      if (frame === undefined) throw await this.#exitedError();
      if (frame.type === 'data') return { kind: 'data', stream: frame.stream, bytes: frame.bytes };
      const m = frame.message;
      if (!isRecord(m) || m.jsonrpc !== '2.0') throw this.protocolError('a message that is not JSON-RPC 2.0');
      if (typeof m.method === 'string') {
        const params = isRecord(m.params) ? m.params : {};
        if (m.id !== undefined) {
          // Version 1 has no requests from plugins to the host.
          await this.#write(
            encodeJson({
              jsonrpc: '2.0',
              id: m.id,
              error: { code: -32601, message: `the host has no method ${m.method}` },
            }),
          );
          continue;
        }
        if (m.method === 'log') {
          const level = params.level === 'warning' || params.level === 'error' ? params.level : 'info';
          this.#log(
            level,
            typeof params.message === 'string' ? params.message : JSON.stringify(params.message),
          );
          continue;
        }
        return { kind: 'notification', method: m.method, params };
      }
      if (typeof m.id !== 'number') throw this.protocolError('a response without a numeric id');
      if (isRecord(m.error)) {
        const e = m.error;
        return {
          kind: 'response',
          id: m.id,
          error: {
            code: typeof e.code === 'number' ? e.code : -32000,
            message: typeof e.message === 'string' ? e.message : 'failed',
          },
        };
      }
      return { kind: 'response', id: m.id, result: m.result };
    }
  }

  /** Reads until the response to `id`; other messages are a protocol error. */
  async response(id: number, what: string): Promise<unknown> {
    for (;;) {
      const m = await this.next();
      if (m.kind === 'response' && m.id === id) {
        if (m.error) {
          throw new CairnError('PLUGIN_FAILED', `Plugin ${this.name} failed to ${what}: ${m.error.message}`);
        }
        return m.result;
      }
      if (m.kind === 'data') {
        throw this.protocolError(`data for stream ${m.stream} while waiting for the answer to ${what}`);
      }
      if (m.kind === 'response') throw this.protocolError(`an answer to request ${m.id}, which is not open`);
      throw this.protocolError(`a "${m.method}" notification while waiting for the answer to ${what}`);
    }
  }

  async call(method: string, params: Record<string, unknown>, what: string): Promise<unknown> {
    return this.response(await this.request(method, params), what);
  }
}

const OPTION_TYPES: readonly OptionType[] = ['string', 'integer', 'boolean', 'enum', 'path', 'size'];

/** The option schema a plugin declared, checked. */
function readSchema(name: string, raw: unknown): OptionSchema {
  if (raw === undefined) return {};
  const bad = (why: string) =>
    new CairnError('PLUGIN_PROTOCOL', `Plugin ${name} declared options that are not valid: ${why}`);
  if (!isRecord(raw)) throw bad('"options" is not an object');
  const schema: Record<string, OptionSpec> = {};
  for (const [key, spec] of Object.entries(raw)) {
    if (!/^[A-Za-z][A-Za-z0-9_-]*$/.test(key)) throw bad(`"${key}" is not an option name`);
    if (!isRecord(spec)) throw bad(`option ${key} is not an object`);
    const type = spec.type as OptionType;
    if (!OPTION_TYPES.includes(type)) throw bad(`option ${key} has type ${JSON.stringify(spec.type)}`);
    if (
      type === 'enum' &&
      (!Array.isArray(spec.values) || !spec.values.every((v) => typeof v === 'string'))
    ) {
      throw bad(`enum option ${key} has no list of values`);
    }
    const dflt = spec.default;
    if (dflt !== undefined && !['string', 'number', 'boolean'].includes(typeof dflt)) {
      throw bad(`option ${key} has a default that is not a string, number or boolean`);
    }
    schema[key] = {
      type,
      description: typeof spec.description === 'string' ? spec.description : '',
      ...(spec.required === true ? { required: true } : {}),
      ...(dflt === undefined ? {} : { default: dflt as string | number | boolean }),
      ...(type === 'enum' ? { values: spec.values as string[] } : {}),
      ...(typeof spec.min === 'number' ? { min: spec.min } : {}),
      ...(typeof spec.max === 'number' ? { max: spec.max } : {}),
      ...(spec.secret === true ? { secret: true } : {}),
      ...(spec.identity === true ? { identity: true } : {}),
    };
  }
  return schema;
}

const LEVELS: readonly BackupLevel[] = ['full', 'incremental', 'differential'];

/** Starts the program at `file`, says hello and returns it as a command plugin. */
export async function startProcessPlugin(
  file: string,
  name: string,
  log: (level: LogLevel, message: string) => void,
): Promise<CommandPlugin> {
  let sink = log;
  const program = new Program([file], {
    stdin: 'pipe',
    stdout: 'pipe',
    onStderr: (line) => sink('info', line),
  });
  const conn = new Connection(program, name, (level, message) => sink(level, message));
  let info: Record<string, unknown>;
  try {
    const timer = setTimeout(() => void program.stop(), HANDSHAKE_MS);
    let result: unknown;
    try {
      result = await conn.call(
        'initialize',
        { apiVersions: PLUGIN_API_VERSIONS, host: { program: 'cairn', version: VERSION } },
        'start (initialize)',
      );
    } finally {
      clearTimeout(timer);
    }
    if (!isRecord(result)) throw conn.protocolError('an initialize result that is not an object');
    info = result;
    if (typeof info.apiVersion !== 'number' || !PLUGIN_API_VERSIONS.includes(info.apiVersion)) {
      throw new CairnError(
        'PLUGIN_INCOMPATIBLE',
        `Plugin ${name} (${file}) speaks plugin API version ${JSON.stringify(info.apiVersion)}; this Cairn speaks ${PLUGIN_API_VERSIONS.join(', ')}`,
      );
    }
    if (typeof info.name !== 'string' || info.name.toLowerCase() !== name.toLowerCase()) {
      throw new CairnError(
        'PLUGIN_INCOMPATIBLE',
        `The plugin in ${file} calls itself ${JSON.stringify(info.name)}: a plugin's file is named after it (${name})`,
      );
    }
    if (info.kind !== 'command') {
      throw new CairnError(
        'PLUGIN_INCOMPATIBLE',
        `Plugin ${name} is of kind ${JSON.stringify(info.kind)}: out-of-process plugins are command plugins in API version 1`,
      );
    }
  } catch (err) {
    await program.stop();
    if (err instanceof CairnError) throw err;
    throw new CairnError('PLUGIN_PROTOCOL', `Cannot start plugin ${name} (${file}): ${reason(err)}`, {
      cause: err,
    });
  }
  const levels = Array.isArray(info.levels)
    ? LEVELS.filter((l) => (info.levels as unknown[]).includes(l))
    : undefined;
  const options = readSchema(name, info.options);
  let nextStream = 1;
  let closed = false;

  /** Plugin output while a call runs goes to that call's log. */
  const during = async <T>(ctxLog: (level: LogLevel, message: string) => void, fn: () => Promise<T>) => {
    const saved = sink;
    sink = ctxLog;
    try {
      return await fn();
    } finally {
      sink = saved;
    }
  };

  const plugin: CommandPlugin = {
    name,
    kind: 'command',
    apiVersion: info.apiVersion,
    version: typeof info.version === 'string' ? info.version : '',
    description: typeof info.description === 'string' ? info.description : '',
    options,
    ...(levels ? { levels } : {}),

    backup(ctx: BackupContext): AsyncIterable<BackupEntry> {
      return {
        [Symbol.asyncIterator]: () => backupEntries(ctx),
      };
    },

    async restore(ctx: RestoreContext): Promise<RestoreSession> {
      const onAbort = () => void program.stop();
      ctx.signal.addEventListener('abort', onAbort, { once: true });
      await during(ctx.log, () =>
        conn.call(
          'restore.start',
          {
            directive: ctx.directive,
            options: ctx.options,
            level: ctx.level,
            state: ctx.state ?? null,
            target: ctx.target,
            snapshot: { id: ctx.snapshot.id, time: ctx.snapshot.time, host: ctx.snapshot.host },
          },
          'start a restore',
        ),
      );
      return {
        entry: (entry: RestoreEntry) => during(ctx.log, () => restoreEntry(entry)),
        async end(failed?: unknown): Promise<void> {
          ctx.signal.removeEventListener('abort', onAbort);
          const call = during(ctx.log, () =>
            conn.call(
              'restore.end',
              { failed: failed === undefined ? null : reason(failed) },
              'end the restore',
            ),
          );
          if (failed === undefined) await call;
          else await call.catch(() => undefined);
        },
      };
    },

    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      const timer = setTimeout(() => void program.stop(), HANDSHAKE_MS);
      try {
        await conn.call('shutdown', {}, 'shut down').catch(() => undefined);
        program.child.stdin?.end();
        await Promise.race([program.exited, new Promise((r) => setTimeout(r, 5000).unref())]);
      } finally {
        clearTimeout(timer);
        await program.stop();
      }
    },
  };

  async function* backupEntries(ctx: BackupContext): AsyncGenerator<BackupEntry> {
    const saved = sink;
    sink = ctx.log;
    const onAbort = () => void program.stop();
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    try {
      const prior = (p: typeof ctx.previous) =>
        p === undefined
          ? null
          : { snapshot: p.snapshot, time: p.time, level: p.level, state: p.state ?? null };
      const id = await conn.request('backup', {
        directive: ctx.directive,
        options: ctx.options,
        level: ctx.level,
        host: ctx.host,
        previous: prior(ctx.previous),
        previousFull: prior(ctx.previousFull),
        since: prior(ctx.since),
      });
      for (;;) {
        const m = await conn.next();
        if (m.kind === 'response') {
          if (m.id !== id) throw conn.protocolError(`an answer to request ${m.id}, which is not open`);
          if (m.error)
            throw new CairnError('PLUGIN_FAILED', `Plugin ${name} failed to back up: ${m.error.message}`);
          if (isRecord(m.result) && m.result.state !== undefined && m.result.state !== null) {
            ctx.setState(m.result.state);
          }
          return;
        }
        if (m.kind === 'data') throw conn.protocolError(`data for stream ${m.stream} outside any entry`);
        if (m.method !== 'backup.entry') throw conn.protocolError(`an unknown notification "${m.method}"`);
        const e = m.params;
        const type = e.type;
        if (typeof e.path !== 'string' || (type !== 'file' && type !== 'dir' && type !== 'symlink')) {
          throw conn.protocolError(
            'a backup.entry without a path or with a type other than file, dir, symlink',
          );
        }
        const stream = typeof e.stream === 'number' ? e.stream : undefined;
        if (stream !== undefined && type !== 'file')
          throw conn.protocolError(`a ${type} entry with a stream`);
        let finished = stream === undefined;
        const data = async function* (): AsyncGenerator<Buffer> {
          while (!finished) {
            const f = await conn.next();
            if (f.kind === 'data') {
              if (f.stream !== stream)
                throw conn.protocolError(`data for stream ${f.stream} inside stream ${stream}`);
              if (f.bytes.length === 0) {
                finished = true;
                return;
              }
              yield f.bytes;
            } else if (f.kind === 'response' && f.id === id && f.error) {
              throw new CairnError(
                'PLUGIN_FAILED',
                `Plugin ${name} failed to back up ${e.path as string}: ${f.error.message}`,
              );
            } else {
              throw conn.protocolError(`a message inside the data of ${e.path as string} (stream ${stream})`);
            }
          }
        };
        const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
        const mode = num(e.mode);
        const uid = num(e.uid);
        const gid = num(e.gid);
        const mtimeMs = num(e.mtimeMs);
        yield {
          path: e.path,
          type,
          ...(mode === undefined ? {} : { mode }),
          ...(uid === undefined ? {} : { uid }),
          ...(gid === undefined ? {} : { gid }),
          ...(mtimeMs === undefined ? {} : { mtimeMs }),
          ...(typeof e.linkTarget === 'string' ? { linkTarget: e.linkTarget } : {}),
          ...(typeof e.source === 'string' ? { source: e.source } : {}),
          ...(Array.isArray(e.exclude) && e.exclude.every((x) => typeof x === 'string')
            ? { exclude: e.exclude }
            : {}),
          ...(e.volatile === true ? { volatile: true } : {}),
          ...(e.keep === true ? { keep: true } : {}),
          ...(e.plain === true ? { plain: true } : {}),
          ...(type === 'file' && typeof e.source !== 'string' && e.keep !== true
            ? { data: stream === undefined ? empty() : data() }
            : {}),
        };
        // The host reads a file's data whole before asking for the next entry; if it did not, the
        // rest of the stream is read past here.
        if (!finished) for await (const _ of data()) void _;
      }
    } finally {
      ctx.signal.removeEventListener('abort', onAbort);
      sink = saved;
    }
  }

  async function restoreEntry(entry: RestoreEntry): Promise<RestoreStatus> {
    const stream = entry.type === 'file' ? nextStream++ : undefined;
    const id = await conn.request('restore.entry', {
      path: entry.path,
      type: entry.type,
      mode: entry.mode,
      uid: entry.uid,
      gid: entry.gid,
      size: entry.size,
      mtimeMs: entry.mtimeMs,
      ...(entry.linkTarget === undefined ? {} : { linkTarget: entry.linkTarget }),
      stream: stream ?? null,
    });
    // The data is written while the answer is awaited: a plugin that answers early (a failure)
    // stops the writing, and one that logs while reading is not blocked by a host that writes.
    let answered = false;
    const writing = (async () => {
      if (stream === undefined) return;
      for await (const chunk of entry.data) {
        if (answered) return;
        await conn.data(stream, chunk);
      }
      await conn.endStream(stream);
    })();
    writing.catch(() => undefined);
    const answer = conn.response(id, `restore ${entry.path}`).finally(() => (answered = true));
    const [, result] = await Promise.all([writing, answer]);
    const status = isRecord(result) ? result.status : undefined;
    if (status !== 'restored' && status !== 'core' && status !== 'skip') {
      throw conn.protocolError(`a restore.entry result with status ${JSON.stringify(status)}`);
    }
    return status;
  }

  return plugin;
}

async function* empty(): AsyncGenerator<Buffer> {}
