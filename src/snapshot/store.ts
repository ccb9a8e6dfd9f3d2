/**
 * Snapshot manifests in the repository (`snapshots/<id>`): list, load, save, remove.
 */
import { ClawbackError, isClawbackError } from '../errors.js';
import { shortId, type SnapshotId } from '../ids.js';
import type { Repository } from '../repository/repository.js';
import { decodeManifest, encodeManifest, type SnapshotManifest } from './manifest.js';
import type { SnapshotEntry } from './selector.js';

/** A snapshot file that could not be read. */
export interface DamagedSnapshot {
  id: SnapshotId;
  error: string;
}

/** All snapshots, plus any that could not be read (reported, never silently dropped). */
export interface SnapshotList {
  entries: SnapshotEntry[];
  damaged: DamagedSnapshot[];
}

/** Loads every snapshot manifest (8 at a time). */
export async function listSnapshots(repo: Repository): Promise<SnapshotList> {
  const ids = await repo.listFiles('snapshots');
  const entries: SnapshotEntry[] = [];
  const damaged: DamagedSnapshot[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < ids.length) {
      const id = ids[next++]!;
      try {
        entries.push({ id, manifest: await loadSnapshot(repo, id) });
      } catch (err) {
        if (isClawbackError(err, 'BLOB_NOT_FOUND')) continue; // forgotten meanwhile
        if (isClawbackError(err, 'INTEGRITY')) damaged.push({ id, error: err.message });
        else throw err;
      }
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  entries.sort((a, b) => (a.manifest.time < b.manifest.time ? -1 : a.manifest.time > b.manifest.time ? 1 : a.id < b.id ? -1 : 1));
  return { entries, damaged };
}

/** Loads and decodes one manifest. @throws 'BLOB_NOT_FOUND', 'INTEGRITY'. */
export async function loadSnapshot(repo: Repository, id: SnapshotId): Promise<SnapshotManifest> {
  const plain = await repo.loadFile('snapshots', id);
  try {
    return decodeManifest(plain);
  } catch (err) {
    if (isClawbackError(err, 'INTEGRITY')) throw new ClawbackError('INTEGRITY', `snapshot ${shortId(id)}: ${err.message}`, { details: { snapshot: id } });
    throw err;
  }
}

/** Writes a manifest; returns the snapshot id. Blobs it references must be flushed first. */
export function saveSnapshot(repo: Repository, manifest: SnapshotManifest): Promise<SnapshotId> {
  return repo.saveFile('snapshots', encodeManifest(manifest));
}

/** Deletes a snapshot manifest (its data stays until gc). */
export async function removeSnapshot(repo: Repository, id: SnapshotId): Promise<void> {
  await repo.backend.remove({ type: 'snapshots', name: id });
}
