/**
 * Path patterns of agent profiles (excludes, credentials, secret files, state files).
 * Pure module.
 *
 * - Paths are relative to the profile root, '/'-separated.
 * - `*` matches any characters but '/', `?` one character but '/', `**` as a whole
 *   segment any number of segments (zero included).
 * - A pattern without '/' matches the entry's name at any depth (like .gitignore), unless
 *   it is compiled `anchored`; a pattern with '/' matches the whole relative path.
 * - A trailing '/' restricts the pattern to directories.
 */

/** A compiled pattern. */
export interface PathPattern {
  /** The pattern as written. */
  source: string;
  /** Only directories match. */
  dirOnly: boolean;
  /** Matches the whole path (else: the last segment). */
  anchored: boolean;
  /** One entry per segment: a RegExp, or '**'. */
  segments: (RegExp | '**')[];
  /** True when no segment contains a wildcard. */
  literal: boolean;
}

function segmentRegExp(seg: string): RegExp {
  let re = '';
  for (const c of seg) {
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`, 's');
}

/**
 * What is wrong with a pattern (or, with `path`, a declared path: no leading '/'), or
 * undefined.
 */
export function patternProblem(p: unknown, opts: { path?: boolean } = {}): string | undefined {
  if (typeof p !== 'string' || p === '' || p === '/') return 'must be a non-empty string';
  if (opts.path && p.startsWith('/')) return 'must be relative to the root (no leading "/")';
  if (p.includes('\0')) return 'contains NUL';
  const segs = p.replace(/^\//, '').replace(/\/$/, '').split('/');
  if (segs.some((s) => s === '' || s === '.' || s === '..')) return 'must not contain empty, "." or ".." segments';
  return undefined;
}

/** Compiles `source` (see the module comment). Call {@link patternProblem} first. */
export function compilePattern(source: string, opts: { anchored?: boolean } = {}): PathPattern {
  const dirOnly = source.endsWith('/');
  const rooted = source.startsWith('/');
  const body = source.slice(rooted ? 1 : 0, dirOnly ? -1 : undefined);
  const parts = body.split('/');
  return {
    source,
    dirOnly,
    anchored: opts.anchored === true || rooted || parts.length > 1,
    segments: parts.map((s) => (s === '**' ? '**' : segmentRegExp(s))),
    literal: !/[*?]/.test(body),
  };
}

function matchSegments(segs: (RegExp | '**')[], parts: string[], si = 0, pi = 0): boolean {
  if (si === segs.length) return pi === parts.length;
  const s = segs[si]!;
  if (s === '**') {
    for (let k = pi; k <= parts.length; k++) if (matchSegments(segs, parts, si + 1, k)) return true;
    return false;
  }
  return pi < parts.length && s.test(parts[pi]!) && matchSegments(segs, parts, si + 1, pi + 1);
}

/** True when `rel` (a '/'-separated relative path) matches. */
export function matchPattern(p: PathPattern, rel: string, isDir: boolean): boolean {
  if (p.dirOnly && !isDir) return false;
  const parts = rel.split('/');
  if (!p.anchored) return p.segments.length === 1 && (p.segments[0] as RegExp).test(parts[parts.length - 1]!);
  return matchSegments(p.segments, parts);
}

/**
 * True when `rel` or one of its parent directories matches: everything below a matched
 * directory is covered by it.
 */
export function matchPatternOrParent(p: PathPattern, rel: string, isDir: boolean): boolean {
  const parts = rel.split('/');
  for (let n = 1; n <= parts.length; n++) {
    const last = n === parts.length;
    if (matchPattern(p, parts.slice(0, n).join('/'), last ? isDir : true)) return true;
  }
  return false;
}

/**
 * True when directory `rel` is a proper ancestor of paths the anchored pattern can match
 * (its segments match the pattern's leading segments).
 */
export function isAncestorOf(p: PathPattern, rel: string): boolean {
  const parts = rel.split('/');
  for (let i = 0; i < parts.length; i++) {
    const s = p.segments[i];
    if (s === undefined) return false;
    if (s === '**') return true;
    if (!s.test(parts[i]!)) return false;
  }
  return parts.length < p.segments.length;
}
