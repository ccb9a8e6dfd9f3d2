/**
 * `.env` files: removing secret values and merging them back. Works on the text so that
 * comments, order and quoting of everything else stay as they were. Pure module.
 *
 * Syntax understood (as dotenv and shells write it): `KEY=value`, `export KEY=value`,
 * `KEY="value"` / `'value'` / `` `value` `` (double-quoted values may span lines and
 * contain `\"`), trailing ` # comments`, blank and `#` lines. Other lines are kept as is.
 */
import { ClawbackError } from '../errors.js';
import { ENV_SECRET_KEY, SECRET_PLACEHOLDER, isKeptValue } from './secret-keys.js';

/** One `KEY=value` assignment, as offsets into the text. */
export interface EnvEntry {
  key: string;
  /** Start of the line. */
  lineStart: number;
  /** The value's raw text (quotes included) is text.slice(valueStart, valueEnd). */
  valueStart: number;
  valueEnd: number;
  /** End of the entry's last line, after its newline. */
  end: number;
  /** The value without quotes. */
  value: string;
}

const ASSIGNMENT = /^([ \t]*(?:export[ \t]+)?)([A-Za-z_][A-Za-z0-9_.-]*)([ \t]*=[ \t]*)/;

/**
 * Parses the assignments of a `.env` text.
 * @throws ClawbackError 'INTEGRITY' for a quoted value that is never closed (naming `file`).
 */
export function parseEnv(text: string, file = '.env'): EnvEntry[] {
  const entries: EnvEntry[] = [];
  let pos = 0;
  let lineNo = 1;
  while (pos < text.length) {
    let lineEnd = text.indexOf('\n', pos);
    if (lineEnd < 0) lineEnd = text.length;
    const line = text.slice(pos, lineEnd);
    const m = ASSIGNMENT.exec(line);
    if (!m) {
      pos = lineEnd + 1;
      lineNo++;
      continue;
    }
    const valueStart = pos + m[0].length;
    const q = text[valueStart];
    let valueEnd: number;
    let value: string;
    if (q === '"' || q === "'" || q === '`') {
      let i = valueStart + 1;
      while (i < text.length && text[i] !== q) i += q === '"' && text[i] === '\\' ? 2 : 1;
      if (i >= text.length) throw new ClawbackError('INTEGRITY', `${file} line ${lineNo}: the quoted value of ${m[2]} is never closed`);
      valueEnd = i + 1;
      value = text.slice(valueStart + 1, i);
    } else {
      const rest = line.slice(m[0].length);
      const hash = rest.search(/[ \t]#/);
      value = (hash >= 0 ? rest.slice(0, hash) : rest).replace(/[ \t\r]+$/, '');
      valueEnd = valueStart + value.length;
    }
    let end = text.indexOf('\n', valueEnd);
    end = end < 0 ? text.length : end + 1;
    lineNo += text.slice(pos, end).split('\n').length - 1;
    entries.push({ key: m[2]!, lineStart: pos, valueStart, valueEnd, end, value });
    pos = end;
  }
  return entries;
}

/** An edit of a text: replace [start, end) by `text`. */
interface Edit {
  start: number;
  end: number;
  text: string;
}

/** Applies non-overlapping edits. */
export function applyEdits(text: string, edits: Edit[]): string {
  let out = text;
  for (const e of [...edits].sort((a, b) => b.start - a.start)) out = out.slice(0, e.start) + e.text + out.slice(e.end);
  return out;
}

/**
 * Replaces the values of secret keys (matching KEY|TOKEN|SECRET|PASSWORD|CREDENTIAL…) by
 * {@link SECRET_PLACEHOLDER}. Returns the new text and how many values were removed.
 * @throws ClawbackError 'INTEGRITY' when the text cannot be parsed.
 */
export function stripEnv(text: string, file?: string): { text: string; removed: number } {
  const edits: Edit[] = [];
  for (const e of parseEnv(text, file)) {
    if (ENV_SECRET_KEY.test(e.key) && !isKeptValue(e.value)) edits.push({ start: e.valueStart, end: e.valueEnd, text: SECRET_PLACEHOLDER });
  }
  return { text: applyEdits(text, edits), removed: edits.length };
}

/**
 * Merges a restored `.env` text with the live one: every placeholder value takes the
 * live file's value of the same key (the last assignment); a key the live file lacks is
 * dropped. Everything else comes from `restored`.
 * @throws ClawbackError 'INTEGRITY' when either text cannot be parsed.
 */
export function mergeEnv(restored: string, live: string | undefined, file?: string): string {
  const liveValues = new Map<string, string>();
  if (live !== undefined) for (const e of parseEnv(live, `live ${file ?? '.env'}`)) liveValues.set(e.key, live.slice(e.valueStart, e.valueEnd));
  const edits: Edit[] = [];
  for (const e of parseEnv(restored, `restored ${file ?? '.env'}`)) {
    if (e.value !== SECRET_PLACEHOLDER) continue;
    const v = liveValues.get(e.key);
    if (v !== undefined) edits.push({ start: e.valueStart, end: e.valueEnd, text: v });
    else edits.push({ start: e.lineStart, end: e.end, text: '' });
  }
  return applyEdits(restored, edits);
}
