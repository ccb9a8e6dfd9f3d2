/**
 * gc step 2 (docs/MAINTENANCE.md §gc): copy the kept blobs of partly used packs into new
 * packs. Every kept blob of each pack to repack is read, opened and
 * re-checked (decrypt, decompress, re-hash: on worker threads through a
 * {@link PackOpener}); a damaged one stops gc before anything else is deleted. Sound blobs
 * are then copied into the new packs *as they are stored*: an envelope does not depend on
 * its place in a pack (docs/FORMAT.md §5–6), so nothing is compressed or encrypted again.
 *
 * The new packs are laid out before anything is read (sizes come from the index): packs
 * to repack in the given order, their kept blobs by offset, data and tree blobs in
 * separate packs, each closed once its blobs reach the configured pack size — as the blob
 * saver does. Each new pack is assembled in one buffer of its final size and uploaded as
 * soon as its last blob is in (the next pieces keep being read and checked meanwhile).
 *
 * Only the byte ranges of the kept blobs are read, in pieces of a few MiB (chunks.ts).
 *
 * Memory: at most `inFlight` pieces being read and checked, plus one new pack per blob
 * type being filled (or uploaded); every buffer is freed as soon as it is done with.
 */
import { ClawbackError } from '../errors.js';
import { fileId } from '../crypto/hash.js';
import { sealEnvelope } from '../crypto/envelope.js';
import { shortId, type FileId } from '../ids.js';
import type { IndexedPack } from '../index/format.js';
import type { LiveIndex } from '../index/live.js';
import { ENTRY_BYTES, encodePackHeader, type BlobType, type PackEntry } from '../pack/format.js';
import type { Repository } from '../repository/repository.js';
import { entryChunks, forEachChunk, type Chunk, type LoadedChunk } from '../checker/chunks.js';
import type { PackOpener } from '../checker/open-pool.js';
import { releaseBytes } from '../checker/release.js';

/** What {@link repackBlobs} wrote. */
export interface RepackOutcome {
  /** The new packs, in the order written. */
  packs: IndexedPack[];
  /** Bytes of the new packs. */
  packBytes: number;
  /** Blobs copied. */
  blobs: number;
  /** Packs read. */
  packsRead: number;
}

/** Options of {@link repackBlobs}. */
export interface RepackOptions {
  /** Pieces of packs (a few MiB each) read and checked at once (default 3). */
  inFlight?: number;
  /** Size of the pieces, bytes (default 4 MiB). */
  chunkBytes?: number | undefined;
  signal?: AbortSignal | undefined;
  /** Called after each pack read, with the bytes and packs read so far. */
  onPack?: (bytesRead: number, packsRead: number) => void;
}

/** One new pack of the layout. */
interface NewPack {
  /** Its number in the layout. */
  n: number;
  /** Its blobs: entries of the index, in pack order. */
  entries: number[];
  /** Bytes of its blobs. */
  blobBytes: number;
  /** The pack being assembled (allocated with its first blob). */
  buf?: Buffer;
  /** Blobs copied in so far, and their listing. */
  filled: PackEntry[];
  /** Bytes of the blobs copied in so far. */
  used: number;
}

/** Lays out the new packs; returns, per entry of the index, the new pack it goes to (−1: none). */
function layout(index: LiveIndex, packs: FileId[], entries: ReadonlyMap<FileId, number[]>, packSize: number): { newPacks: NewPack[]; target: Int32Array } {
  const newPacks: NewPack[] = [];
  const target = new Int32Array(index.entryCount).fill(-1);
  const open = new Map<BlobType, NewPack>();
  for (const id of packs) {
    for (const e of entries.get(id) ?? []) {
      const type = index.type(e);
      let p = open.get(type);
      if (!p) {
        p = { n: newPacks.length, entries: [], blobBytes: 0, filled: [], used: 0 };
        open.set(type, p);
        newPacks.push(p);
      }
      p.entries.push(e);
      p.blobBytes += index.length(e);
      target[e] = p.n;
      // Full once blobs and header reach the pack size, as the blob saver decides.
      if (p.blobBytes + p.entries.length * ENTRY_BYTES >= packSize) open.delete(type);
    }
  }
  return { newPacks, target };
}

/**
 * Copies entries `entries.get(pack)` (entries of `index`, sorted by offset) of each pack
 * in `packs` into new packs; see the module comment.
 * @throws ClawbackError 'INTEGRITY' naming the pack and blob when a kept blob is damaged
 *   or its pack is missing; 'ABORTED'; backend errors.
 */
export async function repackBlobs(repo: Repository, index: LiveIndex, packs: FileId[], entries: ReadonlyMap<FileId, number[]>, opener: PackOpener, opts: RepackOptions = {}): Promise<RepackOutcome> {
  const out: RepackOutcome = { packs: [], packBytes: 0, blobs: 0, packsRead: 0 };
  const { newPacks, target } = layout(index, packs, entries, repo.config.packSize);
  const overhead = repo.cipher.overhead;
  let bytesRead = 0;

  // The pieces after this one keep loading and being checked during the upload.
  const finish = async (p: NewPack): Promise<void> => {
    const buf = p.buf!;
    p.buf = undefined;
    const header = sealEnvelope(repo.cipher, encodePackHeader(p.filled), 3);
    header.copy(buf, p.blobBytes);
    buf.writeUInt32LE(header.length, p.blobBytes + header.length);
    const size = p.blobBytes + header.length + 4;
    const bytes = buf.subarray(0, size);
    const id = fileId(bytes);
    try {
      await repo.backend.save({ type: 'data', name: id }, bytes);
    } finally {
      releaseBytes(buf); // `bytes` is empty from here on
    }
    out.packs.push({ id, size, blobs: p.filled });
    out.packBytes += size;
  };

  const chunks: Chunk[] = [];
  for (const id of packs) chunks.push(...entryChunks(index, index.packIndex(id)!, entries.get(id) ?? [], opts.chunkBytes));
  const handle = async (lc: LoadedChunk): Promise<void> => {
    const c = lc.chunk;
    const id = index.packId(c.pack);
    if (lc.missing) {
      throw new ClawbackError('INTEGRITY', `gc stopped before deleting anything: pack ${shortId(id)} to repack is missing. Run \`clawback verify\``, { details: { pack: id } });
    }
    const bytes = lc.bytes;
    if (lc.failed.length > 0) {
      const loc = index.location(c.entries[lc.failed[0]!]!);
      const at = loc.offset - c.start;
      let why = 'content does not match its id';
      try {
        repo.openBlob(loc, bytes.subarray(Math.min(at, bytes.byteLength), Math.min(bytes.byteLength, at + loc.length)));
      } catch (err) {
        why = (err as Error).message;
      }
      throw new ClawbackError('INTEGRITY', `gc stopped before deleting anything: ${why}. Run \`clawback verify --read-data\``, { details: { pack: id, blob: loc.id } });
    }
    for (const e of c.entries) {
      const p = newPacks[target[e]!]!;
      // The header's envelope is at most 1 + its plaintext + the cipher's overhead.
      p.buf ??= Buffer.allocUnsafeSlow(p.blobBytes + 1 + 9 + ENTRY_BYTES * p.entries.length + overhead + 4);
      const at = index.offset(e) - c.start;
      const length = index.length(e);
      Buffer.from(bytes.buffer, bytes.byteOffset + at, length).copy(p.buf, p.used);
      p.filled.push({ type: index.type(e), id: index.id(e), offset: p.used, length, rawLength: index.rawLength(e) });
      p.used += length;
      out.blobs++;
      if (p.filled.length === p.entries.length) await finish(p);
    }
    bytesRead += bytes.byteLength;
    if (c.last) {
      out.packsRead++;
      opts.onPack?.(bytesRead, out.packsRead);
    }
  };
  try {
    await forEachChunk(repo, index, chunks, opener, handle, { depth: opts.inFlight ?? 3, signal: opts.signal });
  } finally {
    for (const p of newPacks) if (p.buf) releaseBytes(p.buf);
  }
  return out;
}
