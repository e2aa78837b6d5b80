/**
 * Frees a buffer's memory now rather than whenever the garbage collector of its thread runs. A
 * backup moves gigabytes through short-lived buffers (chunks, compressed and sealed blobs, packs);
 * left to the collector, the freed ones pile up by hundreds of megabytes between collections.
 *
 * Only for a buffer that owns all of its ArrayBuffer (not a view into a larger one, nor a slice of
 * Node's shared pool) and that nothing reads again: the ArrayBuffer is detached, so a later read
 * sees zero bytes. Anything else is left to the collector, as is a buffer that cannot be detached.
 */
export function release(buf: Uint8Array | undefined): void {
  if (buf === undefined) return;
  const ab = buf.buffer;
  if (!(ab instanceof ArrayBuffer) || ab.detached || ab.byteLength === 0) return;
  if (buf.byteOffset !== 0 || buf.byteLength !== ab.byteLength) return;
  try {
    ab.transfer(0);
  } catch {
    // Not detachable (marked untransferable): the collector frees it as before.
  }
}
