/**
 * Fixed-size chunking: every chunk is exactly `size` bytes except the last of a stream.
 * Used for files rewritten in place in fixed-size units (SQLite databases), where aligned
 * fixed chunks deduplicate perfectly and content-defined chunking gains nothing.
 *
 * @module
 */

import { ClawbackError } from '../errors.js';
import type { ChunkerParams } from './params.js';
import type { Chunker } from './index.js';

/** Fixed-size chunker. Stateless; one instance may be shared by concurrent streams. */
export class FixedChunker implements Chunker {
  readonly params: ChunkerParams;
  readonly maxSize: number;

  /** @param params - already validated `fixed` parameters (see `validateChunkerParams`). */
  constructor(params: Extract<ChunkerParams, { algorithm: 'fixed' }>) {
    this.params = params;
    this.maxSize = params.size;
  }

  /**
   * Length in bytes of the chunk starting at `buf[start]`: `size` when at least `size` bytes
   * are available, else `end - start` at `eof`, else 0 (more bytes needed).
   *
   * @throws ClawbackError `INTERNAL` when `0 <= start <= end <= buf.length` does not hold.
   */
  cut(buf: Uint8Array, start: number, end: number, eof: boolean): number {
    if (!(start >= 0 && start <= end && end <= buf.length)) {
      throw new ClawbackError('INTERNAL', `cut range [${start}, ${end}) outside buffer of ${buf.length} bytes`);
    }
    const n = end - start;
    if (n >= this.maxSize) return this.maxSize;
    return eof ? n : 0;
  }
}
