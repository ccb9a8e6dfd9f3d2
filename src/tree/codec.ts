/**
 * The canonical byte encoding of a {@link Tree} (a directory's tree blob plaintext).
 *
 * A tree blob's id is the keyed hash of these bytes, so equal directories must encode to
 * equal bytes (deduplication) and a decoder must accept exactly one encoding per tree. The
 * format (docs/FORMAT.md §Trees):
 *
 * - UTF-8 JSON without any whitespace: `{"nodes":[<node>,<node>,...]}`.
 * - Nodes sorted by the UTF-8 bytes of their names (`Buffer.compare`, i.e. code point
 *   order, not JS UTF-16 string order); names unique.
 * - Each node is an object with keys in this fixed order, optional ones omitted when absent:
 *   `name`, `type`, `mode`, `mtime`, `ctime`, `inode`, `size`, `content`, `subtree`, `target`.
 *   `content` appears exactly on `file`/`sqlite` nodes, `subtree` exactly on `dir`,
 *   `target` exactly on `symlink`.
 * - `mode` and `size` are JSON integers in shortest form (no sign, exponent or fraction);
 *   `mtime`, `ctime` and `inode` (64-bit values) are decimal strings (`"-12"`, `"0"`,
 *   `"1700000000123456789"`) without leading zeros, `+` or `-0`.
 * - Strings are escaped as `JSON.stringify` does (ECMA-262): `"` and `\` are escaped, and
 *   U+0000–U+001F as `\b \t \n \f \r` or `\u00xx` (lowercase hex); every other character,
 *   U+2028/U+2029 and non-ASCII included, is written as raw UTF-8.
 *
 * Example: `{"nodes":[{"name":"a.txt","type":"file","mode":420,"mtime":"1700000000123456789","size":3,"content":["<64 hex>"]}]}`.
 *
 * Implementation: both directions check every node in one pass without allocating per
 * name (names are compared in UTF-8 order with {@link compareNames}, no `Buffer`s), and
 * `encodeTree` sorts only when its input is not already in order. `encodeTree` then writes
 * the bytes straight into one module-level scratch buffer, reused from call to call and grown
 * by doubling as needed (the `write*` helpers: ASCII keys, ids and decimals byte by byte,
 * strings UTF-8-encoded and escaped by hand, with no intermediate strings but the decimal of
 * a 64-bit value beyond 2^53), and returns a copy of exactly the bytes written: no
 * per-node JS strings, no `TextEncoder` (a snapshot of the Linux kernel tree, ~5,000 trees,
 * allocated ~90 MB building them as strings). `decodeTree` reads a blob
 * in up to three tiers, each of which accepts only canonical encodings of valid trees:
 *
 * 1. `decodeScan`, for an all-ASCII blob whose names and targets need no escapes (the common
 *    case): reads the canonical grammar directly, without `JSON.parse`, checking every
 *    field's value (the invariants of {@link TreeNode}) and the name order.
 * 2. `decodeFast`, for the rest: `JSON.parse`, the same value and order checks, then the
 *    canonical text rebuilt from the values and compared with the input — that comparison
 *    alone rules out unknown, missing, misplaced or duplicate keys and every other
 *    non-canonical form.
 * 3. `decodeDetailed`, only when both refuse: validates step by step to name the node and
 *    the problem in the error (or, should the tiers above ever refuse a canonical tree, to
 *    accept it after all).
 *
 * Tiers 1 and 2 refuse whatever tier 3 refuses and return the same tree where they accept,
 * so `decodeTree` accepts exactly what the detailed validator alone would (the tiers are
 * tested against each other in test/tree/codec.test.ts); they only make the common case fast.
 *
 * Pure module: no filesystem or backend access.
 */

import { ClawbackError } from '../errors.js';
import type { ErrorCode } from '../errors.js';
import { isHexId, isHexIdAt } from '../ids.js';
import { MAX_INODE, MAX_TIME_NS, MIN_TIME_NS, compareNames, isWellFormed, nameProblem, quoteName } from './node.js';
import type { NodeType, Tree, TreeNode } from './node.js';

/** Node keys in canonical order. */
const KEY_ORDER = ['name', 'type', 'mode', 'mtime', 'ctime', 'inode', 'size', 'content', 'subtree', 'target'] as const;
type NodeKey = (typeof KEY_ORDER)[number];

const KEY_RANK: ReadonlyMap<string, number> = new Map(KEY_ORDER.map((k, i) => [k, i]));

/** The type-specific key of each node type. */
const TYPE_KEY: Readonly<Record<NodeType, NodeKey>> = {
  file: 'content',
  sqlite: 'content',
  dir: 'subtree',
  symlink: 'target',
};

const REQUIRED_COMMON: readonly NodeKey[] = ['name', 'type', 'mode', 'mtime', 'size'];
const OPTIONAL_COMMON: readonly NodeKey[] = ['ctime', 'inode'];

/** Decimal integer without leading zeros, `+` or `-0`. */
const DECIMAL = /^(?:0|-?[1-9][0-9]*)$/;

const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function fail(code: ErrorCode, message: string, details?: Record<string, unknown>): never {
  throw new ClawbackError(code, message, details === undefined ? {} : { details });
}

/** Human-readable reference to a node for messages: its name when it is a string. */
function nodeRef(index: number, name: unknown): string {
  return typeof name === 'string' ? `node ${quoteName(name)}` : `node #${index}`;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** True for one of the {@link NodeType}s. */
function isNodeType(t: unknown): t is NodeType {
  return t === 'file' || t === 'dir' || t === 'symlink' || t === 'sqlite';
}

/** True for a `TreeNode` property name (a field trees store). */
function isNodeField(k: string): boolean {
  switch (k) {
    case 'name':
    case 'type':
    case 'mode':
    case 'mtimeNs':
    case 'ctimeNs':
    case 'inode':
    case 'size':
    case 'content':
    case 'subtree':
    case 'target':
      return true;
    default:
      return false;
  }
}

/** True for a signed 64-bit nanosecond count. */
function isTimeNs(t: unknown): t is bigint {
  return typeof t === 'bigint' && t >= MIN_TIME_NS && t <= MAX_TIME_NS;
}

/** True when every element of `ids` is a blob id (and `ids` is an array). */
function allHexIds(ids: unknown): ids is string[] {
  if (!Array.isArray(ids)) return false;
  for (let i = 0; i < ids.length; i++) if (!isHexId(ids[i])) return false;
  return true;
}

/** True when `JSON.stringify(s)` would escape a character of `s` (which is well-formed). */
function needsEscape(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x22 || c === 0x5c) return true;
  }
  return false;
}

/** `JSON.stringify(s)` for a well-formed string, without the call when nothing needs escaping. */
function jsonString(s: string): string {
  return needsEscape(s) ? JSON.stringify(s) : `"${s}"`;
}

/** True when a symlink target is valid: non-empty, no NUL, well-formed. */
function isTarget(t: unknown): t is string {
  return typeof t === 'string' && t !== '' && !t.includes('\0') && isWellFormed(t);
}

/**
 * True when `node` satisfies every invariant of {@link TreeNode} that {@link checkNode}
 * checks; the fast check, with no message. `checkNode` says what is wrong when it is false.
 */
function nodeIsValid(node: TreeNode): boolean {
  const { type, mode, size } = node;
  if (nameProblem(node.name) !== undefined || !isNodeType(type)) return false;
  if (typeof mode !== 'number' || !Number.isInteger(mode) || mode < 0 || mode > 0o7777) return false;
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) return false;
  if (!isTimeNs(node.mtimeNs)) return false;
  const { ctimeNs, inode } = node;
  if (ctimeNs !== undefined && !isTimeNs(ctimeNs)) return false;
  if (inode !== undefined && (typeof inode !== 'bigint' || inode < 0n || inode > MAX_INODE)) return false;
  switch (type) {
    case 'file':
    case 'sqlite':
      return node.subtree === undefined && node.target === undefined && allHexIds(node.content);
    case 'dir':
      return node.content === undefined && node.target === undefined && size === 0 && isHexId(node.subtree);
    default:
      return node.content === undefined && node.subtree === undefined && size === 0 && isTarget(node.target);
  }
}

/**
 * Checks the semantic invariants of one node (see {@link TreeNode}); throws `code` with a
 * message naming the node and the problem. Used by the encoder (`INTERNAL`: the caller built
 * a bad tree) and the decoder (`INTEGRITY`), once {@link nodeIsValid} said no.
 */
function checkNode(node: TreeNode, index: number, code: ErrorCode): void {
  const problem = nameProblem(node.name);
  if (problem !== undefined) fail(code, `tree node #${index}: invalid name ${quoteName(node.name)}: ${problem}`);
  const ref = (): string => nodeRef(index, node.name);
  if (!isNodeType(node.type)) fail(code, `tree ${ref()}: unknown type ${quoteName(node.type)}`);
  if (typeof node.mode !== 'number' || !Number.isInteger(node.mode) || node.mode < 0 || node.mode > 0o7777) {
    fail(code, `tree ${ref()}: mode ${String(node.mode)} is not an integer in 0..0o7777`);
  }
  if (!isTimeNs(node.mtimeNs)) fail(code, `tree ${ref()}: mtime is not a signed 64-bit nanosecond count`);
  if (node.ctimeNs !== undefined && !isTimeNs(node.ctimeNs)) fail(code, `tree ${ref()}: ctime is not a signed 64-bit nanosecond count`);
  if (node.inode !== undefined && (typeof node.inode !== 'bigint' || node.inode < 0n || node.inode > MAX_INODE)) {
    fail(code, `tree ${ref()}: inode is not an unsigned 64-bit integer`);
  }
  if (typeof node.size !== 'number' || !Number.isSafeInteger(node.size) || node.size < 0) {
    fail(code, `tree ${ref()}: size ${String(node.size)} is not a non-negative integer`);
  }
  const typeKey = TYPE_KEY[node.type];
  if (typeKey !== 'content' && node.content !== undefined) fail(code, `tree ${ref()}: content is not allowed on a ${node.type} node`);
  if (typeKey !== 'subtree' && node.subtree !== undefined) fail(code, `tree ${ref()}: subtree is not allowed on a ${node.type} node`);
  if (typeKey !== 'target' && node.target !== undefined) fail(code, `tree ${ref()}: target is not allowed on a ${node.type} node`);
  switch (typeKey) {
    case 'content': {
      const content = node.content;
      if (!Array.isArray(content)) fail(code, `tree ${ref()}: a ${node.type} node needs content (an array of blob ids)`);
      for (let i = 0; i < content.length; i++) {
        if (!isHexId(content[i])) fail(code, `tree ${ref()}: content[${i}] is not a 64-character lowercase hex blob id`);
      }
      break;
    }
    case 'subtree': {
      if (!isHexId(node.subtree)) fail(code, `tree ${ref()}: subtree is not a 64-character lowercase hex blob id`);
      if (node.size !== 0) fail(code, `tree ${ref()}: size of a dir node must be 0, not ${node.size}`);
      break;
    }
    case 'target': {
      const t = node.target;
      if (typeof t !== 'string') fail(code, `tree ${ref()}: a symlink node needs a target string`);
      if (t === '') fail(code, `tree ${ref()}: symlink target is empty`);
      if (t.includes('\0')) fail(code, `tree ${ref()}: symlink target contains NUL`);
      if (!isWellFormed(t)) fail(code, `tree ${ref()}: symlink target is not valid Unicode`);
      if (node.size !== 0) fail(code, `tree ${ref()}: size of a symlink node must be 0, not ${node.size}`);
      break;
    }
    default:
      break;
  }
}

/**
 * Throws `code` for a node that {@link nodeIsValid} refused, with {@link checkNode}'s
 * message (or a generic one, should the two ever disagree: the fast check has the last word).
 */
function rejectNode(node: TreeNode, index: number, code: ErrorCode): never {
  checkNode(node, index, code);
  fail(code, `tree ${nodeRef(index, node.name)} breaks an invariant of tree nodes`);
}

// ---- the encoder's output: one scratch buffer and the helpers that write into it ----

/** Size of the scratch buffer to begin with, and the largest one kept after a call. */
const SCRATCH_INITIAL = 64 * 1024;
const SCRATCH_KEEP = 1024 * 1024;

/**
 * The scratch buffer `encodeTree` writes into, and the position of the next byte. Shared by
 * all calls (one at a time: the encoder is synchronous and calls nothing that could re-enter
 * it); `encodeTree` returns a copy of `out[0, at)`, never `out` itself, and after a tree
 * bigger than {@link SCRATCH_KEEP} lets the grown buffer go.
 */
let out = Buffer.allocUnsafe(SCRATCH_INITIAL);
let at = 0;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const HEX_DIGITS = '0123456789abcdef';

/** For each character below 0x60, the letter of its two-character JSON escape (`\n`…), or 0. */
const SHORT_ESCAPE = new Uint8Array(0x60);
for (const [c, letter] of [[0x08, 'b'], [0x09, 't'], [0x0a, 'n'], [0x0c, 'f'], [0x0d, 'r'], [QUOTE, '"'], [BACKSLASH, '\\']] as const) {
  SHORT_ESCAPE[c] = letter.charCodeAt(0);
}

const MAX_SAFE_BIGINT = BigInt(Number.MAX_SAFE_INTEGER);

/** Makes room for `n` more bytes at `at` (doubling `out` as often as needed). */
function reserve(n: number): void {
  const need = at + n;
  if (need <= out.length) return;
  let size = out.length * 2;
  while (size < need) size *= 2;
  const bigger = Buffer.allocUnsafe(size);
  out.copy(bigger, 0, 0, at);
  out = bigger;
}

/** Writes one ASCII byte. */
function writeByte(c: number): void {
  reserve(1);
  out[at++] = c;
}

/** Writes `s`, all ASCII (a key, a node type, a hex id, a decimal), one byte per character. */
function writeAscii(s: string): void {
  reserve(s.length);
  const buf = out;
  let p = at;
  for (let i = 0; i < s.length; i++) buf[p++] = s.charCodeAt(i);
  at = p;
}

/** Writes the decimal digits of `n`, a non-negative safe integer (at most 16 digits). */
function writeUint(n: number): void {
  let digits = 1;
  for (let t = 10; t <= n; t *= 10) digits++;
  reserve(digits);
  const buf = out;
  let p = at + digits;
  at = p;
  do {
    const d = n % 10;
    buf[--p] = 0x30 + d;
    n = (n - d) / 10; // exact: n - d is a multiple of 10
  } while (n > 0);
}

/** Writes the decimal of a 64-bit value (`-12`, `0`, `1700000000123456789`). */
function writeInt64(v: bigint): void {
  if (v >= 0n && v <= MAX_SAFE_BIGINT) writeUint(Number(v));
  else writeAscii(v.toString()); // one short string; digit by digit would allocate a bigint per digit
}

/**
 * Writes `s` (well-formed: a valid name or symlink target) as a JSON string, as
 * `JSON.stringify(s)` would, in UTF-8: `"`, `\` and U+0000–U+001F escaped (see
 * {@link SHORT_ESCAPE}, otherwise `\u00xx`), the rest of ASCII as is, everything else
 * UTF-8-encoded (a surrogate pair as one 4-byte sequence).
 */
function writeJsonString(s: string): void {
  reserve(2 + 6 * s.length); // a UTF-16 unit takes at most 6 bytes (`\u00xx`)
  const buf = out;
  let p = at;
  buf[p++] = QUOTE;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x20 && c < 0x80 && c !== QUOTE && c !== BACKSLASH) {
      buf[p++] = c;
    } else if (c < 0x80) {
      buf[p++] = BACKSLASH;
      const letter = SHORT_ESCAPE[c]!;
      if (letter !== 0) buf[p++] = letter;
      else {
        buf[p++] = 0x75; // u00
        buf[p++] = 0x30;
        buf[p++] = 0x30;
        buf[p++] = HEX_DIGITS.charCodeAt(c >> 4);
        buf[p++] = HEX_DIGITS.charCodeAt(c & 0xf);
      }
    } else if (c < 0x800) {
      buf[p++] = 0xc0 | (c >> 6);
      buf[p++] = 0x80 | (c & 0x3f);
    } else if (c >= 0xd800 && c <= 0xdbff) {
      // A high surrogate: `s` is well-formed, so a low one follows.
      const cp = 0x10000 + ((c - 0xd800) << 10) + (s.charCodeAt(++i) - 0xdc00);
      buf[p++] = 0xf0 | (cp >> 18);
      buf[p++] = 0x80 | ((cp >> 12) & 0x3f);
      buf[p++] = 0x80 | ((cp >> 6) & 0x3f);
      buf[p++] = 0x80 | (cp & 0x3f);
    } else {
      buf[p++] = 0xe0 | (c >> 12);
      buf[p++] = 0x80 | ((c >> 6) & 0x3f);
      buf[p++] = 0x80 | (c & 0x3f);
    }
  }
  buf[p++] = QUOTE;
  at = p;
}

/** Writes the canonical JSON of one (checked) node. */
function writeNode(node: TreeNode): void {
  writeAscii('{"name":');
  writeJsonString(node.name);
  writeAscii(',"type":"');
  writeAscii(node.type);
  writeAscii('","mode":');
  writeUint(node.mode);
  writeAscii(',"mtime":"');
  writeInt64(node.mtimeNs);
  if (node.ctimeNs !== undefined) {
    writeAscii('","ctime":"');
    writeInt64(node.ctimeNs);
  }
  if (node.inode !== undefined) {
    writeAscii('","inode":"');
    writeInt64(node.inode);
  }
  writeAscii('","size":');
  writeUint(node.size);
  const content = node.content;
  if (content !== undefined) {
    writeAscii(',"content":[');
    for (let i = 0; i < content.length; i++) {
      if (i > 0) writeByte(COMMA);
      writeByte(QUOTE);
      writeAscii(content[i]!);
      writeByte(QUOTE);
    }
    writeByte(0x5d); // ]
  }
  if (node.subtree !== undefined) {
    writeAscii(',"subtree":"');
    writeAscii(node.subtree);
    writeByte(QUOTE);
  }
  if (node.target !== undefined) {
    writeAscii(',"target":');
    writeJsonString(node.target);
  }
  writeByte(0x7d); // }
}

/**
 * Encodes `tree` canonically (see the module comment). The result does not depend on the
 * order of `tree.nodes`; the input is not modified.
 *
 * The bytes are written into a scratch buffer that the module reuses from call to call
 * (grown by doubling as needed) and copied out, so each call allocates little more than its
 * result (see the module comment).
 *
 * @returns the UTF-8 JSON bytes of the tree blob's plaintext, in a new `Uint8Array` of
 *   exactly that length with its own `ArrayBuffer`, which the caller owns (later calls do
 *   not touch it).
 * @throws ClawbackError `INTERNAL` when a node breaks an invariant of {@link TreeNode}
 *   (bad name, mode, time, size, id, or a type-specific field missing or misplaced), has
 *   a property that is not a TreeNode field (it would be silently lost), or two nodes
 *   have the same name: the caller built an invalid tree.
 */
export function encodeTree(tree: Tree): Uint8Array {
  if (!isPlainObject(tree) || !Array.isArray(tree.nodes)) fail('INTERNAL', 'encodeTree: tree.nodes is not an array');
  const input: readonly TreeNode[] = tree.nodes;
  let sorted = true;
  for (let i = 0; i < input.length; i++) {
    const node = input[i];
    if (!isPlainObject(node)) fail('INTERNAL', `encodeTree: node #${i} is not an object`);
    // for…in, not Object.keys: no array per node (a snapshot of the kernel tree encodes
    // 5,000 trees of ~15 nodes each).
    for (const k in node) {
      if (!isNodeField(k) && (node as unknown as Record<string, unknown>)[k] !== undefined) {
        fail('INTERNAL', `encodeTree: ${nodeRef(i, node.name)} has field ${quoteName(k)}, which trees cannot store`);
      }
    }
    if (!nodeIsValid(node)) rejectNode(node, i, 'INTERNAL');
    if (sorted && i > 0 && compareNames(input[i - 1]!.name, node.name) >= 0) sorted = false;
  }
  let nodes = input;
  if (!sorted) {
    nodes = [...input].sort((a, b) => compareNames(a.name, b.name));
    for (let i = 1; i < nodes.length; i++) {
      // Valid names are well-formed, so equal UTF-8 bytes means equal strings.
      if (nodes[i - 1]!.name === nodes[i]!.name) fail('INTERNAL', `encodeTree: duplicate node name ${quoteName(nodes[i]!.name)}`);
    }
  }
  at = 0;
  writeAscii('{"nodes":[');
  for (let i = 0; i < nodes.length; i++) {
    if (i > 0) writeByte(COMMA);
    writeNode(nodes[i]!);
  }
  writeAscii(']}');
  const bytes = new Uint8Array(at);
  out.copy(bytes, 0, 0, at);
  if (out.length > SCRATCH_KEEP) out = Buffer.allocUnsafe(SCRATCH_INITIAL);
  return bytes;
}

/** Digits of the largest int64, of the magnitude of the smallest int64, of the largest uint64. */
const INT64_MAX = '9223372036854775807';
const INT64_MIN_MAGNITUDE = '9223372036854775808';
const UINT64_MAX = '18446744073709551615';

/**
 * True when `v` is a canonical decimal (see `DECIMAL`) in the signed (`signed`) or unsigned
 * 64-bit range: what `decimal` accepts and then the range checks of {@link checkNode} pass.
 * Compares digit strings, not bigints.
 */
function isInt64String(v: unknown, signed: boolean): v is string {
  if (typeof v !== 'string') return false;
  const n = v.length;
  if (n === 0 || n > 20) return false;
  const start = v.charCodeAt(0) === 0x2d ? 1 : 0; // '-'
  if (start === 1 && (!signed || n === 1)) return false;
  if (v.charCodeAt(start) === 0x30) return n === 1; // '0' alone: no leading zeros, no "-0"
  for (let i = start; i < n; i++) {
    const c = v.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return false;
  }
  const max = signed ? (start === 1 ? INT64_MIN_MAGNITUDE : INT64_MAX) : UINT64_MAX;
  const digits = n - start;
  if (digits !== max.length) return digits < max.length;
  return (start === 0 ? v : v.slice(1)) <= max; // same length: string order is numeric order
}

/**
 * A decoded node, built with one object literal in the common case (every field present) so
 * decoded nodes share a few hidden classes; keys in the order of {@link parseNode}'s nodes.
 */
function decodedNode(
  name: string,
  type: NodeType,
  mode: number,
  mtimeNs: bigint,
  size: number,
  ctimeNs: bigint | undefined,
  inode: bigint | undefined,
  extra: string | string[],
): TreeNode {
  if (ctimeNs !== undefined && inode !== undefined) {
    if (type === 'dir') return { name, type, mode, mtimeNs, size, ctimeNs, inode, subtree: extra as string };
    if (type === 'symlink') return { name, type, mode, mtimeNs, size, ctimeNs, inode, target: extra as string };
    return { name, type, mode, mtimeNs, size, ctimeNs, inode, content: extra as string[] };
  }
  const node: TreeNode = { name, type, mode, mtimeNs, size };
  if (ctimeNs !== undefined) node.ctimeNs = ctimeNs;
  if (inode !== undefined) node.inode = inode;
  if (type === 'dir') node.subtree = extra as string;
  else if (type === 'symlink') node.target = extra as string;
  else node.content = extra as string[];
  return node;
}

/** `text.startsWith(lit, p)`: the index after `lit`, or -1. */
function literal(text: string, p: number, lit: string): number {
  return p >= 0 && text.startsWith(lit, p) ? p + lit.length : -1;
}

/**
 * The end of a JSON string's contents starting at `p` (just after its opening quote), when
 * they need no escape (no `\` and no control character, so the string is written as it is
 * in canonical form): the index of the closing quote, or -1.
 */
function plainStringEnd(text: string, p: number): number {
  for (let i = p; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) return i;
    if (c < 0x20 || c === 0x5c) return -1;
  }
  return -1;
}

/**
 * The closing quote of a JSON string starting at `p` (just after its opening quote) whose
 * contents are a canonical decimal int64 (`signed`: may be negative), or -1.
 */
function int64StringEnd(text: string, p: number, signed: boolean): number {
  const end = p < 0 ? -1 : text.indexOf('"', p);
  return end >= 0 && isInt64String(text.slice(p, end), signed) ? end : -1;
}

/**
 * The end of the digits of a JSON unsigned integer at `p` in canonical form (no leading
 * zero) and of at most 16 digits (larger is no safe integer), or -1.
 */
function uintEnd(text: string, p: number): number {
  if (p < 0) return -1;
  if (text.charCodeAt(p) === 0x30) return p + 1;
  let i = p;
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (c < 0x30 || c > 0x39) break;
    i++;
  }
  return i === p || i - p > 16 ? -1 : i;
}

/**
 * The first tier of {@link decodeTree}: reads `text` (all ASCII: `bytes` is its encoding,
 * byte for byte) along the canonical grammar itself, without `JSON.parse`. Returns the tree
 * when `text` is exactly `encodeTree` of a valid tree whose names and targets need no
 * escapes, `undefined` for anything else (the other tiers then decide). Every check of
 * {@link nodeIsValid} is made; what the grammar fixes (keys, their order, which type-specific
 * key a type has, number and string forms) cannot deviate. The strings of the tree are
 * copied out of `bytes` rather than sliced from `text`, which would keep the whole blob in
 * memory as long as any one id of it.
 */
function decodeScan(text: string, bytes: Buffer): Tree | undefined {
  let p = literal(text, 0, '{"nodes":[');
  if (p < 0) return undefined;
  const nodes: TreeNode[] = [];
  const copy = (from: number, to: number): string => (to - from < 13 ? text.slice(from, to) : bytes.toString('latin1', from, to));
  if (text.charCodeAt(p) === 0x5d) return text.length === p + 2 && text.charCodeAt(p + 1) === 0x7d ? { nodes } : undefined;
  let prevName: string | undefined;
  for (;;) {
    p = literal(text, p, '{"name":"');
    if (p < 0) return undefined;
    let end = plainStringEnd(text, p);
    if (end < 0) return undefined;
    const name = copy(p, end);
    if (nameProblem(name) !== undefined || (prevName !== undefined && compareNames(prevName, name) >= 0)) return undefined;
    prevName = name;
    p = literal(text, end, '","type":"');
    let type: NodeType;
    if (p < 0) return undefined;
    else if (text.startsWith('file"', p)) type = 'file';
    else if (text.startsWith('dir"', p)) type = 'dir';
    else if (text.startsWith('symlink"', p)) type = 'symlink';
    else if (text.startsWith('sqlite"', p)) type = 'sqlite';
    else return undefined;
    p = literal(text, p + type.length, '","mode":');
    end = uintEnd(text, p);
    if (end < 0) return undefined;
    const mode = Number(text.slice(p, end));
    if (mode > 0o7777) return undefined;
    p = literal(text, end, ',"mtime":"');
    end = int64StringEnd(text, p, true);
    if (end < 0) return undefined;
    const mtime = text.slice(p, end);
    p = end + 1;
    let ctimeNs: bigint | undefined;
    if (text.startsWith(',"ctime":"', p)) {
      end = int64StringEnd(text, p + 10, true);
      if (end < 0) return undefined;
      ctimeNs = BigInt(text.slice(p + 10, end));
      p = end + 1;
    }
    let inode: bigint | undefined;
    if (text.startsWith(',"inode":"', p)) {
      end = int64StringEnd(text, p + 10, false);
      if (end < 0) return undefined;
      inode = BigInt(text.slice(p + 10, end));
      p = end + 1;
    }
    p = literal(text, p, ',"size":');
    end = uintEnd(text, p);
    if (end < 0) return undefined;
    const size = Number(text.slice(p, end));
    if (size > Number.MAX_SAFE_INTEGER) return undefined;
    p = end;
    let extra: string | string[];
    if (type === 'dir') {
      p = literal(text, p, ',"subtree":"');
      if (size !== 0 || !isHexIdAt(text, p) || text.charCodeAt(p + 64) !== 0x22) return undefined;
      extra = copy(p, p + 64);
      p += 65;
    } else if (type === 'symlink') {
      p = literal(text, p, ',"target":"');
      end = p < 0 ? -1 : plainStringEnd(text, p);
      if (size !== 0 || end <= p) return undefined; // also refuses an empty target
      extra = copy(p, end);
      p = end + 1;
    } else {
      p = literal(text, p, ',"content":[');
      if (p < 0) return undefined;
      const content: string[] = [];
      if (text.charCodeAt(p) === 0x5d) p++;
      else {
        for (;;) {
          if (text.charCodeAt(p) !== 0x22 || !isHexIdAt(text, p + 1) || text.charCodeAt(p + 65) !== 0x22) return undefined;
          content.push(copy(p + 1, p + 65));
          const c = text.charCodeAt(p + 66);
          p += 67;
          if (c === 0x5d) break;
          if (c !== 0x2c) return undefined;
        }
      }
      extra = content;
    }
    if (text.charCodeAt(p) !== 0x7d) return undefined;
    nodes.push(decodedNode(name, type, mode, BigInt(mtime), size, ctimeNs, inode, extra));
    const c = text.charCodeAt(p + 1);
    p += 2;
    if (c === 0x2c) continue;
    return c === 0x5d && text.length === p + 1 && text.charCodeAt(p) === 0x7d ? { nodes } : undefined;
  }
}

/**
 * The fast path of {@link decodeTree}: the tree when `parsed` (the JSON of `text`) is a valid
 * tree and `text` is its canonical encoding, `undefined` when anything is off (the detailed
 * validator then says what). Checks each node's values as {@link nodeIsValid} does and the
 * name order, and rebuilds the canonical text from the values (the 64-bit fields from their
 * strings, once they are known to be canonical decimals) to compare it with `text`: so every
 * key of every node must be where `encodeTree` puts it, and nothing else may be there.
 */
function decodeFast(parsed: unknown, text: string): Tree | undefined {
  if (!isPlainObject(parsed)) return undefined;
  const raw = parsed.nodes;
  if (!Array.isArray(raw)) return undefined;
  const nodes: TreeNode[] = new Array<TreeNode>(raw.length);
  let s = '{"nodes":[';
  let prevName: string | undefined;
  for (let i = 0; i < raw.length; i++) {
    const r = raw[i] as Record<string, unknown> | null;
    if (typeof r !== 'object' || r === null) return undefined;
    const name = r.name;
    const type = r.type;
    const mode = r.mode;
    const size = r.size;
    const mtime = r.mtime;
    const ctime = r.ctime;
    const inode = r.inode;
    if (typeof name !== 'string' || nameProblem(name) !== undefined) return undefined;
    if (prevName !== undefined && compareNames(prevName, name) >= 0) return undefined;
    prevName = name;
    if (!isNodeType(type)) return undefined;
    if (typeof mode !== 'number' || !Number.isInteger(mode) || mode < 0 || mode > 0o7777) return undefined;
    if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) return undefined;
    if (!isInt64String(mtime, true)) return undefined;
    s += `${i === 0 ? '' : ','}{"name":${jsonString(name)},"type":"${type}","mode":${mode},"mtime":"${mtime}"`;
    let ctimeNs: bigint | undefined;
    if (ctime !== undefined) {
      if (!isInt64String(ctime, true)) return undefined;
      ctimeNs = BigInt(ctime);
      s += `,"ctime":"${ctime}"`;
    }
    let inodeN: bigint | undefined;
    if (inode !== undefined) {
      if (!isInt64String(inode, false)) return undefined;
      inodeN = BigInt(inode);
      s += `,"inode":"${inode}"`;
    }
    s += `,"size":${size}`;
    let extra: string | string[];
    if (type === 'dir') {
      const subtree = r.subtree;
      if (size !== 0 || !isHexId(subtree)) return undefined;
      extra = subtree;
      s += `,"subtree":"${subtree}"}`;
    } else if (type === 'symlink') {
      const target = r.target;
      if (size !== 0 || !isTarget(target)) return undefined;
      extra = target;
      s += `,"target":${jsonString(target)}}`;
    } else {
      const content = r.content;
      if (!allHexIds(content)) return undefined;
      extra = content;
      s += content.length === 0 ? ',"content":[]}' : `,"content":["${content.join('","')}"]}`;
    }
    nodes[i] = decodedNode(name, type, mode, BigInt(mtime), size, ctimeNs, inodeN, extra);
  }
  s += ']}';
  return s === text ? { nodes } : undefined;
}

/**
 * The value of a 64-bit field's string when it is a canonical decimal integer (at most 21
 * characters, so it cannot be made to parse a huge number), otherwise `undefined`.
 */
function decimal(v: unknown): bigint | undefined {
  return typeof v === 'string' && v.length <= 21 && DECIMAL.test(v) ? BigInt(v) : undefined;
}

/** Parses a 64-bit decimal string field; throws INTEGRITY. */
function parseBigintField(v: unknown, index: number, name: unknown, key: string): bigint {
  const n = decimal(v);
  if (n === undefined) fail('INTEGRITY', `tree ${nodeRef(index, name)}: ${key} is not a decimal integer string`);
  return n;
}

/** Converts one parsed JSON value to a TreeNode, checking representation and keys. */
function parseNode(raw: unknown, index: number): TreeNode {
  if (!isPlainObject(raw)) fail('INTEGRITY', `tree node #${index} is not a JSON object`);
  const problem = nameProblem(raw.name);
  if (problem !== undefined) fail('INTEGRITY', `tree node #${index}: invalid name ${quoteName(raw.name)}: ${problem}`);
  const ref = nodeRef(index, raw.name);
  const type = raw.type;
  if (!isNodeType(type)) fail('INTEGRITY', `tree ${ref}: unknown type ${quoteName(type)}`);
  const typeKey = TYPE_KEY[type];
  const keys = Object.keys(raw);
  let lastRank = -1;
  for (const k of keys) {
    const rank = KEY_RANK.get(k);
    const allowed =
      rank !== undefined && (REQUIRED_COMMON.includes(k as NodeKey) || OPTIONAL_COMMON.includes(k as NodeKey) || k === typeKey);
    if (!allowed || rank === undefined) fail('INTEGRITY', `tree ${ref}: unexpected key ${quoteName(k)} on a ${type} node`);
    if (rank < lastRank) fail('INTEGRITY', `tree ${ref}: key ${quoteName(k)} is out of canonical order`);
    lastRank = rank;
  }
  for (const k of [...REQUIRED_COMMON, typeKey]) {
    if (!Object.hasOwn(raw, k)) fail('INTEGRITY', `tree ${ref}: missing key ${quoteName(k)} on a ${type} node`);
  }
  if (typeof raw.mode !== 'number') fail('INTEGRITY', `tree ${ref}: mode is not a number`);
  if (typeof raw.size !== 'number') fail('INTEGRITY', `tree ${ref}: size is not a number`);
  const out: TreeNode = {
    name: raw.name as string,
    type,
    mode: raw.mode,
    mtimeNs: parseBigintField(raw.mtime, index, raw.name, 'mtime'),
    size: raw.size,
  };
  if (Object.hasOwn(raw, 'ctime')) out.ctimeNs = parseBigintField(raw.ctime, index, raw.name, 'ctime');
  if (Object.hasOwn(raw, 'inode')) out.inode = parseBigintField(raw.inode, index, raw.name, 'inode');
  if (typeKey === 'content') {
    if (!Array.isArray(raw.content)) fail('INTEGRITY', `tree ${ref}: content is not an array`);
    out.content = (raw.content as unknown[]).map((id, i) => {
      if (typeof id !== 'string') fail('INTEGRITY', `tree ${ref}: content[${i}] is not a string`);
      return id;
    });
  } else if (typeKey === 'subtree') {
    if (typeof raw.subtree !== 'string') fail('INTEGRITY', `tree ${ref}: subtree is not a string`);
    out.subtree = raw.subtree;
  } else {
    if (typeof raw.target !== 'string') fail('INTEGRITY', `tree ${ref}: target is not a string`);
    out.target = raw.target;
  }
  if (!nodeIsValid(out)) rejectNode(out, index, 'INTEGRITY');
  return out;
}

/**
 * The detailed validator of {@link decodeTree}, run when its fast path refuses: checks
 * `parsed` (the JSON of `bytes`) step by step and throws `INTEGRITY` naming the first
 * problem found. Returns the tree when there is none.
 */
function decodeDetailed(parsed: unknown, bytes: Uint8Array): Tree {
  if (!isPlainObject(parsed)) fail('INTEGRITY', 'tree blob is not a JSON object');
  const topKeys = Object.keys(parsed);
  if (topKeys.length !== 1 || topKeys[0] !== 'nodes') {
    const extra = topKeys.find((k) => k !== 'nodes');
    fail('INTEGRITY', extra === undefined ? 'tree blob has no "nodes" key' : `tree blob has unexpected key ${quoteName(extra)}`);
  }
  const rawNodes = parsed.nodes;
  if (!Array.isArray(rawNodes)) fail('INTEGRITY', 'tree blob: "nodes" is not an array');
  const nodes: TreeNode[] = [];
  let prev: string | undefined;
  rawNodes.forEach((raw, i) => {
    const node = parseNode(raw, i);
    if (prev !== undefined) {
      const c = compareNames(prev, node.name);
      if (c === 0) fail('INTEGRITY', `tree has duplicate node name ${quoteName(node.name)}`);
      if (c > 0) fail('INTEGRITY', `tree nodes are not sorted: ${quoteName(node.name)} comes after ${quoteName(prev)}`);
    }
    prev = node.name;
    nodes.push(node);
  });
  const tree: Tree = { nodes };
  const canonical = encodeTree(tree);
  if (!Buffer.from(canonical.buffer, canonical.byteOffset, canonical.byteLength).equals(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength))) {
    fail('INTEGRITY', 'tree blob is not in canonical encoding (whitespace, escapes, number form or duplicate keys)');
  }
  return tree;
}

/**
 * Decodes and validates a tree blob's plaintext. Strict: only the exact canonical
 * encoding that {@link encodeTree} produces is accepted, so `encodeTree(decodeTree(b))`
 * equals `b` byte for byte whenever this returns.
 *
 * @param bytes the tree blob's plaintext.
 * @returns the tree; nodes in stored (sorted) order, each with only the keys present.
 * @throws ClawbackError `INTEGRITY` on any deviation: invalid UTF-8 or JSON; a top-level
 *   key other than `nodes`; a node that is not an object, has an unknown, misplaced or
 *   missing key for its type, a value of the wrong JSON type, a non-integer or negative
 *   number, a mode above 0o7777, a size other than 0 on a dir/symlink, an id that is not
 *   64 lowercase hex characters, an invalid name (see `validateName`) or an empty/NUL
 *   symlink target; names not strictly increasing in UTF-8 byte order (unsorted or
 *   duplicate); or any other non-canonical formatting (whitespace, escapes, number forms).
 *   The message names the problem and, where it is a string, the node's name.
 */
export function decodeTree(bytes: Uint8Array): Tree {
  const text = blobText(bytes);
  if (text.length === bytes.byteLength) {
    // All ASCII (any other UTF-8 sequence decodes to fewer UTF-16 code units than bytes).
    const tree = decodeScan(text, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    if (tree !== undefined) return tree;
  }
  const parsed = blobJson(text);
  return decodeFast(parsed, text) ?? decodeDetailed(parsed, bytes);
}

/** The UTF-8 text of a tree blob; throws INTEGRITY when it is not UTF-8. */
function blobText(bytes: Uint8Array): string {
  try {
    return utf8Decoder.decode(bytes);
  } catch (err) {
    throw new ClawbackError('INTEGRITY', 'tree blob is not valid UTF-8', { cause: err });
  }
}

/** The JSON value of a tree blob's text; throws INTEGRITY when it is not JSON. */
function blobJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new ClawbackError('INTEGRITY', `tree blob is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * The three ways {@link decodeTree} reads a blob, apart, for tests (not part of the API):
 * `scan` and `fast` are its first two tiers (`undefined` where they refuse; `scan` also for
 * a blob that is not all ASCII), `detailed` its detailed validator alone (throws `INTEGRITY`
 * with the message `decodeTree` gives). All throw `INTEGRITY` for a blob that is not UTF-8,
 * `fast` and `detailed` for one that is not JSON.
 * @internal
 */
export const decodeTreeParts = {
  scan(bytes: Uint8Array): Tree | undefined {
    const text = blobText(bytes);
    return text.length === bytes.byteLength ? decodeScan(text, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)) : undefined;
  },
  fast(bytes: Uint8Array): Tree | undefined {
    const text = blobText(bytes);
    return decodeFast(blobJson(text), text);
  },
  detailed(bytes: Uint8Array): Tree {
    return decodeDetailed(blobJson(blobText(bytes)), bytes);
  },
};

/** Sorts nodes into canonical order (by UTF-8 bytes of the name); returns a new array. */
export function sortNodes(nodes: readonly TreeNode[]): TreeNode[] {
  return [...nodes].sort((a, b) => compareNames(a.name, b.name));
}
