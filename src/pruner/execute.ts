/**
 * Executing a gc plan (docs/MAINTENANCE.md §gc). The caller holds the exclusive lock.
 *
 * Order, chosen so that a crash (SIGKILL) after any step leaves a repository that
 * `verify` reports clean apart from unreferenced packs and superseded index files, and
 * that the next gc finishes:
 *
 * 1. delete stray temp files (the lock keeps other writers out) and unreferenced packs (in
 *    no live index: nothing can use them);
 * 2. repack: read the kept blobs of each partly used pack, open and re-check every one, and
 *    copy it as stored into new packs (repack.ts);
 * 3. flush: the new packs, then an index file for them (blobs now listed twice: allowed);
 * 4. write ONE new index file listing every kept pack and every new pack, superseding
 *    every index file present (one file, so the switch is atomic);
 * 5. delete the superseded index files; bring the local cache up to date if this process has
 *    it open (otherwise the next command to use it rebuilds it: the files it merged are gone);
 * 6. delete the unused and the repacked packs (no live index lists them any more).
 *
 * Nothing is deleted before the new index is written, except packs already unreferenced.
 */
import { createPackOpener, defaultOpenThreads } from '../checker/open-pool.js';
import { ClawbackError, throwIfAborted } from '../errors.js';
import type { FileId } from '../ids.js';
import type { IndexedPack } from '../index/format.js';
import type { Progress } from '../progress.js';
import type { Repository } from '../repository/repository.js';
import { planTotals, type PrunePlan } from './plan.js';
import { repackBlobs } from './repack.js';

/** Steps of {@link executePlan}, reported through `onStep`. */
export type PruneStep = 'delete-unreferenced' | 'repack' | 'flush' | 'write-index' | 'delete-index' | 'delete-packs' | 'done';

/** Options of {@link executePlan}. */
export interface ExecuteOptions {
  signal?: AbortSignal | undefined;
  progress?: Progress | undefined;
  /** Called as each step starts (tests and logs). */
  onStep?: (step: PruneStep) => void;
  /**
   * Worker threads that re-check the blobs being repacked; default one per core (at most
   * 4); 0 checks them on the calling thread.
   */
  threads?: number;
  /** Size of the pieces packs are read in, bytes (default 4 MiB). @internal for tests */
  chunkBytes?: number;
}

/** What gc did. */
export interface PruneResult {
  /** Packs deleted (unused, repacked and unreferenced). */
  deletedPacks: number;
  /** Bytes of the packs deleted. */
  deletedBytes: number;
  repackedPacks: number;
  /** Blobs copied into new packs. */
  repackedBlobs: number;
  /** Packs written by repacking. */
  newPacks: number;
  /** Bytes of the packs written. */
  newPackBytes: number;
  /** The index file written, if the index was rewritten. */
  indexFile: FileId | undefined;
  removedIndexFiles: number;
  /** Stray temp files deleted (left by interrupted saves). */
  removedTempFiles: number;
  /** Bytes of the temp files deleted. */
  removedTempBytes: number;
}

/**
 * Carries out `plan`; see the module comment.
 * @throws ClawbackError 'INTEGRITY' when the plan has refusals (nothing is done) or a blob to
 *   repack is damaged (nothing has been deleted but unreferenced packs); 'ABORTED'; backend errors.
 */
export async function executePlan(repo: Repository, plan: PrunePlan, opts: ExecuteOptions = {}): Promise<PruneResult> {
  if (plan.refusals.length > 0) {
    throw new ClawbackError('INTEGRITY', `gc refused: ${plan.refusals.join('\n  ')}`, { details: { refusals: plan.refusals, missing: plan.missing } });
  }
  const step = (s: PruneStep): void => opts.onStep?.(s);
  const totals = planTotals(plan);
  const result: PruneResult = { deletedPacks: 0, deletedBytes: 0, repackedPacks: 0, repackedBlobs: 0, newPacks: 0, newPackBytes: 0, indexFile: undefined, removedIndexFiles: 0, removedTempFiles: 0, removedTempBytes: 0 };
  const report = (bytesDone: number): void => opts.progress?.update?.({ phase: 'gc', filesDone: result.deletedPacks + result.repackedPacks, bytesDone, bytesTotal: totals.repackBytes });

  // 1. stray temp files, unreferenced packs
  step('delete-unreferenced');
  for (const f of plan.tempFiles) {
    throwIfAborted(opts.signal);
    await repo.backend.removeTempFile(f.path);
    result.removedTempFiles++;
    result.removedTempBytes += f.size;
  }
  for (const u of plan.unreferenced) {
    throwIfAborted(opts.signal);
    await repo.backend.remove({ type: 'data', name: u.id });
    result.deletedPacks++;
    result.deletedBytes += u.size;
  }

  // 2. repack
  step('repack');
  const repacked = plan.packs.filter((p) => p.action === 'repack').map((p) => p.id);
  let bytesRead = 0;
  let newPacks: IndexedPack[] = [];
  if (repacked.length > 0) {
    const threads = opts.threads ?? defaultOpenThreads();
    const opener = createPackOpener(repo, threads);
    try {
      const r = await repackBlobs(repo, plan.index, repacked, plan.repackEntries, opener, {
        inFlight: threads + 1,
        chunkBytes: opts.chunkBytes,
        signal: opts.signal,
        onPack: (bytes, packs) => {
          bytesRead = bytes;
          result.repackedPacks = packs;
          report(bytes);
        },
      });
      newPacks = r.packs;
      result.repackedBlobs = r.blobs;
      result.newPacks = r.packs.length;
      result.newPackBytes = r.packBytes;
    } finally {
      await opener.close();
    }
  }

  // 3. the new packs are written; now an index file for them
  step('flush');
  const ownIndex = newPacks.length > 0 ? await repo.saveIndexFile({ packs: newPacks, superseded: [] }) : undefined;

  // 4. one new index file superseding all present ones
  const known = new Set(plan.indexFiles);
  let toRemove: FileId[];
  if (plan.rewriteIndex) {
    step('write-index');
    const now = [...(await repo.listIndexFiles())].sort();
    const finalPacks: IndexedPack[] = [];
    for (const p of plan.packs) {
      if (p.action !== 'keep') continue;
      const i = plan.index.packIndex(p.id)!;
      finalPacks.push({ id: p.id, size: plan.index.packSize(i), blobs: plan.index.packEntries(i) });
    }
    const listed = new Set(finalPacks.map((p) => p.id));
    for (const id of now) {
      if (known.has(id)) continue;
      // Written since planning: the repacked packs' index file (or, without the lock, someone else's).
      for (const p of id === ownIndex ? newPacks : (await repo.loadIndexFile(id)).packs) {
        if (!listed.has(p.id)) {
          listed.add(p.id);
          finalPacks.push(p);
        }
      }
    }
    result.indexFile = await repo.writeIndex(finalPacks, now);
    toRemove = now;
  } else {
    toRemove = plan.supersededIndexFiles;
  }

  // 5. old index files, then the cache
  step('delete-index');
  for (const id of toRemove) {
    throwIfAborted(opts.signal);
    await repo.backend.remove({ type: 'index', name: id });
    result.removedIndexFiles++;
  }
  await repo.syncIndexIfOpen();

  // 6. unused and repacked packs
  step('delete-packs');
  for (const p of plan.packs) {
    if (p.action === 'keep') continue;
    throwIfAborted(opts.signal);
    await repo.backend.remove({ type: 'data', name: p.id });
    result.deletedPacks++;
    result.deletedBytes += p.size;
  }
  step('done');
  opts.progress?.done?.({ phase: 'gc', filesDone: result.deletedPacks, bytesDone: bytesRead });
  return result;
}
