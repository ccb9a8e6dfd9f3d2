/**
 * Directory listing for the archiver on a worker thread: `readdir`, the canonical sort of
 * the names and an `lstat` of every entry, so the main thread, which compares entries with
 * the parent snapshot and builds trees, does not spend its time in system calls. On the
 * kernel tree (78.6k files) listing is about 0.6 s of CPU; on its own thread it runs beside
 * the rest of the walk. The first {@link LIST_HERE_FIRST} entries are listed on the calling
 * thread, which waits for the blob workers to boot then anyway: a small tree never pays
 * for booting the lister's thread.
 *
 * The worker runs {@link LISTER_SOURCE} (a CommonJS string run with `eval: true`, so the
 * same code works from the TypeScript sources and the compiled package). One message per
 * batch of directories: `{ dirs: [{ seq, dir }, …], ahead }` → one message with, per
 * directory, `{ seq, names, stats, errors }` or `{ seq, error }`, where `stats` is a
 * transferred `BigInt64Array` buffer of {@link FIELDS} values per entry and `errors` lists
 * `[index, code, message]` of entries whose `lstat` failed; followed by the listings of
 * subdirectories listed ahead (`seq` -1, `dir` their path) up to about `ahead` entries
 * ({@link AHEAD_PER_REQUEST}). A listing taken ahead is as old as the moment it was taken,
 * which, as for any listing, may be a little before the archiver reads the directory's
 * files.
 */
import { Worker } from 'node:worker_threads';
import { constants, lstatSync, readdirSync } from 'node:fs';
import { sortByName } from '../tree/node.js';
import { ClawbackError } from '../errors.js';

/** The `lstat` fields the archiver and its hooks use (a subset of `fs.BigIntStats`). */
export interface EntryStats {
  dev: bigint;
  ino: bigint;
  /** File type and permission bits (`st_mode`). */
  mode: bigint;
  nlink: bigint;
  uid: bigint;
  gid: bigint;
  /** Bytes. */
  size: bigint;
  /** Times in ns since the Unix epoch. */
  atimeNs: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
  isFile(): boolean;
  isDirectory(): boolean;
  isSymbolicLink(): boolean;
  isFIFO(): boolean;
  isSocket(): boolean;
  isBlockDevice(): boolean;
  isCharacterDevice(): boolean;
}

/** One entry of a listed directory: its stats, or why `lstat` failed. */
export type ListedEntry =
  | { name: string; stats: EntryStats; error?: undefined }
  | { name: string; stats?: undefined; error: NodeJS.ErrnoException };

/** Values per entry in the stats buffer, in this order. */
const FIELDS = 10;

/** Worker source; see the module comment. */
export const LISTER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { readdirSync, lstatSync } = require('node:fs');
const FIELDS = ${FIELDS};
// Directories already sent ahead of a request (never listed ahead twice).
const sent = new Set();
// Lists dir: { names, stats, errors } or { error }, and its subdirectories' paths in order.
function list(dir, subdirs) {
  let names;
  try {
    names = readdirSync(dir);
  } catch (err) {
    return { error: { code: err && err.code, message: String(err && err.message || err) } };
  }
  // The canonical node order: by the UTF-8 bytes of the name (tree/node.ts sortByName).
  const keyed = names.map((name) => ({ name, key: Buffer.from(name, 'utf8') }));
  keyed.sort((a, b) => Buffer.compare(a.key, b.key));
  names = keyed.map((k) => k.name);
  const stats = new BigInt64Array(names.length * FIELDS);
  const errors = [];
  const prefix = dir.endsWith('/') ? dir : dir + '/';
  for (let i = 0; i < names.length; i++) {
    try {
      const st = lstatSync(prefix + names[i], { bigint: true });
      const o = i * FIELDS;
      stats[o] = BigInt.asIntN(64, st.dev);
      stats[o + 1] = BigInt.asIntN(64, st.ino);
      stats[o + 2] = st.mode;
      stats[o + 3] = st.nlink;
      stats[o + 4] = st.uid;
      stats[o + 5] = st.gid;
      stats[o + 6] = st.size;
      stats[o + 7] = st.atimeNs;
      stats[o + 8] = st.mtimeNs;
      stats[o + 9] = st.ctimeNs;
      if (subdirs && st.isDirectory()) subdirs.push(prefix + names[i]);
    } catch (err) {
      errors.push([i, err && err.code, String(err && err.message || err)]);
    }
  }
  return { names, stats: stats.buffer, errors };
}
// A request: { dirs: [{ seq, dir }, …], ahead }. Answers each, then lists the requested
// directories' subtrees depth first, in canonical order, until about ahead entries more.
parentPort.on('message', (m) => {
  const answers = [];
  const stack = [];
  // Lists dir into answers and stacks its subdirectories so the first is popped first.
  const take = (dir, seq) => {
    const subdirs = [];
    const a = list(dir, subdirs);
    a.seq = seq;
    if (seq < 0) a.dir = dir;
    answers.push(a);
    for (let k = subdirs.length - 1; k >= 0; k--) stack.push(subdirs[k]);
    return a;
  };
  for (const r of m.dirs) take(r.dir, r.seq);
  let budget = m.ahead;
  while (budget > 0 && stack.length > 0) {
    const dir = stack.pop();
    if (sent.has(dir)) continue;
    sent.add(dir);
    const a = take(dir, -1);
    budget -= 1 + (a.names ? a.names.length : 0);
  }
  parentPort.postMessage(answers, answers.flatMap((a) => (a.stats ? [a.stats] : [])));
});
`;

const S_IFMT = Number(constants.S_IFMT);

/**
 * Young generation of the lister's V8 heap, MiB. Listing allocates fast and keeps little
 * (each `lstat` makes a BigIntStats of a dozen BigInts, each name a Buffer for the sort), so
 * V8 grew the young generation to its default cap and the lister's heap to ~44 MB on a tree
 * of 1,000,000 files; capped, it stays at ~17 MB, with more (cheap) scavenges and no time
 * lost on the kernel tree's no-change snapshot (docs/PERFORMANCE.md, session 9).
 */
const LISTER_YOUNG_MB = 6;

/**
 * Entries the worker lists ahead per request: it lists the requested directories'
 * subtrees, depth first in canonical order (the order the archiver walks them), until about
 * this many entries, and sends them with the answer, so most directories need no message
 * of their own (a message costs more than listing a small directory).
 */
const AHEAD_PER_REQUEST = 512;
/**
 * Most entries listed ahead and not yet asked for (the worker lists nothing ahead beyond
 * this): bounds the memory spent on directories the archiver does not enter (left out by
 * its hooks).
 */
const AHEAD_MAX = 8192;

/**
 * {@link EntryStats} read from the worker's buffer: the fields every entry needs are read
 * at once, the others (`dev`, `nlink`, `uid`, `gid`, `atimeNs`) when asked for (each read
 * of a BigInt64Array allocates a BigInt).
 */
class ListedStats implements EntryStats {
  readonly ino: bigint;
  readonly mode: bigint;
  readonly size: bigint;
  readonly mtimeNs: bigint;
  readonly ctimeNs: bigint;
  private readonly type: number;
  private readonly a: BigInt64Array;
  private readonly o: number;

  constructor(a: BigInt64Array, o: number) {
    this.a = a;
    this.o = o;
    this.ino = BigInt.asUintN(64, a[o + 1]!);
    this.mode = a[o + 2]!;
    this.size = a[o + 6]!;
    this.mtimeNs = a[o + 8]!;
    this.ctimeNs = a[o + 9]!;
    this.type = Number(this.mode) & S_IFMT;
  }

  get dev(): bigint {
    return BigInt.asUintN(64, this.a[this.o]!);
  }
  get nlink(): bigint {
    return this.a[this.o + 3]!;
  }
  get uid(): bigint {
    return this.a[this.o + 4]!;
  }
  get gid(): bigint {
    return this.a[this.o + 5]!;
  }
  get atimeNs(): bigint {
    return this.a[this.o + 7]!;
  }

  isFile(): boolean {
    return this.type === constants.S_IFREG;
  }
  isDirectory(): boolean {
    return this.type === constants.S_IFDIR;
  }
  isSymbolicLink(): boolean {
    return this.type === constants.S_IFLNK;
  }
  isFIFO(): boolean {
    return this.type === constants.S_IFIFO;
  }
  isSocket(): boolean {
    return this.type === constants.S_IFSOCK;
  }
  isBlockDevice(): boolean {
    return this.type === constants.S_IFBLK;
  }
  isCharacterDevice(): boolean {
    return this.type === constants.S_IFCHR;
  }
}

interface Answer {
  /** The request's, or -1 for a directory listed ahead (then `dir` names it). */
  seq: number;
  dir?: string;
  names?: string[];
  stats?: ArrayBuffer;
  errors?: [number, string | undefined, string][];
  error?: { code: string | undefined; message: string };
}

function errnoError(code: string | undefined, message: string): NodeJS.ErrnoException {
  return Object.assign(new Error(message), { code });
}

/**
 * Lists directories on one worker thread; see the module comment. Call {@link close} when
 * done (the worker keeps the process alive until then).
 */
export class Lister {
  private readonly threaded: boolean;
  private worker: Worker | undefined;
  private readonly waiting = new Map<number, { resolve: (m: Answer) => void; reject: (e: Error) => void }>();
  private seq = 0;
  private failed: Error | undefined;
  /** Requests of this event-loop turn, sent as one message (a post costs more than a listing). */
  private queue: { seq: number; dir: string }[] = [];
  /** Directories the worker listed ahead of a request, by path. */
  private readonly ahead = new Map<string, Answer>();
  /** Entries in {@link ahead}. */
  private aheadEntries = 0;
  /** Messages posted to the worker (for tests). */
  posts = 0;
  /** Entries listed on the calling thread before the worker started. */
  private listedHere = 0;
  private readonly hereFirst: number;

  /**
   * @param threaded false lists on the calling thread (same results, no worker).
   * @param hereFirst entries a threaded lister lists on the calling thread before it starts
   *   its worker ({@link LIST_HERE_FIRST}).
   */
  constructor(threaded = true, hereFirst = LIST_HERE_FIRST) {
    this.threaded = threaded;
    this.hereFirst = hereFirst;
  }

  private start(): Worker {
    const w = new Worker(LISTER_SOURCE, { eval: true, resourceLimits: { maxYoungGenerationSizeMb: LISTER_YOUNG_MB } });
    w.on('message', (answers: Answer[]) => {
      for (const m of answers) {
        if (m.seq < 0) {
          this.ahead.set(m.dir!, m);
          this.aheadEntries += m.names?.length ?? 0;
          continue;
        }
        const p = this.waiting.get(m.seq);
        this.waiting.delete(m.seq);
        p?.resolve(m);
      }
    });
    w.on('error', (err) => {
      this.failed = new ClawbackError('INTERNAL', `directory lister thread failed: ${err.message}`, { cause: err });
      for (const p of this.waiting.values()) p.reject(this.failed);
      this.waiting.clear();
    });
    return w;
  }

  /**
   * Lists directory `dir` (an absolute path): its entries in canonical order (by the UTF-8
   * bytes of their names), each with its `lstat` or the error of that `lstat`.
   * @throws the fs error of `readdir` (ENOENT, EACCES, ENOTDIR, …) with its `code`;
   *   ClawbackError 'INTERNAL' when the worker thread failed.
   */
  async list(dir: string): Promise<ListedEntry[]> {
    if (this.failed) throw this.failed;
    if (!this.threaded || (this.worker === undefined && this.listedHere < this.hereFirst)) {
      const out = listHere(dir);
      this.listedHere += out.length;
      return out;
    }
    this.worker ??= this.start();
    let m = this.ahead.get(dir);
    if (m) {
      this.ahead.delete(dir);
      this.aheadEntries -= m.names?.length ?? 0;
    } else {
      const seq = this.seq++;
      m = await new Promise<Answer>((resolve, reject) => {
        this.waiting.set(seq, { resolve, reject });
        if (this.queue.length === 0) setImmediate(() => this.flush());
        this.queue.push({ seq, dir });
      });
    }
    if (m.error) throw errnoError(m.error.code, m.error.message);
    const names = m.names!;
    const stats = new BigInt64Array(m.stats!);
    const failed = new Map<number, NodeJS.ErrnoException>();
    for (const [i, code, message] of m.errors!) failed.set(i, errnoError(code, message));
    const out = new Array<ListedEntry>(names.length);
    for (let i = 0; i < names.length; i++) {
      const error = failed.get(i);
      out[i] = error ? { name: names[i]!, error } : { name: names[i]!, stats: new ListedStats(stats, i * FIELDS) };
    }
    return out;
  }

  private flush(): void {
    const batch = this.queue;
    this.queue = [];
    if (batch.length === 0 || !this.worker) return;
    this.posts++;
    this.worker.postMessage({ dirs: batch, ahead: Math.max(0, Math.min(AHEAD_PER_REQUEST, AHEAD_MAX - this.aheadEntries)) });
  }

  /** Stops the worker thread (idempotent). */
  async close(): Promise<void> {
    const w = this.worker;
    this.worker = undefined;
    this.ahead.clear();
    this.aheadEntries = 0;
    if (w) await w.terminate();
  }
}

/**
 * Entries a threaded {@link Lister} lists on the calling thread before it starts its worker:
 * a small tree is listed before a worker would have booted (~50 ms of CPU here), and a
 * large one gets the worker once its first directories are done.
 */
export const LIST_HERE_FIRST = 2000;

/** {@link Lister.list} on the calling thread. */
function listHere(dir: string): ListedEntry[] {
  const prefix = dir.endsWith('/') ? dir : `${dir}/`;
  return sortByName(readdirSync(dir)).map((name): ListedEntry => {
    try {
      return { name, stats: lstatSync(prefix + name, { bigint: true }) };
    } catch (err) {
      return { name, error: err as NodeJS.ErrnoException };
    }
  });
}
