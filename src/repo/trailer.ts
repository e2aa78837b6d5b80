/**
 * Reading a pack's trailer from storage: the list of the blobs it holds, without reading them.
 * Used where the index cannot be trusted to know a pack (check, prune, repair index).
 */
import type { Backend } from '../backend/index.ts';
import type { MasterKey } from '../crypto/index.ts';
import type { BlobEntry } from './format.ts';
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
