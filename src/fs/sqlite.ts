/**
 * Consistent SQLite copies, for capture and restore.
 *
 * - Capture: a read-only connection on the live database copies every page within one read
 *   transaction (in WAL mode writers go on meanwhile), into memory with
 *   `sqlite3_serialize` ({@link imageSqlite}, checked later by the caller; the archiver's
 *   usual path images databases on its blob workers instead, archiver/database-saver.ts,
 *   with the reading code shared through sqlite-read-source.ts) or into a temp
 *   file with SQLite's online backup API (https://www.sqlite.org/backup.html, through
 *   better-sqlite3's `db.backup`; {@link copySqlite}), then `PRAGMA quick_check` on the
 *   copy. The copy never needs the live `-wal`/`-shm`/`-journal` files: SQLite folds them
 *   in. Quiet databases are read through an immutable connection and the `-wal`/`-shm`
 *   files a read-only connection creates are released afterwards (see sqlite-worker.ts),
 *   so a snapshot leaves the source directory as it was.
 * - Restore ({@link placeSqlite}): the restored bytes (a temp file) are checked with
 *   `quick_check` and copied through the backup API into the live database when one exists
 *   (so a process holding it open sees a proper SQLite transaction), and the result is
 *   checked again; when the path is absent, the file is renamed into place after a header
 *   check (its chunks were verified against their ids as they were restored, and the
 *   captured copy passed `quick_check`).
 *
 * SQLite files are recognised by their 16-byte header "SQLite format 3\0"
 * (https://www.sqlite.org/fileformat.html#the_database_header).
 */
import { closeSync, lstatSync, openSync, readSync } from 'node:fs';
import { lstat, open, rename, rm, unlink } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type Database from 'better-sqlite3';
import { ClawbackError } from '../errors.js';
import { pathExists as exists } from '../util/fs.js';
import { backupSqliteOffThread, checkSqliteImageOffThread, checkSqliteOffThread, serializeSqliteOffThread } from './sqlite-worker.js';

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
 * Synchronous, as {@link sqliteStamp}: three system calls on a file just listed. Through
 * the thread pool, each would wait for a busy event loop to come round (a snapshot's
 * databases then started ~140 ms later on the agent data set, docs/PERFORMANCE.md).
 * @throws the fs error of a file that cannot be opened or read.
 */
export function hasSqliteHeader(path: string, size: number): boolean {
  if (!mayBeSqlite(size)) return false;
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(16);
    return readSync(fd, buf, 0, 16, 0) === 16 && isSqliteHeader(buf);
  } finally {
    closeSync(fd);
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

/**
 * The 'CAPTURE' error for SQLite's error `err` while reading a database: "cannot open SQLite
 * database: CODE: message" when it could not be opened, else "`what`: CODE: message". A
 * ClawbackError is returned as it is.
 */
export function sqliteCaptureError(err: unknown, what: string): ClawbackError {
  if (err instanceof ClawbackError) return err;
  const opening = (err as { code?: string }).code === 'SQLITE_CANTOPEN' || /unable to open|file is not a database/i.test((err as Error).message);
  return new ClawbackError('CAPTURE', `${opening ? 'cannot open SQLite database' : what}: ${sqliteMessage(err)}`, { cause: err });
}

/** Options of {@link copySqlite} and {@link imageSqlite}. */
export interface BackupSqliteOptions {
  /** Give up when the source stays locked (SQLITE_BUSY) this long, ms. Default 60 000. */
  busyTimeoutMs?: number;
}

/**
 * Copies the live database `source` into the new file `dest` through the online backup
 * API from a read-only connection (one read transaction, on a worker). The copy is not
 * checked: the caller runs {@link checkSqliteCopy} on `dest` before relying on it. On
 * failure `dest` and its sidecars are removed.
 * @throws ClawbackError 'CAPTURE' naming the database and SQLite's reason.
 */
export async function copySqlite(source: string, dest: string, opts: BackupSqliteOptions = {}): Promise<void> {
  try {
    await backupSqliteOffThread(source, dest, opts.busyTimeoutMs ?? 60_000);
  } catch (err) {
    await removeDatabaseFiles(dest);
    throw sqliteCaptureError(err, 'SQLite online backup failed');
  }
}

/**
 * `PRAGMA quick_check` of the database copy at `path` (made by {@link copySqlite}), on a
 * worker; removes the `-wal`/`-shm` files the check may leave next to it.
 * @throws ClawbackError 'CAPTURE' naming SQLite's answer.
 */
export async function checkSqliteCopy(path: string): Promise<void> {
  try {
    await expectCheckOk(checkSqliteOffThread(path, 'quick_check'), 'the SQLite backup copy');
  } finally {
    // Opening the copy for the check may leave sidecars in WAL mode; the copy is complete without them.
    for (const p of sidecarsOf(path)) await rm(p, { force: true });
  }
}

/**
 * Awaits a `quick_check` `answer` of a capture's copy (named `copy` in messages).
 * @throws ClawbackError 'CAPTURE' when the copy cannot be opened or the answer is not 'ok'.
 */
async function expectCheckOk(answer: Promise<string>, copy: string): Promise<void> {
  let a: string;
  try {
    a = await answer;
  } catch (err) {
    throw new ClawbackError('CAPTURE', `${copy} cannot be opened: ${sqliteMessage(err)}`, { cause: err });
  }
  if (a !== 'ok') throw new ClawbackError('CAPTURE', `${copy} fails PRAGMA quick_check: ${a}`);
}

/**
 * Largest database (bytes, as `lstat` sees the file) worth copying into memory with
 * {@link imageSqlite}; larger ones go through a temp file ({@link copySqlite}).
 */
export const SQLITE_IMAGE_LIMIT = 64 * 1024 * 1024;

/** A consistent in-memory copy of a database ({@link imageSqlite}). */
export interface SqliteImage {
  /** The database file's bytes as of one read transaction. */
  bytes: Uint8Array;
  /**
   * Runs `PRAGMA quick_check` on the image, on a worker. Hands `bytes` over to the worker
   * (they are empty afterwards), so call it last.
   * @throws ClawbackError 'CAPTURE' naming SQLite's answer.
   */
  check(): Promise<void>;
}

/**
 * Copies the live database `source` into memory from a read-only connection:
 * `sqlite3_serialize` (https://www.sqlite.org/c3ref/serialize.html) reads every page
 * within one read transaction, so the copy is consistent while another process writes (in
 * WAL mode, rows still in the `-wal` file are included). The caller checks the copy with
 * {@link SqliteImage.check} before relying on it, as for the file copy of {@link copySqlite}. The whole database is held in memory: use it for databases up
 * to {@link SQLITE_IMAGE_LIMIT}.
 * @throws ClawbackError 'CAPTURE' naming the database and SQLite's reason.
 */
export async function imageSqlite(source: string, opts: BackupSqliteOptions = {}): Promise<SqliteImage> {
  let bytes: Uint8Array;
  try {
    bytes = await serializeSqliteOffThread(source, opts.busyTimeoutMs ?? 60_000);
  } catch (err) {
    throw sqliteCaptureError(err, 'SQLite serialize failed');
  }
  if (!isSqliteHeader(bytes)) throw new ClawbackError('CAPTURE', 'SQLite serialize returned no database image (the file may have been replaced while it was read)');
  return {
    bytes,
    check: () => expectCheckOk(checkSqliteImageOffThread(bytes), 'the SQLite copy'),
  };
}

async function startsWithHeader(p: string): Promise<boolean> {
  const st = await lstat(p);
  if (!st.isFile()) return false;
  return hasSqliteHeader(p, st.size);
}

/**
 * Why the database file at `path` cannot be a whole database, or undefined when its
 * header agrees with its size: the 16-byte magic, a page size of 512..65536 bytes (a power
 * of two; stored 1 means 65536), a size that is a whole number of pages, and, when the
 * in-header page count is valid (non-zero, change counter at offset 24 equal to the
 * version-valid-for number at offset 92), exactly that many pages
 * (https://www.sqlite.org/fileformat.html#the_database_header). Reads 100 bytes.
 */
export async function wholeDatabaseProblem(path: string): Promise<string | undefined> {
  const fh = await open(path, 'r');
  try {
    const size = (await fh.stat()).size;
    const h = Buffer.alloc(100);
    const { bytesRead } = await fh.read(h, 0, 100, 0);
    if (bytesRead < 100 || !isSqliteHeader(h)) return 'it does not start with the SQLite header';
    const stored = h.readUInt16BE(16);
    const pageSize = stored === 1 ? 65536 : stored;
    if (pageSize < 512 || (pageSize & (pageSize - 1)) !== 0) return `its header names an invalid page size ${stored}`;
    if (size % pageSize !== 0) return `its ${size} bytes are not a whole number of ${pageSize}-byte pages`;
    const pages = h.readUInt32BE(28);
    if (pages > 0 && h.readUInt32BE(24) === h.readUInt32BE(92) && pages * pageSize !== size) {
      return `its header says ${pages} pages of ${pageSize} bytes but it has ${size} bytes`;
    }
    return undefined;
  } finally {
    await fh.close();
  }
}

/**
 * Places the restored database `tempPath` at `finalPath`.
 * - If `finalPath` is an existing SQLite database (a live one, in an in-place restore):
 *   checks `tempPath` with `PRAGMA quick_check`, copies it into the live database through
 *   the backup API (SQLite takes the locks a running process expects), removes the temp
 *   file and checks `finalPath` again.
 * - Otherwise: checks that `tempPath`'s header agrees with its size
 *   ({@link wholeDatabaseProblem}), removes stale `-wal`/`-shm`/`-journal` files of
 *   `finalPath` (they would be applied to the new file) and renames `tempPath` into place.
 *   No `quick_check` here: the restorer verified every chunk against its id, so the bytes
 *   are exactly the captured copy, which passed `quick_check` when it was captured.
 * @throws ClawbackError 'INTEGRITY' when a check fails (the temp file is removed; the live
 *   database is untouched when the first check fails).
 */
export async function placeSqlite(tempPath: string, finalPath: string): Promise<void> {
  if (!((await exists(finalPath)) && (await startsWithHeader(finalPath)))) {
    const problem = await wholeDatabaseProblem(tempPath);
    if (problem !== undefined) {
      await removeDatabaseFiles(tempPath);
      throw new ClawbackError('INTEGRITY', `restored SQLite database ${finalPath} is not whole: ${problem}`);
    }
    for (const p of sidecarsOf(finalPath)) await unlink(p).catch(() => undefined);
    const st = await lstat(finalPath).catch(() => undefined);
    if (st?.isDirectory()) await rm(finalPath, { recursive: true, force: true });
    await rename(tempPath, finalPath);
    return;
  }
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
  try {
    await backupSqliteOffThread(tempPath, finalPath, 60_000);
  } catch (err) {
    throw new ClawbackError('INTEGRITY', `cannot copy the restored database into ${finalPath}: ${sqliteMessage(err)}`, { cause: err });
  } finally {
    await removeDatabaseFiles(tempPath);
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
export function sqliteStamp(path: string): { ctimeNs: bigint; inode: bigint } {
  const st = lstatSync(path, { bigint: true });
  let ctimeNs = st.ctimeNs;
  for (const side of [path + '-wal', path + '-journal']) {
    const s = lstatSync(side, { bigint: true, throwIfNoEntry: false });
    if (s && s.mtimeNs > ctimeNs) ctimeNs = s.mtimeNs;
  }
  return { ctimeNs, inode: st.ino };
}
