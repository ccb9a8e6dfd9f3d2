/**
 * The repository's index as its index files say it is (never the LMDB cache, which may be
 * stale or damaged), held compactly for the commands that need all of it at once: `verify`
 * and `gc`. Same rules as `loadIndexState` (src/repository/index-state.ts) and
 * docs/FORMAT.md §7: "live" index files are the present, readable ones that no other
 * present, readable index file lists as superseded; their union is the index.
 *
 * Memory: one 45-byte record per listed blob (the index file's own layout) in one Buffer,
 * plus about 20 bytes per blob of typed arrays (pack of each record, an open-addressing hash
 * table on the blob id, and a chain of further copies of the same blob) — about 65 bytes
 * per blob instead of several JavaScript objects and hex strings. Records are addressed by
 * number ("entry" 0 … {@link LiveIndex.entryCount} − 1); each pack's entries are
 * consecutive and sorted by offset.
 */
import { isClawbackError } from '../errors.js';
import { shortId, type BlobId, type FileId } from '../ids.js';
import type { BlobType, PackEntry } from '../pack/format.js';
import type { BlobLocation } from './cache.js';
import { INDEX_RECORD_BYTES as R, RECORD_ID_OFFSET as ID, type ScannedIndex, type ScannedPack } from './format.js';

/** Where {@link LiveIndex.load} gets index files from. */
export interface IndexFileSource {
  /** Ids of the index files present. */
  list(): Promise<Iterable<FileId>>;
  /**
   * Index file `id`, checked and scanned (see `scanIndex`).
   * @throws ClawbackError 'BLOB_NOT_FOUND' when it is gone, 'INTEGRITY' when damaged.
   */
  load(id: FileId): Promise<ScannedIndex>;
}

/** An index file that could not be read or parsed. */
export interface DamagedIndexFile {
  id: FileId;
  error: string;
}

/** Two live index files that list one pack differently. */
export interface PackConflict {
  pack: FileId;
  indexFiles: [FileId, FileId];
  message: string;
}

/** Entries of one listing as sorted strings (order-free comparison). */
function sortedRecords(r: Buffer): string[] {
  const out: string[] = [];
  for (let i = 0; i < r.length; i += R) out.push(r.toString('latin1', i, i + R));
  return out.sort();
}

function sameListing(a: ScannedPack, b: ScannedPack): boolean {
  if (a.size !== b.size || a.records.length !== b.records.length) return false;
  if (a.records.equals(b.records)) return true;
  const ka = sortedRecords(a.records);
  const kb = sortedRecords(b.records);
  return ka.every((k, i) => k === kb[i]);
}

/** Smallest power of two ≥ n. */
function pow2(n: number): number {
  let c = 16;
  while (c < n) c *= 2;
  return c;
}

/** See the module comment. Build with {@link LiveIndex.load} or {@link LiveIndex.fromScanned}. */
export class LiveIndex {
  /** Every readable index file, sorted. */
  readonly files: FileId[];
  readonly damaged: DamagedIndexFile[];
  /** Present index files superseded by another present one. */
  readonly superseded: Set<FileId>;
  /** Present, readable, not superseded; sorted. */
  readonly live: FileId[];
  readonly conflicts: PackConflict[];
  /** Number of distinct blob ids listed. */
  readonly blobCount: number;

  private readonly records: Buffer;
  private readonly entryPacks: Uint32Array;
  private readonly packIds: FileId[];
  private readonly packSizes: number[];
  /** Entry range of pack p: packStart[p] … packStart[p + 1] − 1. */
  private readonly packStart: Uint32Array;
  private readonly packFileLists: FileId[][];
  private readonly packByName = new Map<FileId, number>();
  /** Hash table: entry + 1 of the first copy of each blob (0 = empty slot). */
  private readonly slots: Int32Array;
  /** The first 4 id bytes of the blob in each slot (cheap pre-check before comparing ids). */
  private readonly slotKeys: Uint32Array;
  private readonly mask: number;
  /** Next copy of the same blob (entry), −1 at the end of the chain. */
  private readonly nextCopies: Int32Array;
  private readonly scratch = Buffer.alloc(32);

  private constructor(files: FileId[], damaged: DamagedIndexFile[], superseded: Set<FileId>, live: FileId[], scanned: Map<FileId, ScannedIndex>) {
    this.files = files;
    this.damaged = damaged;
    this.superseded = superseded;
    this.live = live;
    this.conflicts = [];
    const listings: ScannedPack[] = [];
    this.packFileLists = [];
    for (const fid of live) {
      for (const p of scanned.get(fid)!.packs) {
        const known = this.packByName.get(p.id);
        if (known !== undefined) {
          const fileList = this.packFileLists[known]!;
          fileList.push(fid);
          if (!sameListing(listings[known]!, p)) {
            this.conflicts.push({
              pack: p.id,
              indexFiles: [fileList[0]!, fid],
              message: `pack ${shortId(p.id)} is listed differently by index files ${shortId(fileList[0]!)} and ${shortId(fid)}`,
            });
          }
          continue;
        }
        this.packByName.set(p.id, listings.length);
        listings.push(p);
        this.packFileLists.push([fid]);
      }
    }
    let n = 0;
    for (const p of listings) n += p.records.length / R;
    this.records = Buffer.alloc(n * R);
    this.entryPacks = new Uint32Array(n);
    this.packIds = listings.map((p) => p.id);
    this.packSizes = listings.map((p) => p.size);
    this.packStart = new Uint32Array(listings.length + 1);
    let e = 0;
    listings.forEach((p, pi) => {
      this.packStart[pi] = e;
      const count = p.records.length / R;
      let sorted = true;
      for (let i = 1; i < count && sorted; i++) sorted = p.records.readUInt32LE(i * R + 1) >= p.records.readUInt32LE((i - 1) * R + 1);
      if (sorted) p.records.copy(this.records, e * R);
      else {
        const order = Array.from({ length: count }, (_, i) => i).sort((a, b) => p.records.readUInt32LE(a * R + 1) - p.records.readUInt32LE(b * R + 1));
        order.forEach((i, k) => p.records.copy(this.records, (e + k) * R, i * R, i * R + R));
      }
      this.entryPacks.fill(pi, e, e + count);
      e += count;
    });
    this.packStart[listings.length] = e;

    const cap = pow2(n * 2);
    this.mask = cap - 1;
    this.slots = new Int32Array(cap);
    this.slotKeys = new Uint32Array(cap);
    this.nextCopies = new Int32Array(n).fill(-1);
    let distinct = 0;
    for (let i = 0; i < n; i++) {
      const at = i * R + ID;
      const key = this.records.readUInt32LE(at);
      let h = key & this.mask;
      for (;;) {
        const s = this.slots[h]!;
        if (s === 0) {
          this.slots[h] = i + 1;
          this.slotKeys[h] = key;
          distinct++;
          break;
        }
        const first = s - 1;
        if (this.slotKeys[h] === key && this.records.compare(this.records, first * R + ID, first * R + R, at, at + 32) === 0) {
          let tail = first;
          while (this.nextCopies[tail]! >= 0) tail = this.nextCopies[tail]!;
          this.nextCopies[tail] = i;
          break;
        }
        h = (h + 1) & this.mask;
      }
    }
    this.blobCount = distinct;
  }

  /**
   * Builds the index from already scanned index files.
   * @param scanned every readable index file (id → its parsed content).
   */
  static fromScanned(scanned: Map<FileId, ScannedIndex>, damaged: DamagedIndexFile[] = []): LiveIndex {
    const files = [...scanned.keys()].sort();
    const superseded = new Set<FileId>();
    for (const f of scanned.values()) for (const s of f.superseded) if (scanned.has(s)) superseded.add(s);
    const live = files.filter((id) => !superseded.has(id));
    return new LiveIndex(files, [...damaged].sort((a, b) => (a.id < b.id ? -1 : 1)), superseded, live, scanned);
  }

  /**
   * Reads every index file from `source` (`concurrency` at a time) and builds the index.
   * Damaged index files are reported in {@link damaged}, never thrown; files removed
   * meanwhile are skipped.
   * @throws backend errors other than a file vanishing or being damaged.
   */
  static async load(source: IndexFileSource, concurrency = 8): Promise<LiveIndex> {
    const ids = [...(await source.list())].sort();
    const scanned = new Map<FileId, ScannedIndex>();
    const damaged: DamagedIndexFile[] = [];
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < ids.length) {
        const id = ids[next++]!;
        try {
          scanned.set(id, await source.load(id));
        } catch (err) {
          if (isClawbackError(err, 'BLOB_NOT_FOUND')) continue; // removed meanwhile
          if (isClawbackError(err, 'INTEGRITY')) damaged.push({ id, error: err.message });
          else throw err;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, concurrency) }, worker));
    return LiveIndex.fromScanned(scanned, damaged);
  }

  // ------------------------------------------------------------------ packs

  /** Number of packs the live index files list. */
  get packCount(): number {
    return this.packIds.length;
  }

  /** Pack number of pack `id`, if listed. */
  packIndex(id: FileId): number | undefined {
    return this.packByName.get(id);
  }

  /** True when a live index file lists pack `id`. */
  hasPack(id: FileId): boolean {
    return this.packByName.has(id);
  }

  /** Id of pack number `p`. */
  packId(p: number): FileId {
    return this.packIds[p]!;
  }

  /** Size in bytes of pack `p` per its (first) listing. */
  packSize(p: number): number {
    return this.packSizes[p]!;
  }

  /** First entry of pack `p`. */
  packFirst(p: number): number {
    return this.packStart[p]!;
  }

  /** One past the last entry of pack `p`. */
  packEnd(p: number): number {
    return this.packStart[p + 1]!;
  }

  /** The live index files listing pack `p` (the first one's listing is used). */
  packFiles(p: number): readonly FileId[] {
    return this.packFileLists[p]!;
  }

  /** The records of entries `from` … `to` − 1 (a view, {@link INDEX_RECORD_BYTES} bytes each). */
  recordsOf(from: number, to: number): Buffer {
    return this.records.subarray(from * R, to * R);
  }

  /** Pack `p`'s listing as objects, sorted by offset (for writing an index file). */
  packEntries(p: number): PackEntry[] {
    const out: PackEntry[] = [];
    for (let e = this.packFirst(p); e < this.packEnd(p); e++) out.push(this.entry(e));
    return out;
  }

  // ---------------------------------------------------------------- entries

  /** Number of entries (blob listings, copies counted). */
  get entryCount(): number {
    return this.entryPacks.length;
  }

  /** Pack number of entry `e`. */
  packOf(e: number): number {
    return this.entryPacks[e]!;
  }

  /** Blob type of entry `e`. */
  type(e: number): BlobType {
    return this.records[e * R] === 0 ? 'data' : 'tree';
  }

  /** Offset of entry `e` in its pack, bytes. */
  offset(e: number): number {
    return this.records.readUInt32LE(e * R + 1);
  }

  /** Stored length of entry `e`, bytes. */
  length(e: number): number {
    return this.records.readUInt32LE(e * R + 5);
  }

  /** Plaintext length of entry `e`, bytes. */
  rawLength(e: number): number {
    return this.records.readUInt32LE(e * R + 9);
  }

  /** Blob id of entry `e` (hex). */
  id(e: number): BlobId {
    return this.records.toString('hex', e * R + ID, e * R + R);
  }

  /** Entry `e` as a {@link PackEntry}. */
  entry(e: number): PackEntry {
    return { type: this.type(e), id: this.id(e), offset: this.offset(e), length: this.length(e), rawLength: this.rawLength(e) };
  }

  /** Entry `e` as a {@link BlobLocation}. */
  location(e: number): BlobLocation {
    // A literal, not a spread: spread objects can each get their own V8 hidden class.
    return { type: this.type(e), id: this.id(e), packId: this.packId(this.packOf(e)), offset: this.offset(e), length: this.length(e), rawLength: this.rawLength(e) };
  }

  /** The next listed copy of entry `e`'s blob (in another listing), or −1. */
  nextCopy(e: number): number {
    return this.nextCopies[e]!;
  }

  /**
   * The first entry listing blob `id`, or −1. Every entry of that blob is reached from it
   * through {@link nextCopy}, so the first entry also serves as the blob's number
   * (0 … {@link entryCount} − 1) for per-blob flags.
   */
  find(id: BlobId): number {
    if (id.length !== 64 || this.scratch.write(id, 0, 'hex') !== 32) return -1;
    const key = this.scratch.readUInt32LE(0);
    let h = key & this.mask;
    for (;;) {
      const s = this.slots[h]!;
      if (s === 0) return -1;
      const e = s - 1;
      if (this.slotKeys[h] === key && this.records.compare(this.scratch, 0, 32, e * R + ID, e * R + R) === 0) return e;
      h = (h + 1) & this.mask;
    }
  }

  /** Every entry of blob `id` (all copies), in listing order. */
  copies(id: BlobId): number[] {
    const out: number[] = [];
    for (let e = this.find(id); e >= 0; e = this.nextCopy(e)) out.push(e);
    return out;
  }

  /** The first entry of every distinct blob, in no particular order. */
  *blobs(): Generator<number> {
    for (let h = 0; h < this.slots.length; h++) {
      const s = this.slots[h]!;
      if (s !== 0) yield s - 1;
    }
  }
}
