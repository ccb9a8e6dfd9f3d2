/**
 * Canonical agent roots and the snapshot source key of a profile.
 */
import { lstat, realpath } from 'node:fs/promises';
import { basename, dirname, join, resolve, sep } from 'node:path';
import { ClawbackError } from '../errors.js';

/**
 * The canonical spelling of `p`: symlinks resolved for the longest existing prefix, the
 * rest appended as given. So `~/.openclaw` → `/data/openclaw` when it is a symlink, and a
 * root that does not exist yet still has a stable spelling.
 */
export async function canonicalPath(p: string): Promise<string> {
  const abs = resolve(p);
  try {
    return await realpath(abs);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    const parent = dirname(abs);
    if (parent === abs) return abs;
    return join(await canonicalPath(parent), basename(abs));
  }
}

/** The source key of a profile's snapshots: `profile:<name>:<canonical root>`. */
export function profileSource(name: string, root: string): string {
  return `profile:${name}:${root}`;
}

/** True when `p` is `dir` or inside it (both absolute, normalized). */
export function isWithin(p: string, dir: string): boolean {
  return p === dir || p.startsWith(dir.endsWith(sep) ? dir : dir + sep);
}

/**
 * Refuses a path that is a symbolic link or has one among its existing parents (restore
 * targets must be written where they are named, never through a link).
 * @throws ClawbackError 'UNSAFE' naming the link.
 */
export async function assertNoSymlinkOnPath(p: string): Promise<void> {
  const abs = resolve(p);
  const parts = abs.split(sep).filter((s) => s !== '');
  let cur = abs.startsWith(sep) ? sep : '';
  for (const part of parts) {
    cur = join(cur, part);
    let st;
    try {
      st = await lstat(cur);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    if (st.isSymbolicLink()) {
      throw new ClawbackError('UNSAFE', `${cur === abs ? 'restore target' : `a parent of the restore target ${abs}`} ${cur} is a symbolic link: give the real path instead`, { details: { path: cur } });
    }
  }
}
