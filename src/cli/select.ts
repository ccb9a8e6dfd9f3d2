/**
 * Choosing one snapshot by selector, shared by the commands that read a snapshot.
 */
import { shortId } from '../ids.js';
import { listSnapshots } from '../snapshot/store.js';
import { resolveSelector, type Resolved, type SnapshotEntry } from '../snapshot/selector.js';
import type { Repository } from '../repository/repository.js';
import type { Context } from './context.js';

/** Resolves a selector and tells the user when a timestamp prefix matched several. */
export async function selectSnapshot(ctx: Context, repo: Repository, selector: string | undefined, entries?: SnapshotEntry[]): Promise<Resolved> {
  const list = entries ?? (await listSnapshots(repo)).entries;
  const r = resolveSelector(selector, list);
  if (r.others.length > 0) {
    ctx.info(`"${selector}" matched ${r.others.length + 1} snapshots; using the newest, v${r.snapshot.version} (${r.snapshot.manifest.time}, ${shortId(r.snapshot.id)})`);
  }
  return r;
}
