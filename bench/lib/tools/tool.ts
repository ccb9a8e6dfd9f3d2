/**
 * What the harness needs from each tool under test: command lines for every step, run in
 * a private directory (repository, caches, config) so that nothing leaks between runs.
 */
import type { RunSpec } from '../measure.js';

/** Password every tool's repository is created with. */
export const BENCH_PASSWORD = 'bench-password-not-secret';

/** One tool with its own repository and caches. */
export interface ToolInstance {
  /** Tool name as printed in tables: clawback, restic, borg. */
  readonly tool: string;
  /** The repository directory (its `du -sb` is the repository size). */
  readonly repo: string;
  /** True when restored SQLite databases may differ from the source in their 100-byte header (backup API). */
  readonly sqliteViaBackup?: boolean;
  /** Create the repository (not timed). */
  init(): RunSpec[];
  /** Snapshot the directory `src` (content at the snapshot root); `label` is unique per repository. */
  snapshot(src: string, label: string): RunSpec;
  /** Restore the latest snapshot into the empty directory `target` (content at its root). */
  restore(target: string): RunSpec;
  /** Verify reading all data; undefined when the tool cannot. */
  verify(): RunSpec[] | undefined;
  /** Forget all but the newest `keepLast` snapshots and reclaim space; undefined when unavailable. */
  forgetGc(keepLast: number): RunSpec[] | undefined;
}

/** A tool: its version string and how to make an instance in a directory. */
export interface Tool {
  readonly name: string;
  version(): Promise<string>;
  /** @param dir an empty private directory for repository and caches. */
  instance(dir: string): ToolInstance;
}
