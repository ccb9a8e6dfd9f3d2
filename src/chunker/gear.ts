/**
 * The gear table of the FastCDC rolling hash: 256 pseudo-random 32-bit words, one per byte
 * value. Clawback derives it from a per-repository secret seed so that chunk boundaries
 * (and therefore chunk sizes) leak nothing about file contents to someone who does not hold
 * the repository key (cf. the chunk-size fingerprinting attacks on deduplicating backups).
 *
 * Part of the on-disk format (docs/FORMAT.md): changing the derivation changes every
 * chunk boundary.
 *
 * @module
 */

import { hkdfSync } from 'node:crypto';
import { ClawbackError } from '../errors.js';

/** Length of a gear seed in bytes. */
export const GEAR_SEED_BYTES = 32;
/** Number of gear table entries (one per byte value). */
export const GEAR_ENTRIES = 256;
/** HKDF `info` string for the gear table (UTF-8). */
export const GEAR_HKDF_INFO = 'clawback/fastcdc/gear/v1';

/**
 * Derives the FastCDC gear table from a repository's gear seed.
 *
 * Algorithm: HKDF-SHA256 (RFC 5869) with IKM = `seed`, salt = empty, info =
 * `"clawback/fastcdc/gear/v1"` (UTF-8), L = 1024 bytes of output; entry `i` is the
 * little-endian uint32 at output bytes `4i .. 4i+3`.
 *
 * @param seed - the repository's secret gear seed, exactly 32 bytes.
 * @returns a fresh 256-entry table of uint32 values.
 * @throws ClawbackError `INTERNAL` when `seed` is not 32 bytes (seeds come from key
 *   material, never from the user, so a wrong length is a bug).
 */
export function deriveGearTable(seed: Uint8Array): Uint32Array {
  if (!(seed instanceof Uint8Array) || seed.byteLength !== GEAR_SEED_BYTES) {
    throw new ClawbackError(
      'INTERNAL',
      `gear seed must be ${GEAR_SEED_BYTES} bytes (got ${seed instanceof Uint8Array ? seed.byteLength : typeof seed})`,
    );
  }
  const okm = hkdfSync('sha256', seed, new Uint8Array(0), GEAR_HKDF_INFO, GEAR_ENTRIES * 4);
  const view = new DataView(okm);
  const table = new Uint32Array(GEAR_ENTRIES);
  for (let i = 0; i < GEAR_ENTRIES; i++) table[i] = view.getUint32(4 * i, true);
  return table;
}
