/**
 * The aside journal of an in-place restore, and putting moved-aside state back.
 *
 * Before anything is moved, `<root>/.clawback-aside-<id>/journal.json` lists every unit
 * (live path, aside path, whether it existed) and the directories whose mode and times
 * must be put back. Units are then renamed into the aside directory (same filesystem, so
 * a rename, never a copy). The journal's `state` says how far the restore got:
 * `moving` → `restoring` → `committed`. {@link rollback} works from any state and can be
 * repeated after a crash: a unit whose aside copy is gone was either never moved (its live
 * path is the original) or already put back.
 */
import { randomBytes } from 'node:crypto';
import { chmod, lstat, mkdir, open, readFile, readdir, rename, rm, rmdir, utimes } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { ClawbackError } from '../errors.js';
import { ASIDE_PREFIX, TEMP_PREFIX } from './rules.js';
import { pathExists as exists } from '../util/fs.js';

/** One moved unit. */
export interface JournalUnit {
  /** Absolute live path. */
  live: string;
  /** Absolute path of the moved-aside copy. */
  aside: string;
  /** False: the path did not exist before (anything there after a failure is removed). */
  existed: boolean;
}

/** A directory whose state is put back on rollback. */
export interface JournalDir {
  path: string;
  existed: boolean;
  mode?: number;
  atimeMs?: number;
  mtimeMs?: number;
}

/** The journal file's content. */
export interface Journal {
  version: 1;
  /** Snapshot being restored. */
  snapshot: string;
  root: string;
  host: string;
  /** Process id of the restore, when the caller gave one. */
  pid?: number;
  started: string;
  state: 'moving' | 'restoring' | 'committed';
  units: JournalUnit[];
  dirs: JournalDir[];
  /** Aside directories to remove at the end (the root's one first). */
  asideDirs: string[];
}

/** File name of the journal inside the root's aside directory. */
export const JOURNAL_NAME = 'journal.json';


/** A new aside id (hex). */
export function newAsideId(): string {
  return randomBytes(6).toString('hex');
}

/** The root's aside directory for `id`. */
export function asideDirOf(root: string, id: string): string {
  return join(root, ASIDE_PREFIX + id);
}

/** Writes the journal atomically (temp file, fsync, rename) into `asideDir`. */
export async function writeJournal(asideDir: string, j: Journal): Promise<void> {
  const tmp = join(asideDir, `${JOURNAL_NAME}.tmp`);
  const fh = await open(tmp, 'w', 0o600);
  try {
    await fh.writeFile(JSON.stringify(j, null, 1));
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, join(asideDir, JOURNAL_NAME));
}

/** Reads a journal, or undefined when there is none. @throws 'INTEGRITY' when unreadable. */
export async function readJournal(asideDir: string): Promise<Journal | undefined> {
  let text: string;
  try {
    text = await readFile(join(asideDir, JOURNAL_NAME), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    const j = JSON.parse(text) as Journal;
    if (j.version !== 1 || !Array.isArray(j.units) || !Array.isArray(j.dirs) || !Array.isArray(j.asideDirs)) throw new Error('unknown layout');
    return j;
  } catch (err) {
    throw new ClawbackError('INTEGRITY', `the restore journal ${join(asideDir, JOURNAL_NAME)} cannot be read (${(err as Error).message}): move the content of ${asideDir} back by hand`, { cause: err });
  }
}

/** Records a directory's state for {@link rollback}. */
export async function dirState(path: string): Promise<JournalDir> {
  try {
    const st = await lstat(path);
    return { path, existed: true, mode: st.mode & 0o7777, atimeMs: st.atimeMs, mtimeMs: st.mtimeMs };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { path, existed: false };
    throw err;
  }
}

/** Moves every existing unit aside (in journal order). */
export async function moveAside(j: Journal): Promise<void> {
  for (const u of j.units) {
    if (!u.existed) continue;
    await mkdir(dirname(u.aside), { recursive: true, mode: 0o700 });
    await rename(u.live, u.aside);
  }
}

/**
 * Puts the moved-aside state back: whatever is at each unit's live path now is removed,
 * the aside copy renamed back; directories get their mode and times back (or are removed
 * when they did not exist and are empty); the aside directories are removed.
 * @returns the number of units put back.
 */
export async function rollback(j: Journal): Promise<number> {
  let putBack = 0;
  for (const u of [...j.units].reverse()) {
    const asideThere = await exists(u.aside);
    if (u.existed && !asideThere) continue; // never moved, or already put back
    await rm(u.live, { recursive: true, force: true });
    if (u.existed) {
      await mkdir(dirname(u.live), { recursive: true, mode: 0o700 });
      await rename(u.aside, u.live);
      putBack++;
    }
  }
  for (const d of [...j.asideDirs].reverse()) await removeAsideDir(d);
  await removeTempFiles(j.dirs);
  await restoreDirs(j.dirs);
  return putBack;
}

/**
 * Removes the temp files (`.clawback-tmp-*`) an interrupted restore left in the journaled
 * directories: the restorer writes each file as a temp file next to its final name, so a
 * file unit's temp file lies in its parent directory, which is not itself a unit.
 */
async function removeTempFiles(dirs: JournalDir[]): Promise<void> {
  for (const d of dirs) {
    let names: string[];
    try {
      names = await readdir(d.path);
    } catch {
      continue;
    }
    for (const n of names) if (n.startsWith(TEMP_PREFIX)) await rm(join(d.path, n), { recursive: true, force: true });
  }
}

/** Puts directory modes and times back; removes created empty ones (deepest first). */
async function restoreDirs(dirs: JournalDir[]): Promise<void> {
  for (const d of [...dirs].sort((a, b) => b.path.length - a.path.length)) {
    if (!d.existed) {
      await rmdir(d.path).catch(() => undefined);
      continue;
    }
    if (!(await exists(d.path))) continue;
    if (d.mode !== undefined) await chmod(d.path, d.mode);
    if (d.atimeMs !== undefined && d.mtimeMs !== undefined) await utimes(d.path, d.atimeMs / 1000, d.mtimeMs / 1000);
  }
}

/**
 * Removes an aside directory, its journal last: a crash in the middle then leaves the
 * journal with whatever is still there (recovered by the next restore), never content
 * without a journal (which recovery must refuse to guess about). A plain recursive `rm`
 * removes entries in any order, the journal possibly first.
 */
async function removeAsideDir(dir: string): Promise<void> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  for (const n of names) if (n !== JOURNAL_NAME) await rm(join(dir, n), { recursive: true, force: true });
  await rm(dir, { recursive: true, force: true });
}

/** Removes the aside copies after a successful restore (journal marked committed first). */
export async function commit(j: Journal): Promise<void> {
  j.state = 'committed';
  await writeJournal(j.asideDirs[0]!, j);
  for (const d of [...j.asideDirs].reverse()) await removeAsideDir(d);
}

/** What recovering one leftover aside directory did. */
export interface Recovery {
  asideDir: string;
  snapshot?: string;
  /** `rolled-back`: live state put back; `cleaned`: a committed restore's leftovers removed. */
  action: 'rolled-back' | 'cleaned' | 'removed-empty';
  units: number;
}

/** Who is restoring, to tell a crashed restore from a running one. */
export interface RestoreOwner {
  pid: number;
  /** True when process `pid` on this host is alive. */
  isAlive(pid: number): boolean;
}

/**
 * Recovers every leftover aside directory of `root` (an in-place restore that crashed):
 * committed ones are cleaned up, others rolled back.
 * @throws ClawbackError 'LOCKED' when the journal belongs to a live process on this host
 *   or to another host; 'UNSAFE' when an aside directory has content but no journal.
 */
export async function recoverAsides(root: string, host: string, owner?: RestoreOwner): Promise<Recovery[]> {
  let names: string[];
  try {
    names = (await readdir(root)).filter((n) => n.startsWith(ASIDE_PREFIX)).sort();
  } catch {
    return [];
  }
  const out: Recovery[] = [];
  for (const n of names) {
    const dir = join(root, n);
    const j = await readJournal(dir);
    if (!j) {
      const left = (await readdir(dir)).filter((x) => x !== `${JOURNAL_NAME}.tmp`);
      if (left.length > 0) throw new ClawbackError('UNSAFE', `${dir} is left over from an interrupted restore but has no journal: move its content back by hand, then remove it`);
      await rm(dir, { recursive: true, force: true });
      out.push({ asideDir: dir, action: 'removed-empty', units: 0 });
      continue;
    }
    if (j.host !== host) {
      throw new ClawbackError('LOCKED', `${dir} belongs to a restore started on host ${j.host}: if it is not running any more, run the restore there, or move the content back by hand`);
    }
    if (j.pid !== undefined && owner && j.pid !== owner.pid && owner.isAlive(j.pid)) {
      throw new ClawbackError('LOCKED', `another restore (pid ${j.pid}) is running on ${root}: wait for it to finish`);
    }
    if (j.state === 'committed') {
      for (const d of [...j.asideDirs].reverse()) await removeAsideDir(d);
      out.push({ asideDir: dir, snapshot: j.snapshot, action: 'cleaned', units: 0 });
    } else {
      const units = await rollback(j);
      out.push({ asideDir: dir, snapshot: j.snapshot, action: 'rolled-back', units });
    }
  }
  return out;
}
