/**
 * Restore hooks for agent snapshots: `sqlite` nodes are placed through SQLite (see
 * `fs/sqlite.ts` `placeSqlite`) and get the snapshot's mode and mtime back afterwards.
 */
import { chmod, utimes } from 'node:fs/promises';
import { placeSqlite } from '../fs/sqlite.js';
import type { RestoreHooks } from '../restorer/restorer.js';

/** Hooks for `restoreTree` that restore SQLite databases through SQLite. */
export function sqliteRestoreHooks(): RestoreHooks {
  return {
    async placeSqlite(tempPath, finalPath, node) {
      await placeSqlite(tempPath, finalPath);
      await chmod(finalPath, node.mode);
      const t = Number(node.mtimeNs) / 1e9;
      await utimes(finalPath, t, t);
    },
  };
}
