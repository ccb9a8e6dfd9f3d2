/**
 * `clawback-manifest.json`: the last member of a portable archive (`clawback export`).
 *
 * ```json
 * {
 *   "format": "clawback-export", "version": 1,
 *   "exportedAt": "2026-11-22T00:08:48.123Z", "programVersion": "0.1.0",
 *   "snapshot": { "id": "…", "time": "…", "host": "…", "username": "…", "paths": ["/…"],
 *                 "label": "…", "tags": [], "kind": "manual", "source": "…", "profile": "…",
 *                 "scope": "…", "programVersion": "…", "summary": { … }, "extra": { … } },
 *   "entries": [
 *     { "path": "dir", "type": "dir", "mode": 493, "mtimeNs": "1700000000123456789" },
 *     { "path": "dir/a.txt", "type": "file", "mode": 420, "mtimeNs": "…", "size": 3, "sha256": "<64 hex>" },
 *     { "path": "dir/db.sqlite", "type": "sqlite", "mode": 420, "mtimeNs": "…", "size": 8192, "sha256": "…" },
 *     { "path": "link", "type": "symlink", "mode": 511, "mtimeNs": "…", "target": "dir/a.txt" }
 *   ]
 * }
 * ```
 *
 * Entries are in archive order (a directory before its content) and list every tar member
 * except the manifest itself. `sqlite` entries are regular files in the tar (a consistent
 * database file); the type tells `import` to store them as SQLite nodes again. Paths are
 * '/'-separated, relative, without `.` or `..` components. Pure module.
 */
import { ClawbackError } from '../errors.js';
import { isHexId } from '../ids.js';
import { MAX_TIME_NS, MIN_TIME_NS, nameProblem, type NodeType } from '../tree/node.js';

/** Name of the manifest member at the archive root. */
export const EXPORT_MANIFEST_NAME = 'clawback-manifest.json';

/** The `format` value. */
export const EXPORT_FORMAT = 'clawback-export';

/** The manifest format version this code writes and reads. */
export const EXPORT_VERSION = 1;

/** Largest manifest accepted on import, bytes. */
export const MAX_EXPORT_MANIFEST_BYTES = 512 << 20;

/** One archive member as the manifest describes it. */
export interface ExportEntry {
  /** Relative, '/'-separated path. */
  path: string;
  type: NodeType;
  /** Permission bits (`st_mode & 0o7777`). */
  mode: number;
  /** Modification time, ns since the epoch, as a decimal string. */
  mtimeNs: string;
  /** file, sqlite: bytes. */
  size?: number;
  /** file, sqlite: lowercase hex SHA-256 of the content. */
  sha256?: string;
  /** symlink: the link target. */
  target?: string;
}

/** The whole manifest. */
export interface ExportManifest {
  format: typeof EXPORT_FORMAT;
  version: typeof EXPORT_VERSION;
  exportedAt: string;
  programVersion: string;
  /** The snapshot's id and manifest fields (without `version`, `tree` and `parent`). */
  snapshot: Record<string, unknown> & { id: string };
  entries: ExportEntry[];
}

/** What is wrong with archive path `p`, or undefined when it is a clean relative path. */
export function archivePathProblem(p: string): string | undefined {
  if (p === '') return 'empty path';
  if (p.includes('\0')) return 'path contains NUL';
  if (p.startsWith('/')) return 'absolute path';
  const parts = p.split('/');
  if (parts.includes('..')) return 'path contains ".."';
  for (const part of parts) {
    const bad = nameProblem(part);
    if (bad !== undefined) return bad;
  }
  return undefined;
}

function bad(message: string): never {
  throw new ClawbackError('INTEGRITY', `${EXPORT_MANIFEST_NAME}: ${message}`);
}

/**
 * Parses and checks a manifest.
 * @throws ClawbackError `INTEGRITY` naming the first problem (wrong format or version,
 *   malformed entry, duplicate path).
 */
export function parseExportManifest(text: string): ExportManifest {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    bad(`not valid JSON (${(err as Error).message})`);
  }
  const m = v as Partial<ExportManifest>;
  if (!m || typeof m !== 'object' || Array.isArray(m)) bad('not a JSON object');
  if (m.format !== EXPORT_FORMAT) bad(`format is ${JSON.stringify(m.format)}, expected "${EXPORT_FORMAT}"`);
  if (m.version !== EXPORT_VERSION) bad(`version ${JSON.stringify(m.version)} is not supported (this clawback reads version ${EXPORT_VERSION})`);
  if (!m.snapshot || typeof m.snapshot !== 'object' || Array.isArray(m.snapshot) || !isHexId(m.snapshot.id)) bad('snapshot is missing or has no valid id');
  if (!Array.isArray(m.entries)) bad('entries is not a list');
  const seen = new Set<string>();
  for (const [i, e] of m.entries.entries()) {
    const where = `entries[${i}]`;
    if (!e || typeof e !== 'object') bad(`${where} is not an object`);
    if (typeof e.path !== 'string') bad(`${where}.path is not a string`);
    const pp = archivePathProblem(e.path);
    if (pp !== undefined) bad(`${where}.path ${JSON.stringify(e.path)}: ${pp}`);
    if (e.path === EXPORT_MANIFEST_NAME) bad(`${where}.path is the manifest's own name`);
    if (seen.has(e.path)) bad(`${where}.path ${JSON.stringify(e.path)} is listed twice`);
    seen.add(e.path);
    if (!['file', 'dir', 'symlink', 'sqlite'].includes(e.type)) bad(`${where}.type ${JSON.stringify(e.type)} is not file, dir, symlink or sqlite`);
    if (!Number.isInteger(e.mode) || e.mode < 0 || e.mode > 0o7777) bad(`${where}.mode is not a permission mode`);
    if (typeof e.mtimeNs !== 'string' || !/^-?\d{1,20}$/.test(e.mtimeNs)) bad(`${where}.mtimeNs is not a decimal string`);
    const t = BigInt(e.mtimeNs);
    if (t < MIN_TIME_NS || t > MAX_TIME_NS) bad(`${where}.mtimeNs is out of range`);
    if (e.type === 'file' || e.type === 'sqlite') {
      if (!Number.isSafeInteger(e.size) || (e.size as number) < 0) bad(`${where}.size is not a byte count`);
      if (typeof e.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(e.sha256)) bad(`${where}.sha256 is not 64 lowercase hex digits`);
    } else if (e.size !== undefined || e.sha256 !== undefined) bad(`${where} (${e.type}) must not have size or sha256`);
    if (e.type === 'symlink') {
      if (typeof e.target !== 'string' || e.target === '' || e.target.includes('\0')) bad(`${where}.target is not a link target`);
    } else if (e.target !== undefined) bad(`${where} (${e.type}) must not have a target`);
  }
  return m as ExportManifest;
}
