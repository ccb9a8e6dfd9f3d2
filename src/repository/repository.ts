/**
 * The repository: keys, config, blobs (through packs and the index) and unpacked files
 * (snapshots, index files, locks), over any {@link Backend}. See docs/FORMAT.md.
 */
import { randomBytes } from 'node:crypto';
import { homedir, hostname, userInfo } from 'node:os';
import { join } from 'node:path';
import type { Backend, FileType } from '../backend/backend.js';
import { ClawbackError, isClawbackError } from '../errors.js';
import { aesCipher, noneCipher, openEnvelope, randomKey, sealEnvelope, type Cipher } from '../crypto/envelope.js';
import { blobId, fileId, loadHashNative } from '../crypto/hash.js';
import { loadZstdNative } from '../compress/zstd.js';
import { shortId, type BlobId, type FileId } from '../ids.js';
import type { BlobType } from '../pack/format.js';
import { decodeIndex, encodeIndex, MAX_INDEX_BYTES, scanIndex, type IndexedPack, type IndexFile, type ScannedIndex } from '../index/format.js';
import type { IndexCache, BlobLocation } from '../index/cache.js';
import { CacheDamagedError } from '../index/cache-error.js';
import { rm } from 'node:fs/promises';
import { DEFAULT_CHUNKER, DEFAULT_SQLITE_CHUNKER, validateChunkerParams, type ChunkerParams } from '../chunker/params.js';
import { createChunker, type Chunker } from '../chunker/index.js';
import { decodeConfig, encodeConfig, FORMAT_VERSION, type RepoConfig } from './config.js';
import { createKeyFile, openKeyFile, parseKeyFile, type KeyOwner, type MasterKeys } from './keys.js';
import { calibrateScrypt, type ScryptParams } from './kdf.js';
import { SealPool, type DatabaseImage, type HashedFile } from './seal-pool.js';
import type { PackCache } from './pack-cache.js';
import { OpenPool } from './open-pool.js';
import { BlobSaver, type SaveTicket, type SaverLimits } from './blob-saver.js';

/** Largest snapshot/lock/config plaintext accepted, bytes. */
const MAX_SMALL_FILE = 64 << 20;

/**
 * True when `err` means the local LMDB cache is damaged: a failed entry check
 * ({@link CacheDamagedError}), or an error from LMDB itself (anything that is not a
 * ClawbackError: the cache code throws nothing else).
 */
function isCacheFailure(err: unknown): boolean {
  return err instanceof CacheDamagedError || !isClawbackError(err);
}

/** zstd level of new repositories (docs/PERFORMANCE.md has the measurements behind it). */
export const DEFAULT_COMPRESSION_LEVEL = 3;

/**
 * zstd level of SQLite database images' chunks in new repositories. Measured on the agent
 * data set's three 50 MB databases cut into 32 KiB chunks (zstd-napi, one thread): level 1
 * compresses at 374 MB/s to 71.5 MB, level 3 at 226 MB/s to 68.7 MB; a first snapshot of
 * the agent workspace took 2.28 instead of 2.42 s (medians of 5 alternating runs) for 2.9 MB
 * (2.6 %) more repository. Text, where level 3 saves more (39.1 vs 44.8 MB of 110 MB), keeps
 * {@link DEFAULT_COMPRESSION_LEVEL}.
 */
export const DEFAULT_SQLITE_COMPRESSION_LEVEL = 1;

/** Options for {@link initRepository}. */
export interface InitOptions {
  /** Password for the first key; `undefined` makes an unencrypted repository. */
  password: string | undefined;
  chunker?: ChunkerParams;
  sqliteChunker?: ChunkerParams;
  /** zstd level 0..19 (0 = no compression). Default {@link DEFAULT_COMPRESSION_LEVEL}. */
  compressionLevel?: number;
  /**
   * zstd level 0..19 of the chunks of SQLite database images taken on the blob workers
   * (docs/FORMAT.md §4: databases up to 64 MiB). Default: `compressionLevel` when
   * that is given, else {@link DEFAULT_SQLITE_COMPRESSION_LEVEL}.
   */
  sqliteCompressionLevel?: number;
  /** Target pack size in bytes. Default 16 MiB. */
  packSize?: number;
  /** scrypt parameters; default: calibrated to ~0.5 s here. */
  scrypt?: ScryptParams;
  owner?: Partial<KeyOwner>;
  /**
   * Share chunking and blob ids with another repository (`init --copy-chunker-params`):
   * its chunker parameters, chunker seed and blob-id hash key. Then `copy` between the two
   * moves blobs as they are instead of re-chunking. (The encryption key stays separate.)
   */
  chunkingFrom?: Repository;
}

/** Options for {@link openRepository} (and the repository returned by init). */
export interface OpenOptions {
  /** The password; required for encrypted repositories. */
  password?: string | undefined;
  /** Directory for local caches (the LMDB index). Default `~/.cache/clawback`. */
  cacheDir?: string;
  /** Worker threads for compression and encryption; default: one per core. 0 = none. */
  sealThreads?: number;
  /** Overrides of the blob saver's limits. */
  limits?: Partial<SaverLimits>;
  /**
   * Called once when {@link openRepository} starts deriving a key from the password: scrypt
   * then runs on the thread pool for a while and leaves this thread idle, a moment to start
   * loading code needed once the repository is open (see {@link preloadIndexCache}). Not
   * called for unencrypted repositories. Errors it throws are ignored.
   */
  onKeyDerivation?: () => void;
}

/** The index cache module (LMDB), imported on first use. */
let cacheModule: Promise<typeof import('../index/cache.js')> | undefined;

function loadCacheModule(): Promise<typeof import('../index/cache.js')> {
  if (!cacheModule) {
    cacheModule = import('../index/cache.js');
    cacheModule.catch(() => undefined); // a failure surfaces where the cache is opened
  }
  return cacheModule;
}

/**
 * Starts loading the local index cache code (LMDB) without waiting for it. Commands that
 * will look blobs up call it while the repository opens ({@link OpenOptions.onKeyDerivation});
 * otherwise it loads when the cache is first opened.
 */
export function preloadIndexCache(): void {
  void loadCacheModule();
}

/** Default cache directory. */
export function defaultCacheDir(): string {
  return join(homedir(), '.cache', 'clawback');
}

function defaultOwner(o: Partial<KeyOwner> = {}): KeyOwner {
  let username = 'unknown';
  try {
    username = userInfo().username;
  } catch {
    /* no passwd entry */
  }
  return { host: o.host ?? hostname(), username: o.username ?? username, ...(o.created ? { created: o.created } : {}) };
}

/**
 * Creates a new repository in `backend`.
 * @throws ClawbackError 'REPO_EXISTS' if one is there already, 'USAGE' for bad parameters.
 */
export async function initRepository(backend: Backend, init: InitOptions, open: OpenOptions = {}): Promise<Repository> {
  await backend.create();
  if (await backend.isRepository()) {
    throw new ClawbackError('REPO_EXISTS', `a repository already exists at ${backend.location}: use it, or choose another --repo`);
  }
  const from = init.chunkingFrom;
  const chunker = from?.config.chunker ?? init.chunker ?? DEFAULT_CHUNKER;
  const sqliteChunker = from?.config.sqliteChunker ?? init.sqliteChunker ?? DEFAULT_SQLITE_CHUNKER;
  validateChunkerParams(chunker);
  validateChunkerParams(sqliteChunker);
  const level = init.compressionLevel ?? DEFAULT_COMPRESSION_LEVEL;
  const sqliteLevel = init.sqliteCompressionLevel ?? init.compressionLevel ?? DEFAULT_SQLITE_COMPRESSION_LEVEL;
  for (const l of [level, sqliteLevel]) {
    if (!Number.isInteger(l) || l < 0 || l > 19) throw new ClawbackError('USAGE', `compression level ${l} is out of range 0..19`);
  }
  const packSize = init.packSize ?? 16 << 20;
  const encrypted = init.password !== undefined;
  const hash = from ? Buffer.from(from.masterKeys.hash) : randomKey();
  const keys: MasterKeys = encrypted ? { encrypt: randomKey(), hash } : { hash };
  const config: RepoConfig = {
    version: FORMAT_VERSION,
    id: randomBytes(32).toString('hex'),
    created: new Date().toISOString(),
    chunker,
    sqliteChunker,
    chunkerSeed: from?.config.chunkerSeed ?? randomBytes(32).toString('hex'),
    hash: 'blake3-keyed-256',
    compression: { algorithm: 'zstd', level, sqliteLevel },
    cipher: encrypted ? 'aes-256-gcm' : 'none',
    packSize,
  };
  const params = encrypted ? init.scrypt ?? (await calibrateScrypt()) : { N: 0, r: 0, p: 0 };
  const keyBytes = await createKeyFile(keys, init.password, defaultOwner(init.owner), params);
  // Key first, config last: a repository "exists" once its config exists.
  await backend.save({ type: 'keys', name: fileId(keyBytes) }, keyBytes);
  const cipher = keys.encrypt ? aesCipher(keys.encrypt) : noneCipher;
  await backend.save({ type: 'config', name: 'config' }, sealEnvelope(cipher, encodeConfig(config), 0));
  return Repository.fromParts(backend, config, keys, fileId(keyBytes), open);
}

/**
 * Opens the repository in `backend`.
 * @throws ClawbackError 'REPO_NOT_FOUND' when there is none, 'WRONG_PASSWORD' when no key
 *   opens with the password (or a password is needed and none was given).
 */
export async function openRepository(backend: Backend, options: OpenOptions = {}): Promise<Repository> {
  if (!(await backend.isRepository())) {
    throw new ClawbackError('REPO_NOT_FOUND', `no repository at ${backend.location}: create one with \`clawback init --repo ${backend.location}\``);
  }
  const names: string[] = [];
  for await (const f of backend.list('keys')) names.push(f.name);
  names.sort();
  if (names.length === 0) throw new ClawbackError('INTEGRITY', `repository ${backend.location} has no key files (keys/ is empty)`);
  let needPassword = false;
  let deriving = false;
  for (const name of names) {
    let bytes: Uint8Array;
    try {
      bytes = await backend.load({ type: 'keys', name });
    } catch (err) {
      if (isClawbackError(err, 'BLOB_NOT_FOUND')) continue; // removed meanwhile
      throw err;
    }
    const file = parseKeyFile(bytes, `key file ${shortId(name)}`);
    if (file.kdf === 'scrypt') needPassword = true;
    const opening = openKeyFile(file, options.password, `key file ${shortId(name)}`);
    if (!deriving && file.kdf === 'scrypt' && options.password !== undefined) {
      // openKeyFile has queued the key derivation on the thread pool by now: while it runs,
      // load the native code every open repository uses (config, snapshots, locks).
      deriving = true;
      try {
        options.onKeyDerivation?.();
      } catch {
        /* a hint only */
      }
      try {
        loadHashNative();
        loadZstdNative();
      } catch {
        /* a broken install: reported where the code is first used */
      }
    }
    const keys = await opening;
    if (keys) {
      const cipher = keys.encrypt ? aesCipher(keys.encrypt) : noneCipher;
      const stored = await backend.load({ type: 'config', name: 'config' });
      const config = decodeConfig(openEnvelope(cipher, stored, `config of ${backend.location}`, MAX_SMALL_FILE, false), backend.location);
      if ((config.cipher === 'none') !== (keys.encrypt === undefined)) {
        throw new ClawbackError('INTEGRITY', `key file ${shortId(name)} does not match the repository's cipher`);
      }
      return Repository.fromParts(backend, config, keys, name, options);
    }
  }
  if (needPassword && options.password === undefined) {
    throw new ClawbackError('WRONG_PASSWORD', `repository ${backend.location} is encrypted: give its password (CLAWBACK_PASSWORD, CLAWBACK_PASSWORD_FILE or CLAWBACK_PASSWORD_COMMAND)`);
  }
  throw new ClawbackError('WRONG_PASSWORD', `wrong password for ${backend.location}: no key file opens with it`);
}

/** An open repository. Call {@link Repository.close} when done. */
export class Repository {
  readonly backend: Backend;
  readonly config: RepoConfig;
  readonly cipher: Cipher;
  /** Id of the key file that opened the repository. */
  readonly keyId: FileId;
  private readonly keys: MasterKeys;
  private readonly options: OpenOptions;
  private cache: IndexCache | undefined;
  private cacheOpening: Promise<IndexCache> | undefined;
  /** Bumped by every cache rebuild (see {@link withCache}). */
  private cacheGeneration = 0;
  private cacheRebuilding: Promise<void> | undefined;
  /** The one rebuild {@link loadBlob} may do on a cache miss. */
  private missRecheck: Promise<void> | undefined;
  private pool: SealPool | undefined;
  private saver: BlobSaver | undefined;
  private readonly chunkers = new Map<string, Chunker>();

  private constructor(backend: Backend, config: RepoConfig, keys: MasterKeys, keyId: FileId, options: OpenOptions) {
    this.backend = backend;
    this.config = config;
    this.keys = keys;
    this.keyId = keyId;
    this.options = options;
    this.cipher = keys.encrypt ? aesCipher(keys.encrypt) : noneCipher;
  }

  /** @internal used by init/open. */
  static fromParts(backend: Backend, config: RepoConfig, keys: MasterKeys, keyId: FileId, options: OpenOptions): Repository {
    return new Repository(backend, config, keys, keyId, options);
  }

  /** True when blobs and metadata are encrypted. */
  get encrypted(): boolean {
    return this.keys.encrypt !== undefined;
  }

  /**
   * True when `other` chunks files the same way and names blobs with the same ids, so blobs
   * can be copied between the two as they are.
   */
  sharesChunkingWith(other: Repository): boolean {
    const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
    return (
      this.config.chunkerSeed === other.config.chunkerSeed &&
      same(this.config.chunker, other.config.chunker) &&
      same(this.config.sqliteChunker, other.config.sqliteChunker) &&
      this.keys.hash.equals(other.keys.hash)
    );
  }

  /** Master keys (for key management and copy). */
  get masterKeys(): MasterKeys {
    return this.keys;
  }

  /** The chunker for ordinary files (`'file'`) or SQLite databases (`'sqlite'`). */
  chunker(kind: 'file' | 'sqlite' = 'file'): Chunker {
    let c = this.chunkers.get(kind);
    if (!c) {
      c = createChunker(kind === 'file' ? this.config.chunker : this.config.sqliteChunker, Buffer.from(this.config.chunkerSeed, 'hex'));
      this.chunkers.set(kind, c);
    }
    return c;
  }

  /** Keyed BLAKE3 id of a plaintext blob. */
  blobId(plaintext: Uint8Array): BlobId {
    return blobId(this.keys.hash, plaintext);
  }

  // ---------------------------------------------------------------- index

  /** Directory of this repository's local cache. */
  get cachePath(): string {
    return join(this.options.cacheDir ?? defaultCacheDir(), this.config.id);
  }

  /** The LMDB index cache, synchronized with the index files on first use. */
  async index(): Promise<IndexCache> {
    if (this.cache) return this.cache;
    // Concurrent first calls share one opening.
    this.cacheOpening ??= this.openCache(false).finally(() => {
      this.cacheOpening = undefined;
    });
    return this.cacheOpening;
  }

  /**
   * Opens (with `fresh`: deletes first) and syncs the cache, and makes it `this.cache`.
   * Only ever runs as `this.cacheOpening`, so concurrent callers of {@link index} wait for
   * it instead of opening the cache files themselves.
   */
  private async openCache(fresh: boolean): Promise<IndexCache> {
    // Loaded on first use: commands that never look a blob up (snapshot list, key, unlock…)
    // do not load LMDB.
    const { IndexCache } = await loadCacheModule();
    const dir = join(this.cachePath, 'index');
    if (fresh) await rm(dir, { recursive: true, force: true });
    for (let attempt = 1; ; attempt++) {
      const cache = IndexCache.open(dir);
      try {
        await this.syncIndex(cache);
      } catch (err) {
        await cache.close();
        // An LMDB failure (not a ClawbackError: "page not found", MDB_CORRUPTED, …) means
        // a damaged cache file: start over from an empty cache, once.
        if (attempt === 1 && isCacheFailure(err)) {
          await rm(dir, { recursive: true, force: true });
          continue;
        }
        throw err;
      }
      this.cache = cache;
      return cache;
    }
  }

  /** Lists the index files in the backend. */
  async listIndexFiles(): Promise<Set<FileId>> {
    const s = new Set<FileId>();
    for await (const f of this.backend.list('index')) s.add(f.name);
    return s;
  }

  /**
   * Brings the cache in line with the index files: merges new ones; rebuilds from scratch
   * when one it merged is gone (gc replaced it) or is superseded.
   */
  async syncIndex(cache?: IndexCache): Promise<void> {
    const c = cache ?? (await this.index());
    const present = await this.listIndexFiles();
    const merged = c.indexFiles();
    let rebuild = false;
    for (const id of merged) if (!present.has(id)) rebuild = true;
    const fresh: ({ id: FileId } & ScannedIndex)[] = [];
    for (const id of present) {
      if (merged.has(id) && !rebuild) continue;
      const idx = await this.scanForCache(id);
      fresh.push({ id, ...idx });
    }
    const superseded = new Set<FileId>();
    for (const f of fresh) for (const s of f.superseded) superseded.add(s);
    for (const s of superseded) if (merged.has(s)) rebuild = true;
    if (rebuild) {
      c.clear();
      fresh.length = 0;
      for (const id of present) fresh.push({ id, ...(await this.scanForCache(id)) });
      for (const f of fresh) for (const s of f.superseded) superseded.add(s);
    }
    for (const f of fresh) {
      if (superseded.has(f.id)) continue;
      c.addIndexFile(f.id, f);
    }
  }

  /**
   * {@link scanIndexFile} for {@link syncIndex}: the cache cannot be built past a damaged
   * index file, so its `INTEGRITY` error (code kept) names the fix.
   */
  private async scanForCache(id: FileId): Promise<ScannedIndex> {
    try {
      return await this.scanIndexFile(id);
    } catch (err) {
      if (!isClawbackError(err, 'INTEGRITY')) throw err;
      throw new ClawbackError('INTEGRITY', `${err.message}; the index cannot be loaded: run \`clawback repair index\` to rebuild it from the packs`, {
        cause: err,
        details: { ...err.details, indexFile: id },
      });
    }
  }

  /**
   * After the index files were replaced (gc): brings the cache up to date if this session
   * has it open; otherwise leaves it to the next opening, which rebuilds it because the
   * index files it merged are gone (see {@link syncIndex}).
   */
  async syncIndexIfOpen(): Promise<void> {
    if (this.cache || this.cacheOpening) await this.syncIndex();
  }

  /** Reads one index file, its blob records left as stored (no object per blob; see `scanIndex`). */
  async scanIndexFile(id: FileId): Promise<ScannedIndex> {
    return scanIndex(await this.loadFile('index', id, MAX_INDEX_BYTES), `index file ${shortId(id)}`);
  }

  /** Reads and parses one index file. */
  async loadIndexFile(id: FileId) {
    const plain = await this.loadFile('index', id, MAX_INDEX_BYTES);
    return decodeIndex(plain, `index file ${shortId(id)}`);
  }

  /**
   * Seals and writes an index file without touching the local cache; returns its id.
   *
   * Files are named by the hash of their stored bytes, and an unencrypted envelope is
   * deterministic: an index file written again with the same content (a snapshot re-adding
   * blobs a gc deleted) would get the name of the file that gc superseded, and stay ignored
   * because the gc's index file lists that name. So in an unencrypted repository a random id
   * naming no file is added to `superseded` (harmless, docs/FORMAT.md §Index), making every
   * index file unique, as random nonces do in an encrypted one.
   */
  async saveIndexFile(idx: IndexFile): Promise<FileId> {
    return (await this.saveEncodedIndex(idx)).id;
  }

  /** {@link saveIndexFile}, also returning the file's plaintext (see `encodeIndex`). */
  private async saveEncodedIndex(idx: IndexFile): Promise<{ id: FileId; plain: Buffer }> {
    const stored: IndexFile = this.encrypted ? idx : { packs: idx.packs, superseded: [...idx.superseded, randomBytes(32).toString('hex')] };
    const plain = encodeIndex(stored);
    return { id: await this.saveFile('index', plain), plain };
  }

  /**
   * Writes an index file for `packs` (optionally superseding others) and merges it into the
   * cache — unless it supersedes others: the cache would still hold the superseded files'
   * entries, and since it does not record what a merged file supersedes, a process that
   * crashed before {@link syncIndex} ran would leave a cache that the next process trusts
   * (and deduplicates against blobs no live index lists). Such a file is merged by the
   * next {@link syncIndex}, which rebuilds the cache from the live index files.
   */
  async writeIndex(packs: IndexedPack[], superseded: FileId[] = []): Promise<FileId> {
    const { id, plain } = await this.saveEncodedIndex({ packs, superseded });
    // Merged from the plaintext just written (the scanned records are views into it), not
    // from `packs`: no second copy of the records (2.25 MB for a file of 50,000 blobs).
    if (superseded.length === 0) (await this.index()).addIndexFile(id, scanIndex(plain, `index file ${shortId(id)}`));
    return id;
  }

  /**
   * Runs `fn`; if the cache turns out damaged (bit rot in the LMDB file), deletes and
   * rebuilds it from the index files and runs `fn` once more.
   */
  private async withCache<T>(fn: () => T | Promise<T>): Promise<T> {
    const generation = this.cacheGeneration;
    try {
      return await fn();
    } catch (err) {
      if (!isCacheFailure(err)) throw err;
      // Concurrent lookups that hit the same damage share one rebuild.
      if (this.cacheGeneration === generation) await this.rebuildCache();
      else await this.cacheRebuilding;
      return fn();
    }
  }

  /** Deletes the local index cache and rebuilds it from the index files (one rebuild at a time). */
  async rebuildCache(): Promise<void> {
    this.cacheRebuilding ??= (async () => {
      this.cacheGeneration++;
      await this.cacheOpening?.catch(() => undefined);
      const old = this.cache;
      this.cache = undefined;
      // Callers of index() wait for this opening: nobody may open the old files meanwhile
      // (lmdb-js would connect them to the environment being closed).
      this.cacheOpening = (async () => {
        await old?.close();
        return this.openCache(true);
      })().finally(() => {
        this.cacheOpening = undefined;
      });
      await this.cacheOpening;
    })().finally(() => {
      this.cacheRebuilding = undefined;
    });
    return this.cacheRebuilding;
  }

  /** Where a blob is, from the index or this session's uploads. */
  async lookup(id: BlobId): Promise<BlobLocation | undefined> {
    const pending = this.saver?.pendingLocation(id);
    if (pending) return pending;
    return this.withCache(async () => (await this.index()).get(id));
  }

  /** True if the blob exists (indexed or written in this session). */
  async hasBlob(id: BlobId): Promise<boolean> {
    return (await this.hasBlobs([id]))[0]!;
  }

  /** Whether each of `ids` is indexed in `cache` or written in this session. */
  private lookUp(ids: readonly BlobId[], cache: IndexCache): boolean[] {
    const saver = this.saver;
    return ids.map((id) => (saver ? saver.has(id) : cache.has(id)));
  }

  /**
   * {@link hasBlobs} answered at once when the open index cache (and this session's blob
   * saver) can answer without waiting; undefined while the cache is not open, or when it
   * turns out damaged (then call {@link hasBlobs}, which rebuilds it). Spares a snapshot the
   * chain of promises of an asynchronous lookup for every unchanged file.
   */
  hasBlobsNow(ids: readonly BlobId[]): boolean[] | undefined {
    const cache = this.cache;
    if (!cache) return undefined;
    try {
      return this.lookUp(ids, cache);
    } catch (err) {
      if (isCacheFailure(err)) return undefined;
      throw err;
    }
  }

  /**
   * {@link hasBlob} of many blobs in one call (one cache transaction's worth of lookups, one
   * await): `result[i]` is true if `ids[i]` exists. Answers at once when it can
   * ({@link hasBlobsNow}); otherwise opens (or rebuilds) the cache first.
   */
  async hasBlobs(ids: readonly BlobId[]): Promise<boolean[]> {
    return this.hasBlobsNow(ids) ?? this.withCache(async () => this.lookUp(ids, await this.index()));
  }

  // ---------------------------------------------------------------- blobs

  /**
   * Starts the blob worker threads now rather than at the first blob (each loads zstd and
   * BLAKE3, 50–100 ms), so they boot on the other core while the caller does its
   * single-threaded set-up: listing snapshots, opening the index cache, reading the parent
   * tree. Idempotent; {@link close} stops them.
   */
  startBlobWorkers(): SealPool {
    const { level, sqliteLevel } = this.config.compression;
    return (this.pool ??= new SealPool(this.cipher, this.keys.encrypt, this.keys.hash, { level, sqliteLevel: sqliteLevel ?? level }, this.options.sealThreads));
  }

  private async blobSaver(): Promise<BlobSaver> {
    if (this.saver) return this.saver;
    // Synchronous from here on: concurrent first calls must share one saver.
    await this.index();
    if (this.saver) return this.saver;
    const pool = this.startBlobWorkers();
    const limits: SaverLimits = {
      packSize: this.config.packSize,
      sealBytes: 32 << 20,
      uploads: 2,
      indexEvery: 50_000,
      ...this.options.limits,
    };
    this.saver = new BlobSaver(
      { backend: this.backend, cipher: this.cipher, pool, isIndexed: (id) => this.cache!.has(id), writeIndex: async (p) => void (await this.writeIndex(p)) },
      limits,
    );
    return this.saver;
  }

  /**
   * Saves a blob unless it exists. Resolves when accepted (backpressure); `done` settles
   * once it is sealed into a pack. Call {@link flush} before referencing it from a snapshot.
   * With `options.force` the blob is written even when the index has it (gc repacking live
   * blobs out of packs it deletes); it is still written only once per session.
   */
  async saveBlob(type: BlobType, plaintext: Uint8Array, id: BlobId = this.blobId(plaintext), options: { force?: boolean } = {}): Promise<SaveTicket> {
    return (await this.blobSaver()).save(type, id, plaintext, options.force ?? false);
  }

  /**
   * Reads whole files, cuts them with `chunker` and computes the chunks' blob ids on the
   * blob workers (see {@link SealPool.hashFiles}); the archiver saves the chunks it does not
   * find indexed.
   * @param hints each file's expected size in bytes (from `lstat`).
   * @param prev per file, the chunk ids the caller expects (a file with exactly these comes
   *   back as `same`, without content), or null.
   * @param seal seal the chunks of every file returned on the workers too (`sealed`
   *   results, for {@link saveSealedBlob}); for callers that expect most chunks to be new.
   */
  async hashFiles(paths: string[], hints: number[], chunker?: Chunker, prev?: (readonly BlobId[] | null)[], seal = false): Promise<HashedFile[]> {
    await this.blobSaver();
    return this.pool!.hashFiles(paths, hints, chunker, prev, seal);
  }

  /**
   * Blob ids (and with `seal`, envelopes) of chunks cut by the caller, back to back in
   * `window`, computed on a blob worker; see {@link SealPool.hashCut} (`window` is
   * transferred and handed back).
   */
  async hashCut(window: ArrayBuffer, lengths: readonly number[], seal: boolean): Promise<{ ids: BlobId[]; window: ArrayBuffer; envelopes?: Buffer[] }> {
    await this.blobSaver();
    return this.pool!.hashCut(window, lengths, seal);
  }

  /** True when blobs are sealed on worker threads (so {@link imageDatabase} can be used). */
  get hasBlobWorkers(): boolean {
    return (this.options.sealThreads ?? 1) > 0;
  }

  /**
   * Images the SQLite database at `path` on a blob worker and cuts and hashes it there with
   * `chunker`; see {@link SealPool.imageDatabase}. Requires {@link hasBlobWorkers}.
   * @param prev the chunk ids the caller expects (an equal image comes back as `same`), or null.
   * @param busyMs give up after this long of SQLITE_BUSY, ms.
   */
  async imageDatabase(path: string, chunker: Chunker, prev: readonly BlobId[] | null, busyMs: number): Promise<DatabaseImage> {
    await this.blobSaver();
    return this.pool!.imageDatabase(path, chunker, prev, busyMs);
  }

  /**
   * Saves a blob the blob workers already sealed (a `sealed` result of {@link hashFiles})
   * unless it exists; see {@link saveBlob}.
   * @param rawLength its plaintext length in bytes.
   */
  async saveSealedBlob(type: BlobType, id: BlobId, stored: Buffer, rawLength: number): Promise<SaveTicket> {
    return (await this.blobSaver()).saveSealed(type, id, stored, rawLength);
  }

  /**
   * {@link saveSealedBlob} of one file's sealed chunks at once, without a promise, when the
   * open pack has room for all of them (see `BlobSaver.saveSealedNow`).
   * @returns how many blobs were added, or undefined when nothing was saved (no saver yet,
   *   or no room: use {@link saveSealedBlob}).
   * @throws the error of a pack that failed to seal or upload.
   */
  saveSealedBlobsNow(type: BlobType, ids: readonly BlobId[], envelopes: readonly Buffer[], rawLengths: readonly number[]): number | undefined {
    return this.saver?.saveSealedNow(type, ids, envelopes, rawLengths);
  }

  /** Counters of blobs written since open. */
  get saveStats() {
    return this.saver?.stats ?? { blobsAdded: 0, bytesAdded: 0, storedBytesAdded: 0, packsWritten: 0 };
  }

  /** Writes out open packs and the index of everything saved so far. */
  async flush(): Promise<void> {
    await this.saver?.flush();
  }

  /**
   * Loads a blob's plaintext and re-checks its id.
   * @throws ClawbackError 'BLOB_NOT_FOUND' if not indexed, 'INTEGRITY' (naming pack and blob)
   *   if the stored bytes are damaged.
   */
  async loadBlob(id: BlobId, packs?: PackCache): Promise<Buffer> {
    return this.readBlob(await this.locateBlob(id), packs);
  }

  /**
   * Where blob `id` is stored. A miss rebuilds the local index cache once per session
   * before the blob is called missing (the cache may be stale or damaged: a flipped bit in
   * an LMDB key is not caught by the entry checks).
   * @throws ClawbackError 'BLOB_NOT_FOUND' (details `{blob}`) if no index file lists it.
   */
  async locateBlob(id: BlobId): Promise<BlobLocation> {
    const [loc] = await this.locateBlobs([id]);
    if (loc instanceof ClawbackError) throw loc;
    return loc!;
  }

  /**
   * {@link locateBlob} for many blobs at once (one cache transaction, no promise per blob).
   * @returns per id its location, or the 'BLOB_NOT_FOUND' ClawbackError it would throw.
   */
  async locateBlobs(ids: readonly BlobId[]): Promise<(BlobLocation | ClawbackError)[]> {
    const find = () =>
      this.withCache(async () => {
        const cache = await this.index();
        return ids.map((id) => this.saver?.pendingLocation(id) ?? cache.get(id));
      });
    let locs = await find();
    if (locs.includes(undefined)) {
      this.missRecheck ??= this.rebuildCache();
      await this.missRecheck;
      locs = await find();
    }
    return locs.map(
      (loc, i) => loc ?? new ClawbackError('BLOB_NOT_FOUND', `blob ${shortId(ids[i]!)} is not in the index (repair with \`clawback repair index\`, check with \`clawback verify\`)`, { details: { blob: ids[i]! } }),
    );
  }

  /**
   * Reads the blob at `loc` and verifies it; through `packs` (whole-pack reads) when given,
   * else with one ranged read.
   */
  async readBlob(loc: BlobLocation, packs?: PackCache): Promise<Buffer> {
    let stored: Uint8Array;
    try {
      stored = packs
        ? (await packs.get(loc.packId)).subarray(loc.offset, loc.offset + loc.length)
        : await this.backend.load({ type: 'data', name: loc.packId }, { offset: loc.offset, length: loc.length });
    } catch (err) {
      if (isClawbackError(err, 'BLOB_NOT_FOUND')) {
        throw new ClawbackError('INTEGRITY', `pack ${shortId(loc.packId)} holding blob ${shortId(loc.id)} is missing`, { cause: err, details: { pack: loc.packId, blob: loc.id } });
      }
      throw err;
    }
    return this.openBlob(loc, stored);
  }

  /**
   * A pool of worker threads that open this repository's blobs and run `handlerSource` on
   * each verified plaintext (see {@link OpenPool}). The caller closes it.
   * @param threads worker threads (default: one per core).
   */
  openPool(handlerSource: string, threads?: number): OpenPool {
    return new OpenPool({ encryptKey: this.keys.encrypt, hashKey: this.keys.hash, handlerSource, threads });
  }

  /** Decrypts, decompresses and re-hashes a stored blob. */
  openBlob(loc: BlobLocation, stored: Uint8Array): Buffer {
    const what = `pack ${shortId(loc.packId)}, blob ${shortId(loc.id)}`;
    const details = { pack: loc.packId, blob: loc.id };
    if (stored.byteLength !== loc.length) throw new ClawbackError('INTEGRITY', `${what}: truncated (${stored.byteLength} of ${loc.length} bytes)`, { details });
    let plain: Buffer;
    try {
      plain = openEnvelope(this.cipher, stored, what, loc.rawLength, true);
    } catch (err) {
      if (isClawbackError(err, 'INTEGRITY')) throw new ClawbackError('INTEGRITY', err.message, { details });
      throw err;
    }
    if (this.blobId(plain) !== loc.id) throw new ClawbackError('INTEGRITY', `${what}: content does not match its id`, { details });
    return plain;
  }

  // ---------------------------------------------------------------- unpacked files

  /** Seals and writes a metadata file; returns its id (BLAKE3 of the stored bytes). */
  async saveFile(type: Exclude<FileType, 'config' | 'data' | 'keys'>, plaintext: Uint8Array): Promise<FileId> {
    const stored = sealEnvelope(this.cipher, plaintext, 3);
    const id = fileId(stored);
    await this.backend.save({ type, name: id }, stored);
    return id;
  }

  /**
   * Loads a metadata file, checks its name against its hash, and opens it.
   * @throws ClawbackError 'BLOB_NOT_FOUND' if missing, 'INTEGRITY' if damaged.
   */
  async loadFile(type: Exclude<FileType, 'config' | 'data' | 'keys'>, id: FileId, maxLength = MAX_SMALL_FILE): Promise<Buffer> {
    const stored = await this.backend.load({ type, name: id });
    const what = `${type === 'index' ? 'index file' : type === 'snapshots' ? 'snapshot' : 'lock'} ${shortId(id)}`;
    if (fileId(stored) !== id) throw new ClawbackError('INTEGRITY', `${what}: content does not match its name (damaged)`, { details: { type, id } });
    return openEnvelope(this.cipher, stored, what, maxLength, false);
  }

  /** Names of all files of `type`. */
  async listFiles(type: FileType): Promise<FileId[]> {
    const out: FileId[] = [];
    for await (const f of this.backend.list(type)) out.push(f.name);
    return out.sort();
  }

  // ---------------------------------------------------------------- keys

  /** Adds a key file for `password`; returns its id. */
  async addKey(password: string, owner: Partial<KeyOwner> = {}, params?: ScryptParams): Promise<FileId> {
    if (!this.encrypted) throw new ClawbackError('USAGE', `repository ${this.backend.location} is unencrypted: it has no passwords to add`);
    const bytes = await createKeyFile(this.keys, password, defaultOwner(owner), params ?? (await calibrateScrypt()));
    const id = fileId(bytes);
    await this.backend.save({ type: 'keys', name: id }, bytes);
    return id;
  }

  /**
   * Removes key file `id`. Refuses to remove the last key, and the key in use unless `force`.
   */
  async removeKey(id: FileId, force = false): Promise<void> {
    const all = await this.listFiles('keys');
    if (!all.includes(id)) throw new ClawbackError('NOT_FOUND', `no key ${id} in ${this.backend.location}: see \`clawback key list\``);
    if (all.length === 1) throw new ClawbackError('USAGE', 'refusing to remove the last key: the repository could never be opened again');
    if (id === this.keyId && !force) throw new ClawbackError('USAGE', 'refusing to remove the key this session opened with: open with another password first');
    await this.backend.remove({ type: 'keys', name: id });
  }

  /** Lists key files with their metadata. */
  async listKeys(): Promise<{ id: FileId; current: boolean; created: string; host: string; username: string; kdf: string }[]> {
    const out = [];
    for (const id of await this.listFiles('keys')) {
      const f = parseKeyFile(await this.backend.load({ type: 'keys', name: id }), `key file ${shortId(id)}`);
      out.push({ id, current: id === this.keyId, created: f.created, host: f.host, username: f.username, kdf: f.kdf });
    }
    return out;
  }

  /** Closes caches and workers. Unflushed blobs are lost (they become garbage at worst). */
  async close(): Promise<void> {
    if (this.saver) await this.saver.abort();
    await this.pool?.close();
    this.pool = undefined;
    const cache = this.cache;
    this.cache = undefined;
    await cache?.close();
  }
}
