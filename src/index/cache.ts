/**
 * The local index cache: an LMDB environment (lmdb-js) mapping blob id → location, built
 * from the repository's index files. It is never authoritative: deleting its directory
 * costs a rebuild, never data. Lookups are memory-mapped B-tree reads, so the process heap
 * does not grow with the number of blobs in the repository.
 *
 * Databases:
 * - `blobs`: key = blob id (32 bytes) → pack number (u32 LE) || offset (u32 LE) || length
 *   (u32 LE) || raw_length (u32 LE) || type (u8) || check (8 bytes: CRC-64/XZ of key || the
 *   17 bytes before, little-endian; src/util/crc64.ts). 25 bytes instead of the 32-byte pack
 *   id: a cache of 1M small-file blobs is about a third smaller in its B-tree pages, which a
 *   snapshot touches at random. A value whose check fails (bit rot in the cache file) makes
 *   the cache report itself damaged; the repository then rebuilds it from the index files,
 *   so a damaged cache can never make a snapshot reference a blob that is not stored. The
 *   check guards against accidental damage only: the cache is local, holds no secret, and
 *   whoever can write it can write anything (a keyless BLAKE3 check, format 3, guarded no
 *   better and cost ~2 µs a lookup).
 * lmdb-js crashes the process (SIGSEGV) on a file with a damaged meta page, so
 * {@link IndexCache.open} checks both meta pages and the lock file's magic first. A bit
 * flipped in a B-tree page can still crash it (SIGBUS, seen in test/stress/bitrot.test.ts):
 * every open records its process in `<path>.users/`, and a record left by a process that
 * is gone makes the next open start from an empty cache. So such a crash costs one failed
 * command, and the next one rebuilds the cache. (LMDB errors that are thrown instead, such
 * as "page not found", and blobs missing from a damaged cache are handled by the
 * repository, which rebuilds the cache.)
 * - `packs`: key = pack id (32 bytes) → size (f64 LE, bytes) || pack number (u32 LE)
 * - `packNumbers`: key = pack number (u32 BE) → pack id (32 bytes) || check (8 bytes:
 *   CRC-64/XZ of key || pack id, little-endian); numbers are given out from 0 in merge order
 * - `indexes`: key = index file id (32 bytes) → empty (the index files merged so far)
 * - the root database: `format` → {@link CACHE_FORMAT}; a cache of another format is deleted
 *   and rebuilt by {@link IndexCache.open}
 */
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { open, type Database, type RootDatabase } from 'lmdb';
import { ClawbackError } from '../errors.js';
import { fromHex, toHex, type BlobId, type FileId } from '../ids.js';
import type { BlobType } from '../pack/format.js';
import { INDEX_RECORD_BYTES, packRecords, RECORD_ID_OFFSET, type IndexFile, type ScannedIndex } from './format.js';
import { CacheDamagedError } from './cache-error.js';
import { CRC64_BYTES, crc64Matches, writeCrc64 } from '../util/crc64.js';

/** Where a blob is stored. */
export interface BlobLocation {
  id: BlobId;
  type: BlobType;
  packId: FileId;
  /** Offset of the stored blob in the pack, bytes. */
  offset: number;
  /** Stored length, bytes. */
  length: number;
  /** Plaintext length, bytes. */
  rawLength: number;
}

/** The layout of the cache; 4: checks are CRC-64/XZ (3: BLAKE3). */
export const CACHE_FORMAT = 4;
const EMPTY = Buffer.alloc(0);

/** Bytes of a `blobs` value before its check: pack number, offset, length, raw length, type. */
const VALUE_BYTES = 17;
const CHECK_BYTES = CRC64_BYTES;

/**
 * Most blobs merged in one transaction (see {@link IndexCache.addIndexFile}): bounds the
 * dirty pages of a merge to about this many leaf pages (8192 × 4 KiB = 32 MiB).
 */
export const MERGE_PART_BLOBS = 8192;

/**
 * True when `value` is `length` bytes followed by their check, the CRC-64/XZ of `key` ||
 * those bytes (allocates nothing: this runs on every lookup).
 */
function checked(key: Buffer, value: Buffer, length: number): boolean {
  return value.length === length + CHECK_BYTES && crc64Matches(key, value, length, value, length);
}

/** True when `b` (whose `length` may be set below its byteLength, see `getBinaryFast`) holds the bytes of `a`. */
function sameBytes(a: Buffer, b: Buffer): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The `packNumbers` key of pack number `n` (big-endian: keys sort by number). */
function packNumberKey(n: number): Buffer {
  const k = Buffer.alloc(4);
  k.writeUInt32BE(n, 0);
  return k;
}

export { CacheDamagedError };

const LMDB_MAGIC = 0xbeefc0de;

/**
 * True when the LMDB files at `dir` look sane enough to open: both meta pages of
 * `data.mdb` carry LMDB's magic and data version 2, and `lock.mdb` (if present) its magic.
 */
export function lmdbFilesLookSane(dir: string, pageSize = 4096): boolean {
  const data = join(dir, 'data.mdb');
  if (!existsSync(data)) return true;
  const read = (file: string, len: number): Buffer => {
    const fd = openSync(file, 'r');
    try {
      const b = Buffer.alloc(len);
      const n = readSync(fd, b, 0, len, 0);
      return b.subarray(0, n);
    } finally {
      closeSync(fd);
    }
  };
  const d = read(data, 2 * pageSize);
  if (d.length < 2 * pageSize) return false;
  for (const base of [0, pageSize]) {
    if (d.readUInt32LE(base + 0x18) !== LMDB_MAGIC || (d.readUInt32LE(base + 0x1c) & 0xffff) !== 2) return false;
  }
  const lock = join(dir, 'lock.mdb');
  if (existsSync(lock)) {
    const l = read(lock, 8);
    if (l.length < 8 || l.readUInt32LE(0) !== LMDB_MAGIC) return false;
  }
  return true;
}

/** Writes the check of a `blobs` value (its first {@link VALUE_BYTES} bytes) into its last bytes. */
function sealValue(key: Buffer, v: Buffer): Buffer {
  writeCrc64(key, v, VALUE_BYTES, v, VALUE_BYTES);
  return v;
}

/** An open LMDB index cache. */
export class IndexCache {
  private readonly root: RootDatabase;
  private readonly blobs: Database<Buffer, Buffer>;
  private readonly packs: Database<Buffer, Buffer>;
  private readonly indexes: Database<Buffer, Buffer>;
  private readonly packNumbers: Database<Buffer, Buffer>;
  /**
   * `packNumbers` entries as last read, by number, with the id in hex: a read that finds the
   * same 40 bytes skips the check and the hex conversion. Never trusted without that read:
   * another process sharing the cache may clear it and number the packs anew.
   */
  private readonly packIds: ({ raw: Buffer; id: FileId } | undefined)[] = [];
  /** Key buffers of lookups, reused: a `blobs` key (32 bytes) and a `packNumbers` key. */
  private readonly lookupKey = Buffer.alloc(32);
  private readonly numberKey = Buffer.alloc(4);
  readonly path: string;
  /** This process's user record (see {@link addUser}). */
  private marker: string | undefined;

  private constructor(path: string, root: RootDatabase) {
    this.path = path;
    this.root = root;
    const opts = { keyEncoding: 'binary' as const, encoding: 'binary' as const };
    this.blobs = root.openDB<Buffer, Buffer>({ name: 'blobs', ...opts });
    this.packs = root.openDB<Buffer, Buffer>({ name: 'packs', ...opts });
    this.indexes = root.openDB<Buffer, Buffer>({ name: 'indexes', ...opts });
    this.packNumbers = root.openDB<Buffer, Buffer>({ name: 'packNumbers', ...opts });
  }

  /**
   * The id of pack number `n`.
   * @throws CacheDamagedError when the number is unknown or its entry fails its check.
   */
  private packIdOf(n: number): FileId {
    const key = this.numberKey;
    key.writeUInt32BE(n, 0);
    // getBinaryFast: LMDB's read buffer, reused by the next read, with `length` set to the
    // value's (only indexing and `length` are used on it; its own byteLength is larger).
    const v = this.packNumbers.getBinaryFast(key);
    const seen = this.packIds[n];
    if (seen !== undefined && v !== undefined && sameBytes(seen.raw, v)) return seen.id;
    if (v === undefined || !checked(key, v, 32)) throw new CacheDamagedError(this.path);
    const raw = Buffer.from(v.subarray(0, v.length));
    const id = toHex(raw.subarray(0, 32));
    this.packIds[n] = { raw, id };
    return id;
  }

  /**
   * The location `v` (a checked `blobs` value) describes. Its fields are read before the
   * pack id is looked up: `v` may be LMDB's read buffer, which the next read overwrites.
   */
  private locationOf(id: BlobId, v: Buffer): BlobLocation {
    const type = v[16] === 0 ? 'data' : 'tree';
    const offset = v.readUInt32LE(4);
    const length = v.readUInt32LE(8);
    const rawLength = v.readUInt32LE(12);
    return { id, type, packId: this.packIdOf(v.readUInt32LE(0)), offset, length, rawLength };
  }

  /**
   * The number of pack `packKey`, giving it the next free one if it has none. Inside a write
   * transaction, which LMDB serializes across processes: the next number is read there,
   * never remembered from an earlier transaction (another process may have numbered packs
   * since). `next` carries the next free number within this transaction.
   */
  private packNumberOf(packKey: Buffer, size: number, next: { n?: number }): number {
    const known = this.packs.getBinary(packKey);
    if (known !== undefined && known.length === 12) return known.readUInt32LE(8);
    if (next.n === undefined) {
      next.n = 0;
      for (const k of this.packNumbers.getKeys({ reverse: true, limit: 1 })) next.n = (k as Buffer).readUInt32BE(0) + 1;
    }
    const n = next.n++;
    const v = Buffer.alloc(12);
    v.writeDoubleLE(size, 0);
    v.writeUInt32LE(n, 8);
    this.packs.put(packKey, v);
    const key = packNumberKey(n);
    const id = Buffer.alloc(32 + CHECK_BYTES);
    packKey.copy(id, 0);
    writeCrc64(key, id, 32, id, 32);
    this.packNumbers.put(key, id);
    return n;
  }

  /**
   * Opens (creating if needed) the cache at `path`. A cache that fails to open or has
   * another format is deleted and recreated empty.
   */
  static open(path: string): IndexCache {
    // A process that used the cache and died without closing it (SIGKILL, or lmdb-js
    // crashing with SIGSEGV/SIGBUS on a damaged B-tree page, which no check here can
    // catch beforehand) leaves the cache suspect: start from an empty one.
    if (removeDeadUsers(path)) rmSync(path, { recursive: true, force: true });
    const attempt = (): IndexCache => {
      if (!lmdbFilesLookSane(path)) throw new Error('damaged LMDB meta pages');
      mkdirSync(path, { recursive: true, mode: 0o700 });
      const root = open({ path, maxDbs: 8, compression: false, noSubdir: false, mapSize: 1 << 30 });
      const c = new IndexCache(path, root);
      const fmt = root.get('format') as unknown;
      if (fmt === undefined) {
        root.putSync('format', CACHE_FORMAT);
      } else if (fmt !== CACHE_FORMAT) {
        c.close();
        throw new Error(`cache format ${String(fmt)}`);
      }
      return c;
    };
    let c: IndexCache;
    try {
      c = attempt();
    } catch {
      rmSync(path, { recursive: true, force: true });
      try {
        c = attempt();
      } catch (cause) {
        throw new ClawbackError('INTERNAL', `cannot open the index cache at ${path}: delete that directory and retry`, { cause });
      }
    }
    c.marker = addUser(path);
    return c;
  }

  /** The LMDB key of `id`: a reused buffer (LMDB copies the key), valid until the next call. */
  private keyOf(id: BlobId): Buffer {
    return id.length === 64 && this.lookupKey.write(id, 'hex') === 32 ? this.lookupKey : fromHex(id);
  }

  /** The location of `id`, if indexed. */
  get(id: BlobId): BlobLocation | undefined {
    // A reused key buffer and LMDB's read buffer (see packIdOf): nothing is allocated for a
    // lookup but the location returned.
    const key = this.keyOf(id);
    const v = this.blobs.getBinaryFast(key);
    if (v === undefined) return undefined;
    if (!checked(key, v, VALUE_BYTES)) throw new CacheDamagedError(this.path);
    return this.locationOf(id, v);
  }

  /**
   * True if `id` is indexed. Only the key and the value's length are looked at: a damaged
   * location does not change whether the blob is stored (the index files say so), and
   * {@link get} verifies the entry before anyone reads the blob. Skipping the check keeps
   * the dedup lookup of every chunk of a snapshot at one B-tree read.
   */
  has(id: BlobId): boolean {
    const key = this.keyOf(id);
    const v = this.blobs.getBinaryFast(key);
    return v !== undefined && v.length === VALUE_BYTES + CHECK_BYTES;
  }

  /** Size in bytes of an indexed pack, if known. */
  packSize(packId: FileId): number | undefined {
    const v = this.packs.getBinary(fromHex(packId));
    return v === undefined ? undefined : v.readDoubleLE(0);
  }

  /** Ids of the index files merged into the cache. */
  indexFiles(): Set<FileId> {
    const s = new Set<FileId>();
    for (const k of this.indexes.getKeys()) s.add(toHex(k as Buffer));
    return s;
  }

  /**
   * Merges one index file (all its packs and blobs). First entry wins. Takes a decoded file
   * or, cheaper for big files, a scanned one (raw blob records).
   *
   * A file of more than {@link MERGE_PART_BLOBS} blobs is merged in several transactions,
   * each taking the blobs whose ids start in one range of first bytes. Random ids inserted in
   * one transaction dirty nearly every leaf page of a big B-tree, and LMDB keeps a
   * transaction's dirty pages in malloc'd memory that it reuses but never returns (its
   * `me_dpages` list): 50,000 ids merged into a cache of 1M blobs held ~100 MB. One range at
   * a time touches only that range's leaves. Each part gives the file's packs their numbers
   * in its own transaction (another process may clear and renumber the cache between two
   * parts), and the file is marked merged in the last part only: an interrupted merge is
   * merged again, skipping the entries already there.
   */
  addIndexFile(fileId: FileId, idx: IndexFile | ScannedIndex): void {
    // One layout for both: a decoded file's blobs become records once, not once per part.
    const packs = idx.packs.map((p) => ('records' in p ? p : { id: p.id, size: p.size, records: packRecords(p.blobs) }));
    let blobs = 0;
    for (const p of packs) blobs += p.records.length / INDEX_RECORD_BYTES;
    const parts = Math.min(256, Math.max(1, Math.ceil(blobs / MERGE_PART_BLOBS)));
    for (let part = 0; part < parts; part++) {
      // Blobs whose id's first byte is in [lo, hi).
      const lo = Math.floor((part * 256) / parts);
      const hi = Math.floor(((part + 1) * 256) / parts);
      this.root.transactionSync(() => {
        const next: { n?: number } = {};
        for (const p of packs) this.addRecords(this.packNumberOf(fromHex(p.id), p.size, next), p.records, lo, hi);
        if (part === parts - 1) this.indexes.put(fromHex(fileId), EMPTY);
      });
    }
  }

  /**
   * Adds the index records (in the layout of `scanIndex`) of pack number `n` whose id's
   * first byte is in [lo, hi), unless already present; inside a transaction.
   */
  private addRecords(n: number, records: Buffer, lo: number, hi: number): void {
    for (let r = 0; r < records.length; r += INDEX_RECORD_BYTES) {
      const first = records[r + RECORD_ID_OFFSET]!;
      if (first < lo || first >= hi) continue;
      const key = records.subarray(r + RECORD_ID_OFFSET, r + INDEX_RECORD_BYTES);
      if (this.blobs.doesExist(key)) continue;
      const v = Buffer.allocUnsafe(VALUE_BYTES + CHECK_BYTES);
      v.writeUInt32LE(n, 0);
      records.copy(v, 4, r + 1, r + 13); // offset, length, raw length: u32 LE each, as in the value
      v[16] = records[r]!; // type: 0 data, 1 tree
      this.blobs.put(key, sealValue(key, v));
    }
  }

  /** Removes every entry (before a rebuild). */
  clear(): void {
    // Index files first: an interrupted clear then reads as "nothing merged" and rebuilds.
    this.indexes.clearSync();
    this.blobs.clearSync();
    this.packs.clearSync();
    this.packNumbers.clearSync();
  }

  /** Every indexed blob, in id order. */
  *allBlobs(): Generator<BlobLocation> {
    for (const { key, value } of this.blobs.getRange()) {
      const k = key as Buffer;
      const v = value as Buffer;
      if (!checked(k, v, VALUE_BYTES)) throw new CacheDamagedError(this.path);
      yield this.locationOf(toHex(k), v);
    }
  }

  /** Every indexed pack with its size. */
  *allPacks(): Generator<{ id: FileId; size: number }> {
    for (const { key, value } of this.packs.getRange()) {
      yield { id: toHex(key as Buffer), size: (value as Buffer).readDoubleLE(0) };
    }
  }

  /** Number of indexed blobs. */
  blobCount(): number {
    return this.blobs.getCount();
  }

  /**
   * Closes the environment. lmdb-js may finish closing later, and opening the same path
   * before then connects to the old environment: await the promise before deleting and
   * reopening the cache.
   */
  close(): Promise<void> {
    const closing = Promise.resolve(this.root.close()).catch(() => undefined);
    if (this.marker !== undefined) {
      rmSync(this.marker, { force: true });
      records.delete(this.marker);
    }
    this.marker = undefined;
    return closing;
  }
}

/**
 * Users of a cache: while a process has the cache at `path` open, an empty file
 * `<path>.users/<pid>-<random>` exists; {@link IndexCache.close} removes it. A file whose
 * process is gone marks an unclean exit. (The pid probe reads `process` like the
 * repository lock does: it is what a user record is.)
 */
function usersDir(path: string): string {
  return `${path}.users`;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

/** Removes the user files of dead processes; true when there was one. */
function removeDeadUsers(path: string): boolean {
  let names: string[];
  try {
    names = readdirSync(usersDir(path));
  } catch {
    return false;
  }
  let dead = false;
  for (const n of names) {
    const pid = Number(n.split('-')[0]);
    if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid || pidAlive(pid)) continue;
    rmSync(join(usersDir(path), n), { force: true });
    dead = true;
  }
  return dead;
}

/** This process's user records, removed at a normal exit even if a cache was never closed. */
const records = new Set<string>();
let exitHook = false;

/** Records this process as a user of the cache at `path`; returns the record's path. */
function addUser(path: string): string | undefined {
  try {
    mkdirSync(usersDir(path), { recursive: true, mode: 0o700 });
    const f = join(usersDir(path), `${process.pid}-${randomBytes(4).toString('hex')}`);
    writeFileSync(f, '');
    records.add(f);
    if (!exitHook) {
      exitHook = true;
      process.once('exit', () => {
        for (const r of records) rmSync(r, { force: true });
      });
    }
    return f;
  } catch {
    return undefined; // a read-only cache dir: no record, no crash detection
  }
}
