/**
 * Differences between two stored trees (for `clawback diff A B`), after restic's `diff`:
 * subtrees with equal ids are skipped without loading them, so the cost is proportional
 * to what changed.
 */
import { sameIds, type BlobId } from '../ids.js';
import type { TreeNode } from './node.js';
import { loadTree, walkTree, type TreeLoader } from './walk.js';

/**
 * How an entry changed.
 * - `added` / `removed`: only in B / only in A (every entry below an added or removed
 *   directory is listed too).
 * - `modified`: file content (or size) or symlink target changed.
 * - `type`: the entry changed type (e.g. file → dir).
 * - `metadata`: only mode or mtime changed.
 */
export type ChangeKind = 'added' | 'removed' | 'modified' | 'type' | 'metadata';

/** One changed path. */
export interface Change {
  kind: ChangeKind;
  /** Path in the snapshots, with a leading `/`. */
  path: string;
  /** The entry in A (absent for `added`). */
  before?: TreeNode;
  /** The entry in B (absent for `removed`). */
  after?: TreeNode;
}

function sameContent(a: TreeNode, b: TreeNode): boolean {
  return a.size === b.size && a.target === b.target && sameIds(a.content ?? [], b.content ?? []);
}

async function* everything(repo: TreeLoader, node: TreeNode, path: string, kind: 'added' | 'removed'): AsyncGenerator<Change> {
  yield kind === 'added' ? { kind, path, after: node } : { kind, path, before: node };
  if (node.type === 'dir' && node.subtree) {
    for await (const e of walkTree(repo, node.subtree, path)) yield kind === 'added' ? { kind, path: e.path, after: e.node } : { kind, path: e.path, before: e.node };
  }
}

/**
 * Yields the changes from tree `a` to tree `b`, in path order (a directory before its content).
 * @param prefix path of the trees (`''` for snapshot roots).
 */
export async function* diffTrees(repo: TreeLoader, a: BlobId, b: BlobId, prefix = ''): AsyncGenerator<Change> {
  if (a === b) return;
  const [ta, tb] = await Promise.all([loadTree(repo, a), loadTree(repo, b)]);
  const byName = new Map<string, { a?: TreeNode; b?: TreeNode }>();
  for (const n of ta.nodes) byName.set(n.name, { a: n });
  for (const n of tb.nodes) byName.set(n.name, { ...byName.get(n.name), b: n });
  const names = [...byName.keys()].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
  for (const name of names) {
    const { a: na, b: nb } = byName.get(name)!;
    const path = `${prefix}/${name}`;
    if (!na) {
      yield* everything(repo, nb!, path, 'added');
    } else if (!nb) {
      yield* everything(repo, na, path, 'removed');
    } else if (na.type !== nb.type) {
      yield { kind: 'type', path, before: na, after: nb };
      if (na.type === 'dir' && na.subtree) for await (const e of walkTree(repo, na.subtree, path)) yield { kind: 'removed', path: e.path, before: e.node };
      if (nb.type === 'dir' && nb.subtree) for await (const e of walkTree(repo, nb.subtree, path)) yield { kind: 'added', path: e.path, after: e.node };
    } else if (na.type === 'dir') {
      if (na.mode !== nb.mode) yield { kind: 'metadata', path, before: na, after: nb };
      if (na.subtree && nb.subtree) yield* diffTrees(repo, na.subtree, nb.subtree, path);
    } else if (!sameContent(na, nb)) {
      yield { kind: 'modified', path, before: na, after: nb };
    } else if (na.mode !== nb.mode || na.mtimeNs !== nb.mtimeNs) {
      yield { kind: 'metadata', path, before: na, after: nb };
    }
  }
}
