/**
 * Restoring an agent snapshot somewhere else (`--target DIR`): a copy of the snapshot's
 * tree, SQLite databases placed through SQLite. The target and its parents must not be
 * symbolic links; an existing non-empty target is refused unless `force` (then entries
 * the snapshot lacks are removed). Nothing is merged: files stored without secrets keep
 * their placeholders, and are listed so the caller can say so.
 */
import { lstat, readdir } from 'node:fs/promises';
import { basename } from 'node:path';
import { ClawbackError } from '../errors.js';
import type { SnapshotId } from '../ids.js';
import type { Progress } from '../progress.js';
import type { Repository } from '../repository/repository.js';
import { restoreTree, type RestoreResult } from '../restorer/restorer.js';
import type { SnapshotManifest } from '../snapshot/manifest.js';
import { agentInfoOf } from './create.js';
import { sqliteRestoreHooks } from './restore-hooks.js';
import { assertNoSymlinkOnPath } from './root.js';

/** Options of {@link restoreToTarget}. */
export interface TargetRestoreOptions {
  /** Restore into an existing non-empty directory, replacing its content. */
  force?: boolean | undefined;
  signal?: AbortSignal | undefined;
  progress?: Progress | undefined;
}

/** What {@link restoreToTarget} did. */
export interface TargetRestoreResult extends RestoreResult {
  target: string;
  /** Target-relative paths of files that hold secret placeholders. */
  placeholders: string[];
}

/**
 * Checks the target before anything is written.
 * @throws ClawbackError 'UNSAFE' for a symlinked target or parent, or a target that is not
 *   a directory; 'USAGE' for a non-empty target without `force`.
 */
export async function checkAgentTarget(target: string, force: boolean): Promise<void> {
  await assertNoSymlinkOnPath(target);
  const st = await lstat(target).catch(() => undefined);
  if (!st) return;
  if (!st.isDirectory()) throw new ClawbackError('UNSAFE', `restore target ${target} exists and is not a directory`);
  if (!force && (await readdir(target)).length > 0) {
    throw new ClawbackError('USAGE', `restore target ${target} is not empty: choose an empty or new directory, or pass --force to replace its content`);
  }
}

/** Restores a snapshot into `target`. See the module comment. */
export async function restoreToTarget(repo: Repository, snapshot: { id: SnapshotId; manifest: SnapshotManifest }, target: string, opts: TargetRestoreOptions = {}): Promise<TargetRestoreResult> {
  const force = opts.force === true;
  await checkAgentTarget(target, force);
  const m = snapshot.manifest;
  const res = await restoreTree(repo, m.tree, target, { overwrite: force, hooks: sqliteRestoreHooks(), signal: opts.signal, progress: opts.progress });
  const info = agentInfoOf(m);
  const multi = m.paths.length > 1;
  const inTarget = (p: string): string => {
    if (!p.startsWith('/')) return multi ? `${basename(m.paths[0]!)}/${p}` : p;
    const e = m.paths.slice(1).find((x) => p === x || p.startsWith(x + '/'));
    return e ? basename(e) + p.slice(e.length) : p;
  };
  return { ...res, target, placeholders: (info?.stripped ?? []).map(inTarget) };
}
