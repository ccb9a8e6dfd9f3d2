/**
 * `clawback ls SELECTOR [PATH]`: list the content of a snapshot.
 */
import type { Command } from 'commander';
import { walkTree, findNode } from '../../tree/walk.js';
import type { TreeNode } from '../../tree/node.js';
import type { CliIo } from '../io.js';
import { Context } from '../context.js';
import { selectSnapshot } from '../select.js';
import { preloadIndexCache } from '../../repository/repository.js';

function modeString(n: TreeNode): string {
  const t = n.type === 'dir' ? 'd' : n.type === 'symlink' ? 'l' : '-';
  const bits = 'rwxrwxrwx';
  let s = '';
  for (let i = 0; i < 9; i++) s += n.mode & (1 << (8 - i)) ? bits[i] : '-';
  return t + s;
}

function mtime(n: TreeNode): string {
  return new Date(Number(n.mtimeNs / 1_000_000n)).toISOString().replace(/\.\d+Z$/, 'Z');
}

/** Runs `clawback ls`. */
export async function runLs(io: CliIo, selector: string, path: string, o: { long?: boolean; recursive?: boolean }, c: Command): Promise<void> {
  const ctx = await Context.of(io, c);
  await ctx.withRepo(async (repo) => {
    const r = await selectSnapshot(ctx, repo, selector);
    const clean = path.split('/').filter((p) => p !== '' && p !== '.').join('/');
    const found = await findNode(repo, r.snapshot.manifest.tree, clean);
    const emit = (p: string, n: TreeNode) => {
      ctx.emit({ path: p, type: n.type, mode: n.mode, size: n.size, mtime: mtime(n), ...(n.target !== undefined ? { target: n.target } : {}) });
      const shown = n.type === 'dir' ? `${p}/` : n.type === 'symlink' ? `${p} -> ${n.target ?? ''}` : p;
      ctx.out(o.long ? `${modeString(n)} ${String(n.size).padStart(12)} ${mtime(n)} ${shown}` : shown);
    };
    if (found.node && found.node.type !== 'dir') {
      emit(clean, found.node);
      return;
    }
    if (!found.tree) return;
    for await (const e of walkTree(repo, found.tree, clean)) {
      if (!o.recursive && e.path.split('/').length > (clean === '' ? 1 : clean.split('/').length + 1)) continue;
      emit(e.path, e.node);
    }
  }, { preload: [preloadIndexCache] });
}
