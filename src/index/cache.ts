/**
 * The local index cache: an LMDB environment (lmdb-js) mapping blob id → location, built
 * from the repository's index files. It is never authoritative: deleting its directory
 * costs a rebuild, never data. Lookups are memory-mapped B-tree reads, so the process heap
 * does not grow with the number of blobs in the repository.
 *
 * Databases:
 * - `blobs`: key = blob id (32 bytes) → pack id (32) || offset (u32 LE) || length (u32 LE)
 *   || raw_length (u32 LE) || type (u8)
 * - `packs`: key = pack id (32 bytes) → size (f64 LE, bytes)
 * - `indexes`: key = index file id (32 bytes) → empty (the index files merged so far)
 * - `meta`: `format` → 1
 */
import { rmSync, mkdirSync } from 'node:fs';
import { open, type Database, type RootDatabase } from 'lmdb';
import { ClawbackError } from '../errors.js';
import { fromHex, toHex, type BlobId, type FileId } from '../ids.js';
import type { BlobType } from '../pack/format.js';
import type { IndexFile } from './format.js';

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

const CACHE_FORMAT = 1;
const EMPTY = Buffer.alloc(0);

function encodeLocation(l: BlobLocation): Buffer {
  const v = Buffer.alloc(45);
  v.write(l.packId, 0, 32, 'hex');
  v.writeUInt32LE(l.offset, 32);
  v.writeUInt32LE(l.length, 36);
  v.writeUInt32LE(l.rawLength, 40);
  v[44] = l.type === 'data' ? 0 : 1;
  return v;
}

function decodeLocation(id: BlobId, v: Buffer): BlobLocation {
  return {
    id,
    packId: toHex(v.subarray(0, 32)),
    offset: v.readUInt32LE(32),
    length: v.readUInt32LE(36),
    rawLength: v.readUInt32LE(40),
    type: v[44] === 0 ? 'data' : 'tree',
  };
}

/** An open LMDB index cache. */
export class IndexCache {
  private readonly root: RootDatabase;
  private readonly blobs: Database<Buffer, Buffer>;
  private readonly packs: Database<Buffer, Buffer>;
  private readonly indexes: Database<Buffer, Buffer>;
  readonly path: string;

  private constructor(path: string, root: RootDatabase) {
    this.path = path;
    this.root = root;
    const opts = { keyEncoding: 'binary' as const, encoding: 'binary' as const };
    this.blobs = root.openDB<Buffer, Buffer>({ name: 'blobs', ...opts });
    this.packs = root.openDB<Buffer, Buffer>({ name: 'packs', ...opts });
    this.indexes = root.openDB<Buffer, Buffer>({ name: 'indexes', ...opts });
  }

  /**
   * Opens (creating if needed) the cache at `path`. A cache that fails to open or has
   * another format is deleted and recreated empty.
   */
  static open(path: string): IndexCache {
    const attempt = (): IndexCache => {
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
    try {
      return attempt();
    } catch {
      rmSync(path, { recursive: true, force: true });
      try {
        return attempt();
      } catch (cause) {
        throw new ClawbackError('INTERNAL', `cannot open the index cache at ${path}: delete that directory and retry`, { cause });
      }
    }
  }

  /** The location of `id`, if indexed. */
  get(id: BlobId): BlobLocation | undefined {
    const v = this.blobs.getBinary(fromHex(id));
    return v === undefined ? undefined : decodeLocation(id, v);
  }

  /** True if `id` is indexed. */
  has(id: BlobId): boolean {
    return this.blobs.doesExist(fromHex(id));
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

  /** Merges one index file (all its packs and blobs) in one transaction. First entry wins. */
  addIndexFile(fileId: FileId, idx: IndexFile): void {
    this.root.transactionSync(() => {
      for (const p of idx.packs) {
        const size = Buffer.alloc(8);
        size.writeDoubleLE(p.size, 0);
        this.packs.put(fromHex(p.id), size);
        for (const b of p.blobs) {
          const key = fromHex(b.id);
          if (!this.blobs.doesExist(key)) {
            this.blobs.put(key, encodeLocation({ ...b, packId: p.id }));
          }
        }
      }
      this.indexes.put(fromHex(fileId), EMPTY);
    });
  }

  /** Removes every entry (before a rebuild). */
  clear(): void {
    // Index files first: an interrupted clear then reads as "nothing merged" and rebuilds.
    this.indexes.clearSync();
    this.blobs.clearSync();
    this.packs.clearSync();
  }

  /** Every indexed blob, in id order. */
  *allBlobs(): Generator<BlobLocation> {
    for (const { key, value } of this.blobs.getRange()) {
      yield decodeLocation(toHex(key as Buffer), value as Buffer);
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

  close(): void {
    void this.root.close();
  }
}
