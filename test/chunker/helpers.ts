/** Test helpers for the chunker tests. */

import { createHash } from 'node:crypto';

/**
 * Deterministic pseudo-random bytes: xorshift32 (Marsaglia 2003, shifts 13/17/5) from
 * `seed` (nonzero); each step's state is written as 4 little-endian bytes.
 */
export function xorshiftBytes(n: number, seed = 0x2545f491): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
    if (i + 1 < n) out[i + 1] = (x >>> 8) & 0xff;
    if (i + 2 < n) out[i + 2] = (x >>> 16) & 0xff;
    if (i + 3 < n) out[i + 3] = x >>> 24;
  }
  return out;
}

/** Hex SHA-256 of `data`. */
export function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Chunk contents (as hex hashes) of `data` cut into `lengths`. */
export function chunkHashes(data: Uint8Array, lengths: readonly number[]): string[] {
  const out: string[] = [];
  let pos = 0;
  for (const len of lengths) {
    out.push(sha256(data.subarray(pos, pos + len)));
    pos += len;
  }
  return out;
}

/** An async iterable yielding `data` in pieces that end at the given cut offsets. */
export async function* inPieces(data: Uint8Array, cuts: readonly number[]): AsyncGenerator<Uint8Array> {
  const sorted = [...new Set(cuts.map((c) => Math.max(0, Math.min(data.length, c))))].sort((a, b) => a - b);
  let prev = 0;
  for (const c of sorted) {
    // Copy so that the chunker cannot rely on the pieces being views of one buffer; also
    // yield an empty piece now and then.
    yield data.slice(prev, c);
    prev = c;
  }
  yield data.slice(prev);
}
