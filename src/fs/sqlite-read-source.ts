/**
 * How a worker thread reads a live SQLite database, as JavaScript source text shared by the
 * two kinds of worker that do it: the SQLite workers of sqlite-worker.ts (online backup,
 * `sqlite3_serialize`, checks) and the blob workers of repository/worker-source.ts, which
 * image a database and cut, hash and seal it where it lies. The text is CommonJS and
 * expects the including source to define `sqliteLib()`, returning better-sqlite3's
 * `Database` class (loaded on first use).
 *
 * It defines:
 * - `checkAnswer(db, pragma)`: 'ok', or SQLite's first five answers of `PRAGMA pragma`.
 * - `withQuietSource(source, use)`: runs `use(db)` on an immutable connection to `source`
 *   when it is quiet (see below) and stays so with the same stamp: `{ result, stamp }`;
 *   undefined otherwise (not quiet, written meanwhile, or immutable opens off).
 * - `withSource(source, readonly, busyMs, use)`: runs `use(db)` on a connection to `source`
 *   (a quiet database through an immutable connection, see below), then closes it and
 *   releases the `-wal`/`-shm` files a read-only connection created.
 * - `openHeld(source, busyMs)`: a read transaction held open on `source`, with the image of
 *   the database as of that transaction (`sqlite3_serialize`, or for a quiet database its
 *   file's bytes, see below): `{ db, image, … }`. `releaseImage(image)` once the image is no
 *   longer used (its buffer may be reused for the next).
 *   `endHeld(held, pragma)` runs `PRAGMA pragma` (or nothing, when undefined) in the same
 *   transaction, so it checks exactly the image's pages, then ends the transaction and
 *   closes the connection. It answers as `checkAnswer`, or 'changed' when the database was
 *   read through an immutable connection and was written meanwhile (the check then saw
 *   other pages than the image's; capture it again).
 *
 * A quiet database: no `-wal`, `-shm` or `-journal` file (so no connection has it open in
 * WAL mode and no rollback-mode writer is mid-transaction) and a file not modified for a
 * second (file times tick at the kernel's coarse clock, a few ms). It is read through an
 * immutable connection (https://www.sqlite.org/uri.html#uriimmutable: no locks, no `-wal`
 * or `-shm` files created, so the source directory is left exactly as it was), and the read
 * counts only when afterwards the database is still quiet and its inode, size, mtime and
 * ctime are unchanged: then no write reached the file while it was read (every write moves
 * its mtime past the old one, which is over a second old). Otherwise it is read again from
 * an ordinary read-only connection. Immutable opens need URI filenames, which
 * better-sqlite3 enables when SQLITE_USE_URI=1 is in the environment as it loads (the CLI
 * sets it); without them the open fails and the read-only connection is used.
 *
 * The image of a quiet database read through an immutable connection is its file's bytes,
 * read into one buffer that the worker reuses from image to image, when the file is exactly
 * as long as its header's database size (page size at offset 16 × page count at offset
 * 28, valid when the change counter at 24 equals the version-valid-for number at 92:
 * https://www.sqlite.org/fileformat2.html#database_header): that is what
 * `sqlite3_serialize` returns for it, since nothing else (no WAL, no journal) holds pages.
 * A 50 MB image of its own per database, as serialize makes, stayed resident until the
 * worker's next garbage collection; three databases in a row held ~150 MB. Otherwise, and
 * while a held image still uses the buffer, the image is serialized.
 *
 * A read-only connection to a WAL database creates its `-wal` and `-shm` files but cannot
 * remove them on close. When they did not exist before, a read-write connection reads one
 * row and closes: SQLite removes them only if it can take the exclusive lock, that is, only
 * when no other connection has the database open ("the last connection to a database
 * closes ... deletes the WAL and its associated shared-memory file",
 * https://www.sqlite.org/wal.html). Nothing is written: the WAL we created is empty unless
 * a writer came and went meanwhile, and then the checkpoint is the one its close would run.
 */
export const SQLITE_READ_SOURCE = `
const sqliteFs = require('node:fs');
const sqliteUrl = require('node:url');
function checkAnswer(db, pragma) {
  const rows = db.pragma(pragma);
  const answers = rows.map((r) => String(Object.values(r)[0]));
  return answers.length === 1 && answers[0] === 'ok' ? 'ok' : answers.slice(0, 5).join('; ');
}
function hasSidecars(path) { return sqliteFs.existsSync(path + '-wal') || sqliteFs.existsSync(path + '-shm'); }
function releaseSidecars(path) {
  try {
    const Database = sqliteLib();
    const db = new Database(path, { fileMustExist: true, timeout: 1000 });
    try { db.prepare('SELECT 1 FROM sqlite_master LIMIT 1').get(); } finally { db.close(); }
  } catch { /* best effort: the files stay as a live database's would */ }
}
const QUIET_NS = 1000000000n;
function quietStamp(path) {
  if (sqliteFs.existsSync(path + '-wal') || sqliteFs.existsSync(path + '-shm') || sqliteFs.existsSync(path + '-journal')) return undefined;
  const st = sqliteFs.statSync(path, { bigint: true });
  const now = BigInt(Date.now()) * 1000000n;
  if (st.mtimeNs > now - QUIET_NS || st.ctimeNs > now - QUIET_NS) return undefined;
  return st.ino + ':' + st.size + ':' + st.mtimeNs + ':' + st.ctimeNs;
}
function openImmutable(source) {
  const Database = sqliteLib();
  try {
    return new Database(sqliteUrl.pathToFileURL(source).href + '?immutable=1', { readonly: true });
  } catch {
    return undefined; // URI filenames are off in this process (or the file went away)
  }
}
async function withQuietSource(source, use) {
  const before = quietStamp(source);
  if (before === undefined) return undefined;
  const db = openImmutable(source);
  if (!db) return undefined;
  let result;
  try { result = await use(db); } finally { db.close(); }
  return quietStamp(source) === before ? { result, stamp: before } : undefined;
}
async function withSource(source, readonly, busyMs, use) {
  if (readonly) {
    const quiet = await withQuietSource(source, use);
    if (quiet) return quiet.result;
  }
  const hadSidecars = hasSidecars(source);
  try {
    const Database = sqliteLib();
    const db = new Database(source, { readonly, fileMustExist: true, timeout: Math.min(busyMs, 5000) });
    try { return await use(db); } finally { db.close(); }
  } finally {
    if (readonly && !hadSidecars && hasSidecars(source)) releaseSidecars(source);
  }
}
// Runs step() again while it fails with SQLITE_BUSY, until busyMs after started.
function retryBusy(step, started, busyMs) {
  for (;;) {
    try { return step(); } catch (err) {
      if (!(err && err.code === 'SQLITE_BUSY') || Date.now() - started > busyMs) throw err;
    }
  }
}
// sqlite3_serialize copies every page while its statement holds a read transaction (or
// within the connection's open one).
function serializeRetry(db, started, busyMs) {
  return retryBusy(() => db.serialize(), started, busyMs);
}
// Begins the read transaction that openHeld holds: the first read takes it (and names a
// file that is no database, which serialize alone would report as "out of memory").
function beginRead(db, started, busyMs) {
  db.exec('BEGIN');
  retryBusy(() => db.prepare('SELECT count(*) FROM sqlite_master').get(), started, busyMs);
}
// The buffer quiet databases' images are read into (see the comment above), and whether a
// held image uses it.
let imageBuf = null;
let imageBufBusy = false;
function readQuietImage(source) {
  if (imageBufBusy) return undefined;
  const fd = sqliteFs.openSync(source, 'r');
  try {
    const size = sqliteFs.fstatSync(fd).size;
    if (size < 512) return undefined;
    if (!imageBuf || imageBuf.length < size) imageBuf = Buffer.allocUnsafeSlow(size);
    let n = 0;
    while (n < size) {
      const got = sqliteFs.readSync(fd, imageBuf, n, size - n, n);
      if (got === 0) return undefined;
      n += got;
    }
    const img = imageBuf.subarray(0, size);
    const field = img.readUInt16BE(16);
    const pageSize = field === 1 ? 65536 : field;
    const pages = img.readUInt32BE(28);
    if (pages === 0 || img.readUInt32BE(24) !== img.readUInt32BE(92) || pages * pageSize !== size) return undefined;
    imageBufBusy = true;
    return img;
  } finally {
    sqliteFs.closeSync(fd);
  }
}
function releaseImage(image) {
  if (image && imageBuf && image.buffer === imageBuf.buffer) imageBufBusy = false;
}
function openHeld(source, busyMs) {
  const started = Date.now();
  const quiet = quietStamp(source);
  if (quiet !== undefined) {
    const db = openImmutable(source);
    if (db) {
      let image;
      try {
        beginRead(db, started, busyMs);
        image = readQuietImage(source) ?? serializeRetry(db, started, busyMs);
      } catch (err) {
        releaseImage(image);
        db.close();
        throw err;
      }
      if (quietStamp(source) === quiet) return { db, image, source, quiet };
      releaseImage(image);
      db.close();
    }
  }
  const hadSidecars = hasSidecars(source);
  let db;
  try {
    const Database = sqliteLib();
    db = new Database(source, { readonly: true, fileMustExist: true, timeout: Math.min(busyMs, 5000) });
    beginRead(db, started, busyMs);
    return { db, image: serializeRetry(db, started, busyMs), source, hadSidecars };
  } catch (err) {
    if (db) db.close();
    if (!hadSidecars && hasSidecars(source)) releaseSidecars(source);
    throw err;
  }
}
function endHeld(held, pragma) {
  releaseImage(held.image);
  held.image = null;
  let answer = null;
  try {
    if (pragma) answer = checkAnswer(held.db, pragma);
  } finally {
    try { held.db.exec('COMMIT'); } catch { /* the transaction ended with an error already */ }
    held.db.close();
    if (held.quiet === undefined && !held.hadSidecars && hasSidecars(held.source)) releaseSidecars(held.source);
  }
  if (pragma && held.quiet !== undefined) {
    let now;
    try { now = quietStamp(held.source); } catch { now = undefined; }
    if (now !== held.quiet) return 'changed';
  }
  return answer;
}
`;
