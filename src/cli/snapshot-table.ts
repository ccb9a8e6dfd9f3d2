/**
 * The `snapshot list` table, shared by plain and agent listings: version, name, time, id,
 * files, size, added, kind, and scope when any row has one.
 */
import { shortId } from '../ids.js';
import type { SnapshotManifest } from '../snapshot/manifest.js';
import type { Versioned } from '../snapshot/selector.js';
import { formatBytes, formatTable } from './format.js';

/** Renders `rows` (v1 first); `scopeOf` gives the scope column's text, when wanted. */
export function formatSnapshotTable(rows: readonly Versioned[], scopeOf?: (m: SnapshotManifest) => string): string {
  const header = ['version', 'name', 'time', 'id', 'files', 'size', 'added', 'kind', ...(scopeOf ? ['scope'] : [])];
  return formatTable(
    header,
    rows.map((v) => {
      const m = v.manifest;
      return [
        `v${v.version}`,
        m.label ?? '',
        m.time.replace(/\.\d+Z$/, 'Z'),
        shortId(v.id),
        String(m.summary.files),
        formatBytes(m.summary.bytes),
        formatBytes(m.summary.bytesAdded),
        m.kind + (m.tags.includes('pre-restore') ? ' (pre-restore)' : ''),
        ...(scopeOf ? [scopeOf(m)] : []),
      ];
    }),
  );
}

/** One snapshot as `snapshot list --json` prints it (fields may be added, never renamed). */
export function snapshotRow(v: Versioned) {
  const m = v.manifest;
  return {
    version: v.version,
    id: v.id,
    name: m.label ?? null,
    time: m.time,
    kind: m.kind,
    source: m.source,
    paths: m.paths,
    profile: m.profile ?? null,
    scope: m.scope ?? null,
    tags: m.tags,
    files: m.summary.files,
    size: m.summary.bytes,
    added: m.summary.bytesAdded,
    storedAdded: m.summary.storedBytesAdded,
    host: m.host,
    tree: m.tree,
    parent: m.parent ?? null,
  };
}
