/**
 * Which byte ranges of which packs to read for a set of wanted blobs: one pass over the
 * packs in the order they are first needed, each pack's blobs in pack order, neighbouring
 * blobs merged into one read when the gap between them is small (reading a few unneeded
 * bytes is cheaper than another request), as restic's restorer does.
 */
import type { FileId } from '../ids.js';
import type { BlobLocation } from '../index/cache.js';

/** One wanted blob; `ref` is the caller's (which file, which blob of it). */
export interface WantedBlob<T> {
  loc: BlobLocation;
  ref: T;
}

/** One read: `length` bytes of pack `packId` from `offset`, holding `blobs` (by offset). */
export interface PackRange<T> {
  packId: FileId;
  offset: number;
  length: number;
  blobs: WantedBlob<T>[];
}

/** Limits of {@link planRanges}, bytes. */
export interface RangeLimits {
  /** Unneeded bytes read between two wanted blobs at most (else two reads). */
  maxGap: number;
  /** Longest read (a single blob longer than this is read alone). */
  maxRange: number;
}

/**
 * Plans the reads for `wanted` (in the caller's order): packs in order of first need,
 * ranges within a pack by offset.
 */
export function planRanges<T>(wanted: Iterable<WantedBlob<T>>, limits: RangeLimits): PackRange<T>[] {
  const byPack = new Map<FileId, WantedBlob<T>[]>();
  for (const w of wanted) {
    let list = byPack.get(w.loc.packId);
    if (!list) byPack.set(w.loc.packId, (list = []));
    list.push(w);
  }
  const out: PackRange<T>[] = [];
  for (const [packId, list] of byPack) {
    list.sort((a, b) => a.loc.offset - b.loc.offset);
    let cur: PackRange<T> | undefined;
    for (const w of list) {
      const end = w.loc.offset + w.loc.length;
      if (cur && w.loc.offset <= cur.offset + cur.length + limits.maxGap && end - cur.offset <= limits.maxRange) {
        cur.length = Math.max(cur.length, end - cur.offset);
        cur.blobs.push(w);
        continue;
      }
      cur = { packId, offset: w.loc.offset, length: w.loc.length, blobs: [w] };
      out.push(cur);
    }
  }
  return out;
}
