/**
 * `stats`: sizes of a set of snapshots, after restic's `stats` modes: the logical size
 * (restic's restore-size: the sum of the snapshots' file sizes), the unique plaintext of
 * the blobs they reference (raw-data), and what those blobs take in packs (after
 * compression and encryption).
 */
import type { BlobId } from '../ids.js';
import type { Repository } from '../repository/repository.js';
import { decodeTree } from '../tree/codec.js';
import type { SnapshotEntry } from './selector.js';

/** Sizes of a set of snapshots. All sizes in bytes. */
export interface SnapshotStats {
  snapshots: number;
  /** Files summed over the snapshots (a file in two snapshots counts twice). */
  files: number;
  /** Sum of file sizes over the snapshots: what restoring all of them would write. */
  logicalBytes: number;
  /** Distinct data blobs referenced. */
  dataBlobs: number;
  /** Plaintext bytes of the distinct data blobs. */
  dataBytes: number;
  /** Distinct tree blobs. */
  treeBlobs: number;
  /** Plaintext bytes of the distinct tree blobs. */
  treeBytes: number;
  /** Stored bytes (in packs) of all distinct blobs. */
  storedBytes: number;
  /** Referenced blobs the index does not know (damage; see `verify`). */
  missingBlobs: number;
  /** logicalBytes / dataBytes (1 when nothing is stored). */
  dedupRatio: number;
  /** (dataBytes + treeBytes) / storedBytes (1 when nothing is stored). */
  compressionRatio: number;
}

/** Computes {@link SnapshotStats} for `snapshots` (trees walked once each, through the index cache). */
export async function snapshotStats(repo: Repository, snapshots: readonly SnapshotEntry[]): Promise<SnapshotStats> {
  const s: SnapshotStats = { snapshots: snapshots.length, files: 0, logicalBytes: 0, dataBlobs: 0, dataBytes: 0, treeBlobs: 0, treeBytes: 0, storedBytes: 0, missingBlobs: 0, dedupRatio: 1, compressionRatio: 1 };
  const seenBlobs = new Set<BlobId>();
  const seenTrees = new Set<BlobId>();
  const blob = async (id: BlobId): Promise<void> => {
    if (seenBlobs.has(id)) return;
    seenBlobs.add(id);
    const loc = await repo.lookup(id);
    if (!loc) {
      s.missingBlobs++;
      return;
    }
    s.dataBlobs++;
    s.dataBytes += loc.rawLength;
    s.storedBytes += loc.length;
  };
  const walk = async (id: BlobId): Promise<void> => {
    if (seenTrees.has(id)) return;
    seenTrees.add(id);
    const loc = await repo.lookup(id);
    if (!loc) {
      s.missingBlobs++;
      return;
    }
    s.treeBlobs++;
    s.treeBytes += loc.rawLength;
    s.storedBytes += loc.length;
    for (const n of decodeTree(await repo.readBlob(loc)).nodes) {
      if (n.type === 'dir' && n.subtree) await walk(n.subtree);
      for (const b of n.content ?? []) await blob(b);
    }
  };
  for (const e of snapshots) {
    s.files += e.manifest.summary.files;
    s.logicalBytes += e.manifest.summary.bytes;
    await walk(e.manifest.tree);
  }
  if (s.dataBytes > 0) s.dedupRatio = s.logicalBytes / s.dataBytes;
  if (s.storedBytes > 0) s.compressionRatio = (s.dataBytes + s.treeBytes) / s.storedBytes;
  return s;
}
