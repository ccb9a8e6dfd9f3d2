/**
 * The data sets of ../shared/BENCH.md as built by make-datasets.sh under `$BENCHDATA`
 * (default /tmp/benchdata): which version directories each has, in snapshot order, and the
 * b3sum manifest of its final version (to check restores).
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { sqliteSidecars } from './strays.js';

/** One data set. */
export interface DataSet {
  name: string;
  /** Absolute version directories, in snapshot order (v1 first). */
  versions: string[];
  /** b3sum manifest of the last version (`<hash>  ./path` lines). */
  manifest: string;
  /** Snapshots kept by the "forget half + gc" step (the newest ones). */
  keepLast: number;
  /** SQLite sidecar files each version holds before the run (see strays.ts), by version dir. */
  sidecars: Map<string, Set<string>>;
}

/** Names accepted on the command line, in the order they run when none is given. */
export const DATASET_NAMES = ['agent', 'npmver', 'kernel', 'big'] as const;

/** Root of the data sets. */
export function benchDataDir(): string {
  return process.env['BENCHDATA'] ?? '/tmp/benchdata';
}

/**
 * Locates a data set.
 * @throws Error telling how to build it when it is missing or unfinished.
 */
export async function loadDataSet(name: string, root = benchDataDir()): Promise<DataSet> {
  const dir = join(root, name);
  if (!existsSync(join(dir, '.done'))) {
    throw new Error(`data set ${name} is not built under ${root}: run BENCHDATA=${root} ../shared/bench/make-datasets.sh ${name}`);
  }
  const versions = readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isDirectory() && /^v\d+$/.test(d.name))
    .map((d) => d.name)
    .sort((a, b) => Number(a.slice(1)) - Number(b.slice(1)))
    .map((v) => join(dir, v));
  if (versions.length < 2) throw new Error(`data set ${name} under ${root} has fewer than two versions`);
  const manifest = join(root, 'manifests', `${name}.b3`);
  if (!existsSync(manifest)) throw new Error(`manifest ${manifest} is missing: rebuild the data set with FORCE=1`);
  // Two versions: v1 is snapshotted twice (first + no-change), then v2; forgetting "half"
  // forgets both v1 snapshots so gc has v1-only data to reclaim. A series of N versions
  // (npmver) keeps the newest half of the versions.
  const keepLast = versions.length === 2 ? 1 : Math.ceil(versions.length / 2);
  const sidecars = new Map<string, Set<string>>();
  for (const v of versions) sidecars.set(v, new Set(await sqliteSidecars(v)));
  return { name, versions, manifest, keepLast, sidecars };
}

/**
 * Refuses a data set whose versions hold SQLite sidecar files (`-wal`, `-shm`, `-journal`
 * beside a database) before the run. The data sets are built without them; one found there
 * was left by a connection opened on the data set (a read-only connection to a WAL database
 * creates both and cannot remove them). With them the tools no longer snapshot the same
 * thing: restic and borg store them, clawback leaves them out and reads that database
 * through a connection instead of its quiet file (session 14's agent first snapshot: 0.91
 * of restic instead of ~0.8).
 * @throws Error naming the files and the fix, unless `allow` (BENCH_ALLOW_SIDECARS=1).
 */
export function refuseSidecars(ds: DataSet, allow: boolean): void {
  const found = ds.versions.flatMap((v) => [...(ds.sidecars.get(v) ?? [])].map((p) => join(v, p)));
  if (found.length === 0 || allow) return;
  throw new Error(
    `data set ${ds.name} holds SQLite sidecar files that its build does not make:\n  ${found.join('\n  ')}\n` +
      'a connection opened on the data set left them, and the tools would snapshot different trees. ' +
      'An empty -wal (and its -shm) holds no data: remove them (a -wal with data: checkpoint it first, ' +
      "sqlite3 DB 'PRAGMA wal_checkpoint(TRUNCATE)'), or set BENCH_ALLOW_SIDECARS=1 to run anyway",
  );
}
