/** The handle rules every backend enforces, and the shared constants. See index.ts for the words. */

import { CairnError } from '../errors.ts';
import type { FileType, Handle, Segment } from './types.ts';

export const FILE_TYPES: readonly FileType[] = Object.freeze([
  'config',
  'keys',
  'data',
  'index',
  'snapshots',
  'locks',
]);

/** Names starting with this are a backend's temp files: never valid handle names, never listed. */
export const TEMP_PREFIX = '.tmp-';

export const CONFIG_HANDLE: Handle = Object.freeze({ type: 'config', name: 'config' });

/** `data/ab12…`, or `config`: how messages name a file. */
export function describeHandle(h: Handle): string {
  return h.type === 'config' ? 'config' : `${h.type}/${h.name}`;
}

/** Why `h` is not a valid handle, or undefined if it is. The rules every backend enforces. */
export function handleProblem(h: Handle): string | undefined {
  if (!FILE_TYPES.includes(h.type)) return `unknown file type ${JSON.stringify(h.type)}`;
  const name: unknown = h.name;
  if (typeof name !== 'string' || name === '') return 'the name is empty';
  if (h.type === 'config') return name === 'config' ? undefined : 'the config file is named "config"';
  if (name === '.' || name === '..') return `${JSON.stringify(name)} is not a file name`;
  if (/[/\\\0]/.test(name)) return 'the name contains "/", "\\" or a NUL byte';
  if (name.startsWith(TEMP_PREFIX)) return `names starting with "${TEMP_PREFIX}" are reserved for temp files`;
  // Pack files fan out into 256 folders named by their first two hex digits.
  if (h.type === 'data' && !/^[0-9a-f]{2}/.test(name)) {
    return 'data file names start with two lowercase hex digits';
  }
  return undefined;
}

/** Throws USAGE naming `verb`, the file and `location` if `h` is not a valid handle. */
export function checkHandle(h: Handle, verb: string, location: string): void {
  const problem = handleProblem(h);
  if (problem !== undefined) {
    throw new CairnError('USAGE', `Cannot ${verb} ${describeHandle(h)} in ${location}: ${problem}`);
  }
}

/** Throws USAGE if `type` is not a file type. */
export function checkFileType(type: FileType, verb: string, location: string): void {
  if (!FILE_TYPES.includes(type)) {
    throw new CairnError('USAGE', `Cannot ${verb} in ${location}: unknown file type ${JSON.stringify(type)}`);
  }
}

const isCount = (n: number): boolean => Number.isSafeInteger(n) && n >= 0;

/** Throws USAGE unless offset and length are non-negative safe integers. */
export function checkRange(
  h: Handle,
  range: { offset: number; length: number },
  location: string,
  verb = 'read',
): void {
  if (!isCount(range.offset) || !isCount(range.length)) {
    throw new CairnError(
      'USAGE',
      `Cannot ${verb} ${describeHandle(h)} in ${location}: invalid range offset ${range.offset}, length ${range.length}`,
    );
  }
}

/**
 * Throws USAGE unless a file of `type` may be composed (any type but the config, whose name is
 * not a hash) from `segments`: valid handles and ranges of `source`, zero runs of valid lengths.
 */
export function checkSegments(
  type: FileType,
  segments: readonly Segment[],
  location: string,
  sourceLocation: string,
): void {
  checkFileType(type, `compose ${type}`, location);
  if (type === 'config') {
    throw new CairnError(
      'USAGE',
      `Cannot compose the config in ${location}: only files named by their hash are composed`,
    );
  }
  for (const seg of segments) {
    if (seg.kind === 'range') {
      checkHandle(seg.from, 'read', sourceLocation);
      checkRange(seg.from, seg, sourceLocation);
    } else if (seg.kind === 'zeros') {
      if (!isCount(seg.length)) {
        throw new CairnError(
          'USAGE',
          `Cannot compose ${type} in ${location}: invalid run of ${seg.length} zeros`,
        );
      }
    } else if (seg.kind !== 'bytes') {
      throw new CairnError('USAGE', `Cannot compose ${type} in ${location}: unknown segment kind`);
    }
  }
}
