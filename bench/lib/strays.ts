/**
 * SQLite sidecar files (`-wal`, `-shm`, `-journal`) that a tool creates in the source tree
 * while it snapshots (SQLite creates them when a WAL-mode database is opened, even
 * read-only). They would change the data set under the other tools' feet, so the harness
 * removes them after each snapshot (outside the timing) and counts them.
 */
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { run } from './measure.js';

/** Sidecar files under `dir`, relative paths. */
export async function sqliteSidecars(dir: string): Promise<string[]> {
  const { stdout } = await run({
    cmd: 'find',
    args: ['.', '-type', 'f', '(', '-name', '*-wal', '-o', '-name', '*-shm', '-o', '-name', '*-journal', ')', '-print0'],
    cwd: dir,
  });
  return stdout.split('\0').filter((p) => p !== '' && existsSync(join(dir, p.replace(/-(wal|shm|journal)$/, ''))));
}

/**
 * Removes sidecars under `dir` that are not in `original` (relative paths present before the
 * run). @returns the removed paths.
 */
export async function removeNewSidecars(dir: string, original: ReadonlySet<string>): Promise<string[]> {
  const fresh = (await sqliteSidecars(dir)).filter((p) => !original.has(p));
  for (const p of fresh) rmSync(join(dir, p), { force: true });
  return fresh;
}
