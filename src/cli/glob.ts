/**
 * Shell-style glob patterns for `clawback find`, compiled to a RegExp:
 *
 * - `*` any run of characters except `/`; `?` one character except `/`;
 * - `**` any run of characters including `/` (`a/**` + `/b` also matches `a/b`);
 * - `[abc]`, `[a-z]`, `[!a-z]` or `[^a-z]` one character of (or not of) a class, never `/`;
 * - `\x` the character x literally.
 *
 * A pattern without `/` is matched against each entry's name (`*.sqlite` finds every
 * SQLite file at any depth); a pattern with `/` against the whole path from the snapshot
 * root (a leading `/` is optional).
 */
import { ClawbackError } from '../errors.js';

const SPECIAL = /[.*+?^${}()|[\]\\/]/;

function escapeClassChar(ch: string): string {
  return ch === '\\' || ch === ']' || ch === '[' || ch === '^' || ch === '-' ? `\\${ch}` : ch;
}

function escapeChar(ch: string): string {
  return SPECIAL.test(ch) ? `\\${ch}` : ch;
}

/**
 * Compiles `pattern` (see the module comment).
 * @returns the RegExp, and whether it applies to whole paths (`true`) or names.
 * @throws ClawbackError `USAGE` for an unterminated class or a trailing backslash.
 */
export function compileGlob(pattern: string): { re: RegExp; fullPath: boolean } {
  const fullPath = pattern.includes('/');
  const p = fullPath ? pattern.replace(/^\/+/, '') : pattern;
  let out = '';
  for (let i = 0; i < p.length; i++) {
    const ch = p[i]!;
    if (ch === '\\') {
      if (i + 1 >= p.length) throw new ClawbackError('USAGE', `invalid pattern ${JSON.stringify(pattern)}: it ends with a backslash`);
      out += escapeChar(p[++i]!);
    } else if (ch === '*') {
      if (p[i + 1] === '*') {
        i++;
        if (p[i + 1] === '/') {
          i++;
          out += '(?:.*/)?';
        } else out += '.*';
      } else out += '[^/]*';
    } else if (ch === '?') {
      out += '[^/]';
    } else if (ch === '[') {
      let j = i + 1;
      let negate = false;
      if (p[j] === '!' || p[j] === '^') {
        negate = true;
        j++;
      }
      let cls = '';
      let first = true;
      for (; j < p.length && (p[j] !== ']' || first); j++) {
        first = false;
        const c = p[j]!;
        if (c === '\\' && j + 1 < p.length) cls += escapeClassChar(p[++j]!);
        else cls += c === '-' ? '-' : escapeClassChar(c);
      }
      if (j >= p.length) throw new ClawbackError('USAGE', `invalid pattern ${JSON.stringify(pattern)}: "[" without a closing "]"`);
      out += negate ? `[^/${cls}]` : `(?![/])[${cls}]`;
      i = j;
    } else {
      out += escapeChar(ch);
    }
  }
  return { re: new RegExp(`^${out}$`, 'u'), fullPath };
}

/** True when `path` (snapshot path with or without a leading `/`) matches `glob`. */
export function matchGlob(glob: { re: RegExp; fullPath: boolean }, path: string): boolean {
  const rel = path.replace(/^\/+/, '');
  if (glob.fullPath) return glob.re.test(rel);
  const name = rel.slice(rel.lastIndexOf('/') + 1);
  return glob.re.test(name);
}
