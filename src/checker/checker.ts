/**
 * `verify`: proves the repository intact, or names what is damaged and which snapshots
 * and paths it affects (docs/MAINTENANCE.md §verify), after restic's `check`.
 *
 * 1. Snapshot files: each must load and decode.
 * 2. Index files: each must load and decode; live ones must agree on every pack they both
 *    list and on each blob's type and length; every listed blob must lie inside its pack
 *    without overlapping another.
 * 3. Packs: every indexed pack exists in `data/` with its indexed size. Packs no live index
 *    lists are reported as `pack-unreferenced` (info, not damage).
 * 4. Data pass (`readData` or `subset`): each selected pack is read whole and checked by
 *    {@link checkPack}.
 * 5. Snapshots → trees → blobs: every tree of every snapshot is loaded (through the index
 *    files, not the local cache) and decoded; every data blob must be indexed in a present
 *    pack. Damaged and missing blobs (from any pass) are mapped to the snapshots and paths
 *    that use them.
 *
 * Findings are collected ({@link FindingSet}) and returned; `onFinding` sees each one as it
 * is first found. Only backend failures (not damage) reject.
 */
import { isClawbackError, throwIfAborted } from '../errors.js';
import { shortId, type BlobId, type FileId, type SnapshotId } from '../ids.js';
import type { Progress } from '../progress.js';
import type { Repository } from '../repository/repository.js';
import { listPackFiles, loadIndexState, readBlobVia, type IndexState, type PackState } from '../repository/index-state.js';
import { loadSnapshot } from '../snapshot/store.js';
import type { SnapshotManifest } from '../snapshot/manifest.js';
import { decodeTree } from '../tree/codec.js';
import type { TreeNode } from '../tree/node.js';
import { TaskLimiter } from '../util/limit.js';
import { FindingSet, type Finding } from './findings.js';
import { checkPack } from './read-data.js';
import { selectPacks, type Subset } from './subset.js';

/** Options of {@link verifyRepository}. */
export interface VerifyOptions {
  /** Read every indexed pack (the data pass). */
  readData?: boolean;
  /** Read only this subset of the packs (implies the data pass). */
  subset?: Subset | undefined;
  /** Randomness for `x%` and size subsets; default `Math.random`. */
  random?: () => number;
  /** Packs read at once in the data pass; default 2. */
  concurrency?: number;
  signal?: AbortSignal | undefined;
  progress?: Progress | undefined;
  /** Called once per new finding, as it is found. */
  onFinding?: (f: Finding) => void;
}

/** Counters of a verify run. */
export interface VerifyStats {
  snapshots: number;
  indexFiles: number;
  /** Packs listed by live index files. */
  packs: number;
  /** Tree blobs loaded and decoded. */
  trees: number;
  /** Data blob references checked (a blob used by two files counts twice). */
  dataRefs: number;
  /** Packs read in the data pass. */
  packsRead: number;
  /** Bytes read in the data pass. */
  bytesRead: number;
  /** Blobs opened and re-hashed in the data pass. */
  blobsChecked: number;
}

/** Outcome of {@link verifyRepository}. */
export interface VerifyReport {
  /** True when there is no `error` finding (info findings are allowed). */
  clean: boolean;
  errors: number;
  infos: number;
  findings: Finding[];
  stats: VerifyStats;
}

/** A problem below a tree: path relative to that tree ('' = the tree itself). */
interface Problem {
  path: string;
  finding: Finding;
}

/** Problems kept per tree (bounds memory on pathological damage). */
const MAX_PROBLEMS_PER_TREE = 10_000;
const NONE: Problem[] = [];

function joinPath(dir: string, rel: string): string {
  return rel === '' ? dir : `${dir}/${rel}`;
}

/** Checks `repo`; see the module comment. */
export async function verifyRepository(repo: Repository, opts: VerifyOptions = {}): Promise<VerifyReport> {
  const findings = new FindingSet(opts.onFinding);
  const stats: VerifyStats = { snapshots: 0, indexFiles: 0, packs: 0, trees: 0, dataRefs: 0, packsRead: 0, bytesRead: 0, blobsChecked: 0 };

  // 1. snapshot files
  const snapshots: { id: SnapshotId; manifest: SnapshotManifest }[] = [];
  for (const id of await repo.listFiles('snapshots')) {
    throwIfAborted(opts.signal);
    try {
      snapshots.push({ id, manifest: await loadSnapshot(repo, id) });
    } catch (err) {
      if (isClawbackError(err, 'BLOB_NOT_FOUND')) continue;
      if (!isClawbackError(err, 'INTEGRITY')) throw err;
      const f = findings.add('snapshot-damaged', 'snapshot', id, `snapshot ${shortId(id)} cannot be read: ${err.message}`);
      findings.affect(f, id, '/');
    }
  }
  stats.snapshots = snapshots.length;

  // 2. index files
  const state = await loadIndexState(repo);
  stats.indexFiles = state.live.length;
  stats.packs = state.packs.size;
  for (const d of state.damaged) {
    findings.add('index-damaged', 'index', d.id, `index file ${shortId(d.id)} cannot be read: ${d.error} (its packs are unindexed: run \`clawback repair index\`)`);
  }
  for (const id of state.superseded) {
    findings.add('index-superseded', 'index', id, `index file ${shortId(id)} is superseded but still present (the next gc removes it)`);
  }
  for (const c of state.conflicts) findings.add('index-conflict', 'pack', c.pack, `${c.message} (run \`clawback repair index\`)`);
  checkBlobListings(state, findings);

  // 3. packs
  const present = await listPackFiles(repo);
  for (const p of state.packs.values()) {
    const size = present.get(p.id);
    if (size === undefined) {
      findings.add('pack-missing', 'pack', p.id, `pack ${shortId(p.id)} (${p.blobs.length} blobs) is indexed but missing from data/`);
    } else if (size !== p.size) {
      findings.add('pack-size', 'pack', p.id, `pack ${shortId(p.id)} is ${size} bytes in data/, the index says ${p.size}`);
    }
    checkPackListing(p, repo.cipher.overhead, findings);
  }
  for (const [id, size] of present) {
    if (!state.packs.has(id)) findings.add('pack-unreferenced', 'pack', id, `pack ${shortId(id)} (${size} bytes) is in no index: unreferenced data, the next gc deletes it`);
  }

  // 4. data pass
  const damagedLocs = new Set<string>();
  const damagedBlobs = new Map<BlobId, Finding>();
  if (opts.readData || opts.subset) {
    const candidates = new Map<FileId, number>();
    for (const p of state.packs.values()) if (present.has(p.id)) candidates.set(p.id, p.size);
    const selected = opts.subset ? selectPacks(candidates, opts.subset, opts.random) : [...candidates.keys()].sort();
    let bytesTotal = 0;
    for (const id of selected) bytesTotal += candidates.get(id) ?? 0;
    const limiter = new TaskLimiter(opts.concurrency ?? 2);
    for (const id of selected) {
      throwIfAborted(opts.signal);
      await limiter.add(async () => {
        const pack = state.packs.get(id)!;
        const r = await checkPack(repo, pack);
        stats.packsRead++;
        stats.bytesRead += r.bytes;
        stats.blobsChecked += r.blobsOk;
        if (r.missing) {
          findings.add('pack-missing', 'pack', id, `pack ${shortId(id)} vanished from data/ while being checked`);
          return;
        }
        if (r.problems.length > 0) findings.add('pack-damaged', 'pack', id, `pack ${shortId(id)}: ${r.problems.join('; ')}`);
        for (const d of r.damaged) {
          damagedLocs.add(`${id}:${d.offset}`);
          const f = findings.add('blob-damaged', 'blob', d.blob, `${d.type} blob ${shortId(d.blob)} in pack ${shortId(id)} is damaged: ${d.error}`);
          damagedBlobs.set(d.blob, f);
        }
        opts.progress?.update?.({ phase: 'verify', filesDone: stats.packsRead, filesTotal: selected.length, bytesDone: stats.bytesRead, bytesTotal });
      });
    }
    await limiter.drain();
  }

  // 5. snapshots → trees → blobs
  const blobFinding = (id: BlobId, type: 'data' | 'tree'): Finding | undefined => {
    const d = damagedBlobs.get(id);
    if (d) return d;
    const locs = state.blobs.get(id);
    if (!locs || locs.length === 0) return findings.add('blob-missing', 'blob', id, `${type} blob ${shortId(id)} is not in the index`);
    if (!locs.some((l) => present.has(l.packId))) {
      return findings.add('blob-missing', 'blob', id, `${type} blob ${shortId(id)} is only in missing pack(s) ${locs.map((l) => shortId(l.packId)).join(', ')}`);
    }
    return undefined;
  };
  const memo = new Map<BlobId, Problem[]>();
  const visitTree = async (treeId: BlobId): Promise<Problem[]> => {
    const hit = memo.get(treeId);
    if (hit) return hit;
    throwIfAborted(opts.signal);
    const problems: Problem[] = [];
    const push = (p: Problem): void => {
      if (problems.length < MAX_PROBLEMS_PER_TREE) problems.push(p);
    };
    const own = blobFinding(treeId, 'tree');
    if (own) push({ path: '', finding: own });
    let nodes: TreeNode[] | undefined;
    if (!own || own.kind === 'blob-damaged') {
      let plain: Buffer | undefined;
      try {
        plain = await readBlobVia(repo, state, present, treeId, damagedLocs);
      } catch (err) {
        if (!isClawbackError(err, 'INTEGRITY', 'BLOB_NOT_FOUND')) throw err;
        if (!own) push({ path: '', finding: findings.add('blob-damaged', 'blob', treeId, `tree blob ${shortId(treeId)} is damaged: ${err.message}`) });
      }
      if (plain) {
        try {
          nodes = decodeTree(plain).nodes;
          stats.trees++;
        } catch (err) {
          if (!isClawbackError(err, 'INTEGRITY')) throw err;
          push({ path: '', finding: findings.add('tree-damaged', 'blob', treeId, `tree blob ${shortId(treeId)} does not decode as a tree: ${err.message}`) });
        }
      }
    }
    for (const node of nodes ?? []) {
      if (node.type === 'dir' && node.subtree) {
        for (const p of await visitTree(node.subtree)) push({ path: joinPath(node.name, p.path), finding: p.finding });
      } else if (node.content) {
        const seen = new Set<Finding>();
        for (const blob of node.content) {
          stats.dataRefs++;
          const f = blobFinding(blob, 'data');
          if (f && !seen.has(f)) {
            seen.add(f);
            push({ path: node.name, finding: f });
          }
        }
      }
    }
    const result = problems.length === 0 ? NONE : problems;
    memo.set(treeId, result);
    return result;
  };
  for (const s of snapshots) {
    for (const p of await visitTree(s.manifest.tree)) findings.affect(p.finding, s.id, `/${p.path}`);
  }

  const all = findings.all();
  const errors = all.filter((f) => f.severity === 'error').length;
  const report: VerifyReport = { clean: errors === 0, errors, infos: all.length - errors, findings: all, stats };
  opts.progress?.done?.({ phase: 'verify', filesDone: stats.packsRead, bytesDone: stats.bytesRead });
  return report;
}

/** Blobs listed in several places with different types or plaintext lengths. */
function checkBlobListings(state: IndexState, findings: FindingSet): void {
  for (const [id, locs] of state.blobs) {
    if (locs.length < 2) continue;
    const first = locs[0]!;
    const odd = locs.find((l) => l.type !== first.type || l.rawLength !== first.rawLength);
    if (odd) {
      findings.add(
        'index-conflict',
        'blob',
        id,
        `blob ${shortId(id)} is listed as ${first.type} of ${first.rawLength} bytes in pack ${shortId(first.packId)} but as ${odd.type} of ${odd.rawLength} bytes in pack ${shortId(odd.packId)}`,
      );
    }
  }
}

/** Impossible blob locations within one pack listing. */
function checkPackListing(p: PackState, overhead: number, findings: FindingSet): void {
  let end = 0;
  for (const b of p.blobs) {
    let why: string | undefined;
    if (b.offset < end) why = `overlaps the previous blob (offset ${b.offset} < ${end})`;
    else if (b.offset + b.length > p.size - 4) why = `ends at ${b.offset + b.length}, past the blob area of the ${p.size}-byte pack`;
    else if (b.length < 1 + overhead) why = `is ${b.length} bytes, shorter than an envelope`;
    if (why) {
      findings.add('index-invalid', 'pack', p.id, `pack ${shortId(p.id)}: the index lists blob ${shortId(b.id)} at an impossible place: it ${why}`);
      return;
    }
    end = b.offset + b.length;
  }
}
