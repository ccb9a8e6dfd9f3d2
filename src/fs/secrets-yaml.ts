/**
 * YAML config files (Hermes `config.yaml`): removing secret values and merging them
 * back. A line-based reader of block-style YAML (mappings, `- ` sequences, plain, quoted
 * and `|`/`>` block scalars, comments, anchors and tags) that edits the text in place so
 * everything but the secret values stays byte for byte. Pure module.
 *
 * A scalar is a secret when a key on its path passes `isSecretKey`. Flow collections
 * (`{…}`, `[…]`) are kept as they are, unless they contain a secret-named key: then the
 * file is refused (rewrite it in block style) rather than stored with the secret.
 */
import { ClawbackError } from '../errors.js';
import { applyEdits } from './secrets-env.js';
import { SECRET_PLACEHOLDER, isKeptValue, isSecretKey } from './secret-keys.js';

/** One scalar value, as offsets into the text. */
export interface YamlScalar {
  path: (string | number)[];
  kind: 'plain' | 'quoted' | 'block' | 'alias' | 'flow';
  /** text.slice(valueStart, valueEnd) is the value's source (without anchor/tag). */
  valueStart: number;
  valueEnd: number;
  /** Start of the line holding the key, and the end of the value's last line (after \n). */
  lineStart: number;
  end: number;
  /** True when the key follows a `- ` on the same line (the line cannot be dropped). */
  onItemLine: boolean;
  /** The value without quotes (plain and quoted scalars). */
  value: string;
}

interface Frame {
  indent: number;
  elem: string | number;
  kind: 'key' | 'item' | 'root';
  open: boolean;
  nextIndex: number;
}

interface Line {
  start: number;
  end: number; // after the newline
  text: string; // without newline
  indent: number;
}

const KEY = /^(?:"((?:[^"\\]|\\.)*)"|'((?:[^']|'')*)'|([^\s"'#\-?:,[\]{}&*!|>%@`][^#]*?|-[^\s#][^#]*?))[ \t]*:(?=[ \t]|$)/;

function splitLines(text: string): Line[] {
  const lines: Line[] = [];
  let pos = 0;
  while (pos < text.length) {
    let nl = text.indexOf('\n', pos);
    const end = nl < 0 ? text.length : nl + 1;
    if (nl < 0) nl = text.length;
    const t = text.slice(pos, nl).replace(/\r$/, '');
    lines.push({ start: pos, end, text: t, indent: t.length - t.replace(/^ +/, '').length });
    pos = end;
  }
  return lines;
}

function decodeDoubleQuoted(s: string): string {
  try {
    return JSON.parse(`"${s}"`) as string;
  } catch {
    return s;
  }
}

function isBlank(l: Line): boolean {
  return /^\s*(#.*)?$/.test(l.text);
}

/**
 * Reads the scalars of a block-style YAML text.
 * @throws ClawbackError 'INTEGRITY' naming `file` and the line for an unclosed quoted
 *   value or tab indentation.
 */
export function scanYaml(text: string, file = 'config.yaml'): YamlScalar[] {
  const lines = splitLines(text);
  const out: YamlScalar[] = [];
  const root: Frame = { indent: -1, elem: '', kind: 'root', open: true, nextIndex: 0 };
  let stack: Frame[] = [root];
  const fail = (i: number, what: string): never => {
    throw new ClawbackError('INTEGRITY', `${file} line ${i + 1}: ${what}`);
  };
  /** Index of the last line that continues a value started on line i at column col. */
  const continuation = (i: number, col: number): number => {
    let last = i;
    for (let j = i + 1; j < lines.length; j++) {
      const l = lines[j]!;
      if (/^\s*$/.test(l.text)) continue;
      if (l.indent > col) last = j;
      else break;
    }
    return last;
  };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (isBlank(line)) continue;
    if (/^\t/.test(line.text)) fail(i, 'tab indentation is not YAML');
    if (/^(---|\.\.\.)(\s|$)/.test(line.text)) {
      stack = [root];
      root.nextIndex = 0;
      continue;
    }
    if (line.text.startsWith('%')) continue;
    let col = line.indent;
    let rest = line.text.slice(col);
    let onItemLine = false;
    let dashCol = -1;
    // Sequence items: "- " (possibly several on one line).
    while (rest === '-' || rest.startsWith('- ')) {
      while (stack.length > 1) {
        const top = stack[stack.length - 1]!;
        if (top.indent > col || (top.indent === col && (top.kind === 'item' || !top.open))) stack.pop();
        else break;
      }
      const parent = stack[stack.length - 1]!;
      stack.push({ indent: col, elem: parent.nextIndex++, kind: 'item', open: true, nextIndex: 0 });
      dashCol = col;
      const after = rest.slice(1);
      const spaces = after.length - after.replace(/^ +/, '').length;
      col += 1 + spaces;
      rest = after.slice(spaces);
      onItemLine = true;
    }
    if (rest === '' || rest.startsWith('#')) continue;
    const m = KEY.exec(rest);
    let path: (string | number)[];
    let valueText: string;
    let valueCol: number;
    if (m) {
      const key = m[1] !== undefined ? decodeDoubleQuoted(m[1]) : m[2] !== undefined ? m[2].replace(/''/g, "'") : m[3]!.trim();
      while (stack.length > 1 && stack[stack.length - 1]!.indent >= col) stack.pop();
      path = [...stack.slice(1).map((f) => f.elem), key];
      const after = rest.slice(m[0].length);
      valueText = after.replace(/^[ \t]+/, '');
      valueCol = col + m[0].length + (after.length - valueText.length);
      if (valueText === '' || valueText.startsWith('#')) {
        stack.push({ indent: col, elem: key, kind: 'key', open: true, nextIndex: 0 });
        continue;
      }
    } else if (onItemLine) {
      path = stack.slice(1).map((f) => f.elem);
      valueText = rest;
      valueCol = col;
    } else {
      continue; // continuation of a multi-line value already consumed, or unsupported content
    }
    const lineStart = line.start;
    let valueStart = line.start + valueCol;
    // Anchors and tags before the value are kept.
    const props = /^((?:[&!][^\s]*[ \t]+)*)/.exec(valueText)![1]!;
    valueStart += props.length;
    valueText = valueText.slice(props.length);
    const keyCol = m ? col : dashCol;
    const c = valueText[0];
    let kind: YamlScalar['kind'];
    let valueEnd: number;
    let value = '';
    let lastLine = i;
    if (c === '|' || c === '>') {
      kind = 'block';
      lastLine = continuation(i, keyCol);
      valueEnd = lastLine === i ? line.start + line.text.length : lines[lastLine]!.start + lines[lastLine]!.text.length;
      value = text.slice(valueStart, valueEnd);
    } else if (c === '"' || c === "'") {
      kind = 'quoted';
      let j = valueStart + 1;
      while (j < text.length && text[j] !== c) j += c === '"' && text[j] === '\\' ? 2 : c === "'" && text[j + 1] === "'" && text[j] === "'" ? 2 : 1;
      if (j >= text.length) fail(i, 'a quoted value is never closed');
      valueEnd = j + 1;
      value = text.slice(valueStart + 1, j);
      while (lastLine + 1 < lines.length && lines[lastLine]!.end <= valueEnd) lastLine++;
    } else if (c === '*') {
      kind = 'alias';
      valueEnd = valueStart + valueText.replace(/[ \t]#.*$/, '').trimEnd().length;
    } else if (c === '{' || c === '[') {
      kind = 'flow';
      lastLine = continuation(i, keyCol);
      valueEnd = lines[lastLine]!.start + lines[lastLine]!.text.length;
      const flow = text.slice(valueStart, valueEnd);
      for (const km of flow.matchAll(/["']?([A-Za-z0-9_.-]+)["']?\s*:/g)) {
        if (isSecretKey(km[1]!)) fail(i, `secret field "${km[1]}" inside a flow collection cannot be removed safely: write it in block style`);
      }
    } else {
      kind = 'plain';
      const hash = valueText.search(/[ \t]#/);
      const first = (hash >= 0 ? valueText.slice(0, hash) : valueText).trimEnd();
      lastLine = continuation(i, keyCol);
      valueEnd = lastLine === i ? valueStart + first.length : lines[lastLine]!.start + lines[lastLine]!.text.trimEnd().length;
      value = text.slice(valueStart, valueEnd);
    }
    out.push({ path, kind, valueStart, valueEnd, lineStart, end: lines[lastLine]!.end, onItemLine, value });
    i = lastLine;
  }
  return out;
}

function secretPath(path: (string | number)[]): boolean {
  return path.some((p) => typeof p === 'string' && isSecretKey(p));
}

/**
 * Replaces secret scalars by the placeholder. Returns the new text and the removed paths.
 * @throws ClawbackError 'INTEGRITY' when the text cannot be read (see {@link scanYaml}).
 */
export function stripYaml(text: string, file?: string): { text: string; removed: string[] } {
  const edits: { start: number; end: number; text: string }[] = [];
  const removed: string[] = [];
  for (const s of scanYaml(text, file)) {
    if (s.kind === 'alias' || s.kind === 'flow' || !secretPath(s.path)) continue;
    if (s.kind !== 'block' && isKeptValue(s.value)) continue;
    edits.push({ start: s.valueStart, end: s.valueEnd, text: SECRET_PLACEHOLDER });
    removed.push(s.path.join('.'));
  }
  return { text: applyEdits(text, edits), removed };
}

/**
 * Merges a restored YAML config with the live one: each placeholder takes the live
 * value at the same path (its source text); a value the live file lacks is dropped with
 * its line (or becomes `""` on a `- ` line). Everything else comes from `restored`.
 * @throws ClawbackError 'INTEGRITY' when either text cannot be read.
 */
export function mergeYaml(restored: string, live: string | undefined, file = 'config.yaml'): string {
  const liveByPath = new Map<string, string>();
  if (live !== undefined) for (const s of scanYaml(live, `live ${file}`)) liveByPath.set(JSON.stringify(s.path), live.slice(s.valueStart, s.valueEnd));
  const edits: { start: number; end: number; text: string }[] = [];
  for (const s of scanYaml(restored, `restored ${file}`)) {
    if (s.kind !== 'plain' || s.value !== SECRET_PLACEHOLDER) continue;
    const v = liveByPath.get(JSON.stringify(s.path));
    if (v !== undefined) edits.push({ start: s.valueStart, end: s.valueEnd, text: v });
    else if (s.onItemLine) edits.push({ start: s.valueStart, end: s.valueEnd, text: '""' });
    else edits.push({ start: s.lineStart, end: s.end, text: '' });
  }
  return applyEdits(restored, edits);
}
