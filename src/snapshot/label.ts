/**
 * Snapshot labels and tags.
 *
 * A *label* is a short, user-chosen name for one snapshot ("before-upgrade"), usable as a
 * selector (`clawback restore before-upgrade`). Labels are unique per snapshot `source`
 * (see `SnapshotManifest.source`). A *tag* is a free marker that many snapshots may share,
 * used by retention (`--keep-tag`) as in restic.
 *
 * Pure module.
 */

import { ClawbackError } from '../errors.js';
import type { SnapshotId } from '../ids.js';
import type { SnapshotManifest } from './manifest.js';

/** The label grammar: 1–63 characters, letters/digits first, then letters, digits, `.`, `_`, `-`. */
export const LABEL_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

/** Labels that would be read as a version selector (`v3`, `V12`). */
const VERSION_LIKE = /^v\d+$/i;

/**
 * What is wrong with `label`, or `undefined` when it is a valid label. Rules:
 * - matches {@link LABEL_PATTERN};
 * - does not look like a version selector (`/^v\d+$/i`), since `vN` selects by version;
 * - is not `latest` (any case), which selects the newest snapshot.
 *
 * Labels that look like a timestamp prefix or an id prefix are allowed: an exact label
 * match takes precedence over those selector forms (see `snapshot/selector.ts`).
 */
export function labelProblem(label: unknown): string | undefined {
  if (typeof label !== 'string') return 'a label must be a string';
  if (!LABEL_PATTERN.test(label)) {
    return 'labels are 1-63 characters: letters, digits, ".", "_" and "-", starting with a letter or digit';
  }
  if (VERSION_LIKE.test(label)) return 'a label must not look like a version selector (v1, v2, ...)';
  if (label.toLowerCase() === 'latest') return '"latest" is a reserved selector';
  return undefined;
}

/**
 * Checks a user-supplied label (rules in {@link labelProblem}).
 *
 * @throws ClawbackError `USAGE` naming the label, the rule it breaks and the fix
 *   (e.g. `invalid label "v2": a label must not look like a version selector (v1, v2, ...);
 *   choose another label, e.g. "before-upgrade"`).
 */
export function validateLabel(label: string): void {
  const problem = labelProblem(label);
  if (problem !== undefined) {
    const shown = typeof label === 'string' ? JSON.stringify(label.length > 80 ? `${label.slice(0, 80)}…` : label) : String(label);
    throw new ClawbackError('USAGE', `invalid label ${shown}: ${problem}; choose another label, e.g. "before-upgrade"`, {
      details: { label, problem },
    });
  }
}

/** A snapshot as {@link assertLabelUnique} sees it; `id`, when given, is named in the error. */
export interface LabelHolder {
  id?: SnapshotId;
  manifest: SnapshotManifest;
}

/**
 * Checks that no snapshot of `source` in `existing` carries `label` already (exact,
 * case-sensitive comparison, like the label selector). Snapshots of other sources may
 * use the same label.
 *
 * @param label the label of the snapshot about to be written or relabelled.
 * @param source the `source` grouping key of that snapshot.
 * @param existing the snapshots in the repository (the one being relabelled excluded).
 * @throws ClawbackError `USAGE` naming the label, the source and the holder's short id.
 */
export function assertLabelUnique(label: string, source: string, existing: readonly LabelHolder[]): void {
  const holder = existing.find((e) => e.manifest.source === source && e.manifest.label === label);
  if (holder !== undefined) {
    const which = holder.id === undefined ? 'another snapshot' : `snapshot ${holder.id.slice(0, 8)}`;
    throw new ClawbackError(
      'USAGE',
      `label ${JSON.stringify(label)} is already used by ${which} of source ${JSON.stringify(source)}: choose another label`,
      { details: { label, source, ...(holder.id === undefined ? {} : { snapshot: holder.id }) } },
    );
  }
}

/** Longest allowed tag, in characters. */
export const MAX_TAG_LENGTH = 255;

/**
 * What is wrong with `tag`, or `undefined` when it is valid: a tag is a non-empty string of
 * at most {@link MAX_TAG_LENGTH} characters, well-formed Unicode, without control
 * characters or `,` (the CLI separates tags of one `--keep-tag` group with commas).
 */
export function tagProblem(tag: unknown): string | undefined {
  if (typeof tag !== 'string') return 'a tag must be a string';
  if (tag === '') return 'a tag must not be empty';
  if (tag.length > MAX_TAG_LENGTH) return `a tag is at most ${MAX_TAG_LENGTH} characters`;
  if (/[\u0000-\u001f\u007f]/.test(tag)) return 'a tag must not contain control characters';
  if (tag.includes(',')) return 'a tag must not contain ","';
  if (/[\uD800-\uDFFF]/u.test(tag)) return 'a tag must be valid Unicode';
  return undefined;
}

/**
 * Checks a user-supplied tag (rules in {@link tagProblem}).
 *
 * @throws ClawbackError `USAGE` naming the tag and the rule.
 */
export function validateTag(tag: string): void {
  const problem = tagProblem(tag);
  if (problem !== undefined) {
    throw new ClawbackError('USAGE', `invalid tag ${JSON.stringify(tag)}: ${problem}`, { details: { tag, problem } });
  }
}
