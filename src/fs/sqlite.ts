/**
 * Consistent SQLite copies, for capture and restore.
 *
 * - Capture ({@link backupSqlite}): a read-only connection (`readonly: true,
 *   fileMustExist: true`) on the live database, SQLite's online backup API
 *   (https://www.sqlite.org/backup.html, through better-sqlite3's `db.backup`) into a temp
 *   file, all pages in one step so the copy is one read transaction (in WAL mode writers
 *   go on meanwhile), then `PRAGMA quick_check` on the copy. The copy never needs the
 *   live `-wal`/`-shm`/`-journal` files: they are folded in by SQLite. A read-only
 *   connection creates a WAL database's `-wal`/`-shm` but cannot remove them; when they
 *   were absent before, they are released afterwards through SQLite itself (see
 *   sqlite-worker.ts), so a snapshot leaves the source directory as it was.
 * - Restore ({@link placeSqlite}): the restored bytes (a temp file) are checked, then
 *   copied through the backup API into the live database when one exists (so a process
 *   holding it open sees a proper SQLite transaction), or renamed into place when the path
 *   is absent; the result is checked again.
 *
 * SQLite files are recognised by their 16-byte header "SQLite format 3\0"
 * (https://www.sqlite.org/fileformat.html#the_database_header).
 */
import { lstat, open, rename, rm, unlink } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type Database from 'better-sqlite3';
import { ClawbackError } from '../errors.js';
import { pathExists as exists } from '../util/fs.js';
import { backupSqliteOffThread, checkSqliteOffThread } from './sqlite-worker.js';

/** The first 16 bytes of every SQLite 3 database file. */
export const SQLITE_HEADER = Buffer.from('SQLite format 3\0', 'latin1');

/** Suffixes of the files SQLite keeps next to a database; never stored. */
export const SQLITE_SIDECAR_SUFFIXES = ['-wal', '-shm', '-journal'] as const;

/** Smallest page size, bytes: every non-empty database file is a multiple of it. */
export const SQLITE_MIN_PAGE = 512;

/** True when `head` starts with {@link SQLITE_HEADER}. */
export function isSqliteHeader(head: Uint8Array): boolean {
  return head.length >= 16 && Buffer.from(head.buffer, head.byteOffset, 16).equals(SQLITE_HEADER);
}

/** False when a file of `size` bytes cannot be a database (below 512 or not a multiple of 512). */
export function mayBeSqlite(size: number): boolean {
  return size >= SQLITE_MIN_PAGE && size % SQLITE_MIN_PAGE === 0;
}

/**
 * True when the file at `path` starts with the SQLite header. Files whose size (bytes)
 * is below 512 or not a multiple of 512 cannot be databases and are not opened.
 */
export async function hasSqliteHeader(path: string, size: number): Promise<boolean> {
  if (!mayBeSqlite(size)) return false;
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(16);
    const { bytesRead } = await fh.read(buf, 0, 16, 0);
    return bytesRead === 16 && isSqliteHeader(buf);
  } finally {
    await fh.close();
  }
}

/** The sidecar paths (`-wal`, `-shm`, `-journal`) of database `path`. */
export function sidecarsOf(path: string): string[] {
  return SQLITE_SIDECAR_SUFFIXES.map((s) => path + s);
}

/**
 * If `name` is a sidecar name (`X-wal`, `X-shm`, `X-journal`), returns `X`, else undefined.
 */
export function sidecarBase(name: string): string | undefined {
  for (const s of SQLITE_SIDECAR_SUFFIXES) {
    if (name.length > s.length && name.endsWith(s)) return name.slice(0, -s.length);
  }
  return undefined;
}

/** Removes a database file and its sidecars, ignoring missing ones. */
export async function removeDatabaseFiles(path: string): Promise<void> {
  for (const p of [path, ...sidecarsOf(path)]) await rm(p, { force: true });
}

function sqliteMessage(err: unknown): string {
  const e = err as { code?: string; message?: string };
  return e?.code ? `${e.code}: ${e.message ?? ''}` : (e?.message ?? String(err));
}

/**
 * Runs `PRAGMA quick_check` (or `integrity_check`) on the database at `path` and returns
 * SQLite's answer ('ok' when sound). The connection is read-write so that SQLite removes
 * the `-wal`/`-shm` files it creates on close; nothing is written.
 * @throws whatever better-sqlite3 throws when the file cannot be opened.
 */
export function checkSqlite(path: string, pragma: 'quick_check' | 'integrity_check' = 'quick_check'): string {
  // Loaded here, not at import: the archiver and restorer import this module, and only
  // this function uses SQLite on this thread (the worker loads its own copy).
  const DatabaseCtor = createRequire(import.meta.url)('better-sqlite3') as typeof Database;
  const db = new DatabaseCtor(path, { fileMustExist: true });
  try {
    const rows = db.pragma(pragma) as Record<string, unknown>[];
    const answers = rows.map((r) => String(Object.values(r)[0]));
    return answers.length === 1 && answers[0] === 'ok' ? 'ok' : answers.slice(0, 5).join('; ');
  } finally {
    db.close();
  }
}

/** Options of {@link backupSqlite}. */
export interface BackupSqliteOptions {
  /** Give up when the source stays locked (SQLITE_BUSY) this long, ms. Default 60 000. */
  busyTimeoutMs?: number;
}

/**
 * Copies the live database `source` into the new file `dest` through the online backup
 * API from a read-only connection, then checks the copy with `PRAGMA quick_check`. On
 * failure `dest` and its sidecars are removed.
 * @throws ClawbackError 'CAPTURE' naming the database and SQLite's reason.
 */
export async function backupSqlite(source: string, dest: string, opts: BackupSqliteOptions = {}): Promise<void> {
  const busyMs = opts.busyTimeoutMs ?? 60_000;
  try {
    await backupSqliteOffThread(source, dest, busyMs);
  } catch (err) {
    await removeDatabaseFiles(dest);
    const opening = (err as { code?: string }).code === 'SQLITE_CANTOPEN' || /unable to open|file is not a database/i.test((err as Error).message);
    throw new ClawbackError('CAPTURE', `${opening ? 'cannot open SQLite database' : 'SQLite online backup failed'}: ${sqliteMessage(err)}`, { cause: err });
  }
  let answer: string;
  try {
    answer = await checkSqliteOffThread(dest, 'quick_check');
  } catch (err) {
    await removeDatabaseFiles(dest);
    throw new ClawbackError('CAPTURE', `the SQLite backup copy cannot be opened: ${sqliteMessage(err)}`, { cause: err });
  }
  if (answer !== 'ok') {
    await removeDatabaseFiles(dest);
    throw new ClawbackError('CAPTURE', `the SQLite backup copy fails PRAGMA quick_check: ${answer}`);
  }
  // Opening the copy for the check may leave sidecars in WAL mode; the copy is complete without them.
  for (const p of sidecarsOf(dest)) await rm(p, { force: true });
}


async function startsWithHeader(p: string): Promise<boolean> {
  const st = await lstat(p);
  if (!st.isFile()) return false;
  return hasSqliteHeader(p, st.size);
}

/**
 * Places the restored database `tempPath` at `finalPath`:
 * 1. checks `tempPath` with `PRAGMA quick_check`;
 * 2. if `finalPath` is an existing SQLite database, copies `tempPath` into it through the
 *    backup API (SQLite takes the locks a running process expects) and removes the temp
 *    file; otherwise removes stale `-wal`/`-shm`/`-journal` files of `finalPath` (they
 *    would be applied to the new file) and renames `tempPath` into place;
 * 3. checks `finalPath` again.
 * @throws ClawbackError 'INTEGRITY' when a check fails (the temp file is removed; the live
 *   database is untouched when the first check fails).
 */
export async function placeSqlite(tempPath: string, finalPath: string): Promise<void> {
  let answer: string;
  try {
    answer = await checkSqliteOffThread(tempPath, 'quick_check');
  } catch (err) {
    await removeDatabaseFiles(tempPath);
    throw new ClawbackError('INTEGRITY', `restored SQLite database ${finalPath} cannot be opened: ${sqliteMessage(err)}`, { cause: err });
  }
  if (answer !== 'ok') {
    await removeDatabaseFiles(tempPath);
    throw new ClawbackError('INTEGRITY', `restored SQLite database ${finalPath} fails PRAGMA quick_check: ${answer}`);
  }
  for (const p of sidecarsOf(tempPath)) await rm(p, { force: true });
  if ((await exists(finalPath)) && (await startsWithHeader(finalPath))) {
    try {
      await backupSqliteOffThread(tempPath, finalPath, 60_000);
    } catch (err) {
      throw new ClawbackError('INTEGRITY', `cannot copy the restored database into ${finalPath}: ${sqliteMessage(err)}`, { cause: err });
    } finally {
      await removeDatabaseFiles(tempPath);
    }
  } else {
    for (const p of sidecarsOf(finalPath)) await unlink(p).catch(() => undefined);
    const st = await lstat(finalPath).catch(() => undefined);
    if (st?.isDirectory()) await rm(finalPath, { recursive: true, force: true });
    // The checked file itself is renamed into place: no second check needed.
    await rename(tempPath, finalPath);
    return;
  }
  let after: string;
  try {
    after = await checkSqliteOffThread(finalPath, 'quick_check');
  } catch (err) {
    throw new ClawbackError('INTEGRITY', `restored SQLite database ${finalPath} cannot be opened after placing it: ${sqliteMessage(err)}`, { cause: err });
  }
  if (after !== 'ok') throw new ClawbackError('INTEGRITY', `restored SQLite database ${finalPath} fails PRAGMA quick_check after placing it: ${after}`);
}

/**
 * The change stamp of a database: its inode and the newest of the file's ctime and the
 * mtimes (ns) of its `-wal` and `-journal` files. Any write to the database changes one of
 * them. (Sidecar ctimes are no use: SQLite running as root fchowns them on every open, so
 * merely reading the database changes them.)
 */
export async function sqliteStamp(path: string): Promise<{ ctimeNs: bigint; inode: bigint }> {
  const st = await lstat(path, { bigint: true });
  let ctimeNs = st.ctimeNs;
  for (const side of [path + '-wal', path + '-journal']) {
    const s = await lstat(side, { bigint: true }).catch(() => undefined);
    if (s && s.mtimeNs > ctimeNs) ctimeNs = s.mtimeNs;
  }
  return { ctimeNs, inode: st.ino };
}
