/**
 * FastCDC content-defined chunking with normalized chunking (level 2).
 *
 * Source: Wen Xia, Yukun Zhou, Hong Jiang, Dan Feng, Yu Hua, Yuchong Hu, Qing Liu, Yucheng
 * Zhang, "FastCDC: a Fast and Efficient Content-Defined Chunking Approach for Data
 * Deduplication", USENIX ATC 2016; and the extended version, Wen Xia et al., "The Design of
 * Fast Content-Defined Chunking for Data Deduplication Based Storage Systems", IEEE TPDS
 * 31(9), 2020. (The TPDS "rolling two bytes" optimization is not used: it shifts the mask
 * left by one bit and so loses bit 31, which all masks here use, changing boundaries; in V8
 * it measured only ~15% faster. The loop runs in WebAssembly instead, gear-scan.ts: ~2000
 * MiB/s of input against ~1070 for the same loop in JavaScript, bench/chunker.ts.)
 *
 * ## Exact cut rule (on-disk format, docs/FORMAT.md)
 *
 * For a chunk starting at byte `s` of the stream, with `n` bytes available from `s`:
 *
 * 1. `fp = 0` (the hash restarts at every chunk start). Bytes `s .. s+minSize-1` are skipped
 *    (not hashed).
 * 2. For offsets `j = minSize, minSize+1, …` (byte `s+j`):
 *    `fp = ((fp << 1) + gear[byte]) mod 2^32` (a 32-bit Gear hash: each byte's influence is
 *    shifted out after 32 bytes, i.e. a 32-byte window); then, with
 *    `mask = j < avgSize ? maskS : maskL`, if `(fp & mask) === 0` the chunk ends after this
 *    byte: its length is `j + 1`.
 * 3. If no byte up to offset `maxSize - 1` matches, the chunk is `maxSize` bytes long.
 * 4. At the end of the stream, the remaining bytes (if no earlier cut) form the last chunk.
 *
 * So every chunk but the last is `minSize + 1 .. maxSize` bytes long.
 *
 * ## Masks
 *
 * With `b = log2(avgSize)`: `maskS = spreadMask(b + 2)`, `maskL = spreadMask(b - 2)`
 * (normalization level 2: harder to cut before the average size, easier after it). See
 * {@link spreadMask} for which bits are set. Bit `k` of the Gear hash depends on the last
 * `k + 1` bytes, so masks favour the high bits; spreading them (one bit apart) rather than
 * taking a contiguous run reduces the correlation between the cut tests of neighbouring
 * positions (the paper's "padding zero bits" into the mask).
 *
 * @module
 */

import { ClawbackError } from '../errors.js';
import { deriveGearTable } from './gear.js';
import { GearScanner } from './gear-scan.js';
import type { ChunkerParams } from './params.js';
import type { Chunker } from './index.js';

/**
 * A 32-bit mask with `bits` one-bits spread over the high end of the word.
 *
 * Algorithm (part of the format): let `span = min(32, 2 * bits)`; the mask has bit
 * `31 - floor(i * span / bits)` set for `i = 0 .. bits - 1`. Hence:
 * - `bits <= 16`: every other bit from the top, bits 31, 29, 27, …, `33 - 2*bits`;
 * - `bits > 16`: bits evenly spread over the whole word, starting at bit 31.
 *
 * Examples: `spreadMask(18) = 0xd5aad5aa`, `spreadMask(22) = 0xedb6edb6` (maskL / maskS
 * for avgSize 1 MiB), `spreadMask(14) = 0xaaaaaaa0` (maskL for 64 KiB).
 *
 * @param bits - number of one-bits, 1 .. 32.
 * @returns the mask as an unsigned 32-bit integer.
 * @throws ClawbackError `INTERNAL` if `bits` is not an integer in 1 .. 32.
 */
export function spreadMask(bits: number): number {
  if (!Number.isInteger(bits) || bits < 1 || bits > 32) {
    throw new ClawbackError('INTERNAL', `mask bit count must be 1..32 (got ${bits})`);
  }
  const span = Math.min(32, 2 * bits);
  let mask = 0;
  for (let i = 0; i < bits; i++) mask |= 1 << (31 - Math.floor((i * span) / bits));
  return mask >>> 0;
}

/**
 * The two normalized-chunking masks for an average chunk size.
 *
 * @param avgSize - average chunk size in bytes, a power of two in 8 .. 2^30.
 * @returns `maskS` (`log2(avgSize) + 2` bits, used before `avgSize`) and `maskL`
 *   (`log2(avgSize) - 2` bits, used from `avgSize` on), as unsigned 32-bit integers.
 * @throws ClawbackError `INTERNAL` if `avgSize` is not such a power of two.
 */
export function fastcdcMasks(avgSize: number): { maskS: number; maskL: number } {
  const b = Math.log2(avgSize);
  if (!Number.isInteger(b) || b < 3 || b > 30) {
    throw new ClawbackError('INTERNAL', `avgSize must be a power of two in 8..2^30 (got ${avgSize})`);
  }
  return { maskS: spreadMask(b + 2), maskL: spreadMask(b - 2) };
}

/** The constants of one {@link FastCdcChunker}; see {@link FastCdcChunker.spec}. */
export interface FastCdcSpec {
  minSize: number;
  avgSize: number;
  maxSize: number;
  maskS: number;
  maskL: number;
  gear: Int32Array;
}

/**
 * FastCDC chunker (normalized chunking level 2, 32-bit Gear hash, secret gear table).
 * Stateless: {@link FastCdcChunker.cut} is a pure function of its arguments, so one
 * instance may be shared by any number of concurrent streams.
 */
export class FastCdcChunker implements Chunker {
  readonly params: ChunkerParams;
  readonly maxSize: number;
  readonly minSize: number;
  readonly avgSize: number;
  /** maskS as a signed 32-bit integer (same bits as {@link fastcdcMasks}). */
  readonly #maskS: number;
  /** maskL as a signed 32-bit integer. */
  readonly #maskL: number;
  /** Gear table, as the signed 32-bit integers the hash adds. */
  readonly #gear: Int32Array;
  /** The WebAssembly scanner of this gear table, made on the first cut. */
  #scanner: GearScanner | undefined;

  /**
   * @param params - already validated `fastcdc-2020` parameters (see `validateChunkerParams`).
   * @param seed - the repository's 32-byte secret gear seed (see `deriveGearTable`).
   * @throws ClawbackError `INTERNAL` on a wrong seed length or invalid average size.
   */
  constructor(
    params: Extract<ChunkerParams, { algorithm: 'fastcdc-2020' }>,
    seed: Uint8Array,
  ) {
    this.params = params;
    this.minSize = params.minSize;
    this.avgSize = params.avgSize;
    this.maxSize = params.maxSize;
    const { maskS, maskL } = fastcdcMasks(params.avgSize);
    this.#maskS = maskS | 0;
    this.#maskL = maskL | 0;
    const gear = deriveGearTable(seed);
    this.#gear = new Int32Array(gear.buffer, gear.byteOffset, gear.length);
  }

  /**
   * Everything {@link cut} computes with, for a second implementation of the same cut
   * (the blob workers chunk files themselves, repository/worker-source.ts): sizes in
   * bytes, masks as signed 32-bit integers, and a copy of the gear table.
   */
  spec(): FastCdcSpec {
    return { minSize: this.minSize, avgSize: this.avgSize, maxSize: this.maxSize, maskS: this.#maskS, maskL: this.#maskL, gear: this.#gear.slice() };
  }

  /**
   * Length in bytes of the chunk starting at `buf[start]`, looking only at `buf[start..end)`.
   * See the module documentation for the exact rule.
   *
   * @returns 0 when more bytes are needed (`end - start < maxSize`, no cut found, `!eof`)
   *   or when `start === end`; otherwise a length in `1 .. min(maxSize, end - start)`.
   * @throws ClawbackError `INTERNAL` when `0 <= start <= end <= buf.length` does not hold.
   */
  cut(buf: Uint8Array, start: number, end: number, eof: boolean): number {
    if (!(start >= 0 && start <= end && end <= buf.length)) {
      throw new ClawbackError('INTERNAL', `cut range [${start}, ${end}) outside buffer of ${buf.length} bytes`);
    }
    const n = end - start;
    const min = this.minSize;
    if (n <= min) return eof ? n : 0;
    const max = this.maxSize;
    const limit = n < max ? n : max;
    const avg = this.avgSize;
    // Offsets [min, avg) with the strict mask, then [avg, limit) with the loose one
    // (gear-scan.ts: the same loop in WebAssembly).
    this.#scanner ??= new GearScanner(this.#gear);
    const after = this.#scanner.find(buf, start + min, start + (avg < limit ? avg : limit), start + limit, this.#maskS, this.#maskL);
    if (after >= 0) return after - start;
    if (n >= max) return max;
    return eof ? n : 0;
  }
}
