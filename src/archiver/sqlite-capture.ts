/**
 * SQLite capture for plain `snapshot create PATH…` (agent profiles have their own hooks, in
 * src/agent/hooks.ts, and share {@link captureDatabase}): a file with the SQLite header is
 * copied from a read-only connection within one read transaction (consistent even while
 * another process writes), checked with `PRAGMA quick_check`, stored as a `sqlite` node and
 * chunked with the repository's page-aligned SQLite chunker; its `-wal`, `-shm` and
 * `-journal` files are not stored (the copy is complete without them).
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkSqliteCopy, copySqlite, hasSqliteHeader, imageSqlite, isSqliteHeader, mayBeSqlite, removeDatabaseFiles, sidecarBase, SQLITE_IMAGE_LIMIT, sqliteStamp } from '../fs/sqlite.js';
import type { ArchiveHooks, CaptureResult, EntryInfo } from './archiver.js';
import { Budget } from '../util/budget.js';

/** True when the file at `path` starts with the SQLite header (synchronous, 16 bytes). */
function isSqliteFileSync(path: string): boolean {
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    const head = Buffer.alloc(16);
    return readSync(fd, head, 0, 16, 0) === 16 && isSqliteHeader(head);
  } catch {
    return false;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * Bytes of in-memory database images held at once, process-wide ({@link SQLITE_IMAGE_LIMIT}):
 * a capture waits until its image fits. (Going through a temp file instead was no faster
 * here, and the backup API rewrites header bytes that the image keeps, so the first chunk
 * would differ from one capture to the next.)
 */
const images = new Budget(SQLITE_IMAGE_LIMIT);

/**
 * Waits until an image of `size` bytes fits the images held by other captures
 * ({@link SQLITE_IMAGE_LIMIT} in all) and takes its room.
 * @returns the function that gives the room back (idempotent).
 */
export async function takeImageRoom(size: number): Promise<() => void> {
  await images.take(size);
  let held = true;
  return () => {
    if (held) images.give(size);
    held = false;
  };
}

/**
 * Captures the database at `path` (`size` bytes as `lstat` saw it): up to `imageLimit`
 * (default {@link SQLITE_IMAGE_LIMIT}) as `{ type: 'sqlite', database, size }`, which the
 * archiver images itself (on a blob worker, see {@link ArchiveHooks}); a larger one through
 * the backup API into a temp file under `tempDir()`, checked by the result's `verify`
 * (which the archiver runs once the chunks are saved, and skips when they are exactly the
 * parent snapshot's); `cleanup` removes the temp file.
 * @throws ClawbackError 'CAPTURE' naming SQLite's reason.
 */
export async function captureDatabase(path: string, size: number, tempDir: () => Promise<string>, imageLimit = SQLITE_IMAGE_LIMIT): Promise<CaptureResult> {
  if (size <= imageLimit) return { type: 'sqlite', database: path, size };
  const tmp = join(await tempDir(), `${randomBytes(8).toString('hex')}.db`);
  await copySqlite(path, tmp);
  return { type: 'sqlite', path: tmp, cleanup: () => removeDatabaseFiles(tmp), verify: () => checkSqliteCopy(tmp) };
}

/**
 * Copies the database at `path` (`size` bytes as `lstat` saw it) into memory on a SQLite
 * worker, once it fits the images held by other captures (for an archiver without blob
 * workers). The copy's `quick_check` is the result's `verify`; `cleanup` gives the memory
 * back.
 * @throws ClawbackError 'CAPTURE' naming SQLite's reason.
 */
export async function captureImage(path: string, size: number): Promise<CaptureResult> {
  const release = await takeImageRoom(size);
  try {
    const image = await imageSqlite(path);
    return { type: 'sqlite', bytes: image.bytes, verify: () => image.check(), cleanup: async () => release() };
  } catch (err) {
    release();
    throw err;
  }
}

/** Hooks for plain snapshots; call `dispose()` when the snapshot is done. */
export interface SqliteCapture {
  hooks: ArchiveHooks;
  /** Paths of the databases captured through the backup API. */
  captured: string[];
  dispose(): Promise<void>;
}

/**
 * Creates the hooks (temp copies go under `tempDir`, default the OS temp dir; databases
 * up to `imageLimit` bytes are copied into memory instead).
 */
export function sqliteCapture(tempDir = tmpdir(), imageLimit = SQLITE_IMAGE_LIMIT): SqliteCapture {
  let temp: Promise<string> | undefined;
  const captured: string[] = [];
  const hooks: ArchiveHooks = {
    include(e: EntryInfo): boolean {
      // Leave out a database's sidecars: its backup copy is complete without them.
      if (!e.stats.isFile()) return true;
      const base = sidecarBase(e.absPath);
      return base === undefined || !isSqliteFileSync(base);
    },
    mayCapture(e: EntryInfo): boolean {
      return mayBeSqlite(Number(e.stats.size));
    },
    async captureStamp(e: EntryInfo) {
      return hasSqliteHeader(e.absPath, Number(e.stats.size)) ? sqliteStamp(e.absPath) : undefined;
    },
    async capture(e: EntryInfo): Promise<CaptureResult | undefined> {
      if (!hasSqliteHeader(e.absPath, Number(e.stats.size))) return undefined;
      const result = await captureDatabase(e.absPath, Number(e.stats.size), () => (temp ??= mkdtemp(join(tempDir, 'clawback-sqlite-'))), imageLimit);
      captured.push(e.absPath);
      return result;
    },
  };
  return {
    hooks,
    captured,
    async dispose() {
      if (temp) await rm(await temp, { recursive: true, force: true });
    },
  };
}
