/**
 * `verify`: proves the repository intact, or names what is damaged and which snapshots
 * and paths it affects (docs/MAINTENANCE.md §verify), after restic's `check`.
 *
 * 1. Snapshot files: each must load and decode.
 * 2. Index files: each must load and decode; live ones must agree on every pack they both
 *    list and on each blob's type and length; every listed blob must lie inside its pack
 *    without overlapping another.
 * 3. Packs: every indexed pack exists in `data/` with its indexed size. Packs no live index
 *    lists are reported as `pack-unreferenced` (info, not damage).
 * 4. Data pass (`readData` or `subset`): each selected pack is read (in pieces) and checked
 *    by {@link checkPacks}, its blobs opened on worker threads.
 * 5. Snapshots → trees → blobs ({@link walkSnapshots}): every tree of every snapshot is
 *    loaded (through the index files, not the local cache) and decoded once; every data
 *    blob must be indexed in a present pack. Damaged and missing blobs (from any pass) are
 *    mapped to the snapshots and paths that use them.
 *
 * Findings are collected ({@link FindingSet}) and returned; `onFinding` sees each one as it
 * is first found. Only backend failures (not damage) reject.
 *
 * Memory: the index is held compactly ({@link LiveIndex}, about 65 bytes per blob), and
 * pack memory is freed as soon as it is checked.
 */
import { isClawbackError, throwIfAborted } from '../errors.js';
import { shortId, type BlobId, type FileId, type SnapshotId } from '../ids.js';
import type { LiveIndex } from '../index/live.js';
import type { Progress } from '../progress.js';
import type { Repository } from '../repository/repository.js';
import { listPackFiles } from '../repository/index-state.js';
import { loadSnapshot } from '../snapshot/store.js';
import type { SnapshotManifest } from '../snapshot/manifest.js';
import { FindingSet, type Finding } from './findings.js';
import { loadLiveIndex } from './live-index.js';
import { createPackOpener, defaultOpenThreads } from './open-pool.js';
import { checkPacks, type PackCheck } from './read-data.js';
import { selectPacks, type Subset } from './subset.js';
import { walkSnapshots } from './walk.js';

/** Options of {@link verifyRepository}. */
export interface VerifyOptions {
  /** Read every indexed pack (the data pass). */
  readData?: boolean;
  /** Read only this subset of the packs (implies the data pass). */
  subset?: Subset | undefined;
  /** Randomness for `x%` and size subsets; default `Math.random`. */
  random?: () => number;
  /** Pieces of packs (a few MiB each) read at once in the data pass; default threads + 1. */
  concurrency?: number;
  /**
   * Worker threads that open (decrypt, decompress, re-hash) blobs in the data pass; default
   * one per core (at most 4); 0 opens them on the calling thread.
   */
  threads?: number;
  /** Size of the pieces packs are read in, bytes (default 4 MiB). @internal for tests */
  chunkBytes?: number;
  signal?: AbortSignal | undefined;
  progress?: Progress | undefined;
  /** Called once per new finding, as it is found. */
  onFinding?: (f: Finding) => void;
}

/** Counters of a verify run. */
export interface VerifyStats {
  snapshots: number;
  indexFiles: number;
  /** Packs listed by live index files. */
  packs: number;
  /** Tree blobs loaded and decoded. */
  trees: number;
  /** Data blob references checked (a blob used by two files counts twice). */
  dataRefs: number;
  /** Packs read in the data pass. */
  packsRead: number;
  /** Bytes read in the data pass. */
  bytesRead: number;
  /** Blobs opened and re-hashed in the data pass. */
  blobsChecked: number;
}

/** Outcome of {@link verifyRepository}. */
export interface VerifyReport {
  /** True when there is no `error` finding (info findings are allowed). */
  clean: boolean;
  errors: number;
  infos: number;
  findings: Finding[];
  stats: VerifyStats;
}

/** Checks `repo`; see the module comment. */
export async function verifyRepository(repo: Repository, opts: VerifyOptions = {}): Promise<VerifyReport> {
  const findings = new FindingSet(opts.onFinding);
  const stats: VerifyStats = { snapshots: 0, indexFiles: 0, packs: 0, trees: 0, dataRefs: 0, packsRead: 0, bytesRead: 0, blobsChecked: 0 };

  // 1. snapshot files
  const snapshots: { id: SnapshotId; manifest: SnapshotManifest }[] = [];
  for (const id of await repo.listFiles('snapshots')) {
    throwIfAborted(opts.signal);
    try {
      snapshots.push({ id, manifest: await loadSnapshot(repo, id) });
    } catch (err) {
      if (isClawbackError(err, 'BLOB_NOT_FOUND')) continue;
      if (!isClawbackError(err, 'INTEGRITY')) throw err;
      const f = findings.add('snapshot-damaged', 'snapshot', id, `snapshot ${shortId(id)} cannot be read: ${err.message}`);
      findings.affect(f, id, '/');
    }
  }
  stats.snapshots = snapshots.length;

  // 2. index files
  const index = await loadLiveIndex(repo);
  stats.indexFiles = index.live.length;
  stats.packs = index.packCount;
  for (const d of index.damaged) {
    findings.add('index-damaged', 'index', d.id, `index file ${shortId(d.id)} cannot be read: ${d.error} (its packs are unindexed: run \`clawback repair index\`)`);
  }
  for (const id of index.superseded) {
    findings.add('index-superseded', 'index', id, `index file ${shortId(id)} is superseded but still present (the next gc removes it)`);
  }
  for (const c of index.conflicts) findings.add('index-conflict', 'pack', c.pack, `${c.message} (run \`clawback repair index\`)`);
  checkBlobListings(index, findings);

  // 3. packs
  const present = await listPackFiles(repo);
  const packPresent = new Uint8Array(index.packCount);
  for (let p = 0; p < index.packCount; p++) {
    const id = index.packId(p);
    const size = present.get(id);
    if (size === undefined) {
      findings.add('pack-missing', 'pack', id, `pack ${shortId(id)} (${index.packEnd(p) - index.packFirst(p)} blobs) is indexed but missing from data/`);
    } else {
      packPresent[p] = 1;
      if (size !== index.packSize(p)) findings.add('pack-size', 'pack', id, `pack ${shortId(id)} is ${size} bytes in data/, the index says ${index.packSize(p)}`);
    }
    checkPackListing(index, p, repo.cipher.overhead, findings);
  }
  for (const [id, size] of present) {
    if (!index.hasPack(id)) findings.add('pack-unreferenced', 'pack', id, `pack ${shortId(id)} (${size} bytes) is in no index: unreferenced data, the next gc deletes it`);
  }

  const damagedLocs = new Set<string>();
  const damagedBlobs = new Map<BlobId, Finding>();

  // 4. data pass
  if (opts.readData || opts.subset) {
    const candidates = new Map<FileId, number>();
    for (let p = 0; p < index.packCount; p++) if (packPresent[p]) candidates.set(index.packId(p), index.packSize(p));
    const selected = opts.subset ? selectPacks(candidates, opts.subset, opts.random) : [...candidates.keys()].sort();
    let bytesTotal = 0;
    for (const id of selected) bytesTotal += candidates.get(id) ?? 0;
    const threads = opts.threads ?? defaultOpenThreads();
    const opener = createPackOpener(repo, threads);
    try {
      const packs = selected.map((id) => ({ pack: index.packIndex(id)!, size: present.get(id)! }));
      const onPack = (r: PackCheck): void => {
        const id = r.pack;
        stats.packsRead++;
        stats.bytesRead += r.bytes;
        stats.blobsChecked += r.blobsOk;
        if (r.missing) {
          findings.add('pack-missing', 'pack', id, `pack ${shortId(id)} vanished from data/ while being checked`);
        } else {
          if (r.problems.length > 0) findings.add('pack-damaged', 'pack', id, `pack ${shortId(id)}: ${r.problems.join('; ')}`);
          for (const d of r.damaged) {
            damagedLocs.add(`${id}:${d.offset}`);
            const f = findings.add('blob-damaged', 'blob', d.blob, `${d.type} blob ${shortId(d.blob)} in pack ${shortId(id)} is damaged: ${d.error}`);
            damagedBlobs.set(d.blob, f);
          }
        }
        opts.progress?.update?.({ phase: 'verify', filesDone: stats.packsRead, filesTotal: selected.length, bytesDone: stats.bytesRead, bytesTotal });
      };
      // Enough pieces in flight to keep every worker busy while the next one loads.
      await checkPacks(repo, index, packs, opener, onPack, { depth: opts.concurrency ?? threads + 1, chunkBytes: opts.chunkBytes, signal: opts.signal });
    } finally {
      await opener.close();
    }
  }

  // 5. snapshots → trees → blobs
  const walked = await walkSnapshots({
    repo,
    index,
    present,
    packPresent,
    snapshots: snapshots.map((x) => ({ id: x.id, tree: x.manifest.tree })),
    findings,
    damagedLocs,
    damagedBlobs,
    signal: opts.signal,
  });
  stats.trees = walked.trees;
  stats.dataRefs = walked.dataRefs;

  const all = findings.all();
  const errors = all.filter((f) => f.severity === 'error').length;
  const report: VerifyReport = { clean: errors === 0, errors, infos: all.length - errors, findings: all, stats };
  opts.progress?.done?.({ phase: 'verify', filesDone: stats.packsRead, bytesDone: stats.bytesRead });
  return report;
}

/** Blobs listed in several places with different types or plaintext lengths. */
function checkBlobListings(index: LiveIndex, findings: FindingSet): void {
  for (const first of index.blobs()) {
    let odd = -1;
    for (let e = index.nextCopy(first); e >= 0 && odd < 0; e = index.nextCopy(e)) {
      if (index.type(e) !== index.type(first) || index.rawLength(e) !== index.rawLength(first)) odd = e;
    }
    if (odd < 0) continue;
    findings.add(
      'index-conflict',
      'blob',
      index.id(first),
      `blob ${shortId(index.id(first))} is listed as ${index.type(first)} of ${index.rawLength(first)} bytes in pack ${shortId(index.packId(index.packOf(first)))} but as ${index.type(odd)} of ${index.rawLength(odd)} bytes in pack ${shortId(index.packId(index.packOf(odd)))}`,
    );
  }
}

/** Impossible blob locations within the listing of pack `p` (entries sorted by offset). */
function checkPackListing(index: LiveIndex, p: number, overhead: number, findings: FindingSet): void {
  const size = index.packSize(p);
  let end = 0;
  for (let e = index.packFirst(p); e < index.packEnd(p); e++) {
    const offset = index.offset(e);
    const length = index.length(e);
    let why: string | undefined;
    if (offset < end) why = `overlaps the previous blob (offset ${offset} < ${end})`;
    else if (offset + length > size - 4) why = `ends at ${offset + length}, past the blob area of the ${size}-byte pack`;
    else if (length < 1 + overhead) why = `is ${length} bytes, shorter than an envelope`;
    if (why) {
      const id = index.packId(p);
      findings.add('index-invalid', 'pack', id, `pack ${shortId(id)}: the index lists blob ${shortId(index.id(e))} at an impossible place: it ${why}`);
      return;
    }
    end = offset + length;
  }
}
