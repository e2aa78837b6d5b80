import { CairnError } from '../errors.ts';

const UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1024,
  kb: 1000,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1000 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1000 ** 3,
  gib: 1024 ** 3,
  t: 1024 ** 4,
  tb: 1000 ** 4,
  tib: 1024 ** 4,
};

/** "4096", "512KiB", "16M" (binary), "1GB" (decimal) → bytes. */
export function parseSize(text: string, option: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([a-zA-Z]*)$/.exec(text.trim());
  const unit = m ? UNITS[(m[2] ?? '').toLowerCase()] : undefined;
  if (!m || unit === undefined) {
    throw new CairnError('USAGE', `Cannot use ${option} ${text}: expected a size like 4096, 512KiB or 16MiB`);
  }
  const n = Number(m[1]) * unit;
  if (!Number.isSafeInteger(n))
    throw new CairnError('USAGE', `Cannot use ${option} ${text}: not a whole number of bytes`);
  return n;
}
