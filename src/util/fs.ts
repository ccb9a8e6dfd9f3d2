/**
 * Small filesystem helpers shared by several modules.
 */
import { lstat } from 'node:fs/promises';

/** True when `p` exists (a symlink counts, never followed); other errors propagate. */
export async function pathExists(p: string): Promise<boolean> {
  try {
    await lstat(p);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}
