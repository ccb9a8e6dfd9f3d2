/**
 * Selecting one snapshot from a user-supplied selector string (`restore v3`,
 * `diff before-upgrade latest`, `show 2026-04-14T18:02`, `show 3fa2b1c9`).
 *
 * Versions are numbered per list of entries given: callers that group by source pass the
 * entries of one source (see {@link filterBySource}), so `v1` is that source's oldest.
 *
 * Pure module.
 */

import { ClawbackError } from '../errors.js';
import type { SnapshotId } from '../ids.js';
import type { SnapshotManifest } from './manifest.js';

/** A snapshot id with its decoded manifest. */
export interface SnapshotEntry {
  id: SnapshotId;
  manifest: SnapshotManifest;
}

/** A snapshot with its version number: 1 = oldest of the list it was numbered in. */
export interface Versioned extends SnapshotEntry {
  version: number;
}

/** Which selector rule matched. */
export type MatchKind = 'latest' | 'version' | 'label' | 'timestamp' | 'id';

/** The outcome of {@link resolveSelector}. */
export interface Resolved {
  /** The selected snapshot. */
  snapshot: Versioned;
  /** The rule that selected it. */
  matchedBy: MatchKind;
  /** Other snapshots the selector matched (timestamp prefixes only), newest first; else empty. */
  others: Versioned[];
}

/** Shortest accepted id prefix, in hex characters. */
export const MIN_ID_PREFIX = 6;

/** Longest accepted selector, in characters. */
export const MAX_SELECTOR_LENGTH = 128;

/** Characters a selector may contain: those of labels, versions, timestamps and ids. */
const SELECTOR_CHARS = /^[A-Za-z0-9._:+-]+$/;
const VERSION = /^v(\d+)$/i;
const TIMESTAMP_PREFIX = /^\d{4}-/;
const HEX = /^[0-9a-fA-F]+$/;

const ACCEPTED_FORMS =
  'give "latest", a version (v1, v2, …), a label, a UTC timestamp prefix (2026-04-14, 2026-04-14T18:02) or a snapshot id prefix (at least 6 hex characters)';

/** Orders entries oldest first: by time, then by id (both as strings). */
function compareOldestFirst(a: SnapshotEntry, b: SnapshotEntry): number {
  if (a.manifest.time !== b.manifest.time) return a.manifest.time < b.manifest.time ? -1 : 1;
  if (a.id !== b.id) return a.id < b.id ? -1 : 1;
  return 0;
}

/**
 * Numbers snapshots by age.
 *
 * @param entries snapshots in any order (not modified).
 * @returns new objects sorted by `manifest.time` ascending, ties broken by id ascending,
 *   with `version` 1 for the oldest up to `entries.length` for the newest. Manifest times
 *   are fixed-format UTC strings, so string order is time order.
 */
export function assignVersions(entries: readonly SnapshotEntry[]): Versioned[] {
  return [...entries].sort(compareOldestFirst).map((e, i) => ({ ...e, version: i + 1 }));
}

/**
 * The entries whose `manifest.source` equals `source` (exact comparison), in input order.
 */
export function filterBySource<T extends SnapshotEntry>(entries: readonly T[], source: string): T[] {
  return entries.filter((e) => e.manifest.source === source);
}

function showSelector(s: string): string {
  return JSON.stringify(s.length > 80 ? `${s.slice(0, 80)}…` : s);
}

/**
 * Resolves a selector against `entries`. Rules, tried in this order:
 *
 * 1. `undefined`, `''` or `latest` (any case): the newest snapshot.
 * 2. `vN` (any case): version N as numbered by {@link assignVersions}; never falls through.
 * 3. an exact label (`manifest.label`, case-sensitive).
 * 4. a timestamp prefix, only when the selector starts with `\d{4}-`: the snapshots whose
 *    manifest time string (UTC, `2026-04-14T18:02:03.123Z`) starts with the selector; the
 *    newest is selected and the rest returned in `others`.
 * 5. a snapshot id prefix of at least {@link MIN_ID_PREFIX} hex characters (either case).
 *
 * @throws ClawbackError `USAGE` for a malformed selector (characters other than letters,
 *   digits, `.`, `_`, `:`, `+`, `-`, e.g. `/` or spaces, or longer than
 *   {@link MAX_SELECTOR_LENGTH}); for a label carried by several snapshots (several
 *   sources: filter by source first); for an id prefix matching several snapshots ("give
 *   more characters"); for a hex selector shorter than 6 characters that matched nothing else.
 * @throws ClawbackError `NOT_FOUND` when there are no snapshots ("no snapshots yet"), when
 *   version N does not exist (the message names vN and the valid range), or when nothing
 *   matched (the message names the selector and the accepted forms).
 */
export function resolveSelector(selector: string | undefined, entries: readonly SnapshotEntry[]): Resolved {
  const versioned = assignVersions(entries);
  const sel = selector ?? '';
  if (sel !== '' && (sel.length > MAX_SELECTOR_LENGTH || !SELECTOR_CHARS.test(sel))) {
    throw new ClawbackError('USAGE', `malformed snapshot selector ${showSelector(sel)}: ${ACCEPTED_FORMS}`, {
      details: { selector: sel },
    });
  }
  if (versioned.length === 0) {
    throw new ClawbackError('NOT_FOUND', 'no snapshots yet: run `clawback backup` first', { details: { selector: sel } });
  }
  const newest = versioned[versioned.length - 1] as Versioned;

  // 1. latest
  if (sel === '' || sel.toLowerCase() === 'latest') return { snapshot: newest, matchedBy: 'latest', others: [] };

  // 2. vN
  const vm = VERSION.exec(sel);
  if (vm !== null) {
    const n = Number(vm[1]);
    const hit = Number.isSafeInteger(n) ? versioned[n - 1] : undefined;
    if (hit === undefined || n < 1) {
      throw new ClawbackError(
        'NOT_FOUND',
        `no snapshot ${sel}: versions run from v1 to v${versioned.length}`,
        { details: { selector: sel, versions: versioned.length } },
      );
    }
    return { snapshot: hit, matchedBy: 'version', others: [] };
  }

  // 3. exact label
  const labelled = versioned.filter((v) => v.manifest.label === sel);
  if (labelled.length === 1) return { snapshot: labelled[0] as Versioned, matchedBy: 'label', others: [] };
  if (labelled.length > 1) {
    const sources = [...new Set(labelled.map((v) => v.manifest.source))];
    throw new ClawbackError(
      'USAGE',
      `label ${showSelector(sel)} is used by ${labelled.length} snapshots of different sources (${sources.join(', ')}): choose the source (e.g. --profile) or select by id`,
      { details: { selector: sel, sources } },
    );
  }

  // 4. timestamp prefix
  if (TIMESTAMP_PREFIX.test(sel)) {
    const hits = versioned.filter((v) => v.manifest.time.startsWith(sel)).reverse();
    const first = hits[0];
    if (first !== undefined) return { snapshot: first, matchedBy: 'timestamp', others: hits.slice(1) };
  }

  // 5. id prefix
  if (HEX.test(sel)) {
    if (sel.length < MIN_ID_PREFIX) {
      throw new ClawbackError(
        'USAGE',
        `snapshot id prefix ${showSelector(sel)} is too short: give at least ${MIN_ID_PREFIX} hex characters`,
        { details: { selector: sel } },
      );
    }
    const prefix = sel.toLowerCase();
    const hits = versioned.filter((v) => v.id.startsWith(prefix));
    if (hits.length === 1) return { snapshot: hits[0] as Versioned, matchedBy: 'id', others: [] };
    if (hits.length > 1) {
      throw new ClawbackError(
        'USAGE',
        `ambiguous id prefix ${sel} matches ${hits.length} snapshots: give more characters`,
        { details: { selector: sel, matches: hits.map((h) => h.id) } },
      );
    }
  }

  throw new ClawbackError('NOT_FOUND', `no snapshot matches ${showSelector(sel)}: ${ACCEPTED_FORMS}`, {
    details: { selector: sel },
  });
}
