/**
 * Disk space for a bench run. Nothing is deleted until the run ends (see run.ts), so every
 * repository and every restore of every repetition is on disk at once: a run of all four
 * data sets needs ~50 GB. A run that fills the disk fails its later passes and cannot even
 * write its results (session 15: the big set after the kernel set, with 50 GB free at the
 * start of the day), so the harness checks before it starts.
 */
import { statfsSync } from 'node:fs';
import type { DataSet } from './datasets.js';
import { duBytes } from './measure.js';

/**
 * Bytes a run is expected to need under its work directory, at most: per data set, tool and
 * repetition, one restore of the last version plus a repository as large as the largest
 * version (`du -sb`). Compression and deduplication make the repositories smaller than that
 * on every set but the incompressible big file, where it is about right.
 * @param sets each data set of the run with the number of tools that run on it.
 * @param reps repetitions per tool.
 */
export async function neededBytes(sets: { ds: DataSet; tools: number }[], reps: number): Promise<number> {
  let total = 0;
  for (const { ds, tools } of sets) {
    const sizes = await Promise.all(ds.versions.map((v) => duBytes(v)));
    total += reps * tools * (sizes[sizes.length - 1]! + Math.max(...sizes));
  }
  return total;
}

/** Bytes available to an unprivileged writer on the file system holding `dir`. */
export function freeBytes(dir: string): number {
  const s = statfsSync(dir);
  return s.bavail * s.bsize;
}

/**
 * Refuses a run that needs more than the free space under `dir` (with a 5 % margin).
 * @throws Error naming both sizes and what to do.
 */
export function refuseShortSpace(dir: string, needed: number, free: number): void {
  if (needed <= free * 0.95) return;
  const gb = (n: number): string => `${(n / 1e9).toFixed(1)} GB`;
  throw new Error(
    `this run needs about ${gb(needed)} under ${dir} (every repository and restore stays until the run ends) and ${gb(free)} are free: ` +
      'free some space, point BENCH_WORK at a larger disk, or run fewer data sets or repetitions (BENCH_REPS)',
  );
}
