/**
 * The archiver hooks of an agent snapshot (see `archiver.ts` `ArchiveHooks`):
 *
 * - include: the profile's selection and exclusions (`rules.ts`);
 * - check: symlinks whose target leaves the captured roots, files with more than one hard
 *   link, fifos, sockets and devices are rejected (each one fails the whole snapshot with
 *   its path and reason) unless the profile's allow-list names the exact path and target;
 * - capture: SQLite databases (declared `sqlite_backup`, or with the SQLite header) are
 *   copied through the online backup API into a temp file and stored as `sqlite` nodes;
 *   config files with secrets (`.env`, the profile's secret files) are stored with the
 *   secret values replaced by a placeholder.
 */
import { mkdtemp, readFile, readlink, realpath, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve, sep } from 'node:path';
import type { ArchiveHooks, CaptureResult, EntryInfo } from '../archiver/archiver.js';
import { ClawbackError, isClawbackError } from '../errors.js';
import { decodeConfigText, stripSecrets } from '../fs/secrets.js';
import { hasSqliteHeader, sqliteStamp } from '../fs/sqlite.js';
import { captureDatabase } from '../archiver/sqlite-capture.js';
import type { CaptureRules } from './rules.js';

/** Where an absolute path sits: under the root (root-relative path) or under an extra path. */
export interface Located {
  /** Root-relative path, or `basename(extra)/…` for entries under an extra path outside the root. */
  rel: string;
  inRoot: boolean;
}

function within(p: string, dir: string): boolean {
  return p === dir || p.startsWith(dir.endsWith(sep) ? dir : dir + sep);
}

function kindOf(e: EntryInfo): string | undefined {
  const st = e.stats;
  if (st.isFIFO()) return 'a fifo';
  if (st.isSocket()) return 'a socket';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isCharacterDevice()) return 'a character device';
  return undefined;
}

/** Options of {@link AgentCapture}. */
export interface AgentCaptureOptions {
  rules: CaptureRules;
  /** Absolute root (canonical). */
  root: string;
  /** Other spellings of the root (as given, before resolving symlinks) for link checks. */
  rootAliases?: string[];
  /** Absolute extra paths outside the root. */
  extraOutside: string[];
  /** Directory for SQLite temp copies (default os.tmpdir()). */
  tempDir?: string | undefined;
}

/** Builds the hooks of one agent snapshot and records what they did. */
export class AgentCapture {
  /** Files stored with secrets removed: root-relative, absolute for extra paths outside the root. */
  readonly stripped: string[] = [];
  /** Databases captured through the backup API (paths as in {@link stripped}). */
  readonly sqlite: string[] = [];
  private readonly opts: AgentCaptureOptions;
  private roots: string[];
  private temp: Promise<string> | undefined;

  constructor(opts: AgentCaptureOptions) {
    this.opts = opts;
    this.roots = [opts.root, ...(opts.rootAliases ?? []), ...opts.extraOutside];
  }

  /** Adds the real paths of the roots (symlink targets may use either spelling). */
  async init(): Promise<void> {
    const real = await Promise.all(this.roots.map((r) => realpath(r).catch(() => r)));
    this.roots = [...new Set([...this.roots, ...real])];
  }

  /** Removes the temp directory. */
  async close(): Promise<void> {
    if (this.temp) await rm(await this.temp, { recursive: true, force: true });
  }

  /** Where `abs` is, or undefined for the source paths themselves. */
  locate(abs: string): Located | undefined {
    const { root, extraOutside } = this.opts;
    if (within(abs, root) && abs !== root) return { rel: relative(root, abs).split(sep).join('/'), inRoot: true };
    for (const e of extraOutside) {
      if (within(abs, e)) return { rel: relative(dirname(e), abs).split(sep).join('/'), inRoot: false };
    }
    return undefined;
  }

  /** The hooks for `archive()`. */
  hooks(): ArchiveHooks {
    return {
      include: (e) => this.include(e),
      check: (e) => this.check(e),
      capture: (e) => this.capture(e),
      captureStamp: (e) => this.stamp(e),
    };
  }

  private include(e: EntryInfo): boolean {
    const loc = this.locate(e.absPath);
    if (!loc) return true;
    const isDir = e.stats.isDirectory();
    if (loc.inRoot) return this.opts.rules.wanted(loc.rel, isDir, e.absPath);
    return this.opts.rules.exclusion(loc.rel, isDir, e.absPath) === undefined;
  }

  private allowance(e: EntryInfo, loc: Located | undefined) {
    return this.opts.rules.definition.allowLinks.filter((a) => a.path === e.absPath || (loc?.inRoot === true && a.path === loc.rel));
  }

  private async check(e: EntryInfo): Promise<string | undefined> {
    const loc = this.locate(e.absPath);
    const st = e.stats;
    if (st.isSymbolicLink()) {
      const target = await readlink(e.absPath);
      const allowed = this.allowance(e, loc).filter((a) => a.target !== undefined);
      if (allowed.length > 0) {
        if (allowed.some((a) => a.target === target)) return undefined;
        return `symbolic link target changed: the allow-list names ${allowed.map((a) => JSON.stringify(a.target)).join(', ')}, the link points to ${JSON.stringify(target)}`;
      }
      const resolved = resolve(dirname(e.absPath), target);
      if (this.roots.some((r) => within(resolved, r))) return undefined;
      return `symbolic link to ${JSON.stringify(target)} leaves the captured roots; allow it in the profile's allow_links as {"path": ${JSON.stringify(loc?.rel ?? e.absPath)}, "target": ${JSON.stringify(target)}}`;
    }
    if (st.isFile() && st.nlink > 1n) {
      if (this.allowance(e, loc).some((a) => a.hardlink)) return undefined;
      return `has ${st.nlink} hard links (another name of this file is outside the snapshot's control); allow it in allow_links as {"path": ${JSON.stringify(loc?.rel ?? e.absPath)}, "hardlink": true} or make it a single file`;
    }
    const special = kindOf(e);
    if (special) return `is ${special}; only files, directories and symbolic links can be captured (exclude it in the profile)`;
    return undefined;
  }

  private recordSqlite(name: string): void {
    if (!this.sqlite.includes(name)) this.sqlite.push(name);
  }

  /** Change stamp of a database (so an unchanged one is not backed up again). */
  private async stamp(e: EntryInfo) {
    if (!hasSqliteHeader(e.absPath, Number(e.stats.size))) return undefined;
    const loc = this.locate(e.absPath);
    this.recordSqlite(loc?.inRoot === false ? e.absPath : (loc?.rel ?? e.absPath));
    return sqliteStamp(e.absPath);
  }

  private tempDir(): Promise<string> {
    this.temp ??= mkdtemp(join(this.opts.tempDir ?? tmpdir(), 'clawback-sqlite-'));
    return this.temp;
  }

  private async capture(e: EntryInfo): Promise<CaptureResult | undefined> {
    const loc = this.locate(e.absPath);
    const rel = loc?.rel ?? e.absPath;
    const rules = this.opts.rules;
    const size = Number(e.stats.size);
    const declared = loc?.inRoot === true && rules.declaredSqlite(rel);
    if (hasSqliteHeader(e.absPath, size)) {
      const result = await captureDatabase(e.absPath, size, () => this.tempDir());
      this.recordSqlite(loc?.inRoot === false ? e.absPath : rel);
      return result;
    }
    if (declared && size > 0 && !/[*?]/.test(rel)) {
      const literal = rules.definition.stateFiles.some((s) => s.strategy === 'sqlite_backup' && s.path === rel);
      if (literal) throw new ClawbackError('CAPTURE', 'is declared sqlite_backup but is not a SQLite database (no "SQLite format 3" header)');
    }
    const format = loc?.inRoot === false ? rules.secretFormat(rel.split('/').pop()!) : rules.secretFormat(rel);
    if (format === undefined) return undefined;
    if (format === 'unknown') throw new ClawbackError('CAPTURE', 'is a secret file of unknown format: name it .json, .json5, .yaml, .yml or .env, or list it under credentials');
    try {
      const text = decodeConfigText(await readFile(e.absPath), rel);
      const r = stripSecrets(format, text, rel);
      if (r.removed === 0) return undefined;
      this.stripped.push(loc?.inRoot === false ? e.absPath : rel);
      return { type: 'file', bytes: Buffer.from(r.text, 'utf8') };
    } catch (err) {
      if (isClawbackError(err, 'INTEGRITY')) {
        throw new ClawbackError('CAPTURE', `${err.message}; its secrets cannot be removed (fix the file, exclude it, or use --include-secrets with an encrypted repository)`, { cause: err });
      }
      throw err;
    }
  }
}
