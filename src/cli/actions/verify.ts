/**
 * `clawback verify [--read-data | --read-data-subset SPEC]`: check the repository and name
 * every damaged object with the snapshots and paths it affects. Exit 0 when clean
 * (unreferenced data is reported but allowed), 1 when damaged.
 */
import type { Command } from 'commander';
import { ClawbackError } from '../../errors.js';
import { shortId, type SnapshotId } from '../../ids.js';
import { parseSubset } from '../../checker/subset.js';
import type { Finding } from '../../checker/findings.js';
import { listSnapshots } from '../../snapshot/store.js';
import { assignVersions } from '../../snapshot/selector.js';
import { preloadIndexCache, type Repository } from '../../repository/repository.js';
import type { CliIo } from '../io.js';
import { Context } from '../context.js';
import { formatBytes } from '../format.js';
import { makeProgress } from '../progress.js';
import { lazy } from '../lazy.js';

const checker = lazy(() => import('../../checker/checker.js'));

/** `vN (abcd1234)` for every readable snapshot id. */
export async function snapshotNames(repo: Repository): Promise<Map<SnapshotId, string>> {
  const { entries } = await listSnapshots(repo);
  return new Map(assignVersions(entries).map((v) => [v.id, `v${v.version} (${shortId(v.id)})`]));
}

function describe(f: Finding, names: Map<SnapshotId, string>): string {
  const lines = [`${f.severity === 'error' ? 'error' : 'info '}  ${f.kind}: ${f.message}`];
  if (f.snapshots.length > 0 && f.kind !== 'snapshot-damaged') {
    lines.push(`        affects ${f.snapshots.length} snapshot(s): ${f.snapshots.slice(0, 10).map((s) => names.get(s) ?? shortId(s)).join(', ')}${f.snapshots.length > 10 ? ', …' : ''}`);
    for (const a of f.affected.slice(0, 10)) lines.push(`          ${names.get(a.snapshot) ?? shortId(a.snapshot)}  ${a.path}`);
    if (f.affectedCount > 10) lines.push(`          … and ${f.affectedCount - 10} more path(s)`);
  }
  return lines.join('\n');
}

/** Runs `clawback verify`. */
export async function runVerify(io: CliIo, o: { readData?: boolean; readDataSubset?: string }, c: Command): Promise<void> {
  const ctx = await Context.of(io, c);
  const subset = o.readDataSubset === undefined ? undefined : parseSubset(o.readDataSubset);
  await ctx.withRepo(async (repo) => {
    const { verifyRepository } = await checker();
    const names = await snapshotNames(repo);
    const dataPass = o.readData === true || subset !== undefined;
    ctx.info(`checking snapshots, trees, index and packs${dataPass ? ', and reading pack data' : ''}…`);
    const progress = makeProgress(ctx, 'verify');
    const report = await verifyRepository(repo, { readData: o.readData, subset, signal: io.signal, progress });
    ctx.emit({ message_type: 'summary', clean: report.clean, errors: report.errors, infos: report.infos, stats: report.stats, findings: report.findings });
    for (const f of report.findings) ctx.out(describe(f, names));
    const s = report.stats;
    const read = dataPass ? `; read ${s.packsRead} pack(s), ${formatBytes(s.bytesRead)}, ${s.blobsChecked} blobs` : '';
    const verdict = report.clean ? `no damage found${report.infos > 0 ? ` (${report.infos} note(s): unreferenced data is removed by \`clawback gc\`)` : ''}` : `${report.errors} problem(s) found`;
    ctx.out(`checked ${s.snapshots} snapshot(s), ${s.trees} tree(s), ${s.indexFiles} index file(s), ${s.packs} pack(s)${read}: ${verdict}`);
    if (!report.clean) {
      throw new ClawbackError('INTEGRITY', `verify found ${report.errors} problem(s) in ${repo.backend.location}; see above (\`clawback repair index\` fixes index problems; snapshots using damaged data can be forgotten)`, {
        details: { errors: report.errors },
      });
    }
  }, { preload: [checker, preloadIndexCache] });
}
