/**
 * `clawback find PATTERN [--snapshot SEL]…`: the paths matching a glob (see ../glob.ts) in
 * every snapshot, or in the selected ones. Subtrees shared by several snapshots are
 * searched once.
 */
import type { Command } from 'commander';
import { shortId, type BlobId } from '../../ids.js';
import { listSnapshots } from '../../snapshot/store.js';
import { assignVersions, type Versioned } from '../../snapshot/selector.js';
import { preloadIndexCache, type Repository } from '../../repository/repository.js';
import { loadTree } from '../../tree/walk.js';
import type { TreeNode } from '../../tree/node.js';
import type { CliIo } from '../io.js';
import { Context } from '../context.js';
import { formatBytes } from '../format.js';
import { compileGlob, matchGlob } from '../glob.js';
import { selectSnapshot } from '../select.js';

interface Match {
  /** Path relative to the tree searched. */
  path: string;
  node: TreeNode;
}

/** Finds matches below `tree`, memoized per tree id (paths relative to the tree). */
function makeSearcher(repo: Repository, glob: ReturnType<typeof compileGlob>) {
  const memo = new Map<BlobId, Match[]>();
  const search = async (tree: BlobId, prefix: string): Promise<Match[]> => {
    // Name patterns do not depend on where the tree is, so their results can be shared.
    const key = glob.fullPath ? `${prefix}\0${tree}` : tree;
    const hit = memo.get(key);
    if (hit) return hit;
    const out: Match[] = [];
    for (const n of (await loadTree(repo, tree)).nodes) {
      const rel = n.name;
      const full = prefix === '' ? rel : `${prefix}/${rel}`;
      if (matchGlob(glob, full)) out.push({ path: rel, node: n });
      if (n.type === 'dir' && n.subtree) for (const m of await search(n.subtree, full)) out.push({ path: `${rel}/${m.path}`, node: m.node });
    }
    memo.set(key, out);
    return out;
  };
  return search;
}

/** Runs `clawback find PATTERN`. */
export async function runFind(io: CliIo, pattern: string, o: { snapshot?: string[]; long?: boolean }, c: Command): Promise<void> {
  const ctx = await Context.of(io, c);
  const glob = compileGlob(pattern);
  await ctx.withRepo(async (repo) => {
    const { entries } = await listSnapshots(repo);
    let chosen: Versioned[];
    if (o.snapshot && o.snapshot.length > 0) {
      const seen = new Set<string>();
      chosen = [];
      for (const sel of o.snapshot) {
        const r = (await selectSnapshot(ctx, repo, sel, entries)).snapshot;
        if (!seen.has(r.id)) chosen.push(r);
        seen.add(r.id);
      }
    } else chosen = assignVersions(entries);
    const search = makeSearcher(repo, glob);
    const result = [];
    let total = 0;
    for (const v of chosen) {
      const matches = await search(v.manifest.tree, '');
      total += matches.length;
      if (matches.length === 0) continue;
      const items = matches.map((m) => ({ path: `/${m.path}`, type: m.node.type, size: m.node.size, mtime: new Date(Number(m.node.mtimeNs / 1_000_000n)).toISOString() }));
      result.push({ snapshot: v.id, version: v.version, time: v.manifest.time, matches: items });
      ctx.out(`v${v.version} (${shortId(v.id)}, ${v.manifest.time.replace(/\.\d+Z$/, 'Z')}):`);
      for (const it of items) ctx.out(o.long ? `  ${it.type.padEnd(7)} ${formatBytes(it.size).padStart(10)}  ${it.mtime.replace(/\.\d+Z$/, 'Z')}  ${it.path}` : `  ${it.path}${it.type === 'dir' ? '/' : ''}`);
    }
    ctx.emit(result);
    ctx.out(`${total} match(es) in ${result.length} of ${chosen.length} snapshot(s)`);
  }, { preload: [preloadIndexCache] });
}
