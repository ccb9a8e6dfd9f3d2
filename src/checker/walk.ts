/**
 * `verify` step 5: snapshots → trees → blobs. Every tree of every snapshot is loaded
 * (through the index files, not the local cache: {@link BlobReader}) and decoded once;
 * every data blob must be indexed in a present pack. Damaged and missing blobs are mapped
 * to the snapshots and paths that use them (each tree walked once; a shared subtree's
 * problems are reused, not walked again).
 */
import { isClawbackError, throwIfAborted } from '../errors.js';
import { shortId, type BlobId, type FileId, type SnapshotId } from '../ids.js';
import type { LiveIndex } from '../index/live.js';
import type { Repository } from '../repository/repository.js';
import { decodeTree } from '../tree/codec.js';
import type { TreeNode } from '../tree/node.js';
import { BlobReader } from './blob-reader.js';
import type { Finding, FindingSet } from './findings.js';

/** What {@link walkSnapshots} needs. */
export interface WalkContext {
  repo: Repository;
  index: LiveIndex;
  /** Files in `data/` (id → size). */
  present: ReadonlyMap<FileId, number>;
  /** Per pack of `index`: 1 when it is in `data/`. */
  packPresent: Uint8Array;
  snapshots: readonly { id: SnapshotId; tree: BlobId }[];
  /** Where findings go. */
  findings: FindingSet;
  /** Copies the data pass found damaged (`pack:offset`), tried last. */
  damagedLocs: ReadonlySet<string>;
  /** Blobs the data pass found damaged, with their findings. */
  damagedBlobs: ReadonlyMap<BlobId, Finding>;
  signal?: AbortSignal | undefined;
}

/** Counters of {@link walkSnapshots}. */
export interface WalkCounts {
  /** Tree blobs loaded and decoded. */
  trees: number;
  /** Data blob references checked (a blob used by two files counts twice). */
  dataRefs: number;
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

/**
 * Walks every snapshot's trees; see the module comment.
 * @throws backend errors (not damage), ClawbackError 'ABORTED'.
 */
export async function walkSnapshots(ctx: WalkContext): Promise<WalkCounts> {
  const { index, findings, damagedBlobs, damagedLocs, packPresent } = ctx;
  const counts: WalkCounts = { trees: 0, dataRefs: 0 };
  const blobFinding = (id: BlobId, type: 'data' | 'tree'): Finding | undefined => {
    if (damagedBlobs.size > 0) {
      const d = damagedBlobs.get(id);
      if (d) return d;
    }
    const first = index.find(id);
    if (first < 0) return findings.add('blob-missing', 'blob', id, `${type} blob ${shortId(id)} is not in the index`);
    for (let e = first; e >= 0; e = index.nextCopy(e)) if (packPresent[index.packOf(e)]) return undefined;
    const packs = index.copies(id).map((e) => shortId(index.packId(index.packOf(e))));
    return findings.add('blob-missing', 'blob', id, `${type} blob ${shortId(id)} is only in missing pack(s) ${packs.join(', ')}`);
  };
  const reader = new BlobReader(ctx.repo, index, ctx.present);
  const memo = new Map<BlobId, Problem[]>();
  const visitTree = async (treeId: BlobId): Promise<Problem[]> => {
    const hit = memo.get(treeId);
    if (hit) return hit;
    throwIfAborted(ctx.signal);
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
        plain = await reader.read(treeId, damagedLocs);
      } catch (err) {
        if (!isClawbackError(err, 'INTEGRITY', 'BLOB_NOT_FOUND')) throw err;
        if (!own) push({ path: '', finding: findings.add('blob-damaged', 'blob', treeId, `tree blob ${shortId(treeId)} is damaged: ${err.message}`) });
      }
      if (plain) {
        try {
          nodes = decodeTree(plain).nodes;
          counts.trees++;
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
        let seen: Set<Finding> | undefined;
        for (const blob of node.content) {
          counts.dataRefs++;
          const f = blobFinding(blob, 'data');
          if (f && !seen?.has(f)) {
            (seen ??= new Set()).add(f);
            push({ path: node.name, finding: f });
          }
        }
      }
    }
    const result = problems.length === 0 ? NONE : problems;
    memo.set(treeId, result);
    return result;
  };
  try {
    for (const s of ctx.snapshots) {
      for (const p of await visitTree(s.tree)) findings.affect(p.finding, s.id, `/${p.path}`);
    }
  } finally {
    await reader.close();
  }
  return counts;
}
