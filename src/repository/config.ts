/**
 * The repository config (docs/FORMAT.md §Config): format version and every algorithm name
 * and parameter a reader needs. Written once at `init`, in an envelope sealed with the
 * master key (so the chunker seed stays secret), never changed afterwards.
 */
import { ClawbackError } from '../errors.js';
import type { ChunkerParams } from '../chunker/params.js';

/** The only format version this code reads and writes. */
export const FORMAT_VERSION = 1;

/** Parsed `config` file. */
export interface RepoConfig {
  version: 1;
  /** Random repository id, 64 hex chars; names the local cache directory. */
  id: string;
  /** RFC 3339 creation time. */
  created: string;
  /** Content-defined chunker for ordinary files. */
  chunker: ChunkerParams;
  /** Chunker for SQLite databases (fixed-size, page-aligned, so changed pages cost little). */
  sqliteChunker: ChunkerParams;
  /** Secret 32-byte chunker seed (hex) from which the gear table is derived. */
  chunkerSeed: string;
  /** Blob id function. */
  hash: 'blake3-keyed-256';
  /**
   * Per-blob compression: zstd `level` (0..19; 0 = none), and `sqliteLevel` for the chunks
   * of SQLite database images taken on the blob workers (databases up to 64 MiB; absent:
   * `level`; larger ones go through a temporary file and are sealed at `level`). Writer
   * settings only: a reader decodes any zstd frame whatever its level.
   */
  compression: { algorithm: 'zstd'; level: number; sqliteLevel?: number };
  /** Blob and metadata cipher. */
  cipher: 'aes-256-gcm' | 'none';
  /** Target pack size in bytes; packs close at the first blob that reaches it. */
  packSize: number;
}

/** Serializes a config (JSON, fixed key order). */
export function encodeConfig(c: RepoConfig): Buffer {
  const ordered: RepoConfig = {
    version: c.version,
    id: c.id,
    created: c.created,
    chunker: c.chunker,
    sqliteChunker: c.sqliteChunker,
    chunkerSeed: c.chunkerSeed,
    hash: c.hash,
    compression: c.compression,
    cipher: c.cipher,
    packSize: c.packSize,
  };
  return Buffer.from(JSON.stringify(ordered));
}

/** True for a zstd level a config may hold: an integer in 0..19. */
function isLevel(v: unknown): boolean {
  return Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 19;
}

/**
 * Parses and validates a config.
 * @throws ClawbackError 'INTEGRITY' when damaged, 'USAGE' for an unsupported version.
 */
export function decodeConfig(bytes: Uint8Array, where: string): RepoConfig {
  let j: unknown;
  try {
    j = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch {
    throw new ClawbackError('INTEGRITY', `config of ${where} is not valid JSON`);
  }
  const c = j as Partial<RepoConfig>;
  if (typeof c !== 'object' || c === null) throw new ClawbackError('INTEGRITY', `config of ${where} is not an object`);
  if (c.version !== FORMAT_VERSION) {
    throw new ClawbackError('USAGE', `repository ${where} has format version ${String(c.version)}; this clawback reads version ${FORMAT_VERSION}: upgrade clawback`);
  }
  const ok =
    typeof c.id === 'string' && /^[0-9a-f]{64}$/.test(c.id) &&
    typeof c.chunkerSeed === 'string' && /^[0-9a-f]{64}$/.test(c.chunkerSeed) &&
    typeof c.chunker === 'object' && typeof c.sqliteChunker === 'object' &&
    c.hash === 'blake3-keyed-256' &&
    typeof c.compression === 'object' && c.compression !== null && c.compression.algorithm === 'zstd' &&
    isLevel(c.compression.level) && (c.compression.sqliteLevel === undefined || isLevel(c.compression.sqliteLevel)) &&
    (c.cipher === 'aes-256-gcm' || c.cipher === 'none') &&
    Number.isInteger(c.packSize) && (c.packSize ?? 0) >= 1024 && (c.packSize ?? 0) <= 1 << 30;
  if (!ok) throw new ClawbackError('INTEGRITY', `config of ${where} is damaged or has unknown algorithms`);
  return c as RepoConfig;
}
