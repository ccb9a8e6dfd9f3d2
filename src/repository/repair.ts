/**
 * `repair index`: rebuilds the index from the pack headers alone (restic's `repair index`,
 * kopia's content index recovery). Every pack is listed and its header read; packs whose
 * header cannot be read are reported and left out. The new index files supersede all old
 * ones, which are then deleted, and the local cache is rebuilt.
 */
import { isClawbackError } from '../errors.js';
import { shortId, type FileId } from '../ids.js';
import type { IndexedPack } from '../index/format.js';
import { readPackHeader } from '../pack/reader.js';
import type { Progress } from '../progress.js';
import type { Repository } from './repository.js';

/** Outcome of {@link repairIndex}. */
export interface RepairResult {
  packs: number;
  blobs: number;
  /** Packs whose header could not be read (damaged); their blobs are not indexed. */
  damagedPacks: { pack: FileId; error: string }[];
  newIndexFiles: FileId[];
  removedIndexFiles: FileId[];
}

/** Packs per new index file. */
const PACKS_PER_INDEX = 2000;

/** Rebuilds the index from pack headers. The caller holds an exclusive lock. */
export async function repairIndex(repo: Repository, progress?: Progress): Promise<RepairResult> {
  const old = [...(await repo.listIndexFiles())];
  const packs: IndexedPack[] = [];
  const damagedPacks: RepairResult['damagedPacks'] = [];
  let blobs = 0;
  let done = 0;
  for await (const f of repo.backend.list('data')) {
    try {
      const entries = await readPackHeader(repo.backend, repo.cipher, f.name, f.size);
      packs.push({ id: f.name, size: f.size, blobs: entries });
      blobs += entries.length;
    } catch (err) {
      if (!isClawbackError(err, 'INTEGRITY', 'BLOB_NOT_FOUND')) throw err;
      damagedPacks.push({ pack: f.name, error: err.message });
      progress?.warn?.(`pack ${shortId(f.name)}: ${err.message}`);
    }
    progress?.update?.({ phase: 'repair index', filesDone: ++done, bytesDone: 0 });
  }
  const newIndexFiles: FileId[] = [];
  // All new files first, then one last file that supersedes the old ones: a crash in
  // between leaves old and new files side by side, never packs without an index.
  // The files are written without going through the local cache: syncing the cache reads
  // every index file, and the damaged one this repair is for would make it fail.
  const slices: IndexedPack[][] = [];
  for (let i = 0; i < packs.length; i += PACKS_PER_INDEX) slices.push(packs.slice(i, i + PACKS_PER_INDEX));
  const last = slices.pop() ?? [];
  for (const slice of slices) newIndexFiles.push(await repo.saveIndexFile({ packs: slice, superseded: [] }));
  if (last.length > 0 || old.length > 0) newIndexFiles.push(await repo.saveIndexFile({ packs: last, superseded: old }));
  for (const id of old) await repo.backend.remove({ type: 'index', name: id });
  await repo.rebuildCache();
  return { packs: packs.length, blobs, damagedPacks, newIndexFiles, removedIndexFiles: old };
}
