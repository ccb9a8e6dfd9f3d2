/**
 * Reading packs in pieces ("chunks": a byte range of one pack and the blobs listed inside
 * it) and opening every listed blob of each piece through a {@link PackOpener}, a few
 * pieces at a time, handing the results to the caller strictly in order.
 *
 * Pieces of a few MiB instead of whole 16 MiB packs keep the memory in flight small (the
 * allocator keeps what big buffers leave behind), and let gc read only the byte ranges it
 * needs. Each piece's buffer is freed as soon as its handler returns.
 */
import { isClawbackError, throwIfAborted } from '../errors.js';
import type { FileId } from '../ids.js';
import { INDEX_RECORD_BYTES as R } from '../index/format.js';
import type { LiveIndex } from '../index/live.js';
import type { Repository } from '../repository/repository.js';
import type { PackOpener } from './open-pool.js';
import { releaseBytes } from './release.js';

/** Default size of a piece, bytes (a single larger blob makes a larger piece). */
export const CHUNK_BYTES = 4 << 20;

/** A byte range of one pack and the index entries (blobs) to open in it. */
export interface Chunk {
  /** Pack number in the {@link LiveIndex}. */
  pack: number;
  /** First byte of the range in the pack. */
  start: number;
  /** One past the last byte. */
  end: number;
  /** Index entries to open, each lying in [start, end) unless the listing is impossible. */
  entries: number[];
  /** True for the last piece of its pack in the list. */
  last: boolean;
  /** True when the piece is the whole file: it is loaded without a range. */
  whole?: boolean;
}

/** A piece as read and checked. */
export interface LoadedChunk {
  chunk: Chunk;
  /** The bytes read (cut short at the end of the file); empty when the pack is missing. */
  bytes: Uint8Array;
  /** Positions in `chunk.entries` of the blobs that failed to open or re-hash. */
  failed: number[];
  /** True when the pack is not in the backend. */
  missing: boolean;
}

/**
 * Pieces covering the whole pack `p` (bytes 0 … `size` − 1, as `verify` hashes it), each
 * of about `chunkBytes`, cut at blob starts; every entry of the pack in the piece where it
 * starts.
 * @param size the pack file's size in bytes (the last piece runs to it).
 */
export function wholePackChunks(index: LiveIndex, p: number, size: number, chunkBytes: number = CHUNK_BYTES): Chunk[] {
  const out: Chunk[] = [];
  let cur: Chunk = { pack: p, start: 0, end: 0, entries: [], last: false };
  for (let e = index.packFirst(p); e < index.packEnd(p); e++) {
    const s = index.offset(e);
    const t = s + index.length(e);
    if (cur.entries.length > 0 && s >= cur.end && t - cur.start > chunkBytes) {
      cur.end = s;
      out.push(cur);
      cur = { pack: p, start: s, end: s, entries: [], last: false };
    }
    cur.entries.push(e);
    cur.end = Math.max(cur.end, t);
  }
  cur.end = Math.max(cur.end, size);
  cur.last = true;
  if (out.length === 0 && cur.end === size) cur.whole = true;
  out.push(cur);
  return out;
}

/**
 * Pieces holding the given entries of pack `p` (sorted by offset) and as little else as
 * possible: consecutive entries share a piece while it stays within `chunkBytes` and the
 * gap between them is at most `maxGap` bytes.
 */
export function entryChunks(index: LiveIndex, p: number, entries: readonly number[], chunkBytes: number = CHUNK_BYTES, maxGap = 256 << 10): Chunk[] {
  const out: Chunk[] = [];
  let cur: Chunk | undefined;
  for (const e of entries) {
    const s = index.offset(e);
    const t = s + index.length(e);
    if (cur && (s < cur.end || s - cur.end > maxGap || t - cur.start > chunkBytes)) {
      out.push(cur);
      cur = undefined;
    }
    cur ??= { pack: p, start: s, end: s, entries: [], last: false };
    cur.entries.push(e);
    cur.end = Math.max(cur.end, t);
  }
  if (cur) out.push(cur);
  if (out.length > 0) out[out.length - 1]!.last = true;
  return out;
}

/** The index records of a piece's entries, with offsets made relative to the piece. */
function chunkRecords(index: LiveIndex, c: Chunk): Buffer {
  const out = Buffer.allocUnsafe(c.entries.length * R);
  c.entries.forEach((e, i) => {
    index.recordsOf(e, e + 1).copy(out, i * R);
    // An entry before the piece (impossible listings only) gets an offset past any piece: it fails as truncated.
    out.writeUInt32LE(index.offset(e) >= c.start ? index.offset(e) - c.start : 0xffffffff, i * R + 1);
  });
  return out;
}

/** Options of {@link forEachChunk}. */
export interface ChunkOptions {
  /** Pieces read and checked at once (default 3). */
  depth?: number;
  signal?: AbortSignal | undefined;
}

/**
 * Reads and checks `chunks` (`depth` at a time) and calls `handle` for each, in the order
 * given; the piece's buffer is freed when `handle` returns.
 * @throws what `handle` throws, backend errors other than a missing pack, ClawbackError
 *   'INTERNAL' when a worker thread fails, 'ABORTED'.
 */
export async function forEachChunk(repo: Repository, index: LiveIndex, chunks: readonly Chunk[], opener: PackOpener, handle: (c: LoadedChunk) => void | Promise<void>, opts: ChunkOptions = {}): Promise<void> {
  const load = async (c: Chunk): Promise<LoadedChunk> => {
    const id: FileId = index.packId(c.pack);
    let bytes: Uint8Array;
    try {
      bytes = await repo.backend.load({ type: 'data', name: id }, c.whole ? undefined : { offset: c.start, length: c.end - c.start });
    } catch (err) {
      if (!isClawbackError(err, 'BLOB_NOT_FOUND')) throw err;
      return { chunk: c, bytes: new Uint8Array(0), failed: [], missing: true };
    }
    const opened = await opener.check(id, bytes, chunkRecords(index, c));
    return { chunk: c, bytes: opened.bytes, failed: opened.failed, missing: false };
  };
  const depth = Math.max(1, opts.depth ?? 3);
  const pending: Promise<LoadedChunk>[] = [];
  let next = 0;
  const fill = (): void => {
    while (pending.length < depth && next < chunks.length) {
      const p = load(chunks[next++]!);
      p.catch(() => undefined); // awaited in order below
      pending.push(p);
    }
  };
  try {
    fill();
    while (pending.length > 0) {
      throwIfAborted(opts.signal);
      const loaded = await pending.shift()!;
      fill();
      try {
        await handle(loaded);
      } finally {
        releaseBytes(loaded.bytes);
      }
    }
  } finally {
    next = chunks.length;
    for (const p of await Promise.allSettled(pending)) if (p.status === 'fulfilled') releaseBytes(p.value.bytes);
  }
}
