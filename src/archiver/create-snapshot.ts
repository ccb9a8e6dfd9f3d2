/**
 * `snapshot create`: validate → archive → flush packs and index → write the manifest.
 * Nothing is written to `snapshots/` unless every item was captured.
 */
import { hostname, userInfo } from 'node:os';
import { resolve } from 'node:path';
import { ClawbackError } from '../errors.js';
import type { SnapshotId } from '../ids.js';
import type { Progress } from '../progress.js';
import type { Repository } from '../repository/repository.js';
import { assertLabelUnique, validateLabel, validateTag } from '../snapshot/label.js';
import { formatManifestTime, type SnapshotKind, type SnapshotManifest } from '../snapshot/manifest.js';
import { filterBySource } from '../snapshot/selector.js';
import { listSnapshots, saveSnapshot } from '../snapshot/store.js';
import { VERSION } from '../version.js';
import { archive, type ArchiveHooks } from './archiver.js';
import { sqliteCapture } from './sqlite-capture.js';

/** Options of {@link createSnapshot}. */
export interface CreateSnapshotOptions {
  /** Source paths (made absolute). */
  paths: string[];
  label?: string | undefined;
  tags?: string[] | undefined;
  kind?: SnapshotKind;
  /** Grouping key; default `paths:` + the sorted absolute paths. */
  source?: string | undefined;
  profile?: string | undefined;
  scope?: string | undefined;
  extra?: Record<string, unknown> | undefined;
  /**
   * Capture hooks (agent profiles). Without hooks, files with the SQLite header are
   * captured through SQLite's online backup API (see sqlite-capture.ts) unless `sqlite`
   * is false.
   */
  hooks?: ArchiveHooks | undefined;
  /** Detect SQLite databases in plain snapshots (default true; ignored with `hooks`). */
  sqlite?: boolean | undefined;
  /** Snapshot time; default now. */
  time?: Date | undefined;
  /** Host name recorded; default os.hostname(). */
  host?: string | undefined;
  signal?: AbortSignal | undefined;
  progress?: Progress | undefined;
  /** Read every file even if unchanged since the parent. */
  force?: boolean | undefined;
}

/** The snapshot written. */
export interface CreatedSnapshot {
  id: SnapshotId;
  manifest: SnapshotManifest;
  /** Files read (the others were unchanged since the parent). */
  filesRead: number;
}

/** The default source key of a set of paths. */
export function pathsSource(paths: string[]): string {
  return `paths:${[...paths].sort().join(',')}`;
}

/**
 * Takes a snapshot. @throws ClawbackError 'USAGE' (bad/duplicate label) before any write,
 * 'CAPTURE' (listing every item) with no manifest written, 'ABORTED'.
 */
export async function createSnapshot(repo: Repository, opts: CreateSnapshotOptions): Promise<CreatedSnapshot> {
  const started = Date.now();
  const paths = opts.paths.map((p) => resolve(p));
  if (paths.length === 0) throw new ClawbackError('USAGE', 'nothing to snapshot: give at least one path');
  if (new Set(paths).size !== paths.length) throw new ClawbackError('USAGE', 'the same path is given twice');
  const source = opts.source ?? pathsSource(paths);
  const tags = [...new Set(opts.tags ?? [])];
  for (const t of tags) validateTag(t);
  repo.startBlobWorkers();
  const { entries } = await listSnapshots(repo);
  const same = filterBySource(entries, source);
  if (opts.label !== undefined) {
    validateLabel(opts.label);
    assertLabelUnique(opts.label, source, entries);
  }
  const parent = opts.force ? undefined : same[same.length - 1];
  const before = { ...repo.saveStats };
  const plainSqlite = opts.hooks === undefined && opts.sqlite !== false ? sqliteCapture() : undefined;
  let result;
  try {
    result = await archive(repo, { paths, parentTree: parent?.manifest.tree, hooks: opts.hooks ?? plainSqlite?.hooks, signal: opts.signal, progress: opts.progress });
  } finally {
    await plainSqlite?.dispose();
  }
  await repo.flush();
  const after = repo.saveStats;
  let username = '';
  try {
    username = userInfo().username;
  } catch {
    /* none */
  }
  const manifest: SnapshotManifest = {
    version: 1,
    time: formatManifestTime(opts.time ?? new Date()),
    host: opts.host ?? hostname(),
    username,
    paths,
    tree: result.tree,
    ...(parent ? { parent: parent.id } : {}),
    ...(opts.label !== undefined ? { label: opts.label } : {}),
    tags,
    kind: opts.kind ?? 'manual',
    source,
    ...(opts.profile !== undefined ? { profile: opts.profile } : {}),
    ...(opts.scope !== undefined ? { scope: opts.scope } : {}),
    programVersion: VERSION,
    summary: {
      files: result.files,
      dirs: result.dirs,
      symlinks: result.symlinks,
      bytes: result.bytes,
      bytesAdded: after.bytesAdded - before.bytesAdded,
      storedBytesAdded: after.storedBytesAdded - before.storedBytesAdded,
      blobsAdded: after.blobsAdded - before.blobsAdded,
      durationMs: Date.now() - started,
    },
    ...(opts.extra !== undefined ? { extra: opts.extra } : {}),
  };
  const id = await saveSnapshot(repo, manifest);
  return { id, manifest, filesRead: result.filesRead };
}
