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

export interface LogonLimits {
  /** Failures of one user name from one address before that pair waits (5 a minute). */
  readonly perPair?: number;
  readonly pairWindowMs?: number;
  /** Failures of one user name from all addresses (20 in 15 minutes). */
  readonly perUser?: number;
  readonly userWindowMs?: number;
  /** Distinct user names failing from one address before the address counts as spraying (10 in 15 minutes). */
  readonly sprayNames?: number;
  readonly sprayWindowMs?: number;
  /** How long a good logon makes its address known for that user (30 days). */
  readonly knownMs?: number;
  /** Entries kept per table at most, the oldest dropped first: a flood of names cannot fill the memory. */
  readonly maxEntries?: number;
}

/**
 * The brake on guessing passwords. Keys are user names as typed before any '@' (so `alice`,
 * `alice@acme` and `alice` with `?tenant=acme` share one budget, and whether a name exists changes
 * nothing) and client addresses. Three rules, each answering 429 with the seconds to wait:
 *
 * - **one name from one address**: `perPair` failures within `pairWindowMs`;
 * - **one name from everywhere**: `perUser` failures within `userWindowMs`, so that many addresses
 *   cannot share the guessing of one password;
 * - **many names from one address** (spraying one password over many users): once `sprayNames`
 *   distinct names have failed from an address within `sprayWindowMs`, each of those names waits
 *   there until its last failure leaves the window, so a sprayer gets one guess per name per
 *   window. A name that has not failed from that address is never stopped by this rule: behind a
 *   reverse proxy every client has the proxy's address, and a spray must not lock everyone out.
 *
 * A name that logged on from an address within `knownMs` is exempt there from the last two rules:
 * an attack on a user's name from elsewhere does not lock that user out where they usually work.
 * Only the first rule stands between a client sharing that address and the password.
 */
export class LogonLimiter {
  readonly #pair = new Map<string, number[]>();
  readonly #user = new Map<string, number[]>();
  readonly #spray = new Map<string, Map<string, number>>();
  readonly #known = new Map<string, number>();
  readonly #limits: Required<LogonLimits>;

  constructor(limits: LogonLimits = {}) {
    this.#limits = {
      perPair: limits.perPair ?? 5,
      pairWindowMs: limits.pairWindowMs ?? 60_000,
      perUser: limits.perUser ?? 20,
      userWindowMs: limits.userWindowMs ?? 15 * 60_000,
      sprayNames: limits.sprayNames ?? 10,
      sprayWindowMs: limits.sprayWindowMs ?? 15 * 60_000,
      knownMs: limits.knownMs ?? 30 * 24 * 3600_000,
      maxEntries: limits.maxEntries ?? 100_000,
    };
  }

  #recent(map: Map<string, number[]>, key: string, windowMs: number, now: number): number[] {
    const list = (map.get(key) ?? []).filter((t) => now - t < windowMs);
    if (list.length === 0) map.delete(key);
    else map.set(key, list);
    return list;
  }

  /** Names that failed from `address` within the spray window, with their last failure. */
  #names(address: string, now: number): Map<string, number> {
    const names = this.#spray.get(address) ?? new Map<string, number>();
    for (const [name, t] of names) if (now - t >= this.#limits.sprayWindowMs) names.delete(name);
    if (names.size === 0) this.#spray.delete(address);
    return names;
  }

  #isKnown(user: string, address: string, now: number): boolean {
    const t = this.#known.get(pairKey(user, address));
    return t !== undefined && now - t < this.#limits.knownMs;
  }

  /** Seconds to wait before `user` may try again from `address`; 0: a logon may be tried now. */
  retryAfter(user: string, address: string, now = Date.now()): number {
    const L = this.#limits;
    const wait = (list: number[], limit: number, windowMs: number) =>
      list.length >= limit ? list[list.length - limit]! + windowMs - now : 0;
    let ms = wait(
      this.#recent(this.#pair, pairKey(user, address), L.pairWindowMs, now),
      L.perPair,
      L.pairWindowMs,
    );
    if (!this.#isKnown(user, address, now)) {
      ms = Math.max(ms, wait(this.#recent(this.#user, user, L.userWindowMs, now), L.perUser, L.userWindowMs));
      const names = this.#names(address, now);
      const last = names.get(user);
      if (last !== undefined && names.size >= L.sprayNames) {
        // Until this name's failure leaves the window, or enough names leave it to end the spray.
        const times = [...names.values()].sort((a, b) => a - b);
        const sprayEnds = times[names.size - L.sprayNames]! + L.sprayWindowMs - now;
        ms = Math.max(ms, Math.min(last + L.sprayWindowMs - now, sprayEnds));
      }
    }
    return ms > 0 ? Math.ceil(ms / 1000) : 0;
  }

  failed(user: string, address: string, now = Date.now()): void {
    const L = this.#limits;
    const add = (map: Map<string, number[]>, key: string, windowMs: number, keep: number) => {
      const list = this.#recent(map, key, windowMs, now);
      list.push(now);
      map.delete(key);
      map.set(key, list.slice(-keep));
      bound(map, L.maxEntries);
    };
    add(this.#pair, pairKey(user, address), L.pairWindowMs, L.perPair);
    add(this.#user, user, L.userWindowMs, L.perUser);
    const names = this.#names(address, now);
    names.delete(user);
    names.set(user, now);
    bound(names, L.maxEntries);
    this.#spray.delete(address);
    this.#spray.set(address, names);
    bound(this.#spray, L.maxEntries);
  }

  /** A good logon: the pair starts afresh, and the address is known for the name. */
  succeeded(user: string, address: string, now = Date.now()): void {
    this.#pair.delete(pairKey(user, address));
    this.#spray.get(address)?.delete(user);
    const key = pairKey(user, address);
    this.#known.delete(key);
    this.#known.set(key, now);
    bound(this.#known, this.#limits.maxEntries);
  }
}

function pairKey(user: string, address: string): string {
  return `${user}\n${address}`;
}

/** Drops the oldest entries (a Map keeps insertion order) beyond `max`. */
function bound(map: Map<string, unknown>, max: number): void {
  for (const key of map.keys()) {
    if (map.size <= max) return;
    map.delete(key);
  }
}
