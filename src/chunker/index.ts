/**
 * Chunking: splitting file contents into chunks, the unit of deduplication.
 *
 * - {@link createChunker} builds a {@link Chunker} from {@link ChunkerParams}: FastCDC
 *   (content-defined, `fastcdc.ts`) or fixed-size (`fixed.ts`).
 * - {@link chunkStream} cuts an async byte stream into chunks; {@link chunkBuffer} cuts an
 *   in-memory buffer. Both give the same boundaries for the same bytes: boundaries depend
 *   only on the content, never on how it was split into read buffers.
 *
 * @module
 */

import { ClawbackError } from '../errors.js';
import { FastCdcChunker, type FastCdcSpec } from './fastcdc.js';
import { FixedChunker } from './fixed.js';
import { validateChunkerParams } from './params.js';
import type { ChunkerParams } from './params.js';

export type { ChunkerParams } from './params.js';
export { DEFAULT_CHUNKER, DEFAULT_SQLITE_CHUNKER, validateChunkerParams } from './params.js';
export { deriveGearTable } from './gear.js';
export type { FastCdcSpec } from './fastcdc.js';

/** The FastCDC constants of `chunker` (see `FastCdcChunker.spec`), or undefined for another algorithm. */
export function fastCdcSpec(chunker: Chunker): FastCdcSpec | undefined {
  return chunker instanceof FastCdcChunker ? chunker.spec() : undefined;
}

/**
 * A chunking algorithm with fixed parameters. Implementations are stateless: `cut` is a
 * pure function of its arguments, so one chunker may serve any number of concurrent streams.
 */
export interface Chunker {
  /** The parameters this chunker was built from. */
  readonly params: ChunkerParams;
  /** Largest chunk, in bytes. */
  readonly maxSize: number;
  /**
   * Length of the next chunk that starts at `buf[start]`, looking only at `buf[start..end)`.
   * Returns 0 if no boundary is found yet and `end - start < maxSize` and `!eof` (the caller
   * must supply more bytes), and 0 when `start === end`. With `eof = true`, returns
   * `end - start` when no boundary is found earlier (the tail chunk). Never returns more
   * than `maxSize`. When `end - start >= maxSize`, never returns 0.
   *
   * @param buf - the bytes.
   * @param start - offset of the chunk's first byte in `buf`.
   * @param end - offset just past the last available byte (`start <= end <= buf.length`).
   * @param eof - true when no bytes follow `buf[end - 1]` in the stream.
   * @returns the chunk length in bytes, or 0 (see above).
   * @throws ClawbackError `INTERNAL` when `0 <= start <= end <= buf.length` does not hold.
   */
  cut(buf: Uint8Array, start: number, end: number, eof: boolean): number;
}

/**
 * Builds a chunker.
 *
 * @param params - chunker parameters; validated here.
 * @param seed - the repository's secret 32-byte gear seed (used by FastCDC to derive the
 *   gear table, see `deriveGearTable`; ignored by the fixed chunker). Deriving the table
 *   costs one HKDF, so build one chunker per repository and reuse it.
 * @returns the chunker.
 * @throws ClawbackError `USAGE` for invalid parameters (see `validateChunkerParams`);
 *   `INTERNAL` for a FastCDC seed that is not 32 bytes.
 */
export function createChunker(params: ChunkerParams, seed: Uint8Array): Chunker {
  validateChunkerParams(params);
  switch (params.algorithm) {
    case 'fastcdc-2020':
      return new FastCdcChunker(params, seed);
    case 'fixed':
      return new FixedChunker(params);
  }
}

/**
 * The largest input, in bytes, that `chunker` always leaves in one piece: FastCDC never
 * cuts a chunk shorter than `minSize` except at the end of the stream, and the fixed
 * chunker cuts every `size` bytes. The archiver reads and hashes files up to this size on
 * worker threads without chunking them.
 */
export function singleChunkLimit(chunker: Chunker): number {
  const p = chunker.params;
  return p.algorithm === 'fixed' ? p.size : p.minSize;
}

/** Initial buffer capacity of {@link chunkStream} in bytes (grows up to 2 × maxSize). */
const INITIAL_BUFFER_BYTES = 64 * 1024;

function cutOrFail(chunker: Chunker, buf: Uint8Array, start: number, end: number, eof: boolean): number {
  const len = chunker.cut(buf, start, end, eof);
  if (len <= 0 || len > end - start || len > chunker.maxSize) {
    throw new ClawbackError('INTERNAL', `chunker returned length ${len} for ${end - start} available bytes`);
  }
  return len;
}

/**
 * Splits a stream into chunks. Yields each chunk as a fresh `Uint8Array` that the consumer
 * may keep (it is never written to again). An empty stream yields nothing.
 *
 * Boundaries are identical to {@link chunkBuffer} on the concatenated input, whatever the
 * sizes of the source's pieces: `cut` is only called with at least `maxSize` bytes
 * available, or at end of stream.
 *
 * Memory: one internal buffer of at most 2 × `maxSize` bytes (it starts at 64 KiB and
 * doubles as needed), plus the chunks the consumer keeps. Each input byte is copied once
 * into the buffer and once into its chunk, plus amortized at most once by compaction.
 *
 * @param chunker - the chunker.
 * @param source - the bytes, in pieces of any size (empty pieces are fine). The pieces are
 *   not retained after the next one is requested, so the source may reuse its buffers.
 * @returns an async generator of chunks.
 * @throws ClawbackError `INTERNAL` if the chunker violates its contract; anything the
 *   source throws is propagated.
 */
export async function* chunkStream(
  chunker: Chunker,
  source: AsyncIterable<Uint8Array>,
): AsyncGenerator<Uint8Array> {
  const maxSize = chunker.maxSize;
  const maxCapacity = 2 * maxSize;
  let buf = new Uint8Array(Math.min(maxCapacity, INITIAL_BUFFER_BYTES));
  let start = 0; // first byte not yet emitted
  let end = 0; // one past the last buffered byte
  for await (const piece of source) {
    let off = 0;
    while (off < piece.length) {
      if (end === buf.length) {
        // Invariant here: end - start < maxSize (we drain below whenever >= maxSize).
        const live = end - start;
        if (live <= buf.length >>> 1 && start > 0) {
          buf.copyWithin(0, start, end);
        } else {
          const bigger = new Uint8Array(Math.min(maxCapacity, buf.length * 2));
          bigger.set(buf.subarray(start, end));
          buf = bigger;
        }
        start = 0;
        end = live;
      }
      const take = Math.min(buf.length - end, piece.length - off);
      buf.set(piece.subarray(off, off + take), end);
      end += take;
      off += take;
      while (end - start >= maxSize) {
        const len = cutOrFail(chunker, buf, start, end, false);
        yield buf.slice(start, start + len);
        start += len;
      }
    }
  }
  while (start < end) {
    const len = cutOrFail(chunker, buf, start, end, true);
    yield buf.slice(start, start + len);
    start += len;
  }
}

/**
 * Chunks a whole in-memory buffer.
 *
 * @param chunker - the chunker.
 * @param data - the bytes (the entire stream).
 * @returns chunk lengths in bytes, in order; they sum to `data.length` (empty for empty data).
 * @throws ClawbackError `INTERNAL` if the chunker violates its contract.
 */
export function chunkBuffer(chunker: Chunker, data: Uint8Array): number[] {
  const lengths: number[] = [];
  let pos = 0;
  while (pos < data.length) {
    const len = cutOrFail(chunker, data, pos, data.length, true);
    lengths.push(len);
    pos += len;
  }
  return lengths;
}
