/**
 * Content-defined chunking: splitting file contents into pieces that deduplicate across edits.
 *
 * A chunk is a run of consecutive bytes of a stream; the repository stores each distinct chunk
 * once. A cut point is the offset where one chunk ends and the next begins; content-defined cut
 * points are chosen by the bytes around them, not by their offset, so an insertion moves only the
 * cut points near it. The gear table is 256 pseudo-random 32-bit values, one per byte value, that
 * the rolling fingerprint adds in; it is derived from a per-repository secret. Normalized chunking
 * tests a harder condition before the average size and an easier one after it, so chunk lengths
 * cluster around the average. The gear table, masks and cut rule are part of the repository
 * format: see gear.ts and fastcdc.ts for their exact definitions.
 */

export {
  type ChunkerParams,
  DEFAULT_CHUNKER_PARAMS,
  MAX_CHUNK_SIZE_LIMIT,
  MIN_CHUNK_SIZE_LIMIT,
  validateChunkerParams,
} from './params.ts';
export { gearTable, MIN_GEAR_SECRET_LENGTH } from './gear.ts';
export { type Chunker, FixedChunker } from './chunker.ts';
export { type ChunkerMasks, chunkerMasks, FastCdcChunker, type GearCut } from './fastcdc.ts';
export {
  type ChunkStreamOptions,
  chunkBuffer,
  chunkStream,
  DEFAULT_READ_SIZE,
  defaultWindowSize,
  type ReadFn,
} from './stream.ts';
