/**
 * Chunker parameters: which content-splitting algorithm a repository (or a class of files)
 * uses, and its sizes. Parameters are part of what makes chunks deduplicate against each
 * other: two snapshots only share chunks when they were cut with the same parameters (and,
 * for FastCDC, the same per-repository gear seed).
 *
 * @module
 */

import { ClawbackError } from '../errors.js';

/** 1 KiB in bytes. */
const KiB = 1024;
/** 1 MiB in bytes. */
const MiB = 1024 * KiB;

/** Smallest allowed FastCDC `minSize`, in bytes. */
export const FASTCDC_MIN_MIN_SIZE = 64;
/** Largest allowed FastCDC `maxSize` (and fixed `size`), in bytes (64 MiB). */
export const CHUNK_MAX_MAX_SIZE = 64 * MiB;
/** Smallest allowed fixed chunk `size`, in bytes (the smallest SQLite page). */
export const FIXED_MIN_SIZE = 512;

/**
 * How to cut a byte stream into chunks. All sizes are in bytes.
 *
 * - `fastcdc-2020`: content-defined chunking, FastCDC with normalized chunking level 2
 *   (Wen Xia et al., "FastCDC: a Fast and Efficient Content-Defined Chunking Approach for
 *   Data Deduplication", USENIX ATC 2016; extended in IEEE TPDS 2020). Chunks are
 *   `minSize + 1 .. maxSize` bytes long (the last chunk of a stream may be shorter), about
 *   `avgSize` on average. See `fastcdc.ts` for the exact cut rule and mask bits.
 *   Constraints ({@link validateChunkerParams}): integers, `avgSize` a power of two,
 *   `64 <= minSize < avgSize < maxSize <= 64 MiB`.
 * - `fixed`: every chunk is exactly `size` bytes except the last of a stream, which is
 *   `1 .. size` bytes. For files modified in place in fixed units (SQLite databases: pick a
 *   multiple of the page size so chunks stay page-aligned). Constraint: integer,
 *   `512 <= size <= 64 MiB`.
 */
export type ChunkerParams =
  | { algorithm: 'fastcdc-2020'; minSize: number; avgSize: number; maxSize: number }
  | { algorithm: 'fixed'; size: number };

/**
 * The default content-defined chunker: FastCDC, 512 KiB min / 2 MiB average / 8 MiB max
 * (borg's default sizes). Chosen by measurement (docs/CHUNKING.md): against 512 KiB / 1 MiB
 * / 8 MiB, bigger chunks compress better (npmver v1..v6 −0.6 %, under borg's; kernel −0.4 %),
 * at the price of 0.55 MB more on the agent data set's day (an appended file re-adds a
 * larger last chunk; SQLite databases use {@link DEFAULT_SQLITE_CHUNKER}); smaller
 * averages compress worse and cost more blobs.
 * (Changing them changes chunk boundaries and therefore deduplication against existing
 * snapshots, not readability; a repository keeps the parameters it was created with.)
 */
export const DEFAULT_CHUNKER: ChunkerParams = Object.freeze({
  algorithm: 'fastcdc-2020',
  minSize: 512 * KiB,
  avgSize: 2 * MiB,
  maxSize: 8 * MiB,
} as const);

/**
 * The default chunker for SQLite databases: fixed 32 KiB chunks, page-aligned for every page
 * size up to 32 KiB (the default page size is 4 KiB), so a page rewritten in place changes
 * exactly one chunk. Measured on the agent data set (docs/CHUNKING.md): the "next day" adds
 * 3.7 MB at 32 KiB against 4.6 MB at 64 KiB, 3.4 MB at 16 KiB and 4.1 MB at 4 KiB, while
 * smaller chunks compress worse and cost more blobs (the first snapshot stores 109 MB at
 * 32 KiB, 107 MB at 64 KiB, 111 MB at 16 KiB, 120 MB at 4 KiB).
 */
export const DEFAULT_SQLITE_CHUNKER: ChunkerParams = Object.freeze({
  algorithm: 'fixed',
  size: 32 * KiB,
} as const);

function usage(field: string, message: string, value: unknown): ClawbackError {
  return new ClawbackError('USAGE', `invalid chunker parameter ${field}: ${message}`, {
    details: { field, value },
  });
}

function checkInteger(field: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
    throw usage(field, `must be an integer number of bytes (got ${String(value)})`, value);
  }
  return value;
}

function isPowerOfTwo(n: number): boolean {
  return n > 0 && Number.isSafeInteger(n) && (n & (n - 1)) === 0 && n <= 2 ** 30;
}

/**
 * Checks chunker parameters (typically read from a config file or a repository's config)
 * and returns them unchanged, typed.
 *
 * Rules, in bytes:
 * - `fastcdc-2020`: `minSize`, `avgSize`, `maxSize` integers; `avgSize` a power of two;
 *   `minSize >= 64`; `minSize < avgSize < maxSize`; `maxSize <= 64 MiB`.
 * - `fixed`: `size` an integer with `512 <= size <= 64 MiB`.
 *
 * @param p - the parameters to check (may come from untyped input).
 * @returns `p`, as {@link ChunkerParams}.
 * @throws ClawbackError `USAGE` naming the bad field (`algorithm`, `minSize`, `avgSize`,
 *   `maxSize` or `size`) in the message and in `details.field`.
 */
export function validateChunkerParams(p: ChunkerParams): ChunkerParams {
  const raw: unknown = p;
  if (typeof raw !== 'object' || raw === null) {
    throw usage('algorithm', 'chunker parameters must be an object', raw);
  }
  const algorithm = (raw as { algorithm?: unknown }).algorithm;
  if (algorithm === 'fastcdc-2020') {
    const r = raw as { minSize?: unknown; avgSize?: unknown; maxSize?: unknown };
    const minSize = checkInteger('minSize', r.minSize);
    const avgSize = checkInteger('avgSize', r.avgSize);
    const maxSize = checkInteger('maxSize', r.maxSize);
    if (minSize < FASTCDC_MIN_MIN_SIZE) {
      throw usage('minSize', `must be at least ${FASTCDC_MIN_MIN_SIZE} bytes (got ${minSize})`, minSize);
    }
    if (!isPowerOfTwo(avgSize)) {
      throw usage('avgSize', `must be a power of two (got ${avgSize})`, avgSize);
    }
    if (!(minSize < avgSize)) {
      throw usage('avgSize', `must be greater than minSize (${minSize}) (got ${avgSize})`, avgSize);
    }
    if (!(avgSize < maxSize)) {
      throw usage('maxSize', `must be greater than avgSize (${avgSize}) (got ${maxSize})`, maxSize);
    }
    if (maxSize > CHUNK_MAX_MAX_SIZE) {
      throw usage('maxSize', `must be at most ${CHUNK_MAX_MAX_SIZE} bytes (64 MiB) (got ${maxSize})`, maxSize);
    }
    return p;
  }
  if (algorithm === 'fixed') {
    const size = checkInteger('size', (raw as { size?: unknown }).size);
    if (size < FIXED_MIN_SIZE || size > CHUNK_MAX_MAX_SIZE) {
      throw usage('size', `must be between ${FIXED_MIN_SIZE} bytes and 64 MiB (got ${size})`, size);
    }
    return p;
  }
  throw usage('algorithm', `must be 'fastcdc-2020' or 'fixed' (got ${JSON.stringify(algorithm) ?? String(algorithm)})`, algorithm);
}
