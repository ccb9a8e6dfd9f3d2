import type { Repository } from '../../src/repository/repository.js';
import { walkTree } from '../../src/tree/walk.js';
import type { TreeNode } from '../../src/tree/node.js';
import type { AgentProfile } from '../../src/agent/profile.js';
import { BUILTIN_PROFILES } from '../../src/agent/builtin.js';
import type { Progress } from '../../src/progress.js';

/** Every node of a stored tree by path. */
export async function treeListing(repo: Repository, tree: string): Promise<Map<string, TreeNode>> {
  const out = new Map<string, TreeNode>();
  for await (const e of walkTree(repo, tree)) out.set(e.path, e.node);
  return out;
}

/** The bytes of a stored file node. */
export async function nodeBytes(repo: Repository, node: TreeNode): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for (const id of node.content ?? []) parts.push(await repo.loadBlob(id));
  return Buffer.concat(parts);
}

/** A built-in profile bound to `root`. */
export function builtin(name: 'openclaw' | 'hermes' | 'nemoclaw', root: string): AgentProfile {
  return { definition: BUILTIN_PROFILES[name]!, root, origin: 'builtin' };
}

/** A Progress that records warnings. */
export function recorder(): Progress & { warnings: string[] } {
  const warnings: string[] = [];
  return { warnings, warn: (m: string) => void warnings.push(m) };
}
