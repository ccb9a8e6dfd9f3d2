/**
 * Snapshots of an agent's state through its profile: the root (and extra paths) archived
 * with the profile's hooks, all-or-nothing, as source `profile:<name>:<root>` so versions
 * and labels are per agent. The manifest records `profile`, `scope` and, in
 * `extra.agent`, everything a later restore needs (see {@link AgentSnapshotInfo}).
 */
import { lstat, readdir } from 'node:fs/promises';
import { relative, sep } from 'node:path';
import { createSnapshot, type CreatedSnapshot } from '../archiver/create-snapshot.js';
import { ClawbackError } from '../errors.js';
import type { Progress } from '../progress.js';
import type { Repository } from '../repository/repository.js';
import type { SnapshotKind } from '../snapshot/manifest.js';
import { AgentCapture } from './hooks.js';
import { definitionFromJson, definitionToJson, type AgentDefinition, type AgentProfile } from './profile.js';
import { canonicalPath, isWithin, profileSource } from './root.js';
import { ASIDE_PREFIX, CaptureRules, type AgentScope } from './rules.js';
import type { AgentSnapshotInfo } from './info.js';

export { agentInfoOf, type AgentSnapshotInfo } from './info.js';

/** Options of {@link createAgentSnapshot}. */
export interface AgentSnapshotOptions {
  profile: AgentProfile;
  scope?: AgentScope | undefined;
  noWorkspace?: boolean | undefined;
  /** Absolute extra paths. */
  extraPaths?: string[] | undefined;
  /** Store credentials and secret values: refused unless the repository is encrypted. */
  includeSecrets?: boolean | undefined;
  label?: string | undefined;
  tags?: string[] | undefined;
  kind?: SnapshotKind | undefined;
  time?: Date | undefined;
  host?: string | undefined;
  force?: boolean | undefined;
  signal?: AbortSignal | undefined;
  progress?: Progress | undefined;
  /** Where SQLite copies are staged (default os.tmpdir()). */
  tempDir?: string | undefined;
}

/** The snapshot written, with what the profile capture did. */
export interface AgentSnapshotResult extends CreatedSnapshot {
  info: AgentSnapshotInfo;
}

/** The definition recorded in a snapshot, else `fallback`. */
export function recordedDefinition(info: AgentSnapshotInfo, fallback: AgentDefinition): AgentDefinition {
  return definitionFromJson(info.definition) ?? fallback;
}

/** Extra paths split into root-relative ones (inside) and absolute ones (outside). */
export async function splitExtraPaths(root: string, extraPaths: string[]): Promise<{ inside: string[]; outside: string[]; all: string[] }> {
  const inside: string[] = [];
  const outside: string[] = [];
  const all: string[] = [];
  for (const p of extraPaths) {
    const c = await canonicalPath(p);
    if (c === root) continue;
    all.push(c);
    if (isWithin(c, root)) inside.push(relative(root, c).split(sep).join('/'));
    else outside.push(c);
  }
  return { inside, outside, all };
}

/** The rules of a scope (shared by capture and in-place restore). */
export function rulesFor(def: AgentDefinition, o: { scope: AgentScope; noWorkspace: boolean; includeSecrets: boolean; extraInside: string[] }): CaptureRules {
  if (o.scope === 'config-only' && def.configFile === undefined) {
    throw new ClawbackError('USAGE', `profile ${def.name} declares no config file: scope config-only needs one (config_file)`);
  }
  return new CaptureRules(def, o);
}

/** Names of leftover aside directories of an interrupted in-place restore. */
export async function pendingAsides(root: string): Promise<string[]> {
  try {
    return (await readdir(root)).filter((n) => n.startsWith(ASIDE_PREFIX));
  } catch {
    return [];
  }
}

/**
 * Takes a snapshot of an agent's state through its profile.
 * @throws ClawbackError 'USAGE' (--include-secrets on an unencrypted repository, bad
 *   label, config-only without a config file, missing extra path) before any write;
 *   'CAPTURE' when the root is missing or any item could not be captured (each named with
 *   its reason; nothing is saved); 'ABORTED'.
 */
export async function createAgentSnapshot(repo: Repository, opts: AgentSnapshotOptions): Promise<AgentSnapshotResult> {
  const def = opts.profile.definition;
  const includeSecrets = opts.includeSecrets === true;
  if (includeSecrets && !repo.encrypted) {
    throw new ClawbackError('USAGE', `--include-secrets stores credentials, and repository ${repo.backend.location} is not encrypted: use an encrypted repository (clawback init with a password)`);
  }
  const root = await canonicalPath(opts.profile.root);
  const st = await lstat(root).catch(() => undefined);
  if (!st) throw new ClawbackError('CAPTURE', `the ${def.name} state directory ${root} does not exist: give the right one with --root`, { details: { problems: [{ path: root, reason: 'does not exist' }] } });
  if (!st.isDirectory()) throw new ClawbackError('CAPTURE', `the ${def.name} state directory ${root} is not a directory`, { details: { problems: [{ path: root, reason: 'not a directory' }] } });
  for (const p of opts.extraPaths ?? []) {
    if (!(await lstat(p).catch(() => undefined))) throw new ClawbackError('USAGE', `--extra-path ${p} does not exist`);
  }
  const extras = await splitExtraPaths(root, opts.extraPaths ?? []);
  const scope = opts.scope ?? 'everything';
  const noWorkspace = opts.noWorkspace === true;
  const rules = rulesFor(def, { scope, noWorkspace, includeSecrets, extraInside: extras.inside });

  const missing: string[] = [];
  for (const p of rules.reportedPaths()) {
    if (!(await lstat(`${root}/${p}`).catch(() => undefined))) {
      missing.push(p);
      opts.progress?.warn?.(`skipped ${p}: declared by profile ${def.name} but not present in ${root}`);
    }
  }
  for (const rel of extras.inside) {
    const abs = `${root}/${rel}`;
    const reason = rules.exclusion(rel, (await lstat(abs)).isDirectory(), abs);
    if (reason !== undefined) {
      const why = reason === 'credential' ? 'a credential (use --include-secrets with an encrypted repository)' : reason === 'excluded' ? 'excluded by the profile' : 'never stored';
      opts.progress?.warn?.(`--extra-path ${abs} is not captured: it is ${why}`);
    }
  }
  for (const n of await pendingAsides(root)) {
    opts.progress?.warn?.(`${root}/${n} is left over from an interrupted restore (not captured): run \`clawback snapshot restore --profile ${def.name}\` to recover it`);
  }

  const capture = new AgentCapture({ rules, root, rootAliases: [opts.profile.root], extraOutside: extras.outside, tempDir: opts.tempDir });
  await capture.init();
  // createSnapshot encodes `extra` after the archive ran, so the hooks' lists are complete then.
  const info: AgentSnapshotInfo = {
    profile: def.name,
    origin: opts.profile.origin,
    root,
    scope,
    noWorkspace,
    extraPaths: extras.all,
    includeSecrets,
    definition: definitionToJson(def),
    missing,
    stripped: capture.stripped,
    sqlite: capture.sqlite,
  };
  try {
    const created = await createSnapshot(repo, {
      paths: [root, ...extras.outside],
      label: opts.label,
      tags: opts.tags,
      kind: opts.kind ?? 'manual',
      source: profileSource(def.name, root),
      profile: def.name,
      scope,
      extra: { agent: info as unknown as Record<string, unknown> },
      hooks: capture.hooks(),
      time: opts.time,
      host: opts.host,
      force: opts.force,
      signal: opts.signal,
      progress: opts.progress,
    });
    return { ...created, info };
  } finally {
    await capture.close();
  }
}
