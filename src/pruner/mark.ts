/**
 * gc step 1, mark (docs/MAINTENANCE.md §gc): walk every tree of every snapshot and collect
 * every reachable blob, tree blobs included. Trees are loaded through the index files, not
 * the cache ({@link BlobReader}), each once; their references are read by refs.ts.
 *
 * Reachable blobs are flagged per entry of the {@link LiveIndex} (a byte per listed blob)
 * instead of being collected in a map of hex ids; blobs in no index file are kept by id
 * (they are missing, so few).
 */
import { BlobReader } from '../checker/blob-reader.js';
import { isClawbackError, throwIfAborted } from '../errors.js';
import { shortId, type BlobId, type FileId, type SnapshotId } from '../ids.js';
import type { LiveIndex } from '../index/live.js';
import type { Repository } from '../repository/repository.js';
import type { MissingBlob } from './plan.js';
import { treeRefs } from './refs.js';

/** What {@link markReachable} needs. */
export interface MarkInput {
  repo: Repository;
  index: LiveIndex;
  /** Files in `data/` (id → size). */
  present: ReadonlyMap<FileId, number>;
  /** Per pack of `index`: 1 when it is in `data/`. */
  packPresent: Uint8Array;
  /** The readable snapshots and their root trees. */
  snapshots: readonly { id: SnapshotId; tree: BlobId }[];
  signal?: AbortSignal | undefined;
}

/** What {@link markReachable} found. */
export interface MarkResult {
  /** Per entry of the index: 1 on the first entry of each reachable blob (its number, see `LiveIndex.find`). */
  reached: Uint8Array;
  /** Per entry of the index: 1 on every copy of every reachable blob. */
  used: Uint8Array;
  /** Reachable blobs (data and tree, missing ones included). */
  reachableBlobs: number;
  /** Reachable blobs in no present pack (or damaged trees), with the snapshots reaching them. */
  missing: MissingBlob[];
}

/**
 * Marks every blob reachable from `snapshots`; see the module comment.
 * @throws backend errors (not damage: damaged trees are reported as missing), ClawbackError
 *   'ABORTED'.
 */
export async function markReachable(input: MarkInput): Promise<MarkResult> {
  const { index, packPresent } = input;
  const REACHED = 1;
  const MISSING = 2;
  const flags = new Uint8Array(index.entryCount);
  const unindexed = new Set<BlobId>();
  const missing = new Map<BlobId, { type: 'data' | 'tree'; reason: string; snapshots: Set<SnapshotId> }>();
  const missingBelow = new Map<BlobId, BlobId[]>(); // tree → missing blobs below it (non-empty only)
  const noteMissing = (id: BlobId, type: 'data' | 'tree', reason: string): void => {
    if (!missing.has(id)) missing.set(id, { type, reason, snapshots: new Set() });
  };
  /** Marks blob `id` reachable: `new` the first time, `seen` after, `missing` when no present pack holds it. */
  const reach = (id: BlobId, type: 'data' | 'tree'): 'new' | 'seen' | 'missing' => {
    const first = index.find(id);
    if (first < 0) {
      if (unindexed.has(id)) return 'missing';
      unindexed.add(id);
      noteMissing(id, type, 'not in the index');
      return 'missing';
    }
    if (flags[first]! & REACHED) return flags[first]! & MISSING ? 'missing' : 'seen';
    flags[first] = REACHED;
    for (let e = first; e >= 0; e = index.nextCopy(e)) if (packPresent[index.packOf(e)]) return 'new';
    flags[first] = REACHED | MISSING;
    noteMissing(id, type, `only in missing pack(s) ${index.copies(id).map((e) => shortId(index.packId(index.packOf(e)))).join(', ')}`);
    return 'missing';
  };
  const reader = new BlobReader(input.repo, index, input.present);
  const visited = new Set<BlobId>();
  const mark = async (treeId: BlobId): Promise<BlobId[]> => {
    if (visited.has(treeId)) return missingBelow.get(treeId) ?? [];
    visited.add(treeId);
    throwIfAborted(input.signal);
    const lost: BlobId[] = [];
    if (reach(treeId, 'tree') === 'missing') lost.push(treeId);
    else {
      let nodes;
      try {
        nodes = treeRefs(await reader.read(treeId));
      } catch (err) {
        if (!isClawbackError(err, 'INTEGRITY', 'BLOB_NOT_FOUND')) throw err;
        noteMissing(treeId, 'tree', `damaged: ${err.message}`);
        lost.push(treeId);
      }
      for (const n of nodes ?? []) {
        if (n.type === 'dir' && n.subtree) lost.push(...(await mark(n.subtree)));
        for (const b of n.content ?? []) {
          if (reach(b, 'data') === 'missing' || missing.has(b)) lost.push(b);
        }
      }
    }
    const unique = [...new Set(lost)];
    if (unique.length > 0) missingBelow.set(treeId, unique);
    return unique;
  };
  try {
    for (const s of input.snapshots) {
      for (const b of await mark(s.tree)) missing.get(b)?.snapshots.add(s.id);
    }
  } finally {
    await reader.close();
  }

  const reached = new Uint8Array(index.entryCount);
  const used = new Uint8Array(index.entryCount);
  let reachableBlobs = unindexed.size;
  for (let first = 0; first < flags.length; first++) {
    if (!(flags[first]! & REACHED)) continue;
    reached[first] = 1;
    reachableBlobs++;
    for (let e = first; e >= 0; e = index.nextCopy(e)) used[e] = 1;
  }
  return {
    reached,
    used,
    reachableBlobs,
    missing: [...missing].map(([blob, m]) => ({ blob, type: m.type, reason: m.reason, snapshots: [...m.snapshots].sort() })),
  };
}
