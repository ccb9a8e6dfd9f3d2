/**
 * The data pass of `verify`: each selected pack is read (in pieces, chunks.ts) and its
 * BLAKE3 must equal its name; its header must decrypt, parse and list exactly what the
 * index lists; every indexed blob is opened (decrypted, decompressed: on worker threads
 * through a {@link PackOpener}) and re-hashed against its id.
 */
import { ClawbackError, isClawbackError } from '../errors.js';
import { openEnvelope, type Cipher } from '../crypto/envelope.js';
import { createFileHasher } from '../crypto/hash.js';
import { shortId, type BlobId, type FileId } from '../ids.js';
import type { LiveIndex } from '../index/live.js';
import { decodePackHeader, MAX_HEADER_BYTES, type PackEntry } from '../pack/format.js';
import type { Repository } from '../repository/repository.js';
import { forEachChunk, wholePackChunks, type Chunk, type LoadedChunk } from './chunks.js';
import type { PackOpener } from './open-pool.js';

/** A blob copy that failed to open. */
export interface DamagedCopy {
  blob: BlobId;
  type: PackEntry['type'];
  offset: number;
  error: string;
}

/** What the data pass found in one pack. */
export interface PackCheck {
  pack: FileId;
  /** Bytes read. */
  bytes: number;
  /** Pack-level problems (name hash, size, header); empty when the pack is sound. */
  problems: string[];
  /** Blob copies in this pack that do not open or do not match their id. */
  damaged: DamagedCopy[];
  /** Blobs opened and re-hashed successfully. */
  blobsOk: number;
  /** True when the pack vanished from the backend. */
  missing: boolean;
}

function entryKey(e: PackEntry): string {
  return `${e.offset}:${e.length}:${e.rawLength}:${e.type}:${e.id}`;
}

/** True when the pack header lists exactly the index's entries of pack `p` (as a multiset). */
function headerMatches(header: PackEntry[], index: LiveIndex, p: number): boolean {
  const from = index.packFirst(p);
  const to = index.packEnd(p);
  if (header.length !== to - from) return false;
  // Fast path: both are in offset order, so a sound pack matches entry by entry.
  let inOrder = true;
  for (let i = 0; i < header.length && inOrder; i++) {
    const h = header[i]!;
    const e = from + i;
    inOrder = h.offset === index.offset(e) && h.length === index.length(e) && h.rawLength === index.rawLength(e) && h.type === index.type(e) && h.id === index.id(e);
  }
  if (inOrder) return true;
  const a = header.map(entryKey).sort();
  const b: string[] = [];
  for (let e = from; e < to; e++) b.push(entryKey(index.entry(e)));
  b.sort();
  return a.every((k, i) => k === b[i]);
}

/**
 * Parses the header of a pack of `size` bytes from its last bytes `tail` (as
 * `readPackHeaderFromBytes` does from the whole pack), loading the header separately when
 * `tail` does not hold all of it.
 * @throws ClawbackError 'INTEGRITY' naming the pack.
 */
async function headerFromTail(repo: Repository, cipher: Cipher, id: FileId, tail: Uint8Array, size: number): Promise<PackEntry[]> {
  const what = `pack ${shortId(id)}`;
  if (size < 4) throw new ClawbackError('INTEGRITY', `${what}: too short (${size} bytes)`);
  // The last piece may start past the end of a truncated pack: read the end then.
  const last = tail.byteLength >= 4 ? tail : await repo.backend.load({ type: 'data', name: id }, { offset: Math.max(0, size - 65536), length: Math.min(size, 65536) });
  const t = Buffer.from(last.buffer, last.byteOffset, last.byteLength);
  if (t.length < 4) throw new ClawbackError('INTEGRITY', `${what}: too short (${size} bytes)`);
  const hlen = t.readUInt32LE(t.length - 4);
  if (hlen + 4 > size) throw new ClawbackError('INTEGRITY', `${what}: header length ${hlen} exceeds the pack size ${size}`);
  const sealed =
    hlen + 4 <= t.length ? t.subarray(t.length - 4 - hlen, t.length - 4) : await repo.backend.load({ type: 'data', name: id }, { offset: size - 4 - hlen, length: hlen });
  const plain = openEnvelope(cipher, sealed, `${what} header`, MAX_HEADER_BYTES, false);
  return decodePackHeader(plain, size - 4 - hlen, what);
}

/** Options of {@link checkPacks}. */
export interface CheckPacksOptions {
  /** Pieces read and checked at once (default 3). */
  depth?: number;
  /** Size of the pieces, bytes (default 4 MiB, chunks.ts). */
  chunkBytes?: number | undefined;
  signal?: AbortSignal | undefined;
}

/**
 * Checks packs `packs` (pack numbers of `index`, with their sizes in `data/`) as described
 * in the module comment, calling `onPack` once per pack, in order. Never throws for damage.
 * @throws backend errors other than a pack being missing; ClawbackError 'INTERNAL' when a
 *   worker thread fails; 'ABORTED'.
 */
export async function checkPacks(
  repo: Repository,
  index: LiveIndex,
  packs: readonly { pack: number; size: number }[],
  opener: PackOpener,
  onPack: (r: PackCheck) => void,
  opts: CheckPacksOptions = {},
): Promise<void> {
  const chunks: Chunk[] = [];
  for (const { pack, size } of packs) chunks.push(...wholePackChunks(index, pack, size, opts.chunkBytes));
  let cur: { out: PackCheck; hasher: ReturnType<typeof createFileHasher>; failed: number } | undefined;
  const handle = async (lc: LoadedChunk): Promise<void> => {
    const c = lc.chunk;
    const p = c.pack;
    const id = index.packId(p);
    cur ??= { out: { pack: id, bytes: 0, problems: [], damaged: [], blobsOk: 0, missing: false }, hasher: createFileHasher(), failed: 0 };
    const { out } = cur;
    if (lc.missing) out.missing = true;
    if (!out.missing) {
      cur.hasher.update(lc.bytes);
      out.bytes += lc.bytes.byteLength;
      for (const i of lc.failed) {
        const loc = index.location(c.entries[i]!);
        const at = loc.offset - c.start;
        try {
          // The message comes from the one canonical opener.
          repo.openBlob(loc, lc.bytes.subarray(Math.max(0, Math.min(at, lc.bytes.byteLength)), Math.max(0, Math.min(lc.bytes.byteLength, at + loc.length))));
        } catch (err) {
          if (!isClawbackError(err, 'INTEGRITY')) throw err;
          out.damaged.push({ blob: loc.id, type: loc.type, offset: loc.offset, error: err.message });
        }
      }
    }
    if (!c.last) return;
    const hasher = cur.hasher;
    cur = undefined;
    if (out.missing) {
      onPack(out);
      return;
    }
    const size = index.packSize(p);
    if (out.bytes !== size) out.problems.push(`is ${out.bytes} bytes, the index says ${size}`);
    if (hasher.digestHex() !== id) out.problems.push('content does not match its name (BLAKE3)');
    try {
      const header = await headerFromTail(repo, repo.cipher, id, lc.bytes, out.bytes);
      if (!headerMatches(header, index, p)) out.problems.push(`header lists ${header.length} blobs that disagree with the index's ${index.packEnd(p) - index.packFirst(p)}`);
    } catch (err) {
      if (!isClawbackError(err, 'INTEGRITY')) throw err;
      out.problems.push(`header cannot be read: ${err.message}`);
    }
    const total = index.packEnd(p) - index.packFirst(p);
    out.blobsOk = total - out.damaged.length;
    if (out.damaged.length > 0) out.problems.push(`${out.damaged.length} of ${total} blobs are damaged (first: ${shortId(out.damaged[0]!.blob)})`);
    onPack(out);
  };
  await forEachChunk(repo, index, chunks, opener, handle, opts);
}
