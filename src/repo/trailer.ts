/**
 * Reading a pack's trailer from storage: the list of the blobs it holds, without reading them.
 * Used where the index cannot be trusted to know a pack (check, prune, repair index).
 */
import { CairnError } from '../errors.ts';
import type { Backend } from '../backend/index.ts';
import type { MasterKey } from '../crypto/index.ts';
import type { BlobEntry } from './format.ts';
import { Limiter } from './limiter.ts';
import { parseTrailer, trailerRange, TAIL_GUESS } from './pack.ts';

/**
 * The trailer entries of pack `name`, `size` bytes long: one ranged read of its last 64 KiB, and
 * a second one only when the trailer is longer. Throws PACK_CORRUPT when the trailer is damaged
 * (it names the pack and the reason), and the backend's errors as they are.
 */
export async function readPackTrailer(
  backend: Pick<Backend, 'read'>,
  key: MasterKey,
  name: string,
  size: number,
): Promise<BlobEntry[]> {
  const tailLen = Math.min(size, TAIL_GUESS);
  const tail = await backend.read({ type: 'data', name }, { offset: size - tailLen, length: tailLen });
  const range = trailerRange(name, size, tail);
  const start = size - tailLen;
  const sealed =
    range.offset >= start
      ? tail.subarray(range.offset - start, range.offset - start + range.length)
      : await backend.read({ type: 'data', name }, range);
  return parseTrailer(key, name, size, sealed);
}

/**
 * The trailers of many packs (name → size), 8 at a time: the entries of each that reads, and the
 * error of each that does not (PACK_CORRUPT, or the backend's). A pack gone since it was listed
 * is left out of both. Errors that are not CairnErrors are thrown.
 */
export async function readPackTrailers(
  backend: Pick<Backend, 'read'>,
  key: MasterKey,
  packs: ReadonlyMap<string, number>,
  options: { signal?: AbortSignal; onRead?: (done: number, total: number) => void } = {},
): Promise<{ entries: Map<string, BlobEntry[]>; unreadable: Map<string, CairnError> }> {
  const entries = new Map<string, BlobEntry[]>();
  const unreadable = new Map<string, CairnError>();
  const limiter = new Limiter(8);
  let done = 0;
  await Promise.all(
    [...packs].map(([name, size]) =>
      limiter.run(async () => {
        options.signal?.throwIfAborted();
        try {
          entries.set(name, await readPackTrailer(backend, key, name, size));
        } catch (err) {
          if (!(err instanceof CairnError)) throw err;
          if (err.code !== 'BACKEND_NOT_FOUND') unreadable.set(name, err);
        }
        options.onRead?.(++done, packs.size);
      }),
    ),
  );
  return { entries, unreadable };
}
