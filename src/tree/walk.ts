/**
 * Depth-first walk over a stored tree, in name order.
 */
import { ClawbackError } from '../errors.js';
import type { BlobId } from '../ids.js';
import { decodeTree } from './codec.js';
import type { Tree, TreeNode } from './node.js';

/** What a walk needs: a way to load tree blobs. */
export interface TreeLoader {
  loadBlob(id: BlobId): Promise<Uint8Array>;
}

/** One visited node with its snapshot path ('/'-separated, no leading slash). */
export interface WalkEntry {
  path: string;
  node: TreeNode;
}

/** Loads and decodes one tree blob. */
export async function loadTree(repo: TreeLoader, id: BlobId): Promise<Tree> {
  return decodeTree(await repo.loadBlob(id));
}

/**
 * Yields every node below tree `root` (pre-order: a dir before its content).
 * @param prefix path of `root` inside the snapshot ('' for the snapshot root).
 */
export async function* walkTree(repo: TreeLoader, root: BlobId, prefix = ''): AsyncGenerator<WalkEntry> {
  const tree = await loadTree(repo, root);
  for (const node of tree.nodes) {
    const path = prefix === '' ? node.name : `${prefix}/${node.name}`;
    yield { path, node };
    if (node.type === 'dir' && node.subtree) yield* walkTree(repo, node.subtree, path);
  }
}

/**
 * Finds the node at `path` below `root`; '' or '/' returns undefined with the root tree id.
 * @throws ClawbackError 'NOT_FOUND' naming the missing component.
 */
export async function findNode(repo: TreeLoader, root: BlobId, path: string): Promise<{ node?: TreeNode; tree: BlobId | undefined }> {
  const parts = path.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.length === 0) return { tree: root };
  let tree = root;
  let node: TreeNode | undefined;
  for (let i = 0; i < parts.length; i++) {
    node = (await loadTree(repo, tree)).nodes.find((n) => n.name === parts[i]);
    if (!node) throw new ClawbackError('NOT_FOUND', `${parts.slice(0, i + 1).join('/')} is not in the snapshot`);
    if (i < parts.length - 1) {
      if (node.type !== 'dir' || !node.subtree) throw new ClawbackError('NOT_FOUND', `${parts.slice(0, i + 1).join('/')} is not a directory in the snapshot`);
      tree = node.subtree;
    }
  }
  return { node, tree: node?.type === 'dir' ? node.subtree : undefined };
}
