/**
 * Agent profiles: where an agent keeps its state, what of it is captured, what never is.
 * The built-in ones are in `builtin.ts`, user manifests are read by `manifest-file.ts`;
 * docs/PROFILES.md describes both. Pure module.
 */
import { ClawbackError } from '../errors.js';
import { patternProblem } from './pattern.js';

/** How a state file is captured: as bytes, or through SQLite's online backup API. */
export type StateFileStrategy = 'copy' | 'sqlite_backup';

/** A directory of agent state: one path, or every top-level directory with a prefix. */
export interface StateDirSpec {
  /** Root-relative path (may hold `*`). Exactly one of `path` and `prefix`. */
  path?: string;
  /** Every top-level directory whose name starts with this (`workspace-`). */
  prefix?: string;
  /** Part of the agent's workspace (left out by `--no-workspace`). */
  workspace?: boolean;
  /** Not reported when missing. */
  optional?: boolean;
}

/** A state file (root-relative path, may hold `*` within a segment). */
export interface StateFileSpec {
  path: string;
  strategy: StateFileStrategy;
  workspace?: boolean;
  optional?: boolean;
}

/**
 * An allowed link: a symlink at `path` (root-relative, or absolute for extra paths)
 * whose target, as `readlink` returns it, is exactly `target`; or, with `hardlink`, a
 * file at `path` that may have several hard links.
 */
export interface LinkAllowance {
  path: string;
  target?: string;
  hardlink?: boolean;
}

/** What an agent profile declares. All paths and patterns are relative to the root. */
export interface AgentDefinition {
  /** Profile name: `[A-Za-z0-9][A-Za-z0-9._-]{0,62}`. */
  name: string;
  /** The agent's config file: all that scope `config-only` captures. */
  configFile?: string;
  stateDirs: StateDirSpec[];
  stateFiles: StateFileSpec[];
  /** Patterns (see `pattern.ts`) never captured. */
  excludes: string[];
  /** Patterns of credential files and dirs: never captured unless secrets are included. */
  credentials: string[];
  /** Patterns of JSON/JSON5/YAML configs whose secret fields are replaced (`.env` files always are). */
  secretFiles: string[];
  allowLinks: LinkAllowance[];
}

/** A definition bound to a root directory. */
export interface AgentProfile {
  definition: AgentDefinition;
  /** Absolute path of the agent's state directory. */
  root: string;
  /** `builtin` or the manifest file it came from. */
  origin: string;
}

/** Profile names: like snapshot labels. */
export const PROFILE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

/**
 * Checks a definition (names, paths, patterns, strategies, allow-list).
 * @throws ClawbackError 'USAGE' naming the field (`where` prefixes the message).
 */
export function validateDefinition(d: AgentDefinition, where = `profile ${d.name}`): void {
  const bad = (field: string, problem: string): never => {
    throw new ClawbackError('USAGE', `${where}: ${field} ${problem}`);
  };
  if (typeof d.name !== 'string' || !PROFILE_NAME.test(d.name)) bad('name', `${JSON.stringify(d.name)} must match ${PROFILE_NAME.source}`);
  if (d.configFile !== undefined) {
    const p = patternProblem(d.configFile, { path: true });
    if (p) bad('config_file', p);
  }
  d.stateDirs.forEach((s, i) => {
    if ((s.path === undefined) === (s.prefix === undefined)) bad(`state_dirs[${i}]`, 'needs exactly one of "path" and "prefix"');
    if (s.path !== undefined) {
      const p = patternProblem(s.path, { path: true });
      if (p) bad(`state_dirs[${i}].path`, p);
    }
    if (s.prefix !== undefined && (typeof s.prefix !== 'string' || s.prefix === '' || s.prefix.includes('/'))) bad(`state_dirs[${i}].prefix`, 'must be a non-empty name without "/"');
  });
  d.stateFiles.forEach((s, i) => {
    const p = patternProblem(s.path, { path: true });
    if (p) bad(`state_files[${i}].path`, p);
    if (s.strategy !== 'copy' && s.strategy !== 'sqlite_backup') bad(`state_files[${i}].strategy`, `must be "copy" or "sqlite_backup", not ${JSON.stringify(s.strategy)}`);
  });
  for (const [field, list] of [['excludes', d.excludes], ['credentials', d.credentials], ['secret_files', d.secretFiles]] as const) {
    list.forEach((pat, i) => {
      const p = patternProblem(pat);
      if (p) bad(`${field}[${i}]`, p);
    });
  }
  d.allowLinks.forEach((a, i) => {
    if (typeof a.path !== 'string' || a.path === '' || a.path.includes('\0')) bad(`allow_links[${i}].path`, 'must be a non-empty path');
    const hasTarget = typeof a.target === 'string' && a.target !== '';
    if (hasTarget === (a.hardlink === true)) bad(`allow_links[${i}]`, 'needs either "target" (a symlink) or "hardlink": true');
  });
}

/** A JSON-safe copy of a definition (no undefined fields), for snapshot manifests. */
export function definitionToJson(d: AgentDefinition): Record<string, unknown> {
  return JSON.parse(JSON.stringify(d)) as Record<string, unknown>;
}

/**
 * Reads a definition back from a snapshot manifest's `extra.agent.definition`; undefined
 * when absent or malformed.
 */
export function definitionFromJson(v: unknown): AgentDefinition | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const o = v as Record<string, unknown>;
  const arr = (x: unknown) => (Array.isArray(x) ? x : undefined);
  const d = {
    name: o.name,
    ...(typeof o.configFile === 'string' ? { configFile: o.configFile } : {}),
    stateDirs: arr(o.stateDirs),
    stateFiles: arr(o.stateFiles),
    excludes: arr(o.excludes),
    credentials: arr(o.credentials),
    secretFiles: arr(o.secretFiles),
    allowLinks: arr(o.allowLinks),
  } as AgentDefinition;
  if (!d.stateDirs || !d.stateFiles || !d.excludes || !d.credentials || !d.secretFiles || !d.allowLinks) return undefined;
  try {
    validateDefinition(d);
  } catch {
    return undefined;
  }
  return d;
}
