/**
 * Runs SQLite's online backup and `PRAGMA quick_check` on a worker thread. better-sqlite3
 * is synchronous: on the main thread, backing up and checking a 50 MB database blocks the
 * archiver for about half a second; here the archiver keeps reading, chunking and hashing
 * other files meanwhile.
 *
 * One worker per process, started on first use; it keeps the process alive only while a
 * job is pending. The worker is inline JavaScript (run with `eval`), so it works the same
 * from the TypeScript sources and from the compiled package.
 */
import { Worker } from 'node:worker_threads';
import { createRequire } from 'node:module';

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.betterSqlite3);
function check(path, pragma) {
  const db = new Database(path, { fileMustExist: true });
  try {
    const rows = db.pragma(pragma);
    const answers = rows.map((r) => String(Object.values(r)[0]));
    return answers.length === 1 && answers[0] === 'ok' ? 'ok' : answers.slice(0, 5).join('; ');
  } finally { db.close(); }
}
const { existsSync } = require('node:fs');
function hasSidecars(path) { return existsSync(path + '-wal') || existsSync(path + '-shm'); }
// A read-only connection to a WAL database creates its -wal and -shm files but cannot
// remove them on close. When they did not exist before, a read-write connection reads one
// row and closes: SQLite removes them only if it can take the exclusive lock, that is, only
// when no other connection has the database open ("the last connection to a database
// closes ... deletes the WAL and its associated shared-memory file",
// https://www.sqlite.org/wal.html). Nothing is written: the WAL we created is empty unless a writer came and
// went meanwhile, and then the checkpoint is the one that writer's close would have run.
function releaseSidecars(path) {
  try {
    const db = new Database(path, { fileMustExist: true, timeout: 1000 });
    try { db.prepare('SELECT 1 FROM sqlite_master LIMIT 1').get(); } finally { db.close(); }
  } catch { /* best effort: the files stay as a live database's would */ }
}
async function backup(source, dest, busyMs, readonly) {
  const hadSidecars = hasSidecars(source);
  const started = Date.now();
  try {
    const db = new Database(source, { readonly, fileMustExist: true, timeout: Math.min(busyMs, 5000) });
    try {
      await db.backup(dest, { progress: () => {
        if (Date.now() - started > busyMs) throw new Error('the database stayed locked for ' + busyMs + ' ms');
        return 0x7fffffff;
      } });
    } finally { db.close(); }
  } finally {
    if (readonly && !hadSidecars && hasSidecars(source)) releaseSidecars(source);
  }
}
parentPort.on('message', async (m) => {
  try {
    let result = null;
    if (m.op === 'check') result = check(m.path, m.pragma);
    else if (m.op === 'backup') await backup(m.source, m.dest, m.busyMs, m.readonly);
    parentPort.postMessage({ id: m.id, result });
  } catch (err) {
    parentPort.postMessage({ id: m.id, error: { message: String(err && err.message || err), code: err && err.code } });
  }
});
`;

interface Pending {
  resolve: (v: string | null) => void;
  reject: (e: Error) => void;
}

let worker: Worker | undefined;
let nextId = 0;
const pending = new Map<number, Pending>();

function getWorker(): Worker {
  if (worker) return worker;
  const betterSqlite3 = createRequire(import.meta.url).resolve('better-sqlite3');
  const w = new Worker(WORKER_SOURCE, { eval: true, workerData: { betterSqlite3 } });
  w.on('message', (m: { id: number; result?: string | null; error?: { message: string; code?: string } }) => {
    const p = pending.get(m.id);
    if (!p) return;
    pending.delete(m.id);
    if (pending.size === 0) w.unref();
    if (m.error) p.reject(Object.assign(new Error(m.error.message), { code: m.error.code }));
    else p.resolve(m.result ?? null);
  });
  w.on('error', (err) => {
    for (const p of pending.values()) p.reject(err);
    pending.clear();
    worker = undefined;
  });
  w.on('exit', () => {
    worker = undefined;
  });
  w.unref();
  worker = w;
  return w;
}

function call(msg: Record<string, unknown>): Promise<string | null> {
  const w = getWorker();
  const id = nextId++;
  return new Promise((resolve, reject) => {
    pending.set(id, { resolve, reject });
    w.ref();
    w.postMessage({ ...msg, id });
  });
}

/**
 * `PRAGMA quick_check` (or `integrity_check`) of the database at `path`, on the worker:
 * 'ok' when sound, else SQLite's first answers. Rejects with better-sqlite3's error
 * (message and `code`) when the file cannot be opened.
 */
export async function checkSqliteOffThread(path: string, pragma: 'quick_check' | 'integrity_check' = 'quick_check'): Promise<string> {
  return (await call({ op: 'check', path, pragma })) ?? '';
}

/**
 * Copies database `source` into `dest` with the online backup API (all pages in one step,
 * so one read transaction: a consistent copy even while another process writes), on the
 * worker. `readonly` opens the source read-only. Gives up after `busyMs` of SQLITE_BUSY.
 */
export async function backupSqliteOffThread(source: string, dest: string, busyMs: number, readonly = true): Promise<void> {
  await call({ op: 'backup', source, dest, busyMs, readonly });
}
