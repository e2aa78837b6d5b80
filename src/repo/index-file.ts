/**
 * Index files under index/: which blobs each pack holds, so opening a repository reads a few
 * index files instead of every pack trailer.
 *
 *   index := seal("cairn/v1/index", codec(u8)=0 ‖ version(u8)=1 ‖ supersededCount(u32le) ‖
 *                 supersededIndexId[32]* ‖ packCount(u32le) ‖ (packId[32] ‖ blobCount(u32le) ‖ entry*)*)
 *
 * An index file is written only after every pack it names is durable (crash rule). Superseded
 * index ids let a later compaction replace index files safely; readers ignore listed files.
 */
import type { BlobEntry } from './format.ts';
import { ENTRY_SIZE, readEntry, writeEntry } from './format.ts';

const INDEX_VERSION = 1;

export interface IndexPack {
  readonly id: string;
  readonly entries: readonly BlobEntry[];
}

export interface IndexContent {
  readonly supersedes: readonly string[];
  readonly packs: readonly IndexPack[];
}

export function encodeIndex(content: IndexContent): Buffer {
  return encodeIndexOf(content.supersedes, content.packs.map(encodeIndexPack));
}

/** One pack's part of an index file: packId[32] ‖ blobCount(u32le) ‖ entry*. */
export function encodeIndexPack(p: IndexPack): Buffer {
  const buf = Buffer.allocUnsafe(32 + 4 + p.entries.length * ENTRY_SIZE);
  if (buf.write(p.id, 0, 'hex') !== 32 || p.id.length !== 64) throw new Error(`not a pack id: ${p.id}`);
  buf.writeUInt32LE(p.entries.length, 32);
  let at = 36;
  for (const e of p.entries) {
    writeEntry(buf, at, e);
    at += ENTRY_SIZE;
  }
  return buf;
}

/** An index file's plaintext from the superseded ids and the packs' parts (encodeIndexPack). */
export function encodeIndexOf(supersedes: readonly string[], packs: readonly Buffer[]): Buffer {
  const head = Buffer.alloc(1 + 4 + supersedes.length * 32 + 4);
  let at = 0;
  head[at++] = INDEX_VERSION;
  head.writeUInt32LE(supersedes.length, at);
  at += 4;
  for (const s of supersedes) at += head.write(s, at, 'hex');
  head.writeUInt32LE(packs.length, at);
  return Buffer.concat([head, ...packs]);
}

/** Throws a plain Error with the reason; the caller names the file. */
export function decodeIndex(buf: Buffer): IndexContent {
  let at = 0;
  const need = (n: number) => {
    if (at + n > buf.length) throw new Error('it ends early');
  };
  need(5);
  if (buf[0] !== INDEX_VERSION) throw new Error(`unknown index version ${String(buf[0])}`);
  at = 1;
  const sCount = buf.readUInt32LE(at);
  at += 4;
  need(sCount * 32);
  const supersedes: string[] = [];
  for (let i = 0; i < sCount; i++, at += 32) supersedes.push(buf.toString('hex', at, at + 32));
  need(4);
  const pCount = buf.readUInt32LE(at);
  at += 4;
  const packs: IndexPack[] = [];
  for (let i = 0; i < pCount; i++) {
    need(36);
    const id = buf.toString('hex', at, at + 32);
    const count = buf.readUInt32LE(at + 32);
    at += 36;
    need(count * ENTRY_SIZE);
    const entries: BlobEntry[] = [];
    for (let k = 0; k < count; k++, at += ENTRY_SIZE) entries.push(readEntry(buf, at));
    packs.push({ id, entries });
  }
  if (at !== buf.length) throw new Error('it has trailing bytes');
  return { supersedes, packs };
}
