/**
 * JSON and JSON5 config files (`openclaw.json` is JSON5): removing secret fields and
 * merging them back. Edits the text in place, so comments, key order and formatting of
 * everything else are kept byte for byte. Pure module.
 *
 * A value is a secret when a key on its path passes `isSecretKey` (apiKey, token,
 * botToken, secret, password, OPENAI_API_KEY, …) and it is a string (other than an
 * `${ENV}`/`resolve:` reference) or a number; it becomes the string
 * `"__CLAWBACK_SECRET_REMOVED__"`.
 */
import JSON5 from 'json5';
import { ClawbackError } from '../errors.js';
import { SECRET_PLACEHOLDER, isKeptValue, isSecretKey } from './secret-keys.js';

/** One value of the document, as offsets into the text. */
export interface JsonSpan {
  /** Keys and array indexes from the top. */
  path: (string | number)[];
  kind: 'object' | 'array' | 'string' | 'number' | 'literal';
  /** text.slice(start, end) is the value's source. */
  start: number;
  end: number;
  /** Start of the member (its key) or array element. */
  memberStart: number;
  /** Decoded value of strings. */
  value?: string;
}

const NUMBER = /[+-]?(?:Infinity|NaN|0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)/y;
const LITERAL = /(?:true|false|null)(?![$\w])/y;
const IDENT = /[$_\p{ID_Start}\\][$_\p{ID_Continue}\u200C\u200D\\]*/uy;

class Scanner {
  pos = 0;
  readonly spans: JsonSpan[] = [];
  private readonly text: string;
  private readonly file: string;

  constructor(text: string, file: string) {
    this.text = text;
    this.file = file;
  }

  fail(what: string): never {
    const before = this.text.slice(0, this.pos).split('\n');
    throw new ClawbackError('INTEGRITY', `${this.file} is not valid JSON5: ${what} at line ${before.length} column ${(before[before.length - 1]?.length ?? 0) + 1}`);
  }

  ws(): void {
    const t = this.text;
    for (;;) {
      const c = t[this.pos];
      if (c === undefined) return;
      if (/[\s\uFEFF]/.test(c)) this.pos++;
      else if (c === '/' && t[this.pos + 1] === '/') {
        const nl = t.indexOf('\n', this.pos);
        this.pos = nl < 0 ? t.length : nl + 1;
      } else if (c === '/' && t[this.pos + 1] === '*') {
        const close = t.indexOf('*/', this.pos + 2);
        if (close < 0) this.fail('unclosed comment');
        this.pos = close + 2;
      } else return;
    }
  }

  string(): string {
    const t = this.text;
    const q = t[this.pos];
    const start = this.pos;
    let i = this.pos + 1;
    while (i < t.length && t[i] !== q) {
      if (t[i] === '\\') i += 2;
      else if (t[i] === '\n') this.fail('line break in a string');
      else i++;
    }
    if (i >= t.length) this.fail('unclosed string');
    this.pos = i + 1;
    return JSON5.parse(t.slice(start, this.pos)) as string;
  }

  key(): string {
    const c = this.text[this.pos];
    if (c === '"' || c === "'") return this.string();
    IDENT.lastIndex = this.pos;
    const m = IDENT.exec(this.text);
    if (!m) this.fail('expected a key');
    this.pos += m[0].length;
    if (!m[0].includes('\\')) return m[0];
    return Object.keys(JSON5.parse(`{${m[0]}:0}`) as object)[0] ?? m[0];
  }

  expect(c: string): void {
    this.ws();
    if (this.text[this.pos] !== c) this.fail(`expected "${c}"`);
    this.pos++;
  }

  value(path: (string | number)[], memberStart: number): void {
    this.ws();
    const t = this.text;
    const start = this.pos;
    const c = t[this.pos];
    if (c === '{' || c === '[') {
      const close = c === '{' ? '}' : ']';
      this.pos++;
      let index = 0;
      for (;;) {
        this.ws();
        if (t[this.pos] === close) {
          this.pos++;
          break;
        }
        const elemStart = this.pos;
        if (c === '{') {
          const k = this.key();
          this.expect(':');
          this.value([...path, k], elemStart);
        } else {
          this.value([...path, index++], elemStart);
        }
        this.ws();
        if (t[this.pos] === ',') this.pos++;
        else if (t[this.pos] !== close) this.fail(`expected "," or "${close}"`);
      }
      this.spans.push({ path, kind: c === '{' ? 'object' : 'array', start, end: this.pos, memberStart });
      return;
    }
    if (c === '"' || c === "'") {
      const value = this.string();
      this.spans.push({ path, kind: 'string', start, end: this.pos, memberStart, value });
      return;
    }
    LITERAL.lastIndex = this.pos;
    const lit = LITERAL.exec(t);
    if (lit) {
      this.pos += lit[0].length;
      this.spans.push({ path, kind: 'literal', start, end: this.pos, memberStart });
      return;
    }
    NUMBER.lastIndex = this.pos;
    const num = NUMBER.exec(t);
    if (num) {
      this.pos += num[0].length;
      this.spans.push({ path, kind: 'number', start, end: this.pos, memberStart });
      return;
    }
    this.fail('expected a value');
  }
}

/**
 * Parses a JSON/JSON5 document (validated with the json5 package) and returns the source
 * span of every value.
 * @throws ClawbackError 'INTEGRITY' naming `file`, line and column when it does not parse.
 */
export function scanJson(text: string, file = 'config'): JsonSpan[] {
  try {
    JSON5.parse(text);
  } catch (err) {
    throw new ClawbackError('INTEGRITY', `${file} is not valid JSON5: ${(err as Error).message}`, { cause: err });
  }
  const s = new Scanner(text, file);
  s.value([], 0);
  s.ws();
  if (s.pos < text.length) s.fail('unexpected content after the document');
  return s.spans;
}

function secretPath(path: (string | number)[]): boolean {
  return path.some((p) => typeof p === 'string' && isSecretKey(p));
}

/**
 * Replaces secret fields by the placeholder string. Returns the new text and the paths
 * (dot-joined) of the removed values.
 * @throws ClawbackError 'INTEGRITY' when the text does not parse.
 */
export function stripJson(text: string, file?: string): { text: string; removed: string[] } {
  const edits: { start: number; end: number }[] = [];
  const removed: string[] = [];
  for (const s of scanJson(text, file)) {
    if (s.kind !== 'string' && s.kind !== 'number') continue;
    if (!secretPath(s.path)) continue;
    if (s.kind === 'string' && isKeptValue(s.value ?? '')) continue;
    edits.push({ start: s.start, end: s.end });
    removed.push(s.path.join('.'));
  }
  let out = text;
  for (const e of edits.sort((a, b) => b.start - a.start)) out = out.slice(0, e.start) + JSON.stringify(SECRET_PLACEHOLDER) + out.slice(e.end);
  return { text: out, removed };
}

/** The range to delete to remove a member/element, including one adjacent comma. */
function memberRange(text: string, s: JsonSpan): { start: number; end: number } {
  let end = s.end;
  let i = end;
  while (i < text.length && /\s/.test(text[i]!)) i++;
  if (text[i] === ',') return { start: s.memberStart, end: i + 1 };
  let j = s.memberStart - 1;
  while (j >= 0 && /\s/.test(text[j]!)) j--;
  if (text[j] === ',') return { start: j, end };
  end = s.end;
  return { start: s.memberStart, end };
}

/**
 * Merges a restored config with the live one: every placeholder value takes the live
 * value at the same path (any JSON value, as written in the live file); a field the live
 * file lacks is removed. Everything else comes from `restored`.
 * @throws ClawbackError 'INTEGRITY' when either text does not parse.
 */
export function mergeJson(restored: string, live: string | undefined, file = 'config'): string {
  const liveByPath = new Map<string, string>();
  if (live !== undefined) for (const s of scanJson(live, `live ${file}`)) liveByPath.set(JSON.stringify(s.path), live.slice(s.start, s.end));
  const replace: { start: number; end: number; text: string }[] = [];
  const remove: { start: number; end: number }[] = [];
  for (const s of scanJson(restored, `restored ${file}`)) {
    if (s.kind !== 'string' || s.value !== SECRET_PLACEHOLDER) continue;
    const v = liveByPath.get(JSON.stringify(s.path));
    if (v !== undefined) replace.push({ start: s.start, end: s.end, text: v });
    else if (s.path.length > 0) remove.push(memberRange(restored, s));
  }
  // Union overlapping deletions (two neighbours may claim the same comma).
  remove.sort((a, b) => a.start - b.start);
  const merged: { start: number; end: number; text: string }[] = [];
  for (const r of remove) {
    const last = merged[merged.length - 1];
    if (last && r.start <= last.end) last.end = Math.max(last.end, r.end);
    else merged.push({ ...r, text: '' });
  }
  let out = restored;
  for (const e of [...replace, ...merged].sort((a, b) => b.start - a.start)) out = out.slice(0, e.start) + e.text + out.slice(e.end);
  return out;
}
