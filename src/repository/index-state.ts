/**
 * The repository's index as the index files say it is, read straight from the backend
 * (never from the LMDB cache, which may be stale or damaged): which index files exist,
 * which are superseded, which packs and blobs the live ones list, and which packs exist
 * in `data/`. `verify` checks this state and `gc` plans from it.
 *
 * "Live" index files are the present, readable ones that no other present, readable index
 * file lists as superseded; this is the same rule `Repository.syncIndex` applies to the
 * cache (docs/FORMAT.md §Index).
 *
 * Memory: the whole index is held in memory (about 150 bytes per blob).
 */
import { ClawbackError, isClawbackError } from '../errors.js';
import { shortId, type BlobId, type FileId } from '../ids.js';
import type { IndexFile, IndexedPack } from '../index/format.js';
import type { BlobLocation } from '../index/cache.js';
import type { Repository } from './repository.js';

/** An index file that could not be read or parsed. */
export interface DamagedIndexFile {
  id: FileId;
  error: string;
}

/** A pack as the live index files list it. */
export interface PackState {
  id: FileId;
  /** Size in bytes per the (first) listing. */
  size: number;
  /** Blob entries of the (first) listing, sorted by offset. */
  blobs: IndexedPack['blobs'];
  /** The live index files that list this pack. */
  indexFiles: FileId[];
}

/** Two live index files that list one pack differently. */
export interface PackConflict {
  pack: FileId;
  indexFiles: [FileId, FileId];
  message: string;
}

/** See the module comment. */
export interface IndexState {
  /** Every readable index file, parsed. */
  files: Map<FileId, IndexFile>;
  damaged: DamagedIndexFile[];
  /** Present index files superseded by another present one. */
  superseded: Set<FileId>;
  /** Present, readable, not superseded. */
  live: FileId[];
  /** Packs listed by live index files. */
  packs: Map<FileId, PackState>;
  /** Every location of every blob listed by live index files (one per listing pack). */
  blobs: Map<BlobId, BlobLocation[]>;
  conflicts: PackConflict[];
}

function sameListing(a: IndexedPack, b: IndexedPack): boolean {
  if (a.size !== b.size || a.blobs.length !== b.blobs.length) return false;
  const key = (e: IndexedPack['blobs'][number]) => `${e.offset}:${e.length}:${e.rawLength}:${e.type}:${e.id}`;
  const ka = a.blobs.map(key).sort();
  const kb = b.blobs.map(key).sort();
  return ka.every((k, i) => k === kb[i]);
}

/**
 * Reads every index file and builds the {@link IndexState}. Damaged index files are
 * reported in `damaged`, never thrown.
 * @throws backend errors other than a file vanishing meanwhile.
 */
export async function loadIndexState(repo: Repository, concurrency = 8): Promise<IndexState> {
  const ids = [...(await repo.listIndexFiles())].sort();
  const files = new Map<FileId, IndexFile>();
  const damaged: DamagedIndexFile[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < ids.length) {
      const id = ids[next++]!;
      try {
        files.set(id, await repo.loadIndexFile(id));
      } catch (err) {
        if (isClawbackError(err, 'BLOB_NOT_FOUND')) continue; // removed meanwhile
        if (isClawbackError(err, 'INTEGRITY')) damaged.push({ id, error: err.message });
        else throw err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, concurrency) }, worker));
  damaged.sort((a, b) => (a.id < b.id ? -1 : 1));
  const superseded = new Set<FileId>();
  for (const f of files.values()) for (const s of f.superseded) if (files.has(s)) superseded.add(s);
  const live = [...files.keys()].filter((id) => !superseded.has(id)).sort();
  const packs = new Map<FileId, PackState>();
  const conflicts: PackConflict[] = [];
  const blobs = new Map<BlobId, BlobLocation[]>();
  for (const fid of live) {
    for (const p of files.get(fid)!.packs) {
      const known = packs.get(p.id);
      if (known) {
        known.indexFiles.push(fid);
        if (!sameListing(known, p)) {
          conflicts.push({
            pack: p.id,
            indexFiles: [known.indexFiles[0]!, fid],
            message: `pack ${shortId(p.id)} is listed differently by index files ${shortId(known.indexFiles[0]!)} and ${shortId(fid)}`,
          });
        }
        continue;
      }
      const sorted = [...p.blobs].sort((a, b) => a.offset - b.offset);
      packs.set(p.id, { id: p.id, size: p.size, blobs: sorted, indexFiles: [fid] });
      for (const b of sorted) {
        const loc: BlobLocation = { type: b.type, id: b.id, packId: p.id, offset: b.offset, length: b.length, rawLength: b.rawLength };
        const list = blobs.get(b.id);
        if (list) list.push(loc);
        else blobs.set(b.id, [loc]);
      }
    }
  }
  return { files, damaged, superseded, live, packs, blobs, conflicts };
}

/** Every file in `data/` with its size in bytes. */
export async function listPackFiles(repo: Repository): Promise<Map<FileId, number>> {
  const out = new Map<FileId, number>();
  for await (const f of repo.backend.list('data')) out.set(f.name, f.size);
  return out;
}

/**
 * Loads blob `id` through the locations of `state` (not the cache), trying each copy in a
 * pack present in `present` until one opens and re-hashes correctly.
 * @param skip locations known to be damaged (`pack:offset` keys), tried last.
 * @throws ClawbackError `BLOB_NOT_FOUND` when no live index file lists it in a present pack;
 *   `INTEGRITY` (the first copy's error) when every copy is damaged.
 */
export async function readBlobVia(repo: Repository, state: IndexState, present: Map<FileId, number>, id: BlobId, skip?: Set<string>): Promise<Buffer> {
  const locs = (state.blobs.get(id) ?? []).filter((l) => present.has(l.packId));
  if (locs.length === 0) {
    throw new ClawbackError('BLOB_NOT_FOUND', `blob ${shortId(id)} is not in any pack`, { details: { blob: id } });
  }
  const key = (l: BlobLocation) => `${l.packId}:${l.offset}`;
  locs.sort((a, b) => Number(skip?.has(key(a)) ?? false) - Number(skip?.has(key(b)) ?? false));
  let first: unknown;
  for (const l of locs) {
    try {
      return await repo.readBlob(l);
    } catch (err) {
      if (!isClawbackError(err, 'INTEGRITY', 'BLOB_NOT_FOUND')) throw err;
      first ??= err;
    }
  }
  throw first;
}
