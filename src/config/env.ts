/**
 * `${ENV}` substitution in configuration values.
 *
 * Every string value of a parsed config document (not object keys) may reference
 * environment variables:
 *
 * - `${NAME}`: the value of `NAME` (`[A-Za-z_][A-Za-z0-9_]*`); an unset variable is an
 *   error. A variable set to the empty string gives the empty string.
 * - `${NAME:-fallback}`: the value of `NAME`, or `fallback` when it is unset or empty (as in
 *   POSIX sh). The fallback is literal text (no nested references).
 * - `$${`: a literal `${` (so `$${HOME}` stays `${HOME}`).
 *
 * Any other `$` is literal. All unset variables of a document are collected and reported in
 * one error that names each variable and the key path where it is used.
 *
 * Pure module.
 */
import { ClawbackError } from '../errors.js';

/** One reference to an unset variable. */
export interface UnsetReference {
  /** The variable name. */
  name: string;
  /** Where it is used: a key path such as `jobs[0].storage.secretAccessKey`. */
  path: string;
}

const REF = /\$\$\{|\$\{([^}]*)\}/g;
const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** True when `s` contains at least one `${…}` reference (escapes `$${` do not count). */
export function hasEnvReference(s: string): boolean {
  for (const m of s.matchAll(REF)) if (m[0] !== '$${') return true;
  return false;
}

/**
 * Substitutes references in one string.
 * @param unset receives every unset variable (with `path`); the result then holds `''` in
 *   their place.
 * @throws ClawbackError `USAGE` for a malformed reference (`${}`, `${1X}`, `${A B}`).
 */
export function substituteString(s: string, env: Record<string, string | undefined>, path: string, unset: UnsetReference[]): string {
  return s.replace(REF, (whole, inner: string | undefined) => {
    if (whole === '$${') return '${';
    const body = inner ?? '';
    const sep = body.indexOf(':-');
    const name = sep === -1 ? body : body.slice(0, sep);
    if (!NAME.test(name)) {
      throw new ClawbackError('USAGE', `bad environment reference ${JSON.stringify(whole)} at ${path}: write \${NAME} or \${NAME:-default} (NAME: letters, digits, _; not starting with a digit)`, {
        details: { path, reference: whole },
      });
    }
    const value = env[name];
    if (sep !== -1) return value === undefined || value === '' ? body.slice(sep + 2) : value;
    if (value === undefined) {
      unset.push({ name, path });
      return '';
    }
    return value;
  });
}

function keyPath(parent: string, key: string | number): string {
  if (typeof key === 'number') return `${parent}[${key}]`;
  const plain = /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(key);
  if (parent === '') return plain ? key : `[${JSON.stringify(key)}]`;
  return plain ? `${parent}.${key}` : `${parent}[${JSON.stringify(key)}]`;
}

/**
 * Returns a deep copy of `value` with every string substituted (see the module comment).
 *
 * @param value a parsed JSON/JSON5 document (objects, arrays, strings, numbers, booleans, null).
 * @param env the environment to read.
 * @param where names the document in errors (a file path).
 * @param root key path prefix of `value` in error messages (e.g. `backup`).
 * @throws ClawbackError `USAGE` naming every unset variable and where it is used, e.g.
 *   `/home/u/.config/clawback/config.json5: environment variable S3_SECRET is not set
 *   (used at jobs[0].storage.secretAccessKey): set it, or edit the file`.
 */
export function substituteEnv<T>(value: T, env: Record<string, string | undefined>, where: string, root = ''): T {
  const unset: UnsetReference[] = [];
  const walk = (v: unknown, path: string): unknown => {
    if (typeof v === 'string') return substituteString(v, env, path === '' ? '(top level)' : path, unset);
    if (Array.isArray(v)) return v.map((x, i) => walk(x, keyPath(path, i)));
    if (v !== null && typeof v === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v as Record<string, unknown>)) out[k] = walk(x, keyPath(path, k));
      return out;
    }
    return v;
  };
  const result = walk(value, root) as T;
  if (unset.length > 0) {
    const names = [...new Set(unset.map((u) => u.name))];
    const uses = names.map((n) => `${n} (used at ${unset.filter((u) => u.name === n).map((u) => u.path).join(', ')})`);
    const noun = names.length === 1 ? 'environment variable' : 'environment variables';
    const verb = names.length === 1 ? 'is' : 'are';
    throw new ClawbackError('USAGE', `${where}: ${noun} ${uses.join(', ')} ${verb} not set: set ${names.length === 1 ? 'it' : 'them'}, or edit the file`, {
      details: { file: where, unset },
    });
  }
  return result;
}
