/**
 * `clawback stats [SELECTOR]`: logical size, unique and stored size, dedup ratio, and per
 * snapshot added bytes; of one snapshot, or of all of them plus the repository totals.
 */
import type { Command } from 'commander';
import { shortId } from '../../ids.js';
import { listSnapshots } from '../../snapshot/store.js';
import { assignVersions } from '../../snapshot/selector.js';
import { snapshotStats } from '../../snapshot/stats.js';
import type { CliIo } from '../io.js';
import { Context } from '../context.js';
import { formatBytes, formatTable } from '../format.js';
import { selectSnapshot } from '../select.js';
import { preloadIndexCache } from '../../repository/repository.js';

/** Runs `clawback stats`. */
export async function runStats(io: CliIo, selector: string | undefined, c: Command): Promise<void> {
  const ctx = await Context.of(io, c);
  await ctx.withRepo(async (repo) => {
    const { entries, damaged } = await listSnapshots(repo);
    for (const d of damaged) ctx.warn(`snapshot ${shortId(d.id)} cannot be read and is not counted: ${d.error}`);
    const versioned = assignVersions(entries);
    const chosen = selector === undefined ? versioned : [(await selectSnapshot(ctx, repo, selector, entries)).snapshot];
    const s = await snapshotStats(repo, chosen);
    let packs = 0;
    let packBytes = 0;
    for await (const f of repo.backend.list('data')) {
      packs++;
      packBytes += f.size;
    }
    const indexFiles = (await repo.listIndexFiles()).size;
    const perSnapshot = chosen.map((v) => ({
      version: v.version,
      id: v.id,
      time: v.manifest.time,
      label: v.manifest.label ?? null,
      files: v.manifest.summary.files,
      size: v.manifest.summary.bytes,
      added: v.manifest.summary.bytesAdded,
      storedAdded: v.manifest.summary.storedBytesAdded,
    }));
    ctx.emit({ message_type: 'summary', ...s, repository: { packs, packBytes, indexFiles, snapshots: versioned.length }, perSnapshot });
    ctx.out(
      [
        `snapshots          ${s.snapshots}${selector === undefined ? '' : ` (${selector})`}`,
        `files              ${s.files}`,
        `logical size       ${formatBytes(s.logicalBytes)}  (what restoring ${s.snapshots === 1 ? 'it' : 'all of them'} writes)`,
        `unique data        ${formatBytes(s.dataBytes)} in ${s.dataBlobs} blobs, plus ${formatBytes(s.treeBytes)} of trees in ${s.treeBlobs} blobs`,
        `stored size        ${formatBytes(s.storedBytes)}  (compressed${repo.encrypted ? ' and encrypted' : ''})`,
        `dedup ratio        ${s.dedupRatio.toFixed(2)}x`,
        `compression ratio  ${s.compressionRatio.toFixed(2)}x`,
        ...(s.missingBlobs > 0 ? [`missing blobs      ${s.missingBlobs} (run \`clawback verify\`)`] : []),
        `repository         ${packs} pack(s), ${formatBytes(packBytes)}; ${indexFiles} index file(s)`,
      ].join('\n'),
    );
    if (perSnapshot.length > 0) {
      ctx.out('');
      ctx.out(
        formatTable(
          ['version', 'time', 'id', 'name', 'files', 'size', 'added', 'stored added'],
          perSnapshot.map((p) => [`v${p.version}`, p.time.replace(/\.\d+Z$/, 'Z'), shortId(p.id), p.label ?? '', String(p.files), formatBytes(p.size), formatBytes(p.added), formatBytes(p.storedAdded)]),
        ),
      );
    }
  }, { preload: [preloadIndexCache] });
}
