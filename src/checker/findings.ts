/**
 * What `verify` reports: typed findings, one per damaged (or noteworthy) object, each
 * naming the object and the snapshots and paths it affects. Findings are collected, never
 * thrown one by one (docs/MAINTENANCE.md §verify).
 */
import type { FileId, SnapshotId } from '../ids.js';

/**
 * Kinds of finding. `info` kinds are not damage; every other kind makes `verify` exit 1.
 *
 * - `snapshot-damaged`: a snapshot file cannot be read or decoded.
 * - `index-damaged`: an index file cannot be read or decoded (its packs are then unindexed).
 * - `index-conflict`: two live index files list one pack differently, or one blob is listed
 *   with different types or plaintext lengths.
 * - `index-invalid`: an index lists a blob at an impossible place in its pack (overlapping
 *   another, past the end, shorter than an envelope).
 * - `pack-missing`: an indexed pack is not in `data/`.
 * - `pack-size`: a pack's size in `data/` differs from its indexed size.
 * - `pack-damaged` (data pass): a pack's content does not match its name, its header cannot
 *   be read, or its header disagrees with the index.
 * - `blob-missing`: a referenced blob is in no index, or only in missing packs.
 * - `blob-damaged`: a blob does not decrypt, decompress or re-hash to its id.
 * - `tree-damaged`: a tree blob is intact but does not decode as a tree.
 * - `pack-unreferenced` (info): a pack in `data/` that no live index lists (left by an
 *   interrupted snapshot or gc; the next gc deletes it).
 * - `index-superseded` (info): a superseded index file still present (the next gc deletes it).
 */
export type FindingKind =
  | 'snapshot-damaged'
  | 'index-damaged'
  | 'index-conflict'
  | 'index-invalid'
  | 'pack-missing'
  | 'pack-size'
  | 'pack-damaged'
  | 'blob-missing'
  | 'blob-damaged'
  | 'tree-damaged'
  | 'pack-unreferenced'
  | 'index-superseded';

/** `error` = damage (exit 1); `info` = allowed, reported for completeness. */
export type Severity = 'error' | 'info';

/** The kinds that are not damage. */
export const INFO_KINDS: ReadonlySet<FindingKind> = new Set(['pack-unreferenced', 'index-superseded']);

/** One snapshot path affected by a finding. */
export interface AffectedPath {
  snapshot: SnapshotId;
  /** Path inside the snapshot, `/`-separated with a leading `/` (`/` = the root directory). */
  path: string;
}

/** Most affected paths kept per finding (the total is in {@link Finding.affectedCount}). */
export const MAX_AFFECTED = 100;

/** One problem. */
export interface Finding {
  severity: Severity;
  kind: FindingKind;
  /** What the finding is about. */
  object: { type: 'snapshot' | 'index' | 'pack' | 'blob'; id: FileId };
  /** Human message naming the object and what is wrong. */
  message: string;
  /** Snapshots that use the object (sorted ids). */
  snapshots: SnapshotId[];
  /** Up to {@link MAX_AFFECTED} affected paths. */
  affected: AffectedPath[];
  /** Total number of affected (snapshot, path) pairs, including those not listed. */
  affectedCount: number;
}

/** Collects findings keyed by kind and object, merging affected snapshots and paths. */
export class FindingSet {
  private readonly byKey = new Map<string, Finding>();
  private readonly snaps = new Map<string, Set<SnapshotId>>();
  private readonly seen = new Map<string, Set<string>>();
  private readonly onFinding: ((f: Finding) => void) | undefined;

  constructor(onFinding?: (f: Finding) => void) {
    this.onFinding = onFinding;
  }

  /** Adds a finding (or returns the existing one for the same kind and object). */
  add(kind: FindingKind, type: Finding['object']['type'], id: string, message: string): Finding {
    const key = `${kind}:${id}`;
    let f = this.byKey.get(key);
    if (!f) {
      f = { severity: INFO_KINDS.has(kind) ? 'info' : 'error', kind, object: { type, id }, message, snapshots: [], affected: [], affectedCount: 0 };
      this.byKey.set(key, f);
      this.snaps.set(key, new Set());
      this.seen.set(key, new Set());
      this.onFinding?.(f);
    }
    return f;
  }

  /** The finding for `kind` and object `id`, if any. */
  get(kind: FindingKind, id: string): Finding | undefined {
    return this.byKey.get(`${kind}:${id}`);
  }

  /** Records that `snapshot` uses the finding's object at `path`. */
  affect(f: Finding, snapshot: SnapshotId, path: string): void {
    const key = `${f.kind}:${f.object.id}`;
    const snaps = this.snaps.get(key)!;
    if (!snaps.has(snapshot)) {
      snaps.add(snapshot);
      f.snapshots = [...snaps].sort();
    }
    const seen = this.seen.get(key)!;
    const k = `${snapshot}\0${path}`;
    if (seen.has(k)) return;
    seen.add(k);
    f.affectedCount++;
    if (f.affected.length < MAX_AFFECTED) f.affected.push({ snapshot, path });
  }

  /** Every finding: errors first, then by kind and object id. */
  all(): Finding[] {
    return [...this.byKey.values()].sort((a, b) =>
      a.severity !== b.severity ? (a.severity === 'error' ? -1 : 1) : a.kind !== b.kind ? (a.kind < b.kind ? -1 : 1) : a.object.id < b.object.id ? -1 : 1,
    );
  }
}
