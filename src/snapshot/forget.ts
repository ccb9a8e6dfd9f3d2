/**
 * `forget`: remove snapshot manifests, chosen by a retention policy (`policy.ts`) or by
 * explicit selectors (`forget v3 before-upgrade`); a snapshot file that cannot be read is
 * removed only when named by an id prefix. Only manifests are removed; their data
 * stays until `gc`. Versions (`vN`) are computed from the remaining snapshots, so they
 * renumber; ids and labels never change. The caller holds the exclusive lock.
 */
import { ClawbackError } from '../errors.js';
import type { SnapshotId } from '../ids.js';
import type { Repository } from '../repository/repository.js';
import { applyPolicy, type RetentionPolicy } from './policy.js';
import { assignVersions, resolveSelector, type Versioned } from './selector.js';
import { listSnapshots, removeSnapshot, type DamagedSnapshot } from './store.js';

/** The verdict for one snapshot. */
export interface ForgetDecision {
  /** The snapshot, with its version before forgetting. */
  snapshot: Versioned;
  keep: boolean;
  /** Why it is kept (policy rules, or `not selected`); empty when removed. */
  reasons: string[];
}

/** Options of {@link forgetSnapshots}: exactly one of `policy` and `selectors`. */
export interface ForgetOptions {
  policy?: RetentionPolicy | undefined;
  /** Selectors (see `selector.ts`) of snapshots to remove. */
  selectors?: string[] | undefined;
  /** Reference time of the policy (max-age, future snapshots); default now. */
  now?: Date | undefined;
  /** Decide only; remove nothing. */
  dryRun?: boolean | undefined;
}

/** Outcome of {@link forgetSnapshots}. */
export interface ForgetResult {
  /** One decision per readable snapshot, oldest first. */
  decisions: ForgetDecision[];
  /** Ids removed (empty on a dry run), including damaged snapshot files named by id prefix. */
  removed: SnapshotId[];
  /** Snapshot files that could not be read (never removed by a policy). */
  damaged: DamagedSnapshot[];
}

/**
 * Decides and (unless `dryRun`) removes; see the module comment.
 * @throws ClawbackError 'USAGE' when both or neither of policy and selectors are given, for
 *   an empty or invalid policy ({@link applyPolicy}) or a malformed selector; 'NOT_FOUND'
 *   for a selector that matches nothing (nothing is removed then).
 */
export async function forgetSnapshots(repo: Repository, opts: ForgetOptions): Promise<ForgetResult> {
  const hasSelectors = (opts.selectors?.length ?? 0) > 0;
  if (hasSelectors === (opts.policy !== undefined)) {
    throw new ClawbackError('USAGE', hasSelectors ? 'give either snapshots to forget or --keep-* options, not both' : 'nothing to forget: give snapshots (v3, a label, an id) or --keep-* options');
  }
  const { entries, damaged } = await listSnapshots(repo);
  const versioned = assignVersions(entries);
  let decisions: ForgetDecision[];
  const damagedChosen: SnapshotId[] = [];
  if (hasSelectors) {
    const chosen = new Set<SnapshotId>();
    for (const sel of opts.selectors!) {
      // A damaged snapshot file can be named by an id prefix (it has no time or label).
      const prefix = sel.toLowerCase();
      const bad = /^[0-9a-f]{6,64}$/.test(prefix) ? damaged.filter((d) => d.id.startsWith(prefix)) : [];
      if (bad.length === 1 && !entries.some((e) => e.id.startsWith(prefix))) {
        damagedChosen.push(bad[0]!.id);
        continue;
      }
      chosen.add(resolveSelector(sel, entries).snapshot.id);
    }
    decisions = versioned.map((v) => ({ snapshot: v, keep: !chosen.has(v.id), reasons: chosen.has(v.id) ? [] : ['not selected'] }));
  } else {
    decisions = applyPolicy(versioned, opts.policy!, opts.now ?? new Date()).map((d) => ({ snapshot: d.snapshot, keep: d.keep, reasons: d.reasons }));
  }
  const removed: SnapshotId[] = [];
  if (!opts.dryRun) {
    for (const id of damagedChosen) {
      await removeSnapshot(repo, id);
      removed.push(id);
    }
    for (const d of decisions) {
      if (d.keep) continue;
      await removeSnapshot(repo, d.snapshot.id);
      removed.push(d.snapshot.id);
    }
  }
  return { decisions, removed, damaged };
}
