import { createHash } from 'node:crypto';

export function sha256(parts: Uint8Array | readonly Uint8Array[]): Buffer {
  const h = createHash('sha256');
  if (parts instanceof Uint8Array) h.update(parts);
  else for (const p of parts) h.update(p);
  return h.digest();
}
