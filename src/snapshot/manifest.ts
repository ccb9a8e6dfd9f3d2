/**
 * The snapshot manifest: the small JSON document stored (encrypted) as one file under
 * `snapshots/` for each snapshot, pointing at the root tree. After restic's snapshot
 * format (https://restic.readthedocs.io/en/stable/100_references.html#snapshots), with
 * clawback's grouping (`source`), labels and run summary.
 *
 * Encoding (docs/FORMAT.md §Snapshots): UTF-8 JSON without whitespace, top-level keys in
 * the order of {@link MANIFEST_KEY_ORDER}, optional keys omitted when absent, `summary`
 * keys in the order of {@link SUMMARY_KEY_ORDER}, and `extra` with object keys sorted by
 * code point (recursively). The decoder is strict about keys and value types but, unlike
 * the tree decoder, does not insist on byte-canonical formatting: a manifest's id is the
 * hash of its stored file, so formatting never affects deduplication.
 *
 * Pure module.
 */

import { ClawbackError } from '../errors.js';
import type { ErrorCode } from '../errors.js';
import { isHexId } from '../ids.js';
import type { BlobId, SnapshotId } from '../ids.js';
import { labelProblem, tagProblem } from './label.js';

/** What one backup run did. All counts are non-negative integers. */
export interface SnapshotSummary {
  /** Regular files (including sqlite captures) in the snapshot. */
  files: number;
  /** Directories in the snapshot, the root included. */
  dirs: number;
  /** Symbolic links in the snapshot. */
  symlinks: number;
  /** Logical bytes: the sum of the sizes of all files in the snapshot. */
  bytes: number;
  /** Plaintext bytes of the blobs this run added to the repository (new after dedup). */
  bytesAdded: number;
  /** Bytes this run wrote to pack files (after compression and encryption). */
  storedBytesAdded: number;
  /** Number of blobs (data and tree) this run added. */
  blobsAdded: number;
  /** Wall-clock duration of the run, in ms. */
  durationMs: number;
}

/** How a snapshot was started: by a person (`manual`) or by a schedule/hook (`auto`). */
export type SnapshotKind = 'manual' | 'auto';

/** A decoded snapshot manifest (version 1). */
export interface SnapshotManifest {
  /** Format version; always 1. */
  version: 1;
  /** Snapshot time, RFC 3339 UTC with milliseconds: `2026-11-22T00:08:48.123Z` (see {@link isManifestTime}). */
  time: string;
  /** Host name of the machine that made the snapshot. */
  host: string;
  /** User name of the process that made the snapshot (may be empty when unknown). */
  username: string;
  /** Absolute source paths, as given (POSIX `/…` or Windows `C:\…`); no duplicates. */
  paths: string[];
  /** Id of the root tree blob. */
  tree: BlobId;
  /** The snapshot this one was made relative to (change detection), if any. */
  parent?: SnapshotId;
  /** User label, unique per `source` (see `snapshot/label.ts`). */
  label?: string;
  /** Tags (see `tagProblem` in `snapshot/label.ts`); no duplicates; may be empty. */
  tags: string[];
  kind: SnapshotKind;
  /**
   * Grouping key: labels are unique per source and retention groups by it, like restic's
   * host+paths groups. E.g. `profile:openclaw` or `paths:/a,/b`. Non-empty.
   */
  source: string;
  /** Name of the profile that defined the paths, if any. */
  profile?: string;
  /** What part of the source was captured: `everything`, `config-only`, … (free string). */
  scope?: string;
  /** Version of the clawback that wrote the snapshot. */
  programVersion: string;
  summary: SnapshotSummary;
  /** Reserved for later fields (agent metadata): any JSON object, kept as is. */
  extra?: Record<string, unknown>;
}

/** The manifest format version this code reads and writes. */
export const MANIFEST_VERSION = 1;

/** Top-level manifest keys in canonical order. */
export const MANIFEST_KEY_ORDER = [
  'version',
  'time',
  'host',
  'username',
  'paths',
  'tree',
  'parent',
  'label',
  'tags',
  'kind',
  'source',
  'profile',
  'scope',
  'programVersion',
  'summary',
  'extra',
] as const;

/** Summary keys in canonical order. */
export const SUMMARY_KEY_ORDER = [
  'files',
  'dirs',
  'symlinks',
  'bytes',
  'bytesAdded',
  'storedBytesAdded',
  'blobsAdded',
  'durationMs',
] as const;

const REQUIRED_KEYS = new Set<string>([
  'version',
  'time',
  'host',
  'username',
  'paths',
  'tree',
  'tags',
  'kind',
  'source',
  'programVersion',
  'summary',
]);
const KNOWN_KEYS = new Set<string>(MANIFEST_KEY_ORDER);

/** Deepest nesting allowed inside `extra` (objects and arrays). */
export const MAX_EXTRA_DEPTH = 32;
/** Longest host, username, source, profile, scope or programVersion, in characters. */
export const MAX_FIELD_LENGTH = 1024;

const TIME_PATTERN = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

/**
 * True when `s` is a manifest time: RFC 3339 in UTC with exactly three fraction digits
 * (`YYYY-MM-DDTHH:MM:SS.mmmZ`, years 0000–9999) denoting a real instant, i.e. the output
 * of `Date.prototype.toISOString` for such dates. Such strings sort chronologically.
 */
export function isManifestTime(s: unknown): s is string {
  if (typeof s !== 'string' || !TIME_PATTERN.test(s)) return false;
  const ms = Date.parse(s);
  return Number.isFinite(ms) && new Date(ms).toISOString() === s;
}

/** The manifest time string for `date` (ms precision, UTC). */
export function formatManifestTime(date: Date): string {
  return date.toISOString();
}

const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const utf8Encoder = new TextEncoder();

function fail(code: ErrorCode, message: string): never {
  throw new ClawbackError(code, message);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
}

function isAbsolutePath(p: string): boolean {
  return p.startsWith('/') || /^[A-Za-z]:[\\/]/.test(p) || p.startsWith('\\\\');
}

function checkString(code: ErrorCode, key: string, v: unknown, opts: { nonEmpty: boolean }): void {
  if (typeof v !== 'string') fail(code, `snapshot manifest: ${key} is not a string`);
  if (opts.nonEmpty && v === '') fail(code, `snapshot manifest: ${key} is empty`);
  if (v.length > MAX_FIELD_LENGTH) fail(code, `snapshot manifest: ${key} is longer than ${MAX_FIELD_LENGTH} characters`);
  if (v.includes('\0')) fail(code, `snapshot manifest: ${key} contains NUL`);
  if (LONE_SURROGATE.test(v)) fail(code, `snapshot manifest: ${key} is not valid Unicode`);
}

function isSafeCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/**
 * Checks that `v` is a JSON value (null, boolean, finite number, well-formed string,
 * array, plain object) nested at most {@link MAX_EXTRA_DEPTH} deep.
 */
function checkJsonValue(code: ErrorCode, v: unknown, path: string, depth: number): void {
  if (v === null || typeof v === 'boolean') return;
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) fail(code, `snapshot manifest: ${path} is not a finite number`);
    return;
  }
  if (typeof v === 'string') {
    if (LONE_SURROGATE.test(v)) fail(code, `snapshot manifest: ${path} is not valid Unicode`);
    return;
  }
  if (depth >= MAX_EXTRA_DEPTH) fail(code, `snapshot manifest: ${path} is nested deeper than ${MAX_EXTRA_DEPTH} levels`);
  if (Array.isArray(v)) {
    v.forEach((item, i) => checkJsonValue(code, item, `${path}[${i}]`, depth + 1));
    return;
  }
  if (isPlainObject(v)) {
    for (const k of Object.keys(v)) {
      if (LONE_SURROGATE.test(k)) fail(code, `snapshot manifest: a key in ${path} is not valid Unicode`);
      checkJsonValue(code, v[k], `${path}.${k}`, depth + 1);
    }
    return;
  }
  fail(code, `snapshot manifest: ${path} is not a JSON value (${typeof v})`);
}

/** Checks every field of a manifest object; throws `code`. Unknown keys are checked by the caller. */
function checkManifest(m: Record<string, unknown>, code: ErrorCode): void {
  for (const k of REQUIRED_KEYS) {
    if (m[k] === undefined) fail(code, `snapshot manifest: missing key ${JSON.stringify(k)}`);
  }
  if (m.version !== MANIFEST_VERSION) {
    if (typeof m.version === 'number' && Number.isInteger(m.version) && m.version > MANIFEST_VERSION) {
      fail(code, `snapshot manifest version ${m.version} is newer than this clawback supports (${MANIFEST_VERSION}): upgrade clawback`);
    }
    fail(code, `snapshot manifest: unsupported version ${JSON.stringify(m.version) ?? String(m.version)}`);
  }
  if (!isManifestTime(m.time)) fail(code, 'snapshot manifest: time is not RFC 3339 UTC with milliseconds (YYYY-MM-DDTHH:MM:SS.mmmZ)');
  checkString(code, 'host', m.host, { nonEmpty: true });
  checkString(code, 'username', m.username, { nonEmpty: false });
  if (!Array.isArray(m.paths)) fail(code, 'snapshot manifest: paths is not an array');
  const seenPaths = new Set<string>();
  m.paths.forEach((p, i) => {
    checkString(code, `paths[${i}]`, p, { nonEmpty: true });
    const s = p as string;
    if (!isAbsolutePath(s)) fail(code, `snapshot manifest: paths[${i}] ${JSON.stringify(s)} is not absolute`);
    if (seenPaths.has(s)) fail(code, `snapshot manifest: duplicate path ${JSON.stringify(s)}`);
    seenPaths.add(s);
  });
  if (!isHexId(m.tree)) fail(code, 'snapshot manifest: tree is not a 64-character lowercase hex id');
  if (m.parent !== undefined && !isHexId(m.parent)) fail(code, 'snapshot manifest: parent is not a 64-character lowercase hex id');
  if (m.label !== undefined) {
    const problem = labelProblem(m.label);
    if (problem !== undefined) fail(code, `snapshot manifest: invalid label ${JSON.stringify(m.label)}: ${problem}`);
  }
  if (!Array.isArray(m.tags)) fail(code, 'snapshot manifest: tags is not an array');
  const seenTags = new Set<string>();
  m.tags.forEach((t, i) => {
    const problem = tagProblem(t);
    if (problem !== undefined) fail(code, `snapshot manifest: tags[${i}]: ${problem}`);
    const s = t as string;
    if (seenTags.has(s)) fail(code, `snapshot manifest: duplicate tag ${JSON.stringify(s)}`);
    seenTags.add(s);
  });
  if (m.kind !== 'manual' && m.kind !== 'auto') fail(code, 'snapshot manifest: kind is neither "manual" nor "auto"');
  checkString(code, 'source', m.source, { nonEmpty: true });
  if (m.profile !== undefined) checkString(code, 'profile', m.profile, { nonEmpty: true });
  if (m.scope !== undefined) checkString(code, 'scope', m.scope, { nonEmpty: true });
  checkString(code, 'programVersion', m.programVersion, { nonEmpty: true });
  const summary = m.summary;
  if (!isPlainObject(summary)) fail(code, 'snapshot manifest: summary is not an object');
  for (const k of Object.keys(summary)) {
    if (!(SUMMARY_KEY_ORDER as readonly string[]).includes(k)) fail(code, `snapshot manifest: unexpected key ${JSON.stringify(k)} in summary`);
  }
  for (const k of SUMMARY_KEY_ORDER) {
    if (!isSafeCount(summary[k])) fail(code, `snapshot manifest: summary.${k} is not a non-negative integer`);
  }
  if (m.extra !== undefined) {
    if (!isPlainObject(m.extra)) fail(code, 'snapshot manifest: extra is not a JSON object');
    checkJsonValue(code, m.extra, 'extra', 0);
  }
}

function compareCodePoints(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** Canonical JSON of a checked JSON value: object keys sorted by code point, no whitespace. */
function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (typeof v === 'object' && v !== null) {
    const obj = v as Record<string, unknown>;
    const keys = Object.keys(obj).sort(compareCodePoints);
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

/**
 * Encodes a manifest canonically (see the module comment): equal manifests give equal bytes.
 *
 * @returns UTF-8 JSON bytes.
 * @throws ClawbackError `INTERNAL` when `m` is not a valid manifest (same rules as
 *   {@link decodeManifest}, e.g. a bad time, id, label or tag, a missing field, an unknown
 *   top-level key, or a non-JSON value in `extra`).
 */
export function encodeManifest(m: SnapshotManifest): Uint8Array {
  const rec = m as unknown as Record<string, unknown>;
  if (!isPlainObject(rec)) fail('INTERNAL', 'encodeManifest: manifest is not an object');
  for (const k of Object.keys(rec)) {
    if (!KNOWN_KEYS.has(k) && rec[k] !== undefined) fail('INTERNAL', `encodeManifest: unknown key ${JSON.stringify(k)}`);
  }
  checkManifest(rec, 'INTERNAL');
  const parts: string[] = [];
  for (const k of MANIFEST_KEY_ORDER) {
    const v = rec[k];
    if (v === undefined) continue;
    let json: string;
    if (k === 'summary') {
      const s = v as Record<string, unknown>;
      json = `{${SUMMARY_KEY_ORDER.map((sk) => `"${sk}":${String(s[sk])}`).join(',')}}`;
    } else {
      json = canonicalJson(v);
    }
    parts.push(`"${k}":${json}`);
  }
  return utf8Encoder.encode(`{${parts.join(',')}}`);
}

/**
 * Decodes and validates a snapshot manifest.
 *
 * @param bytes the manifest file's plaintext (UTF-8 JSON).
 * @returns the manifest, with only the keys present in the file.
 * @throws ClawbackError `INTEGRITY` for invalid UTF-8 or JSON, a top-level value that is
 *   not an object, an unknown top-level key (anything goes inside `extra`), a missing
 *   required key, a version other than 1 (the message says to upgrade when it is newer),
 *   a time that is not `YYYY-MM-DDTHH:MM:SS.mmmZ`, a non-absolute or duplicate path, a bad
 *   tree/parent id, an invalid label or tag (see `snapshot/label.ts`), a duplicate tag, an
 *   unknown kind, an empty host/source/programVersion, an unknown or non-integer summary
 *   field, or an `extra` that is not an object or is nested deeper than {@link MAX_EXTRA_DEPTH}.
 */
export function decodeManifest(bytes: Uint8Array): SnapshotManifest {
  let text: string;
  try {
    text = utf8Decoder.decode(bytes);
  } catch (err) {
    throw new ClawbackError('INTEGRITY', 'snapshot manifest is not valid UTF-8', { cause: err });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new ClawbackError('INTEGRITY', `snapshot manifest is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  if (!isPlainObject(parsed)) fail('INTEGRITY', 'snapshot manifest is not a JSON object');
  for (const k of Object.keys(parsed)) {
    if (!KNOWN_KEYS.has(k)) fail('INTEGRITY', `snapshot manifest: unknown key ${JSON.stringify(k.slice(0, 100))}`);
  }
  for (const k of Object.keys(parsed)) {
    // JSON null is never a valid value; absent optional keys are simply omitted.
    if (parsed[k] === null) fail('INTEGRITY', `snapshot manifest: ${k} is null`);
  }
  checkManifest(parsed, 'INTEGRITY');
  const p = parsed;
  const s = p.summary as Record<string, number>;
  const m: SnapshotManifest = {
    version: 1,
    time: p.time as string,
    host: p.host as string,
    username: p.username as string,
    paths: [...(p.paths as string[])],
    tree: p.tree as string,
    tags: [...(p.tags as string[])],
    kind: p.kind as SnapshotKind,
    source: p.source as string,
    programVersion: p.programVersion as string,
    summary: {
      files: s.files as number,
      dirs: s.dirs as number,
      symlinks: s.symlinks as number,
      bytes: s.bytes as number,
      bytesAdded: s.bytesAdded as number,
      storedBytesAdded: s.storedBytesAdded as number,
      blobsAdded: s.blobsAdded as number,
      durationMs: s.durationMs as number,
    },
  };
  if (p.parent !== undefined) m.parent = p.parent as string;
  if (p.label !== undefined) m.label = p.label as string;
  if (p.profile !== undefined) m.profile = p.profile as string;
  if (p.scope !== undefined) m.scope = p.scope as string;
  if (p.extra !== undefined) m.extra = p.extra as Record<string, unknown>;
  return m;
}

/** The manifest's time in ms since the Unix epoch. */
export function manifestTimeMs(m: SnapshotManifest): number {
  return Date.parse(m.time);
}
