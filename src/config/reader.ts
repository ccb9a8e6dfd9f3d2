/**
 * Typed, path-aware access to a parsed config object: each getter checks the type of one
 * key and names the file and key path in its error; {@link ObjectReader.done} rejects keys
 * that were never read (typos such as `shedule`).
 *
 * Pure module.
 */
import { homedir } from 'node:os';
import { isAbsolute, resolve } from 'node:path';
import { ClawbackError } from '../errors.js';

/** Joins a key path: `jobs[0].retention`. */
export function childPath(parent: string, key: string | number): string {
  if (typeof key === 'number') return `${parent}[${key}]`;
  return parent === '' ? key : `${parent}.${key}`;
}

/** A `USAGE` error about the config value at `path` of file `where`. */
export function configError(where: string, path: string, message: string): ClawbackError {
  return new ClawbackError('USAGE', `${where}: ${path === '' ? '' : `${path}: `}${message}`, { details: { file: where, path } });
}

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  return typeof v === 'object' ? 'an object' : `a ${typeof v}`;
}

/** Context for path expansion. */
export interface PathContext {
  /** Home directory for `~` (HOME from the env, else the OS's). */
  home: string;
  /** Directory that relative paths are relative to (the config file's directory). */
  baseDir: string;
}

/** The home directory from `env` (HOME), else the OS user's. */
export function homeFrom(env: Record<string, string | undefined>): string {
  const h = env['HOME'];
  return h !== undefined && h !== '' ? h : homedir();
}

/** Expands `~` and `~/…` and makes `p` absolute against `ctx.baseDir`. */
export function expandPath(p: string, ctx: PathContext): string {
  if (p === '~') return ctx.home;
  if (p.startsWith('~/')) return resolve(ctx.home, p.slice(2));
  return isAbsolute(p) ? resolve(p) : resolve(ctx.baseDir, p);
}

/** Expands a repository location: `s3:` locations are kept; directories are expanded like paths. */
export function expandLocation(loc: string, ctx: PathContext): string {
  if (loc.startsWith('s3:')) return loc;
  if (loc.startsWith('local:')) return `local:${expandPath(loc.slice('local:'.length), ctx)}`;
  return expandPath(loc, ctx);
}

/** Reads one JSON object of a config document. */
export class ObjectReader {
  readonly where: string;
  readonly path: string;
  private readonly value: Record<string, unknown>;
  private readonly seen = new Set<string>();

  /** @throws ClawbackError `USAGE` when `value` is not a plain object. */
  constructor(value: unknown, where: string, path: string) {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      throw configError(where, path, `expected an object, found ${typeName(value)}`);
    }
    this.value = value as Record<string, unknown>;
    this.where = where;
    this.path = path;
  }

  /** True when `key` is present (and not null). Marks it as read. */
  has(key: string): boolean {
    this.seen.add(key);
    return this.value[key] !== undefined && this.value[key] !== null;
  }

  /** The raw value of `key` (undefined for absent or null). Marks it as read. */
  raw(key: string): unknown {
    this.seen.add(key);
    const v = this.value[key];
    return v === null ? undefined : v;
  }

  /** An error about `key`. */
  error(key: string, message: string): ClawbackError {
    return configError(this.where, childPath(this.path, key), message);
  }

  /** A string value (non-empty unless `allowEmpty`). */
  str(key: string, opts: { allowEmpty?: boolean } = {}): string | undefined {
    const v = this.raw(key);
    if (v === undefined) return undefined;
    if (typeof v !== 'string') throw this.error(key, `expected a string, found ${typeName(v)}`);
    if (v === '' && !opts.allowEmpty) throw this.error(key, 'must not be empty');
    return v;
  }

  /** A boolean value. */
  bool(key: string): boolean | undefined {
    const v = this.raw(key);
    if (v === undefined) return undefined;
    if (typeof v !== 'boolean') throw this.error(key, `expected true or false, found ${typeName(v)}`);
    return v;
  }

  /** An integer ≥ `min`. */
  int(key: string, min: number): number | undefined {
    const v = this.raw(key);
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) throw this.error(key, `expected a whole number ≥ ${min}, found ${JSON.stringify(v)}`);
    return v;
  }

  /** A list of non-empty strings (a single string is accepted as a one-element list). */
  strList(key: string): string[] | undefined {
    const v = this.raw(key);
    if (v === undefined) return undefined;
    const list = typeof v === 'string' ? [v] : v;
    if (!Array.isArray(list)) throw this.error(key, `expected a list of strings, found ${typeName(v)}`);
    return list.map((x, i) => {
      if (typeof x !== 'string' || x === '') throw configError(this.where, childPath(childPath(this.path, key), i), `expected a non-empty string, found ${typeName(x)}`);
      return x;
    });
  }

  /** A nested object reader, or undefined when absent. */
  obj(key: string): ObjectReader | undefined {
    const v = this.raw(key);
    return v === undefined ? undefined : new ObjectReader(v, this.where, childPath(this.path, key));
  }

  /** The keys that no getter has read so far. */
  unread(): string[] {
    return Object.keys(this.value).filter((k) => !this.seen.has(k));
  }

  /** @throws ClawbackError `USAGE` naming the keys that no getter read. */
  done(): void {
    const unknown = this.unread();
    if (unknown.length > 0) {
      const k = unknown[0] as string;
      throw configError(this.where, childPath(this.path, k), `unknown setting${unknown.length > 1 ? ` (and ${unknown.slice(1).map((u) => JSON.stringify(u)).join(', ')})` : ''}: check the spelling against docs/CONFIG.md`);
    }
  }
}
