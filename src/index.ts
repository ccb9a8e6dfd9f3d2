/**
 * clawback's library API: everything the CLI does, typed and documented. Open a backend,
 * open (or init) a repository on it, then snapshot, list, select and restore.
 *
 * ```ts
 * const repo = await openRepository(await openBackend('/path/to/repo'), { password });
 * try { … } finally { await repo.close(); }
 * ```
 */
export { ClawbackError, isClawbackError, type ErrorCode } from './errors.js';
export type { BlobId, FileId, SnapshotId } from './ids.js';
export type { Progress, ProgressState } from './progress.js';
export type { Backend, FileType, Handle, FileInfo, LoadRange } from './backend/backend.js';
export { openBackend, parseLocation, type Location, type OpenBackendOptions } from './backend/location.js';
export { LocalBackend } from './backend/local.js';
export { MemoryBackend } from './backend/mem.js';
export {
  initRepository,
  openRepository,
  defaultCacheDir,
  Repository,
  type InitOptions,
  type OpenOptions,
} from './repository/repository.js';
export type { RepoConfig } from './repository/config.js';
export { repairIndex, type RepairResult } from './repository/repair.js';
export type { ChunkerParams } from './chunker/params.js';
export { createSnapshot, pathsSource, type CreateSnapshotOptions, type CreatedSnapshot } from './archiver/create-snapshot.js';
export type { ArchiveHooks, CaptureResult, EntryInfo } from './archiver/archiver.js';
export { restoreTree, checkTarget, type RestoreOptions, type RestoreResult, type RestoreHooks } from './restorer/restorer.js';
export { listSnapshots, loadSnapshot, removeSnapshot, type SnapshotList } from './snapshot/store.js';
export { assignVersions, resolveSelector, filterBySource, type SnapshotEntry, type Versioned, type Resolved } from './snapshot/selector.js';
export type { SnapshotManifest, SnapshotSummary, SnapshotKind } from './snapshot/manifest.js';
export { validateLabel } from './snapshot/label.js';
export { applyPolicy, type RetentionPolicy, type PolicyDecision } from './snapshot/policy.js';
export { walkTree, findNode, loadTree, type WalkEntry } from './tree/walk.js';
export type { Tree, TreeNode, NodeType } from './tree/node.js';
export { VERSION } from './version.js';

// Maintenance: verify, forget, gc, locks, stats, diff.
export { verifyRepository, parseSubset, type VerifyOptions, type VerifyReport, type Finding, type FindingKind } from './checker/index.js';
export { planPrune, executePlan, type PrunePlan, type PruneResult, type PlanOptions } from './pruner/index.js';
export { acquireLock, unlockRepository, listLocks, Lock, type LockOptions, type LockInfo } from './repository/lock.js';
export { forgetSnapshots, type ForgetOptions, type ForgetResult } from './snapshot/forget.js';
export { snapshotStats, type SnapshotStats } from './snapshot/stats.js';
export { diffTrees, type Change, type ChangeKind } from './tree/diff.js';
// Copying between repositories, portable archives.
export { copySnapshots, type CopyOptions, type CopyResult } from './copier/copy.js';
export { exportSnapshot, type ExportOptions, type ExportResult } from './portable/export.js';
export { inspectArchive, importArchive, type ImportOptions, type ImportResult } from './portable/import.js';
// Agent workspaces: profiles, consistent capture, in-place restore with rollback.
export { createAgentSnapshot, type AgentSnapshotOptions, type AgentSnapshotResult } from './agent/create.js';
export { restoreInPlace, type InPlaceOptions, type InPlaceResult } from './agent/inplace.js';
export { restoreToTarget, type TargetRestoreOptions, type TargetRestoreResult } from './agent/target.js';
export { parseAgentManifest } from './agent/manifest-file.js';
export type { AgentDefinition, AgentProfile } from './agent/profile.js';
export { BUILTIN_PROFILES } from './agent/builtin.js';
