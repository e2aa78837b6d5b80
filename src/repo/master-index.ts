/**
 * The in-memory index: blob id → (pack, offset, length, raw length, type, codec).
 *
 * Held in typed arrays rather than one object per blob, so a repository of millions of blobs
 * fits comfortably: per blob 32 (id) + 4 × 4 (pack, offset, length, raw length) + 1 (type and
 * codec) = 49 bytes of entry, plus 8 to 16 bytes of open-addressing slots (4 bytes a slot, load
 * factor 1/2 to 1/4, capacity doubling) — about 57–65 bytes per blob once an index is loaded, as
 * loading reserves the entry arrays at their exact size. Blobs added one pack at a time (a backup)
 * grow the entry arrays by doubling, so they may hold up to twice the entries they need. Blob ids
 * are HMAC outputs, uniformly distributed, so their first four bytes serve directly as the hash.
 */
import type { BlobEntry, BlobTypeId } from './format.ts';

export interface Location {
  readonly pack: string;
  readonly type: BlobTypeId;
  readonly codec: number;
  readonly offset: number;
  readonly length: number;
  readonly rawLength: number;
}

export class MasterIndex {
  private ids = new Uint8Array(0);
  private packOf = new Uint32Array(0);
  private offsets = new Uint32Array(0);
  private lengths = new Uint32Array(0);
  private rawLengths = new Uint32Array(0);
  private typeCodec = new Uint8Array(0);
  /** Entry number + 1, 0 for an empty slot. */
  private slots = new Uint32Array(16);
  private readonly hexScratch = Buffer.alloc(32);
  private mask = 15;
  private n = 0;
  private readonly packs: string[] = [];
  private readonly packNumbers = new Map<string, number>();

  get size(): number {
    return this.n;
  }

  get packCount(): number {
    return this.packs.length;
  }

  /** Bytes held by the structure (for the docs and the benchmark). */
  get byteSize(): number {
    return (
      this.ids.byteLength + this.packOf.byteLength * 4 + this.typeCodec.byteLength + this.slots.byteLength
    );
  }

  hasPack(pack: string): boolean {
    return this.packNumbers.has(pack);
  }

  packNames(): readonly string[] {
    return this.packs;
  }

  has(id: Uint8Array): boolean {
    return this.find(id) >= 0;
  }

  /** has() for an id in hex (64 characters), decoded into a reused buffer: no allocation. */
  hasHex(hex: string): boolean {
    const n = this.hexScratch.write(hex, 'hex');
    return n === 32 && hex.length === 64 && this.has(this.hexScratch);
  }

  get(id: Uint8Array): Location | undefined {
    const i = this.find(id);
    if (i < 0) return undefined;
    const tc = this.typeCodec[i] ?? 0;
    return {
      pack: this.packs[this.packOf[i] ?? 0] ?? '',
      type: (tc >> 4) as BlobTypeId,
      codec: tc & 15,
      offset: this.offsets[i] ?? 0,
      length: this.lengths[i] ?? 0,
      rawLength: this.rawLengths[i] ?? 0,
    };
  }

  /**
   * Makes room for `count` more blobs at once, so that loading a known number of entries sizes
   * the arrays exactly instead of doubling past it.
   */
  reserve(count: number): void {
    const want = this.n + count;
    if (want > this.packOf.length) this.growEntries(want);
    let slots = this.slots.length;
    while (want * 2 > slots) slots *= 2;
    if (slots > this.slots.length) this.resizeSlots(slots);
  }

  /** Adds the blobs of one pack. A blob already indexed keeps its first location. */
  addPack(pack: string, entries: readonly BlobEntry[]): void {
    let p = this.packNumbers.get(pack);
    if (p === undefined) {
      p = this.packs.length;
      this.packs.push(pack);
      this.packNumbers.set(pack, p);
    }
    for (const e of entries) {
      if (this.find(e.id) >= 0) continue;
      if (this.n === this.packOf.length) this.growEntries(Math.max(1024, this.packOf.length * 2));
      if ((this.n + 1) * 2 > this.slots.length) this.resizeSlots(this.slots.length * 2);
      const i = this.n++;
      this.ids.set(e.id, i * 32);
      this.packOf[i] = p;
      this.offsets[i] = e.offset;
      this.lengths[i] = e.length;
      this.rawLengths[i] = e.rawLength;
      this.typeCodec[i] = (e.type << 4) | e.codec;
      this.insertSlot(i);
    }
  }

  /** Every blob, in insertion order. */
  *entries(): Generator<{ id: Buffer } & Location> {
    for (let i = 0; i < this.n; i++) {
      const id = Buffer.from(this.ids.subarray(i * 32, i * 32 + 32));
      const loc = this.get(id);
      if (loc) yield { id, ...loc };
    }
  }

  /**
   * The entry numbers of each pack's blobs, for entryAt(): a number a blob rather than the objects
   * of byPack(), for whoever goes through the packs one at a time (check).
   */
  packMembers(): Map<string, number[]> {
    const out = new Map<string, number[]>();
    for (let i = 0; i < this.n; i++) {
      const pack = this.packs[this.packOf[i] ?? 0] ?? '';
      let list = out.get(pack);
      if (list === undefined) out.set(pack, (list = []));
      list.push(i);
    }
    return out;
  }

  /** Entry `i` (0 ≤ i < size, in insertion order) as a BlobEntry. */
  entryAt(i: number): BlobEntry {
    if (!Number.isInteger(i) || i < 0 || i >= this.n) throw new RangeError(`no index entry ${i}`);
    const tc = this.typeCodec[i] ?? 0;
    return {
      type: (tc >> 4) as BlobTypeId,
      codec: tc & 15,
      id: Buffer.from(this.ids.subarray(i * 32, i * 32 + 32)),
      offset: this.offsets[i] ?? 0,
      length: this.lengths[i] ?? 0,
      rawLength: this.rawLengths[i] ?? 0,
    };
  }

  /** Every blob grouped by the pack it is indexed in; `keep` filters blobs by id. */
  byPack(keep?: (id: Buffer) => boolean): Map<string, BlobEntry[]> {
    const out = new Map<string, BlobEntry[]>();
    for (const e of this.entries()) {
      if (keep && !keep(e.id)) continue;
      let list = out.get(e.pack);
      if (list === undefined) out.set(e.pack, (list = []));
      list.push({
        type: e.type,
        codec: e.codec,
        id: e.id,
        offset: e.offset,
        length: e.length,
        rawLength: e.rawLength,
      });
    }
    return out;
  }

  private hashOf(id: Uint8Array, at = 0): number {
    return (
      ((id[at] ?? 0) | ((id[at + 1] ?? 0) << 8) | ((id[at + 2] ?? 0) << 16) | ((id[at + 3] ?? 0) << 24)) >>> 0
    );
  }

  private find(id: Uint8Array): number {
    const ids = this.ids;
    let s = this.hashOf(id) & this.mask;
    for (;;) {
      const v = this.slots[s] ?? 0;
      if (v === 0) return -1;
      const i = v - 1;
      const base = i * 32;
      let same = true;
      for (let k = 0; k < 32; k++) {
        if (ids[base + k] !== id[k]) {
          same = false;
          break;
        }
      }
      if (same) return i;
      s = (s + 1) & this.mask;
    }
  }

  private insertSlot(i: number): void {
    let s = this.hashOf(this.ids, i * 32) & this.mask;
    while ((this.slots[s] ?? 0) !== 0) s = (s + 1) & this.mask;
    this.slots[s] = i + 1;
  }

  private growEntries(cap: number): void {
    const grow = <T extends Uint8Array | Uint32Array>(old: T, make: (n: number) => T, per = 1): T => {
      const a = make(cap * per);
      a.set(old);
      return a;
    };
    this.ids = grow(this.ids, (n) => new Uint8Array(n), 32);
    this.packOf = grow(this.packOf, (n) => new Uint32Array(n));
    this.offsets = grow(this.offsets, (n) => new Uint32Array(n));
    this.lengths = grow(this.lengths, (n) => new Uint32Array(n));
    this.rawLengths = grow(this.rawLengths, (n) => new Uint32Array(n));
    this.typeCodec = grow(this.typeCodec, (n) => new Uint8Array(n));
  }

  private resizeSlots(size: number): void {
    this.slots = new Uint32Array(size);
    this.mask = this.slots.length - 1;
    for (let i = 0; i < this.n; i++) this.insertSlot(i);
  }
}
