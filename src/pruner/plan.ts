/**
 * Planning `gc` (docs/MAINTENANCE.md §gc), after restic's `prune`:
 *
 * 1. Mark (mark.ts): walk every tree of every snapshot (trees loaded through the index
 *    files, not the cache) and collect every reachable blob, tree blobs included.
 * 2. Choose one copy of each reachable blob: when a blob is in several packs (duplicates
 *    after an interrupted gc), the copy in the pack with the highest share of reachable
 *    bytes is kept.
 * 3. Classify each live, present pack: `keep` (nothing unused, or unused share at most
 *    `maxUnused`), `repack` (partly used above `maxUnused`: copy the kept blobs into new
 *    packs, delete the old), `delete` (no kept blob).
 * 4. Packs in `data/` that no live index lists are `unreferenced` and deleted too: the
 *    plan is executed under the exclusive lock, so nobody is uploading them.
 * 5. Temp files (`.tmp-*`, {@link Backend.listTempFiles}) in `data/`, `index/` and
 *    `snapshots/` are strays of interrupted saves for the same reason, and deleted. Those in
 *    `locks/`, `keys/` and the root are left: lock files are written before their writer
 *    sees our lock, and key and config files are written without the repository lock.
 *
 * The plan refuses (`refusals` non-empty) when a snapshot or index file cannot be read,
 * live index files disagree, or a reachable blob is missing: deleting then could destroy
 * the only copy of something.
 */
import type { TempFileInfo } from '../backend/backend.js';
import { loadLiveIndex } from '../checker/live-index.js';
import { ClawbackError, isClawbackError } from '../errors.js';
import { shortId, type BlobId, type FileId, type SnapshotId } from '../ids.js';
import type { LiveIndex } from '../index/live.js';
import type { Repository } from '../repository/repository.js';
import { listPackFiles } from '../repository/index-state.js';
import { loadSnapshot } from '../snapshot/store.js';
import { markReachable } from './mark.js';

/** Where every save happens under the repository lock, so a temp file is a stray (step 5). */
const STRAY_DIRS = /^(data|index|snapshots)\//;

/** What gc does with a pack. */
export type PackAction = 'keep' | 'repack' | 'delete';

/** One live pack in the plan. */
export interface PackPlan {
  id: FileId;
  /** Size of the pack file, bytes (from the index). */
  size: number;
  /** Blobs the index lists in it. */
  blobs: number;
  /** Blobs whose kept copy is in this pack. */
  liveBlobs: number;
  /** Stored bytes of those blobs. */
  liveBytes: number;
  /** Stored bytes of the other blobs (unreachable, or duplicates kept elsewhere). */
  unusedBytes: number;
  action: PackAction;
}

/** A reachable blob that is in no present pack. */
export interface MissingBlob {
  blob: BlobId;
  type: 'data' | 'tree';
  /** Why: not indexed, only in missing packs, or damaged (trees). */
  reason: string;
  /** Snapshots that reach it (sorted ids). */
  snapshots: SnapshotId[];
}

/** Options of {@link planPrune}. */
export interface PlanOptions {
  /**
   * Largest unused share (0..1) a partly used pack may keep; above it the pack is
   * repacked. Default 0.05. 0 repacks every partly used pack, 1 none.
   */
  maxUnused?: number;
  signal?: AbortSignal | undefined;
}

/** What gc will do; see the module comment. */
export interface PrunePlan {
  maxUnused: number;
  snapshots: number;
  /** Reachable blobs (data and tree). */
  reachableBlobs: number;
  /** Every live, present pack with its action. */
  packs: PackPlan[];
  /** Packs in `data/` that no live index lists (deleted). */
  unreferenced: { id: FileId; size: number }[];
  /** Indexed packs missing from `data/` (dropped from the new index). */
  missingPacks: FileId[];
  /** Temp files left by interrupted saves (deleted), sorted by path. */
  tempFiles: TempFileInfo[];
  /** Index files present when planning (all superseded by the new one). */
  indexFiles: FileId[];
  /** Index files already superseded (left by an interrupted gc). */
  supersededIndexFiles: FileId[];
  /** True when a new index file is written (something indexed changes, or there are several index files to merge). */
  rewriteIndex: boolean;
  missing: MissingBlob[];
  /** Reasons gc must not run; empty when it may. */
  refusals: string[];
  /** Live blobs to copy out of each `repack` pack: entries of {@link index}, by offset. @internal */
  repackEntries: Map<FileId, number[]>;
  /** The index the plan was made from. @internal */
  index: LiveIndex;
}

/** Byte and pack totals of a plan. */
export interface PlanTotals {
  keepPacks: number;
  keepBytes: number;
  repackPacks: number;
  repackBytes: number;
  /** Unused bytes inside repacked packs (freed by repacking). */
  repackUnusedBytes: number;
  deletePacks: number;
  deleteBytes: number;
  unreferencedPacks: number;
  unreferencedBytes: number;
  /** Unused bytes left in kept packs. */
  keptUnusedBytes: number;
  /** Stray temp files (left by interrupted saves). */
  tempFiles: number;
  /** Bytes of those temp files. */
  tempBytes: number;
}

/** Sums up a plan. */
export function planTotals(plan: PrunePlan): PlanTotals {
  const t: PlanTotals = { keepPacks: 0, keepBytes: 0, repackPacks: 0, repackBytes: 0, repackUnusedBytes: 0, deletePacks: 0, deleteBytes: 0, unreferencedPacks: 0, unreferencedBytes: 0, keptUnusedBytes: 0, tempFiles: 0, tempBytes: 0 };
  for (const p of plan.packs) {
    if (p.action === 'keep') {
      t.keepPacks++;
      t.keepBytes += p.size;
      t.keptUnusedBytes += p.unusedBytes;
    } else if (p.action === 'repack') {
      t.repackPacks++;
      t.repackBytes += p.size;
      t.repackUnusedBytes += p.unusedBytes;
    } else {
      t.deletePacks++;
      t.deleteBytes += p.size;
    }
  }
  for (const u of plan.unreferenced) {
    t.unreferencedPacks++;
    t.unreferencedBytes += u.size;
  }
  for (const f of plan.tempFiles) {
    t.tempFiles++;
    t.tempBytes += f.size;
  }
  return t;
}

/**
 * Parses a `--max-unused` value: a percentage, with or without `%` (`5%`, `5`, `0`, `100%`,
 * `2.5%`).
 * @returns the share 0..1.
 * @throws ClawbackError `USAGE` for anything else.
 */
export function parseMaxUnused(text: string): number {
  const m = /^(\d+(?:\.\d+)?)%?$/.exec(text.trim());
  const share = m ? Number(m[1]) / 100 : NaN;
  if (!(share >= 0 && share <= 1)) throw new ClawbackError('USAGE', `invalid --max-unused ${JSON.stringify(text)}: give a percentage from 0% to 100%, such as 5%`);
  return share;
}

/**
 * Makes a {@link PrunePlan}. Reads snapshots, index files, the `data/` listing and every
 * tree; writes nothing. The caller should hold the exclusive lock so the plan stays true.
 * @throws ClawbackError 'USAGE' for a bad `maxUnused'; backend errors.
 */
export async function planPrune(repo: Repository, opts: PlanOptions = {}): Promise<PrunePlan> {
  const maxUnused = opts.maxUnused ?? 0.05;
  if (!(maxUnused >= 0 && maxUnused <= 1)) throw new ClawbackError('USAGE', `max-unused ${maxUnused} must be between 0 and 1`);
  const refusals: string[] = [];

  const snapshots: { id: SnapshotId; tree: BlobId }[] = [];
  for (const id of await repo.listFiles('snapshots')) {
    try {
      snapshots.push({ id, tree: (await loadSnapshot(repo, id)).tree });
    } catch (err) {
      if (isClawbackError(err, 'BLOB_NOT_FOUND')) continue;
      if (!isClawbackError(err, 'INTEGRITY')) throw err;
      refusals.push(`snapshot ${shortId(id)} cannot be read (${err.message}): its data cannot be marked; forget it (\`clawback forget ${id.slice(0, 12)}\`) or restore the file`);
    }
  }
  const index = await loadLiveIndex(repo);
  for (const d of index.damaged) refusals.push(`index file ${shortId(d.id)} cannot be read (${d.error}): run \`clawback repair index\` first`);
  for (const c of index.conflicts) refusals.push(`${c.message}: run \`clawback repair index\` first`);
  const present = await listPackFiles(repo);
  const tempFiles: TempFileInfo[] = [];
  for await (const f of repo.backend.listTempFiles()) if (STRAY_DIRS.test(f.path)) tempFiles.push(f);
  tempFiles.sort((a, b) => (a.path < b.path ? -1 : 1));
  const packPresent = new Uint8Array(index.packCount);
  for (let p = 0; p < index.packCount; p++) if (present.has(index.packId(p))) packPresent[p] = 1;

  // 1. mark
  const { reached, used, reachableBlobs, missing: missingList } = await markReachable({ repo, index, present, packPresent, snapshots, signal: opts.signal });
  if (missingList.length > 0) {
    const names = missingList.slice(0, 10).map((m) => `${m.type} blob ${shortId(m.blob)} (${m.reason}; used by ${m.snapshots.map(shortId).join(', ') || 'no readable snapshot'})`);
    refusals.push(`${missingList.length} reachable blob(s) are missing: ${names.join('; ')}${missingList.length > 10 ? '; …' : ''}. Run \`clawback verify\` and \`clawback repair index\`; forget the affected snapshots if the data is gone`);
  }

  // 2. choose one copy of each reachable blob
  const blobBytes = new Float64Array(index.packCount);
  const reachBytes = new Float64Array(index.packCount);
  for (let p = 0; p < index.packCount; p++) {
    if (!packPresent[p]) continue;
    for (let e = index.packFirst(p); e < index.packEnd(p); e++) {
      blobBytes[p]! += index.length(e);
      if (used[e]) reachBytes[p]! += index.length(e);
    }
  }
  const score = (p: number): number => reachBytes[p]! / Math.max(1, blobBytes[p]!);
  const kept = new Uint8Array(index.entryCount);
  for (let first = 0; first < reached.length; first++) {
    if (!reached[first]) continue;
    let best = -1;
    for (let e = first; e >= 0; e = index.nextCopy(e)) {
      const p = index.packOf(e);
      if (!packPresent[p]) continue;
      if (best < 0) {
        best = e;
        continue;
      }
      const b = index.packOf(best);
      if (score(p) > score(b) || (score(p) === score(b) && index.packId(p) < index.packId(b))) best = e;
    }
    if (best >= 0) kept[best] = 1;
  }

  // 3. classify
  const packs: PackPlan[] = [];
  const repackEntries = new Map<FileId, number[]>();
  const missingPacks: FileId[] = [];
  const order = Array.from({ length: index.packCount }, (_, p) => p).sort((a, b) => (index.packId(a) < index.packId(b) ? -1 : 1));
  for (const p of order) {
    const id = index.packId(p);
    if (!packPresent[p]) {
      missingPacks.push(id);
      continue;
    }
    const live: number[] = [];
    let liveBytes = 0;
    for (let e = index.packFirst(p); e < index.packEnd(p); e++) {
      if (!kept[e]) continue;
      live.push(e);
      liveBytes += index.length(e);
    }
    const total = blobBytes[p]!;
    const unusedBytes = total - liveBytes;
    let action: PackAction;
    if (live.length === 0) action = 'delete';
    else if (unusedBytes === 0 || unusedBytes / Math.max(1, total) <= maxUnused) action = 'keep';
    else action = 'repack';
    if (action === 'repack') repackEntries.set(id, live);
    packs.push({ id, size: index.packSize(p), blobs: index.packEnd(p) - index.packFirst(p), liveBlobs: live.length, liveBytes, unusedBytes, action });
  }
  const unreferenced = [...present].filter(([id]) => !index.hasPack(id)).map(([id, size]) => ({ id, size })).sort((a, b) => (a.id < b.id ? -1 : 1));
  const changes = packs.some((p) => p.action !== 'keep') || missingPacks.length > 0;
  return {
    maxUnused,
    snapshots: snapshots.length,
    reachableBlobs,
    packs,
    unreferenced,
    missingPacks,
    tempFiles,
    indexFiles: [...index.files, ...index.damaged.map((d) => d.id)].sort(),
    supersededIndexFiles: [...index.superseded].sort(),
    rewriteIndex: changes || index.live.length > 1,
    missing: missingList,
    refusals,
    repackEntries,
    index,
  };
}
