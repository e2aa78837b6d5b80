/**
 * The framing of the out-of-process plugin protocol (docs/plugin-api.md): both directions of the
 * pipe are a sequence of frames, so JSON-RPC messages and binary data interleave without any
 * escaping.
 *
 *   frame = type[1] ‖ length[4, big-endian] ‖ payload[length]
 *   type 'J' (0x4A): payload is one JSON-RPC 2.0 message, UTF-8
 *   type 'D' (0x44): payload is stream[4, big-endian] ‖ bytes; no bytes ends the stream
 *
 * A payload is at most 16 MiB; writers send data in pieces of at most 1 MiB.
 */
import type { Readable } from 'node:stream';

export const FRAME_JSON = 0x4a;
export const FRAME_DATA = 0x44;
export const HEADER = 5;
export const MAX_PAYLOAD = 16 * 1024 * 1024;
/** Bytes of data a writer puts in one frame. */
export const DATA_PIECE = 1024 * 1024;

export type Frame =
  | { readonly type: 'json'; readonly message: unknown }
  | { readonly type: 'data'; readonly stream: number; readonly bytes: Buffer };

export function encodeJson(message: unknown): Buffer {
  const body = Buffer.from(JSON.stringify(message), 'utf8');
  const head = Buffer.allocUnsafe(HEADER);
  head[0] = FRAME_JSON;
  head.writeUInt32BE(body.length, 1);
  return Buffer.concat([head, body]);
}

/** One data frame (bytes at most DATA_PIECE long; empty: the end of the stream). */
export function encodeData(stream: number, bytes: Uint8Array): Buffer {
  const head = Buffer.allocUnsafe(HEADER + 4);
  head[0] = FRAME_DATA;
  head.writeUInt32BE(bytes.length + 4, 1);
  head.writeUInt32BE(stream, HEADER);
  return Buffer.concat([head, bytes]);
}

/** Why the bytes on a pipe are not frames. */
export class FrameError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FrameError';
  }
}

/**
 * Reads frames from a stream on demand: nothing is read ahead of what the caller asks for beyond
 * the pipe's own buffer, so a plugin that writes faster than the host stores is held back.
 */
export class FrameReader {
  readonly #iterator: AsyncIterator<Buffer>;
  #chunks: Buffer[] = [];
  #length = 0;
  #ended = false;

  constructor(stream: Readable) {
    this.#iterator = stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  }

  /** Takes n bytes from the buffered chunks (the caller made sure there are enough). */
  #take(n: number): Buffer {
    if (n === 0) return Buffer.alloc(0);
    const first = this.#chunks[0] as Buffer;
    if (first.length >= n) {
      const rest = first.subarray(n);
      if (rest.length === 0) this.#chunks.shift();
      else this.#chunks[0] = rest;
      this.#length -= n;
      return first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    let got = 0;
    while (got < n) {
      const c = this.#chunks[0] as Buffer;
      const k = Math.min(c.length, n - got);
      c.copy(out, got, 0, k);
      got += k;
      if (k === c.length) this.#chunks.shift();
      else this.#chunks[0] = c.subarray(k);
    }
    this.#length -= n;
    return out;
  }

  async #fill(n: number): Promise<boolean> {
    while (this.#length < n) {
      if (this.#ended) return false;
      const r = await this.#iterator.next();
      if (r.done) {
        this.#ended = true;
        return false;
      }
      const b = r.value;
      if (b.length > 0) {
        this.#chunks.push(b);
        this.#length += b.length;
      }
    }
    return true;
  }

  /** The next frame; undefined at a clean end (the pipe closed between frames). */
  async next(): Promise<Frame | undefined> {
    if (!(await this.#fill(HEADER))) {
      if (this.#length === 0) return undefined;
      throw new FrameError(`the output ends inside a frame header (${this.#length} bytes)`);
    }
    const head = this.#take(HEADER);
    const type = head[0] ?? 0;
    const length = head.readUInt32BE(1);
    if (type !== FRAME_JSON && type !== FRAME_DATA) {
      const shown = type >= 0x20 && type < 0x7f ? `"${String.fromCharCode(type)}"` : `0x${type.toString(16)}`;
      throw new FrameError(
        `a frame of unknown type ${shown} (expected "J" or "D"; is the plugin printing text to standard output?)`,
      );
    }
    if (length > MAX_PAYLOAD) throw new FrameError(`a frame of ${length} bytes (at most ${MAX_PAYLOAD})`);
    if (!(await this.#fill(length))) {
      throw new FrameError(`the output ends inside a frame of ${length} bytes`);
    }
    const payload = this.#take(length);
    if (type === FRAME_DATA) {
      if (length < 4) throw new FrameError('a data frame without a stream number');
      return { type: 'data', stream: payload.readUInt32BE(0), bytes: payload.subarray(4) };
    }
    let message: unknown;
    try {
      message = JSON.parse(payload.toString('utf8'));
    } catch (err) {
      throw new FrameError(
        `a JSON frame that does not parse: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
    return { type: 'json', message };
  }
}
