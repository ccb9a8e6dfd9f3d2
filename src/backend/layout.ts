/**
 * The repository path layout, shared by every backend (it is part of the on-disk format,
 * docs/FORMAT.md and docs/BACKENDS.md):
 *
 * ```text
 * config                        the single config file
 * keys/<name>                   key files
 * data/<name[0..2]>/<name>      pack files, fanned out by the first two characters
 * index/<name>                  index files
 * snapshots/<name>              snapshot manifests
 * locks/<name>                  lock files
 * ```
 *
 * Paths use `/` separators on every platform; {@link LocalBackend} joins them with the
 * platform separator. Files whose name starts with `.` (such as the local backend's
 * `.tmp-*` files) are never part of the repository.
 *
 * Also holds {@link resolveRange}, the range arithmetic every backend's `load` shares.
 *
 * @module
 */

import { ClawbackError } from '../errors.js';
import { FILE_TYPES } from './backend.js';
import type { FileType, Handle, LoadRange } from './backend.js';

/** Prefix of temporary files written by {@link LocalBackend} before they are linked into place. */
export const TEMP_PREFIX = '.tmp-';

/** The path of the config file. */
export const CONFIG_PATH = 'config';

/** The file types that live in a directory of their own (all but `config`). */
export const DIR_TYPES: readonly Exclude<FileType, 'config'>[] = ['keys', 'data', 'index', 'snapshots', 'locks'];

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
const FANOUT_RE = /^[A-Za-z0-9]{2}$/;

/** True when `name` can be a `data/` fan-out directory (two letters or digits). */
export function isFanoutDir(name: string): boolean {
  return FANOUT_RE.test(name);
}

/** A temp file's name: {@link TEMP_PREFIX} and letters or digits (the local backend's are 16 hex digits). */
const TEMP_NAME_RE = /^\.tmp-[A-Za-z0-9]{1,64}$/;

/**
 * True when repository-relative `path` names a temp file where a `save` puts one: beside
 * `config` (the root), in `keys/`, `index/`, `snapshots/`, `locks/` or a `data/xx/`
 * fan-out directory. Never throws.
 */
export function isTempPath(path: string): boolean {
  const parts = path.split('/');
  const name = parts[parts.length - 1] ?? '';
  if (!TEMP_NAME_RE.test(name)) return false;
  if (parts.length === 1) return true;
  if (parts.length === 2) return parts[0] !== 'data' && (DIR_TYPES as readonly string[]).includes(parts[0] ?? '');
  return parts.length === 3 && parts[0] === 'data' && FANOUT_RE.test(parts[1] ?? '');
}

/**
 * Throws `INTERNAL` unless {@link isTempPath} accepts `path`, so that removing a temp file
 * can never remove a repository file.
 *
 * @throws ClawbackError `INTERNAL` (a bad path is a bug in the caller).
 */
export function checkTempPath(path: string): void {
  if (!isTempPath(path)) {
    throw new ClawbackError('INTERNAL', `${JSON.stringify(path)} is not a temp file path (expected [dir/].tmp-…)`, { details: { path } });
  }
}

/**
 * Throws `INTERNAL` unless `name` is a safe file name for `type`: non-empty, at most 255
 * characters of `[A-Za-z0-9_.-]`, not starting with `.` (so never `.`/`..` nor a temp
 * file), and for `data` at least two characters (the fan-out directory).
 *
 * @throws ClawbackError `INTERNAL` (a bad name is a bug in the caller).
 */
export function checkName(type: FileType, name: string): void {
  if (type === 'config') return;
  const ok = name.length <= 255 && NAME_RE.test(name) && (type !== 'data' || name.length >= 2);
  if (!ok) {
    throw new ClawbackError('INTERNAL', `invalid ${type} file name ${JSON.stringify(name)}`, {
      details: { type, name },
    });
  }
}

/**
 * The repository-relative path of `h`, with `/` separators: `config`, `keys/<name>`,
 * `data/<first two chars>/<name>`, `index/<name>`, `snapshots/<name>`, `locks/<name>`.
 * For `config` the name is ignored.
 *
 * @throws ClawbackError `INTERNAL` for a name {@link checkName} rejects or an unknown type.
 */
export function pathFor(h: Handle): string {
  if (h.type === 'config') return CONFIG_PATH;
  checkName(h.type, h.name);
  switch (h.type) {
    case 'data':
      return `data/${h.name.slice(0, 2)}/${h.name}`;
    case 'keys':
    case 'index':
    case 'snapshots':
    case 'locks':
      return `${h.type}/${h.name}`;
    default:
      throw new ClawbackError('INTERNAL', `unknown file type ${JSON.stringify((h as Handle).type)}`);
  }
}

/**
 * The directory (repository-relative, `/` separators) that holds the files of `type`;
 * `''` for `config` (the repository root). For `data` this is `data`; the files are one
 * level further down in the fan-out directories.
 */
export function dirFor(type: FileType): string {
  return type === 'config' ? '' : type;
}

/**
 * The inverse of {@link pathFor}: the handle stored at repository-relative `path`, or
 * `undefined` if `path` is not a repository file (temp files, unknown directories, a data
 * file in the wrong fan-out directory, extra nesting). Never throws.
 */
export function handleFromPath(path: string): Handle | undefined {
  if (path === CONFIG_PATH) return { type: 'config', name: 'config' };
  const parts = path.split('/');
  const type = parts[0] as FileType | undefined;
  if (type === undefined || type === 'config' || !FILE_TYPES.includes(type)) return undefined;
  let name: string | undefined;
  if (type === 'data') {
    if (parts.length !== 3) return undefined;
    const [, fan, n] = parts;
    if (fan === undefined || n === undefined || !FANOUT_RE.test(fan) || !n.startsWith(fan)) return undefined;
    name = n;
  } else {
    if (parts.length !== 2) return undefined;
    name = parts[1];
  }
  if (name === undefined || name.length > 255 || !NAME_RE.test(name)) return undefined;
  if (type === 'data' && name.length < 2) return undefined;
  return { type, name };
}

/** A {@link LoadRange} resolved against a file's size: `[start, end)` in bytes. */
export interface ResolvedRange {
  /** First byte (inclusive), `0 <= start <= size`. */
  start: number;
  /** One past the last byte, `start <= end <= size`. */
  end: number;
}

/**
 * Checks the shape of `range` (offset and length non-negative safe integers).
 *
 * @throws ClawbackError `INTERNAL` for a negative, fractional or non-finite value.
 */
export function checkRange(range: LoadRange | undefined): void {
  if (range === undefined) return;
  for (const [k, v] of [['offset', range.offset], ['length', range.length]] as const) {
    if (v !== undefined && !(Number.isSafeInteger(v) && v >= 0)) {
      throw new ClawbackError('INTERNAL', `invalid load range: ${k} ${String(v)} must be a non-negative integer`, {
        details: { offset: range.offset, length: range.length },
      });
    }
  }
}

/**
 * Resolves `range` against a file of `size` bytes: the range is cut at the end of the
 * file, and an offset past the end gives an empty range at `size`.
 *
 * @throws ClawbackError `INTERNAL` for a malformed range (see {@link checkRange}).
 */
export function resolveRange(range: LoadRange | undefined, size: number): ResolvedRange {
  checkRange(range);
  const start = Math.min(range?.offset ?? 0, size);
  const end = range?.length === undefined ? size : Math.min(size, start + range.length);
  return { start, end };
}
