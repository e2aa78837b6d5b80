/**
 * Who is asking, and may they: password hashes (scrypt), session tokens and API keys (only their
 * SHA-256 is stored), the roles and what each may do, and the brake on guessing passwords.
 */
import {
  createHash,
  randomBytes,
  scrypt as scryptCb,
  timingSafeEqual,
  type ScryptOptions,
} from 'node:crypto';

function scrypt(password: string, salt: Buffer, keylen: number, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scryptCb(password, salt, keylen, options, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

/** scrypt with N = 2^15, r = 8, p = 1 (32 MiB, some tens of milliseconds) — OWASP's minimum or more. */
const PARAMS = { N: 2 ** 15, r: 8, p: 1 };

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scrypt(password, salt, 32, { ...PARAMS, maxmem: 64 * 1024 * 1024 });
  return `scrypt$${PARAMS.N}$${PARAMS.r}$${PARAMS.p}$${salt.toString('base64')}$${key.toString('base64')}`;
}

/** A hash no password matches, checked when the user does not exist so that timing tells nothing. */
const DUMMY = `scrypt$${PARAMS.N}$${PARAMS.r}$${PARAMS.p}$${randomBytes(16).toString('base64')}$${randomBytes(32).toString('base64')}`;

export async function verifyPassword(password: string, stored: string | undefined): Promise<boolean> {
  const parts = (stored ?? DUMMY).split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
  const [, n, r, p, salt, hash] = parts as [string, string, string, string, string, string];
  const expected = Buffer.from(hash, 'base64');
  const key = await scrypt(password, Buffer.from(salt, 'base64'), expected.length, {
    N: Number(n),
    r: Number(r),
    p: Number(p),
    maxmem: 256 * 1024 * 1024,
  });
  return stored !== undefined && key.length === expected.length && timingSafeEqual(key, expected);
}

export function newToken(prefix: string): string {
  return `${prefix}${randomBytes(32).toString('base64url')}`;
}

/** The browser session's cookie (HttpOnly) and the readable one holding its CSRF token. */
export const SESSION_COOKIE = 'cairn_session';
export const CSRF_COOKIE = 'cairn_csrf';

/** The CSRF token of a session: derived from its token, so it needs no storage of its own. */
export function csrfTokenOf(token: string): string {
  return createHash('sha256').update(`csrf:${token}`).digest('base64url');
}

export function tokenHash(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

export const ROLES = ['viewer', 'restore-operator', 'operator', 'administrator'] as const;
export type Role = (typeof ROLES)[number];

/** What a request needs: read, restore, operate (start/cancel), admin (change), system (tenants). */
export type Permission = 'read' | 'restore' | 'operate' | 'admin' | 'system';

const GRANTS: Record<Role, readonly Permission[]> = {
  viewer: ['read'],
  'restore-operator': ['read', 'restore'],
  operator: ['read', 'restore', 'operate'],
  administrator: ['read', 'restore', 'operate', 'admin'],
};

export function allows(role: string | undefined, systemAdmin: boolean, need: Permission): boolean {
  if (systemAdmin) return true;
  if (need === 'system' || role === undefined) return false;
  return (GRANTS[role as Role] ?? []).includes(need);
}

/**
 * Failed logons per user name and per client address within a window; past the limit, logons are
 * refused (429) until the oldest failure leaves the window, whatever the password.
 */
export class LogonLimiter {
  readonly #failures = new Map<string, number[]>();
  readonly #perKey: number;
  readonly #perAddress: number;
  readonly #windowMs: number;

  constructor(options: { perUser?: number; perAddress?: number; windowMs?: number } = {}) {
    this.#perKey = options.perUser ?? 5;
    this.#perAddress = options.perAddress ?? 20;
    this.#windowMs = options.windowMs ?? 60_000;
  }

  #recent(key: string, now: number): number[] {
    const list = (this.#failures.get(key) ?? []).filter((t) => now - t < this.#windowMs);
    if (list.length === 0) this.#failures.delete(key);
    else this.#failures.set(key, list);
    return list;
  }

  /** Seconds to wait before trying again, or 0 when a logon may be tried now. */
  retryAfter(user: string, address: string, now = Date.now()): number {
    const a = this.#recent(`u:${user}|${address}`, now);
    const b = this.#recent(`a:${address}`, now);
    const wait = (list: number[], limit: number) =>
      list.length >= limit ? Math.ceil((list[list.length - limit]! + this.#windowMs - now) / 1000) : 0;
    return Math.max(wait(a, this.#perKey), wait(b, this.#perAddress));
  }

  failed(user: string, address: string, now = Date.now()): void {
    for (const key of [`u:${user}|${address}`, `a:${address}`]) {
      const list = this.#recent(key, now);
      list.push(now);
      this.#failures.set(key, list.slice(-100));
    }
  }

  succeeded(user: string, address: string): void {
    this.#failures.delete(`u:${user}|${address}`);
  }
}
