/**
 * Key files (docs/FORMAT.md §Keys). A repository's master keys — the AES-256-GCM
 * encryption key and the BLAKE3 hash key — are generated once at `init` and stored in one
 * or more key files under `keys/`, each wrapping them with a key derived from a password by
 * scrypt. Adding, changing or removing a password only touches key files.
 *
 * An unencrypted repository has one key file with `kdf: "none"` that holds the hash key in
 * the clear (ids are still keyed; there is nothing secret to protect).
 */
import { randomBytes } from 'node:crypto';
import { ClawbackError } from '../errors.js';
import { open as aeadOpen, seal as aeadSeal } from '../crypto/aead.js';
import { deriveKey, type ScryptParams } from './kdf.js';

/** The repository's secret keys. */
export interface MasterKeys {
  /** AES-256-GCM key (32 bytes); absent in an unencrypted repository. */
  encrypt?: Buffer;
  /** BLAKE3 key for blob ids (32 bytes). */
  hash: Buffer;
}

/** The JSON document stored in `keys/<id>`. */
export interface KeyFile {
  version: 1;
  /** RFC 3339 creation time. */
  created: string;
  host: string;
  username: string;
  kdf: 'scrypt' | 'none';
  /** scrypt parameters (kdf "scrypt" only). */
  N?: number;
  r?: number;
  p?: number;
  /** base64 salt, 16 bytes (kdf "scrypt" only). */
  salt?: string;
  /** base64: sealed master-key JSON (scrypt) or the plain master-key JSON (none). */
  data: string;
}

interface MasterJson {
  encrypt?: string;
  hash: string;
}

function masterToJson(keys: MasterKeys): Buffer {
  const j: MasterJson = keys.encrypt ? { encrypt: keys.encrypt.toString('base64'), hash: keys.hash.toString('base64') } : { hash: keys.hash.toString('base64') };
  return Buffer.from(JSON.stringify(j));
}

function masterFromJson(bytes: Buffer, what: string): MasterKeys {
  let j: unknown;
  try {
    j = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new ClawbackError('INTEGRITY', `${what}: master keys are not valid JSON`);
  }
  const o = j as Partial<MasterJson>;
  const hash = typeof o.hash === 'string' ? Buffer.from(o.hash, 'base64') : undefined;
  const encrypt = typeof o.encrypt === 'string' ? Buffer.from(o.encrypt, 'base64') : undefined;
  if (!hash || hash.length !== 32 || (encrypt && encrypt.length !== 32)) {
    throw new ClawbackError('INTEGRITY', `${what}: master keys have the wrong size`);
  }
  return encrypt ? { encrypt, hash } : { hash };
}

/** Who creates a key file (shown by `key list`). */
export interface KeyOwner {
  host: string;
  username: string;
  /** Creation time; default now. */
  created?: Date;
}

/** Builds a key file wrapping `keys` under `password` (scrypt) or, without a password, in the clear. */
export async function createKeyFile(keys: MasterKeys, password: string | undefined, owner: KeyOwner, params: ScryptParams): Promise<Buffer> {
  const base = {
    version: 1 as const,
    created: (owner.created ?? new Date()).toISOString(),
    host: owner.host,
    username: owner.username,
  };
  let file: KeyFile;
  if (password === undefined) {
    if (keys.encrypt) throw new ClawbackError('INTERNAL', 'an encrypted repository needs a password for every key');
    file = { ...base, kdf: 'none', data: masterToJson(keys).toString('base64') };
  } else {
    const salt = randomBytes(16);
    const kek = await deriveKey(password, salt, params);
    file = { ...base, kdf: 'scrypt', N: params.N, r: params.r, p: params.p, salt: salt.toString('base64'), data: aeadSeal(kek, masterToJson(keys)).toString('base64') };
  }
  return Buffer.from(JSON.stringify(file, null, 2) + '\n');
}

/**
 * Parses a key file.
 * @throws ClawbackError 'INTEGRITY' when it is not a valid key file.
 */
export function parseKeyFile(bytes: Uint8Array, what: string): KeyFile {
  let j: unknown;
  try {
    j = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch {
    throw new ClawbackError('INTEGRITY', `${what} is not valid JSON`);
  }
  const k = j as Partial<KeyFile>;
  if (typeof k !== 'object' || k === null || k.version !== 1 || (k.kdf !== 'scrypt' && k.kdf !== 'none') || typeof k.data !== 'string' || typeof k.created !== 'string') {
    throw new ClawbackError('INTEGRITY', `${what} is not a clawback key file (version 1)`);
  }
  if (k.kdf === 'scrypt' && (typeof k.N !== 'number' || typeof k.r !== 'number' || typeof k.p !== 'number' || typeof k.salt !== 'string')) {
    throw new ClawbackError('INTEGRITY', `${what}: scrypt parameters missing`);
  }
  return { host: '', username: '', ...k } as KeyFile;
}

/**
 * Opens a key file with `password`.
 * @returns the master keys, or `undefined` when the password does not open it.
 * @throws ClawbackError 'INTEGRITY' when the key file itself is damaged.
 */
export async function openKeyFile(file: KeyFile, password: string | undefined, what: string): Promise<MasterKeys | undefined> {
  if (file.kdf === 'none') return masterFromJson(Buffer.from(file.data, 'base64'), what);
  if (password === undefined) return undefined;
  const kek = await deriveKey(password, Buffer.from(file.salt ?? '', 'base64'), { N: file.N ?? 0, r: file.r ?? 0, p: file.p ?? 0 });
  let plain: Buffer;
  try {
    plain = aeadOpen(kek, Buffer.from(file.data, 'base64'), what);
  } catch {
    return undefined;
  }
  return masterFromJson(plain, what);
}
