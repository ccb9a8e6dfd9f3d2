/**
 * What of an agent's root is captured: the profile's declarations turned into decisions
 * about single paths. Used by capture (archiver hooks) and by in-place restore (which
 * entries are replaced, which live ones are kept).
 *
 * An entry (root-relative path) is *selected* when it is, or is inside, a declared state
 * dir, a `prefix` dir, a state file or an extra path; an *ancestor* when it is a
 * directory on the way to a declared path (captured with only the declared content). A
 * selected entry is still left out when it is *excluded*: clawback's own temp and aside
 * entries, SQLite `-wal`/`-shm`/`-journal` files next to their database, the profile's
 * `excludes`, and its `credentials` (unless secrets are included).
 */
import { existsSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { isEnvFileName, secretFormatOf, type SecretFormat } from '../fs/secrets.js';
import { sidecarBase } from '../fs/sqlite.js';
import { compilePattern, isAncestorOf, matchPattern, matchPatternOrParent, type PathPattern } from './pattern.js';
import type { AgentDefinition, StateFileSpec } from './profile.js';

/** Scopes of an agent snapshot. */
export type AgentScope = 'everything' | 'config-only';

/** The scope choices of one snapshot. */
export interface ScopeOptions {
  scope: AgentScope;
  /** Leave out state dirs and files marked `workspace`. */
  noWorkspace: boolean;
  /** Store credential files and secret values (encrypted repositories only). */
  includeSecrets: boolean;
  /** Extra root-relative paths to capture (extra paths inside the root). */
  extraInside: string[];
}

/** Why an entry is left out. */
export type ExclusionReason = 'internal' | 'sqlite-sidecar' | 'excluded' | 'credential';

/** Prefix of the directory an in-place restore moves live state into. */
export const ASIDE_PREFIX = '.clawback-aside-';
/** Prefix of temp files of restores. */
export const TEMP_PREFIX = '.clawback-tmp-';

interface Unit {
  pattern: PathPattern;
  spec: { optional?: boolean; workspace?: boolean; strategy?: StateFileSpec['strategy'] };
  kind: 'dir' | 'file' | 'extra';
}

/** The compiled rules of one profile and scope. */
export class CaptureRules {
  readonly definition: AgentDefinition;
  readonly options: ScopeOptions;
  /** Declared paths (dirs, files, extras), compiled anchored. */
  readonly units: Unit[] = [];
  /** Active prefixes of top-level dirs. */
  readonly prefixes: string[] = [];
  private readonly excludes: PathPattern[];
  private readonly credentials: PathPattern[];
  private readonly secretFiles: PathPattern[];
  private readonly sqliteFiles: PathPattern[];
  /** Directories known to be units (cache of {@link selection}). */
  private readonly unitDirs = new Set<string>();

  constructor(definition: AgentDefinition, options: ScopeOptions) {
    this.definition = definition;
    this.options = options;
    const d = definition;
    const keep = (s: { workspace?: boolean }) => !(options.noWorkspace && s.workspace);
    if (options.scope === 'everything') {
      for (const s of d.stateDirs.filter(keep)) {
        if (s.path !== undefined) this.units.push({ pattern: compilePattern(s.path, { anchored: true }), spec: s, kind: 'dir' });
        else if (s.prefix !== undefined) this.prefixes.push(s.prefix);
      }
      for (const s of d.stateFiles.filter(keep)) this.units.push({ pattern: compilePattern(s.path, { anchored: true }), spec: s, kind: 'file' });
    }
    if (d.configFile !== undefined && !this.units.some((u) => u.pattern.literal && u.pattern.source === d.configFile)) {
      this.units.push({ pattern: compilePattern(d.configFile, { anchored: true }), spec: {}, kind: 'file' });
    }
    for (const e of options.extraInside) this.units.push({ pattern: compilePattern(e, { anchored: true }), spec: {}, kind: 'extra' });
    this.excludes = d.excludes.map((p) => compilePattern(p));
    this.credentials = d.credentials.map((p) => compilePattern(p));
    const secret = [...d.secretFiles];
    if (d.configFile !== undefined && secretFormatOf(basename(d.configFile)) !== undefined) secret.push('/' + d.configFile);
    this.secretFiles = secret.map((p) => compilePattern(p));
    this.sqliteFiles = d.stateFiles.filter((s) => s.strategy === 'sqlite_backup').map((s) => compilePattern(s.path, { anchored: true }));
  }

  /** 'unit' (inside a declared item), 'ancestor' (on the way to one) or 'none'. */
  selection(rel: string, isDir: boolean): 'unit' | 'ancestor' | 'none' {
    // Walks visit a directory before its entries: everything below a unit dir is a unit.
    const slash = rel.lastIndexOf('/');
    if (slash > 0 && this.unitDirs.has(rel.slice(0, slash))) {
      if (isDir) this.unitDirs.add(rel);
      return 'unit';
    }
    const s = this.computeSelection(rel, isDir);
    if (s === 'unit' && isDir) this.unitDirs.add(rel);
    return s;
  }

  private computeSelection(rel: string, isDir: boolean): 'unit' | 'ancestor' | 'none' {
    const top = rel.split('/')[0]!;
    const topIsDir = rel.includes('/') || isDir;
    if (topIsDir && this.prefixes.some((p) => top.startsWith(p))) return 'unit';
    let ancestor = false;
    for (const u of this.units) {
      if (matchPatternOrParent(u.pattern, rel, isDir)) return 'unit';
      if (isDir && isAncestorOf(u.pattern, rel)) ancestor = true;
    }
    return ancestor ? 'ancestor' : 'none';
  }

  /**
   * Why the entry is left out, or undefined. `absPath` is used to find a sidecar's
   * database next to it.
   */
  exclusion(rel: string, isDir: boolean, absPath: string): ExclusionReason | undefined {
    const name = basename(rel);
    if (name.startsWith(ASIDE_PREFIX) || name.startsWith(TEMP_PREFIX)) return 'internal';
    if (!isDir) {
      const base = sidecarBase(name);
      if (base !== undefined && existsSync(join(dirname(absPath), base))) return 'sqlite-sidecar';
    }
    if (this.excludes.some((p) => matchPattern(p, rel, isDir))) return 'excluded';
    if (!this.options.includeSecrets && this.isCredential(rel, isDir)) return 'credential';
    return undefined;
  }

  /** True when the entry is a credential (by the profile's `credentials` patterns). */
  isCredential(rel: string, isDir: boolean): boolean {
    return this.credentials.some((p) => matchPattern(p, rel, isDir));
  }

  /** True when the entry is captured (selected or an ancestor, and not excluded). */
  wanted(rel: string, isDir: boolean, absPath: string): boolean {
    return this.selection(rel, isDir) !== 'none' && this.exclusion(rel, isDir, absPath) === undefined;
  }

  /** True when the file is declared with strategy `sqlite_backup`. */
  declaredSqlite(rel: string): boolean {
    return this.sqliteFiles.some((p) => matchPattern(p, rel, false));
  }

  /**
   * The format to strip secrets from, or undefined (none, or secrets are included):
   * every `.env`-style file, and the profile's secret files and config file; 'unknown'
   * for a declared secret file whose name tells no format.
   */
  secretFormat(rel: string): SecretFormat | 'unknown' | undefined {
    if (this.options.includeSecrets) return undefined;
    const name = basename(rel);
    if (isEnvFileName(name)) return 'env';
    if (this.secretFiles.some((p) => matchPattern(p, rel, false))) return secretFormatOf(name) ?? 'unknown';
    return undefined;
  }

  /** Declared literal paths (no wildcards) that are reported when missing. */
  reportedPaths(): string[] {
    return this.units.filter((u) => u.pattern.literal && !u.spec.optional).map((u) => u.pattern.source);
  }
}
