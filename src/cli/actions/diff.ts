/**
 * `clawback diff A B`: paths added (+), removed (-), modified (M), changed type (T) or
 * changed only in mode/mtime (U) from snapshot A to snapshot B, with sizes.
 */
import type { Command } from 'commander';
import { listSnapshots } from '../../snapshot/store.js';
import { diffTrees, type Change, type ChangeKind } from '../../tree/diff.js';
import type { CliIo } from '../io.js';
import { Context } from '../context.js';
import { formatBytes } from '../format.js';
import { selectSnapshot } from '../select.js';
import { preloadIndexCache } from '../../repository/repository.js';

const MARK: Record<ChangeKind, string> = { added: '+', removed: '-', modified: 'M', type: 'T', metadata: 'U' };

function shown(c: Change): string {
  const n = c.after ?? c.before!;
  const suffix = n.type === 'dir' ? '/' : '';
  if (c.kind === 'modified') return `${c.path}${suffix}  (${formatBytes(c.before!.size)} → ${formatBytes(c.after!.size)})`;
  if (n.type === 'dir') return `${c.path}${suffix}`;
  if (n.type === 'symlink') return `${c.path} -> ${n.target ?? ''}`;
  return `${c.path}  (${formatBytes(n.size)})`;
}

/** Runs `clawback diff A B`. */
export async function runDiff(io: CliIo, a: string, b: string, c: Command): Promise<void> {
  const ctx = await Context.of(io, c);
  await ctx.withRepo(async (repo) => {
    const { entries } = await listSnapshots(repo);
    const ra = await selectSnapshot(ctx, repo, a, entries);
    const rb = await selectSnapshot(ctx, repo, b, entries);
    const totals = { added: 0, removed: 0, modified: 0, type: 0, metadata: 0, addedBytes: 0, removedBytes: 0 };
    const changes: { kind: ChangeKind; path: string; type: string; size?: number; before?: number; after?: number }[] = [];
    for await (const ch of diffTrees(repo, ra.snapshot.manifest.tree, rb.snapshot.manifest.tree)) {
      totals[ch.kind]++;
      const n = ch.after ?? ch.before!;
      if (ch.kind === 'added') totals.addedBytes += n.size;
      if (ch.kind === 'removed') totals.removedBytes += n.size;
      if (ch.kind === 'modified') {
        totals.addedBytes += ch.after!.size;
        totals.removedBytes += ch.before!.size;
      }
      ctx.out(`${MARK[ch.kind]}  ${shown(ch)}`);
      if (ctx.json) {
        changes.push(
          ch.kind === 'modified' || ch.kind === 'type' || ch.kind === 'metadata'
            ? { kind: ch.kind, path: ch.path, type: n.type, before: ch.before!.size, after: ch.after!.size }
            : { kind: ch.kind, path: ch.path, type: n.type, size: n.size },
        );
      }
    }
    const from = { id: ra.snapshot.id, version: ra.snapshot.version };
    const to = { id: rb.snapshot.id, version: rb.snapshot.version };
    ctx.emit({
      message_type: 'summary',
      from,
      to,
      added: changes.filter((x) => x.kind === 'added'),
      removed: changes.filter((x) => x.kind === 'removed'),
      modified: changes.filter((x) => x.kind !== 'added' && x.kind !== 'removed'),
      totals,
    });
    ctx.out(
      `v${from.version} → v${to.version}: ${totals.added} added, ${totals.removed} removed, ${totals.modified} modified, ${totals.type} changed type, ${totals.metadata} metadata only; ` +
        `+${formatBytes(totals.addedBytes)} -${formatBytes(totals.removedBytes)}`,
    );
  }, { preload: [preloadIndexCache] });
}
