/**
 * Password-based key derivation: scrypt (RFC 7914) through node:crypto.
 *
 * Parameters are calibrated at key creation so that one derivation takes about
 * {@link DEFAULT_TARGET_MS} on the machine creating the key (restic does the same), and are
 * stored in the key file so any machine can open it.
 */
import { scrypt as scryptCb, randomBytes } from 'node:crypto';
import { ClawbackError } from '../errors.js';

/** scrypt cost parameters; N is a power of two. */
export interface ScryptParams {
  N: number;
  r: number;
  p: number;
}

/** Target time of one derivation when calibrating, in ms. */
export const DEFAULT_TARGET_MS = 500;
/** Smallest N accepted when opening a key file (2^10); calibration never goes below 2^15. */
export const MIN_N = 1 << 10;
/** Largest N accepted (2^22, 4 GiB of memory with r = 8 would be too much; 2^22·128·8 = 4 GiB). */
export const MAX_N = 1 << 21;
/**
 * Largest N·r and N·r·p accepted when deriving: 2^23, what the largest calibration makes
 * (N = 2^20, r = 8, p = 1): 1 GiB of memory (128·N·r bytes).
 */
export const MAX_WORK = 1 << 23;

/** Derivations started ahead of need by {@link prederiveKey}, by {@link memoKey}. */
const ahead = new Map<string, Promise<Buffer>>();

function memoKey(password: string, salt: Uint8Array, params: ScryptParams): string {
  return `${params.N}/${params.r}/${params.p}/${Buffer.from(salt).toString('hex')}/${password}`;
}

/**
 * Starts deriving the key {@link deriveKey} will be asked for, on the thread pool, so that
 * it runs while the caller does other single-threaded work (the CLI loads its modules
 * meanwhile). The first `deriveKey` with exactly these arguments takes the result; a guess
 * nobody asks for only costs the derivation. Invalid parameters are ignored here (the
 * real call reports them).
 */
export function prederiveKey(password: string, salt: Uint8Array, params: ScryptParams): void {
  const k = memoKey(password, salt, params);
  if (ahead.has(k)) return;
  try {
    const p = deriveKey(password, salt, params);
    p.catch(() => undefined);
    ahead.set(k, p);
  } catch {
    /* reported by the real call */
  }
}

/** Derivations started by {@link prederiveKey} and not yet taken (for tests and diagnostics). */
export function derivationsAhead(): number {
  return ahead.size;
}

/**
 * Derives a 32-byte key from `password` and `salt` (taking one {@link prederiveKey} started).
 * @throws ClawbackError 'INTEGRITY' for parameters outside what clawback creates.
 */
export function deriveKey(password: string, salt: Uint8Array, params: ScryptParams): Promise<Buffer> {
  const k = memoKey(password, salt, params);
  const early = ahead.get(k);
  if (early) {
    ahead.delete(k);
    return early;
  }
  if (!Number.isInteger(params.N) || params.N < MIN_N || params.N > MAX_N || (params.N & (params.N - 1)) !== 0) {
    throw new ClawbackError('INTEGRITY', `key file has invalid scrypt N=${params.N}`);
  }
  if (!Number.isInteger(params.r) || params.r < 1 || params.r > 32 || !Number.isInteger(params.p) || params.p < 1 || params.p > 16) {
    throw new ClawbackError('INTEGRITY', `key file has invalid scrypt r=${params.r} p=${params.p}`);
  }
  // A damaged or hostile key file must not make opening the repository take gigabytes and
  // minutes: nothing beyond what calibration creates (N·r ≤ 2^23: 1 GiB; N·r·p ≤ 2^23).
  if (params.N * params.r > MAX_WORK || params.N * params.r * params.p > MAX_WORK) {
    throw new ClawbackError('INTEGRITY', `key file has scrypt N=${params.N} r=${params.r} p=${params.p}, beyond what clawback creates (at most ${(128 * MAX_WORK) / 2 ** 30} GiB of memory): the key file is damaged or was not made by clawback`);
  }
  return new Promise((resolve, reject) => {
    scryptCb(password.normalize('NFC'), salt, 32, { ...params, maxmem: 256 * params.N * params.r + (1 << 20) }, (err, key) =>
      err ? reject(new ClawbackError('INTERNAL', `scrypt failed: ${err.message}`, { cause: err })) : resolve(key),
    );
  });
}

/** Largest scrypt memory calibration picks: 64 MiB (N = 2^16 at r = 8), as restic caps it near 60 MiB. */
export const MAX_CALIBRATED_MEMORY = 64 << 20;

/**
 * Picks N so that one derivation takes about `targetMs` here (r = 8, p = 1): starting at
 * 2^15 and doubling while the next step stays under `targetMs` and scrypt's memory
 * (128 · N · r bytes) stays within {@link MAX_CALIBRATED_MEMORY}. Every command that opens
 * the repository pays one derivation, so this bounds both its time and its memory.
 */
export async function calibrateScrypt(targetMs = DEFAULT_TARGET_MS): Promise<ScryptParams> {
  const salt = randomBytes(16);
  const r = 8;
  let N = 1 << 15;
  for (;;) {
    if (128 * (N * 2) * r > MAX_CALIBRATED_MEMORY) return { N, r, p: 1 };
    const t0 = performance.now();
    await deriveKey('calibration', salt, { N, r, p: 1 });
    const ms = performance.now() - t0;
    if (ms * 2 > targetMs) return { N, r, p: 1 };
    N *= 2;
  }
}
