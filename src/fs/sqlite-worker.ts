/**
 * Runs SQLite's online backup, `sqlite3_serialize` and `PRAGMA quick_check` on worker
 * threads. better-sqlite3 is synchronous: on the main thread, copying and checking a 50 MB
 * database blocks the archiver for about a third of a second; here the archiver keeps
 * reading, chunking and hashing other files meanwhile, and two databases are copied or
 * checked at once.
 *
 * Up to {@link SQLITE_WORKERS} workers per process, started on first use; they keep the
 * process alive only while a job is pending. A job goes to the worker with the fewest
 * pending jobs. The worker is inline JavaScript (run with `eval`), so it works the same from
 * the TypeScript sources and from the compiled package.
 */
import { Worker } from 'node:worker_threads';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { SQLITE_READ_SOURCE } from './sqlite-read-source.js';

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
let Database;
function sqliteLib() { return (Database ??= require(workerData.betterSqlite3)); }
${SQLITE_READ_SOURCE}
function check(path, pragma) {
  const db = new (sqliteLib())(path, { fileMustExist: true });
  try { return checkAnswer(db, pragma); } finally { db.close(); }
}
// An image of a WAL database says so in its header (file format versions 2 at offsets 18
// and 19, https://www.sqlite.org/fileformat.html#file_format_version_numbers); SQLite cannot
// open an in-memory copy in WAL mode, so the checked copy says 1 (rollback journal).
function checkImage(image, pragma) {
  const buf = Buffer.from(image.buffer, image.byteOffset, image.byteLength); // handed over: patch in place
  if (buf.length >= 20 && buf[18] === 2 && buf[19] === 2) { buf[18] = 1; buf[19] = 1; }
  const db = new (sqliteLib())(buf);
  try { return checkAnswer(db, pragma); } finally { db.close(); }
}
// The check of a quiet database through an immutable connection, with the quiet stamp
// seen before and after it (null when the database is not quiet, or was written meanwhile).
async function checkQuiet(path, pragma) {
  const quiet = await withQuietSource(path, (db) => checkAnswer(db, pragma));
  return quiet ? { answer: quiet.result, stamp: quiet.stamp } : null;
}
function backup(source, dest, busyMs, readonly) {
  const started = Date.now();
  return withSource(source, readonly, busyMs, (db) => db.backup(dest, { progress: () => {
    if (Date.now() - started > busyMs) throw new Error('the database stayed locked for ' + busyMs + ' ms');
    return 0x7fffffff;
  } }));
}
// sqlite3_serialize copies every page while its statement holds one read transaction.
async function serialize(source, busyMs) {
  const started = Date.now();
  const image = await withSource(source, true, busyMs, (db) => serializeRetry(db, started, busyMs));
  const out = new Uint8Array(image.length);
  out.set(image);
  return out;
}
parentPort.on('message', async (m) => {
  try {
    let result = null;
    if (m.op === 'check') result = check(m.path, m.pragma);
    else if (m.op === 'checkImage') result = checkImage(m.image, m.pragma);
    else if (m.op === 'checkQuiet') result = await checkQuiet(m.path, m.pragma);
    else if (m.op === 'backup') await backup(m.source, m.dest, m.busyMs, m.readonly);
    else if (m.op === 'serialize') {
      const image = await serialize(m.source, m.busyMs);
      parentPort.postMessage({ id: m.id, result: image }, [image.buffer]);
      return;
    }
    parentPort.postMessage({ id: m.id, result });
  } catch (err) {
    parentPort.postMessage({ id: m.id, error: { message: String(err && err.message || err), code: err && err.code } });
  }
});
`;

/** Most SQLite workers per process (two, or one on a single-CPU machine). */
export const SQLITE_WORKERS = Math.min(2, availableParallelism());

type Result = string | Uint8Array | QuietCheck | null;

/** What {@link checkQuietSqliteOffThread} answers. */
export interface QuietCheck {
  /** 'ok', or SQLite's first five answers. */
  answer: string;
  /** The quiet stamp the database had before and after the check (see sqlite-read-source.ts). */
  stamp: string;
}

interface Pending {
  resolve: (v: Result) => void;
  reject: (e: Error) => void;
}

interface Slot {
  worker: Worker;
  pending: Map<number, Pending>;
}

const slots: Slot[] = [];
let nextId = 0;

function startWorker(): Slot {
  const betterSqlite3 = createRequire(import.meta.url).resolve('better-sqlite3');
  const w = new Worker(WORKER_SOURCE, { eval: true, workerData: { betterSqlite3 } });
  const slot: Slot = { worker: w, pending: new Map() };
  const retire = (): void => {
    const at = slots.indexOf(slot);
    if (at >= 0) slots.splice(at, 1);
  };
  w.on('message', (m: { id: number; result?: Result; error?: { message: string; code?: string } }) => {
    const p = slot.pending.get(m.id);
    if (!p) return;
    slot.pending.delete(m.id);
    if (slot.pending.size === 0) w.unref();
    if (m.error) p.reject(Object.assign(new Error(m.error.message), { code: m.error.code }));
    else p.resolve(m.result ?? null);
  });
  w.on('error', (err) => {
    retire();
    for (const p of slot.pending.values()) p.reject(err);
    slot.pending.clear();
  });
  w.on('exit', retire);
  w.unref();
  slots.push(slot);
  return slot;
}

/** The least busy worker; a new one while fewer than SQLITE_WORKERS run and all are busy. */
function pickSlot(): Slot {
  let best: Slot | undefined;
  for (const s of slots) if (!best || s.pending.size < best.pending.size) best = s;
  if (best && (best.pending.size === 0 || slots.length >= SQLITE_WORKERS)) return best;
  return startWorker();
}

function call(msg: Record<string, unknown>, transfer: ArrayBuffer[] = []): Promise<Result> {
  const slot = pickSlot();
  const id = nextId++;
  return new Promise((resolve, reject) => {
    slot.pending.set(id, { resolve, reject });
    slot.worker.ref();
    slot.worker.postMessage({ ...msg, id }, transfer);
  });
}

/**
 * `PRAGMA quick_check` (or `integrity_check`) of the database at `path`, on a worker:
 * 'ok' when sound, else SQLite's first answers. Rejects with better-sqlite3's error
 * (message and `code`) when the file cannot be opened.
 */
export async function checkSqliteOffThread(path: string, pragma: 'quick_check' | 'integrity_check' = 'quick_check'): Promise<string> {
  return String((await call({ op: 'check', path, pragma })) ?? '');
}

/**
 * `PRAGMA quick_check` (or `integrity_check`) of the quiet database at `path` (no `-wal`,
 * `-shm` or `-journal` file, not modified for a second; see sqlite-read-source.ts) through
 * an immutable connection, on a worker: SQLite's answer and the database's quiet stamp,
 * the same before and after the check. A caller that read the database under the same
 * stamp knows the check saw the bytes it read. Undefined when the database is not quiet
 * or was written during the check (or immutable opens are off in this process).
 * Rejects with better-sqlite3's error when the file cannot be opened or checked.
 */
export async function checkQuietSqliteOffThread(path: string, pragma: 'quick_check' | 'integrity_check' = 'quick_check'): Promise<QuietCheck | undefined> {
  const r = await call({ op: 'checkQuiet', path, pragma });
  return r && typeof r === 'object' && 'stamp' in r ? r : undefined;
}

/**
 * `PRAGMA quick_check` (or `integrity_check`) of a database image (the bytes of a database
 * file, as {@link serializeSqliteOffThread} returns them), opened in memory on a worker.
 * The image's buffer is transferred to the worker: `image` is empty afterwards.
 */
export async function checkSqliteImageOffThread(image: Uint8Array, pragma: 'quick_check' | 'integrity_check' = 'quick_check'): Promise<string> {
  const whole = image.byteOffset === 0 && image.byteLength === image.buffer.byteLength && image.buffer instanceof ArrayBuffer;
  const own = whole ? image : image.slice();
  return String((await call({ op: 'checkImage', image: own, pragma }, [own.buffer as ArrayBuffer])) ?? '');
}

/**
 * Copies database `source` into `dest` with the online backup API (all pages in one step,
 * so one read transaction: a consistent copy even while another process writes), on a
 * worker. `readonly` opens the source read-only. Gives up after `busyMs` of SQLITE_BUSY.
 */
export async function backupSqliteOffThread(source: string, dest: string, busyMs: number, readonly = true): Promise<void> {
  await call({ op: 'backup', source, dest, busyMs, readonly });
}

/**
 * The bytes of database `source` as of one read transaction (`sqlite3_serialize`, from a
 * read-only connection: consistent even while another process writes), on a worker. The
 * whole database is held in memory. Gives up after `busyMs` of SQLITE_BUSY.
 */
export async function serializeSqliteOffThread(source: string, busyMs: number): Promise<Uint8Array> {
  const r = await call({ op: 'serialize', source, busyMs });
  if (!(r instanceof Uint8Array)) throw new Error(`SQLite serialize of ${source} returned no image`);
  return r;
}
