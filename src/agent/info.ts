/**
 * The agent part of a snapshot manifest (`extra.agent`, written by `create.ts`): what a
 * listing shows and a restore needs. Apart from `create.ts` so that reading it does not
 * load the archiver.
 */
import type { SnapshotManifest } from '../snapshot/manifest.js';
import type { AgentScope } from './rules.js';

/** What `extra.agent` of an agent snapshot's manifest holds. */
export interface AgentSnapshotInfo {
  profile: string;
  /** `builtin` or the manifest file. */
  origin: string;
  /** Canonical root. */
  root: string;
  scope: AgentScope;
  noWorkspace: boolean;
  /** Absolute extra paths (inside or outside the root). */
  extraPaths: string[];
  includeSecrets: boolean;
  /** The profile definition used (restores follow it even if the profile changes later). */
  definition: Record<string, unknown>;
  /** Declared paths that were not there (skipped). */
  missing: string[];
  /** Files stored with secret values replaced: root-relative, absolute for extra paths outside the root. */
  stripped: string[];
  /** SQLite databases captured through the backup API (paths as in `stripped`). */
  sqlite: string[];
}

/** The agent info of a manifest, or undefined for snapshots not made through a profile. */
export function agentInfoOf(m: SnapshotManifest): AgentSnapshotInfo | undefined {
  const a = m.extra?.['agent'];
  if (typeof a !== 'object' || a === null) return undefined;
  const o = a as Record<string, unknown>;
  if (typeof o.root !== 'string' || typeof o.profile !== 'string') return undefined;
  const strings = (v: unknown) => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);
  return {
    profile: o.profile,
    origin: typeof o.origin === 'string' ? o.origin : 'builtin',
    root: o.root,
    scope: o.scope === 'config-only' ? 'config-only' : 'everything',
    noWorkspace: o.noWorkspace === true,
    extraPaths: strings(o.extraPaths),
    includeSecrets: o.includeSecrets === true,
    definition: (typeof o.definition === 'object' && o.definition !== null ? o.definition : {}) as Record<string, unknown>,
    missing: strings(o.missing),
    stripped: strings(o.stripped),
    sqlite: strings(o.sqlite),
  };
}
