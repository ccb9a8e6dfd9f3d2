/**
 * Retention after an automatic run: the job's policy applied to the snapshots of the job's
 * source only, to automatic snapshots only (`autoOnly` is forced: a manual snapshot is never
 * removed by a schedule, whatever the policy says). Removes snapshot manifests; their data is
 * freed by gc. The caller holds the repository's exclusive lock.
 */
import type { SnapshotId } from '../ids.js';
import type { Repository } from '../repository/repository.js';
import { applyPolicy, type PolicyDecision, type RetentionPolicy } from '../snapshot/policy.js';
import { filterBySource, type SnapshotEntry } from '../snapshot/selector.js';
import { listSnapshots, removeSnapshot } from '../snapshot/store.js';
import { throwIfAborted } from '../errors.js';

/** Options of {@link applyJobRetention}. */
export interface JobRetentionOptions {
  /** The job's snapshot source (`manifest.source` of its snapshots). */
  source: string;
  policy: RetentionPolicy;
  /** Reference time (max-age); default now. */
  now?: Date;
  /** Decide only. */
  dryRun?: boolean;
  signal?: AbortSignal;
}

/** What {@link applyJobRetention} did. */
export interface JobRetentionResult {
  /** Decisions for the snapshots of the source, automatic and manual. */
  decisions: PolicyDecision<SnapshotEntry>[];
  /** Ids removed (none on a dry run). */
  removed: SnapshotId[];
}

/**
 * Applies `policy` (with `autoOnly`) to the snapshots of `source` and removes the automatic
 * ones it does not keep.
 * @throws ClawbackError `USAGE` for an invalid or empty policy; `ABORTED`.
 */
export async function applyJobRetention(repo: Repository, opts: JobRetentionOptions): Promise<JobRetentionResult> {
  const { entries } = await listSnapshots(repo);
  const mine = filterBySource(entries, opts.source);
  const decisions = applyPolicy(mine, { ...opts.policy, autoOnly: true }, opts.now ?? new Date());
  const removed: SnapshotId[] = [];
  for (const d of decisions) {
    // Belt and braces: whatever the policy module says, never remove a manual snapshot here.
    if (d.keep || d.snapshot.manifest.kind !== 'auto') continue;
    throwIfAborted(opts.signal);
    if (!opts.dryRun) await removeSnapshot(repo, d.snapshot.id);
    removed.push(d.snapshot.id);
  }
  return { decisions, removed: opts.dryRun ? [] : removed };
}
