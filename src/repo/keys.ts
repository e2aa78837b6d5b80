/**
 * Key slots: files under keys/ that each wrap the repository's master key. Adding or removing a
 * slot never touches data. Two kinds:
 * - password: KEK = scrypt(password, salt, N, r, p) (parameters kept in the slot);
 * - kek: a 32-byte key-encryption key held outside the repository (a file, an HSM, a KMS).
 * Both wrap the 64-byte master key with RFC 3394 AES key wrap, whose integrity check tells a
 * wrong password from a right one without trial decryption of data.
 */
import { hostname, userInfo } from 'node:os';
import { randomBytes } from 'node:crypto';
import { CairnError } from '../errors.ts';
import type { Backend } from '../backend/index.ts';
import {
  aesKeyUnwrap,
  aesKeyWrap,
  DEFAULT_SCRYPT,
  deriveScrypt,
  KeyWrapError,
  masterKeyBytes,
  masterKeyFromBytes,
  sha256,
  type MasterKey,
  type ScryptParams,
} from '../crypto/index.ts';

export type Secret = { readonly password: string } | { readonly kek: Buffer };

export interface KeySlot {
  readonly version: 1;
  readonly kind: 'password' | 'kek';
  readonly created: string;
  readonly host: string;
  readonly user: string;
  readonly label?: string;
  readonly kdf?: {
    readonly name: 'scrypt';
    readonly N: number;
    readonly r: number;
    readonly p: number;
    readonly salt: string;
  };
  /** base64 of RFC 3394 wrap(KEK, master key): 72 bytes. */
  readonly wrapped: string;
}

export interface KeySlotInfo extends KeySlot {
  readonly id: string;
}

function username(): string {
  try {
    return userInfo().username;
  } catch {
    return String(process.getuid?.() ?? '');
  }
}

export function validateKek(kek: Buffer, origin: string): Buffer {
  if (kek.length !== 32) {
    throw new CairnError(
      'USAGE',
      `Cannot use the key-encryption key from ${origin}: it must be 32 bytes (64 hex characters), not ${kek.length} bytes`,
    );
  }
  return kek;
}

/** Builds a new slot wrapping `master` for `secret`; returns its id (SHA-256 of its bytes). */
export async function writeKeySlot(
  backend: Backend,
  master: MasterKey,
  secret: Secret,
  options: { scrypt?: ScryptParams; label?: string; now?: Date } = {},
): Promise<string> {
  const base = {
    version: 1 as const,
    created: (options.now ?? new Date()).toISOString(),
    host: hostname(),
    user: username(),
    ...(options.label === undefined ? {} : { label: options.label }),
  };
  let slot: KeySlot;
  if ('password' in secret) {
    const params = options.scrypt ?? DEFAULT_SCRYPT;
    const salt = randomBytes(32);
    const kek = await deriveScrypt(secret.password, salt, params);
    slot = {
      ...base,
      kind: 'password',
      kdf: { name: 'scrypt', N: params.N, r: params.r, p: params.p, salt: salt.toString('base64') },
      wrapped: aesKeyWrap(kek, masterKeyBytes(master)).toString('base64'),
    };
  } else {
    slot = {
      ...base,
      kind: 'kek',
      wrapped: aesKeyWrap(secret.kek, masterKeyBytes(master)).toString('base64'),
    };
  }
  const bytes = Buffer.from(JSON.stringify(slot, null, 2) + '\n');
  const id = sha256(bytes).toString('hex');
  await backend.write({ type: 'keys', name: id }, [bytes]);
  return id;
}

export function parseKeySlot(id: string, bytes: Buffer): KeySlotInfo {
  let slot: KeySlot;
  try {
    slot = JSON.parse(bytes.toString('utf8')) as KeySlot;
  } catch (err) {
    throw new CairnError('KEY_CORRUPT', `Cannot read key slot ${id}: not JSON`, { cause: err });
  }
  if (
    slot.version !== 1 ||
    (slot.kind !== 'password' && slot.kind !== 'kek') ||
    typeof slot.wrapped !== 'string'
  ) {
    throw new CairnError('KEY_CORRUPT', `Cannot read key slot ${id}: unknown version or kind`);
  }
  if (slot.kind === 'password') {
    const k = slot.kdf;
    if (k?.name !== 'scrypt' || !Number.isInteger(k.N) || !Number.isInteger(k.r) || !Number.isInteger(k.p)) {
      throw new CairnError('KEY_CORRUPT', `Cannot read key slot ${id}: missing or unknown key derivation`);
    }
  }
  return { ...slot, id };
}

export async function listKeySlots(backend: Backend): Promise<KeySlotInfo[]> {
  const { slots, damaged } = await readKeySlots(backend);
  const first = damaged[0];
  if (first) throw first;
  return slots;
}

/** Every slot that parses, and the errors of those that do not. */
export async function readKeySlots(
  backend: Backend,
): Promise<{ slots: KeySlotInfo[]; damaged: CairnError[] }> {
  const slots: KeySlotInfo[] = [];
  const damaged: CairnError[] = [];
  for await (const f of backend.list('keys')) {
    try {
      slots.push(parseKeySlot(f.name, await backend.read({ type: 'keys', name: f.name })));
    } catch (err) {
      if (!(err instanceof CairnError) || err.code !== 'KEY_CORRUPT') throw err;
      damaged.push(err);
    }
  }
  slots.sort((a, b) => a.created.localeCompare(b.created) || a.id.localeCompare(b.id));
  return { slots, damaged };
}

/** Tries the secret on every slot of its kind; returns the master key and the slot that opened. */
export async function openKeySlots(
  backend: Backend,
  secret: Secret,
): Promise<{ master: MasterKey; slot: KeySlotInfo }> {
  // A damaged slot must not lock out the holders of the others: it only matters if none opens.
  const { slots, damaged } = await readKeySlots(backend);
  const firstDamaged = damaged[0];
  if (slots.length === 0 && firstDamaged) throw firstDamaged;
  if (slots.length === 0) {
    throw new CairnError(
      'KEY_CORRUPT',
      `Cannot open the repository at ${backend.location}: it has no key slots`,
    );
  }
  for (const slot of slots) {
    let kek: Buffer;
    if ('password' in secret) {
      if (slot.kind !== 'password' || slot.kdf === undefined) continue;
      kek = await deriveScrypt(secret.password, Buffer.from(slot.kdf.salt, 'base64'), slot.kdf);
    } else {
      if (slot.kind !== 'kek') continue;
      kek = secret.kek;
    }
    try {
      return { master: masterKeyFromBytes(aesKeyUnwrap(kek, Buffer.from(slot.wrapped, 'base64'))), slot };
    } catch (err) {
      if (!(err instanceof KeyWrapError)) throw err;
    }
  }
  const what = 'password' in secret ? 'password' : 'key-encryption key';
  throw new CairnError(
    'REPO_WRONG_PASSWORD',
    `Cannot open the repository at ${backend.location}: no key slot opens with the given ${what}` +
      (firstDamaged
        ? ` (and ${damaged.length === 1 ? '1 damaged key slot' : `${damaged.length} damaged key slots`} could not be tried: ${firstDamaged.message})`
        : ''),
  );
}
