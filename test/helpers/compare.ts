import { lstat, readdir, readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';

/** One entry of a directory listing used to compare trees. */
export interface FsEntry {
  path: string;
  type: 'file' | 'dir' | 'symlink';
  mode: number;
  mtimeMs?: number;
  content?: string; // sha-free: base64 of small files, length+hash for big ones
  target?: string;
}

async function digest(p: string): Promise<string> {
  const { createHash } = await import('node:crypto');
  return createHash('sha256').update(await readFile(p)).digest('hex');
}

/**
 * Lists a tree recursively (sorted), with content digests, modes, mtimes (ms) of files and
 * symlink targets. `mtimes` false leaves times out (directories' mtimes change on restore
 * of their content in some tests).
 */
export async function snapshotFs(root: string, opts: { mtimes?: boolean; dirMtimes?: boolean } = {}): Promise<FsEntry[]> {
  const out: FsEntry[] = [];
  const walk = async (dir: string, rel: string): Promise<void> => {
    const names = (await readdir(dir)).sort();
    for (const name of names) {
      const abs = join(dir, name);
      const r = rel === '' ? name : `${rel}/${name}`;
      const st = await lstat(abs);
      if (st.isSymbolicLink()) {
        out.push({ path: r, type: 'symlink', mode: 0, target: await readlink(abs) });
      } else if (st.isDirectory()) {
        out.push({ path: r, type: 'dir', mode: st.mode & 0o7777, ...(opts.dirMtimes ? { mtimeMs: Math.floor(st.mtimeMs) } : {}) });
        await walk(abs, r);
      } else {
        out.push({ path: r, type: 'file', mode: st.mode & 0o7777, content: await digest(abs), ...(opts.mtimes !== false ? { mtimeMs: Math.floor(st.mtimeMs) } : {}) });
      }
    }
  };
  await walk(root, '');
  return out;
}
