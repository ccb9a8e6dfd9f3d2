/**
 * User agent manifests (JSON): the same declarations as the built-in profiles, in the
 * shape of NemoClaw's agent manifests (`state_dirs`, `state_files` with `strategy`), plus
 * clawback's `excludes`, `credentials`, `secret_files` and `allow_links`. docs/PROFILES.md
 * has the reference. Pure module (the caller reads the file).
 *
 * ```json
 * { "name": "my-agent", "root": "/sandbox/.my-agent", "config_file": "config.json",
 *   "state_dirs": ["memory", {"prefix": "workspace-", "workspace": true}],
 *   "state_files": [{"path": "state.db", "strategy": "sqlite_backup"}, "SOUL.md"],
 *   "excludes": ["*.log"], "credentials": ["auth.json"], "secret_files": ["config.json"],
 *   "allow_links": [{"path": "current", "target": "/opt/agent/current"}] }
 * ```
 *
 * NemoClaw fields are understood too: `config: {dir, config_file, env_file, auth_file}`
 * (dir → root, env_file/auth_file → credentials), `backup: false` on a state dir (left
 * out), `restore: {merge: …}` on a state file (its secrets are stripped and merged).
 * Unknown fields are not errors (NemoClaw manifests carry many that do not concern
 * snapshots); they come back as warnings. Wrong types are errors.
 */
import { ClawbackError } from '../errors.js';
import type { AgentDefinition, LinkAllowance, StateDirSpec, StateFileSpec } from './profile.js';
import { validateDefinition } from './profile.js';

/** A parsed manifest. */
export interface ParsedManifest {
  definition: AgentDefinition;
  /** `root` or `config.dir` as written (relative to the manifest's directory), if any. */
  root?: string;
  /** Fields that were ignored. */
  warnings: string[];
}

const TOP_KEYS = new Set(['name', 'root', 'config_file', 'config', 'state_dirs', 'state_files', 'excludes', 'credentials', 'secret_files', 'allow_links']);
const DIR_KEYS = new Set(['path', 'prefix', 'workspace', 'optional', 'backup']);
const FILE_KEYS = new Set(['path', 'strategy', 'workspace', 'optional', 'restore', 'backup']);
const CONFIG_KEYS = new Set(['dir', 'config_file', 'env_file', 'auth_file', 'format']);

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Parses and validates a manifest's text. `file` names it in messages.
 * @throws ClawbackError 'USAGE' for invalid JSON or a field of the wrong type or value,
 *   naming the file and the field.
 */
export function parseAgentManifest(text: string, file: string): ParsedManifest {
  const bad = (field: string, problem: string): never => {
    throw new ClawbackError('USAGE', `agent manifest ${file}: ${field} ${problem}`);
  };
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new ClawbackError('USAGE', `agent manifest ${file} is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  if (!isObject(doc)) return bad('(top level)', 'must be a JSON object');
  const warnings: string[] = [];
  const unknown = (where: string, o: Record<string, unknown>, known: Set<string>) => {
    for (const k of Object.keys(o)) if (!known.has(k)) warnings.push(`agent manifest ${file}: ${where}${k} is not used by clawback (ignored)`);
  };
  unknown('', doc, TOP_KEYS);
  const str = (field: string, v: unknown): string => (typeof v === 'string' && v !== '' ? v : bad(field, 'must be a non-empty string'));
  const bool = (field: string, v: unknown): boolean | undefined => (v === undefined ? undefined : typeof v === 'boolean' ? v : bad(field, 'must be true or false'));
  const strList = (field: string, v: unknown): string[] => {
    if (v === undefined) return [];
    if (!Array.isArray(v)) return bad(field, 'must be an array of strings');
    return v.map((x, i) => str(`${field}[${i}]`, x));
  };

  const name = str('name', doc.name);
  let root = doc.root === undefined ? undefined : str('root', doc.root);
  let configFile = doc.config_file === undefined ? undefined : str('config_file', doc.config_file);
  const credentials = strList('credentials', doc.credentials);
  const secretFiles = strList('secret_files', doc.secret_files);
  if (doc.config !== undefined) {
    if (!isObject(doc.config)) bad('config', 'must be an object');
    const c = doc.config as Record<string, unknown>;
    unknown('config.', c, CONFIG_KEYS);
    if (c.dir !== undefined && root === undefined) root = str('config.dir', c.dir);
    if (c.config_file !== undefined && configFile === undefined) configFile = str('config.config_file', c.config_file);
    for (const k of ['env_file', 'auth_file'] as const) if (c[k] !== undefined) credentials.push('/' + str(`config.${k}`, c[k]));
  }

  const stateDirs: StateDirSpec[] = [];
  if (doc.state_dirs !== undefined && !Array.isArray(doc.state_dirs)) bad('state_dirs', 'must be an array');
  ((doc.state_dirs as unknown[] | undefined) ?? []).forEach((e, i) => {
    const f = `state_dirs[${i}]`;
    if (typeof e === 'string') return void stateDirs.push({ path: str(f, e), ...(e === 'workspace' ? { workspace: true } : {}) });
    if (!isObject(e)) return bad(f, 'must be a path string or an object with "path" or "prefix"');
    unknown(`${f}.`, e, DIR_KEYS);
    if (bool(`${f}.backup`, e.backup) === false) return;
    const spec: StateDirSpec = {};
    if (e.path !== undefined) spec.path = str(`${f}.path`, e.path);
    if (e.prefix !== undefined) spec.prefix = str(`${f}.prefix`, e.prefix);
    const ws = bool(`${f}.workspace`, e.workspace) ?? (spec.path === 'workspace' || (spec.prefix?.startsWith('workspace') ?? false));
    if (ws) spec.workspace = true;
    if (bool(`${f}.optional`, e.optional)) spec.optional = true;
    stateDirs.push(spec);
  });

  const stateFiles: StateFileSpec[] = [];
  if (doc.state_files !== undefined && !Array.isArray(doc.state_files)) bad('state_files', 'must be an array');
  ((doc.state_files as unknown[] | undefined) ?? []).forEach((e, i) => {
    const f = `state_files[${i}]`;
    if (typeof e === 'string') return void stateFiles.push({ path: str(f, e), strategy: 'copy' });
    if (!isObject(e)) return bad(f, 'must be a path string or an object with "path"');
    unknown(`${f}.`, e, FILE_KEYS);
    if (bool(`${f}.backup`, e.backup) === false) return;
    const strategy = e.strategy === undefined ? 'copy' : e.strategy;
    if (strategy !== 'copy' && strategy !== 'sqlite_backup') bad(`${f}.strategy`, `must be "copy" or "sqlite_backup", not ${JSON.stringify(strategy)}`);
    const spec: StateFileSpec = { path: str(`${f}.path`, e.path), strategy: strategy as StateFileSpec['strategy'] };
    if (bool(`${f}.workspace`, e.workspace)) spec.workspace = true;
    if (bool(`${f}.optional`, e.optional)) spec.optional = true;
    if (e.restore !== undefined) {
      if (!isObject(e.restore)) bad(`${f}.restore`, 'must be an object');
      if ((e.restore as Record<string, unknown>).merge !== undefined) secretFiles.push('/' + spec.path);
    }
    stateFiles.push(spec);
  });

  const allowLinks: LinkAllowance[] = [];
  if (doc.allow_links !== undefined && !Array.isArray(doc.allow_links)) bad('allow_links', 'must be an array');
  ((doc.allow_links as unknown[] | undefined) ?? []).forEach((e, i) => {
    const f = `allow_links[${i}]`;
    if (!isObject(e)) return bad(f, 'must be an object {"path", "target"} or {"path", "hardlink": true}');
    unknown(`${f}.`, e, new Set(['path', 'target', 'hardlink']));
    const a: LinkAllowance = { path: str(`${f}.path`, e.path) };
    if (e.target !== undefined) a.target = str(`${f}.target`, e.target);
    if (bool(`${f}.hardlink`, e.hardlink)) a.hardlink = true;
    allowLinks.push(a);
  });

  const definition: AgentDefinition = {
    name,
    ...(configFile !== undefined ? { configFile } : {}),
    stateDirs,
    stateFiles,
    excludes: strList('excludes', doc.excludes),
    credentials,
    secretFiles,
    allowLinks,
  };
  validateDefinition(definition, `agent manifest ${file}`);
  if (stateDirs.length === 0 && stateFiles.length === 0 && configFile === undefined) bad('(top level)', 'declares nothing to capture: add state_dirs, state_files or config_file');
  return { definition, ...(root !== undefined ? { root } : {}), warnings };
}
