/**
 * `clawback snapshot show`: one snapshot manifest.
 */
import type { Command } from 'commander';
import type { CliIo } from '../io.js';
import { Context } from '../context.js';
import { formatBytes } from '../format.js';
import { snapshotRow } from '../snapshot-table.js';
import { selectSnapshot } from '../select.js';

/** Runs `clawback snapshot show`. */
export async function runSnapshotShow(io: CliIo, selector: string, c: Command): Promise<void> {
  const ctx = await Context.of(io, c);
  await ctx.withRepo(async (repo) => {
    const r = await selectSnapshot(ctx, repo, selector);
    ctx.emit({ ...snapshotRow(r.snapshot), manifest: r.snapshot.manifest });
    const m = r.snapshot.manifest;
    ctx.out(
      [
        `snapshot ${r.snapshot.id} (v${r.snapshot.version})`,
        `  time      ${m.time}`,
        `  name      ${m.label ?? '-'}`,
        `  kind      ${m.kind}`,
        `  host      ${m.host} (${m.username})`,
        `  paths     ${m.paths.join(', ')}`,
        `  source    ${m.source}`,
        `  tags      ${m.tags.join(', ') || '-'}`,
        `  tree      ${m.tree}`,
        `  parent    ${m.parent ?? '-'}`,
        `  files     ${m.summary.files} (${formatBytes(m.summary.bytes)}), ${m.summary.dirs} dirs, ${m.summary.symlinks} symlinks`,
        `  added     ${formatBytes(m.summary.bytesAdded)} (${formatBytes(m.summary.storedBytesAdded)} stored, ${m.summary.blobsAdded} blobs)`,
      ].join('\n'),
    );
  });
}
