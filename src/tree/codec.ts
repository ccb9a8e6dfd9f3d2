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
 * Pure module: no filesystem or backend access.
 */

import { ClawbackError } from '../errors.js';
import type { ErrorCode } from '../errors.js';
import { isHexId } from '../ids.js';
import {
  MAX_INODE,
  MAX_TIME_NS,
  MIN_TIME_NS,
  NODE_TYPES,
  compareNames,
  isWellFormed,
  nameProblem,
  quoteName,
} from './node.js';
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

/** The properties of a {@link TreeNode}. */
const NODE_FIELDS: ReadonlySet<string> = new Set(['name', 'type', 'mode', 'mtimeNs', 'ctimeNs', 'inode', 'size', 'content', 'subtree', 'target']);

/** Decimal integer without leading zeros, `+` or `-0`. */
const DECIMAL = /^(?:0|-?[1-9][0-9]*)$/;

const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const utf8Encoder = new TextEncoder();

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

/**
 * Checks the semantic invariants of one node (see {@link TreeNode}); throws `code`.
 * Used by the encoder (`INTERNAL`: the caller built a bad tree) and the decoder (`INTEGRITY`).
 */
function checkNode(node: TreeNode, index: number, code: ErrorCode): void {
  const problem = nameProblem(node.name);
  if (problem !== undefined) fail(code, `tree node #${index}: invalid name ${quoteName(node.name)}: ${problem}`);
  const ref = nodeRef(index, node.name);
  if (!NODE_TYPES.includes(node.type)) fail(code, `tree ${ref}: unknown type ${quoteName(node.type)}`);
  if (typeof node.mode !== 'number' || !Number.isInteger(node.mode) || node.mode < 0 || node.mode > 0o7777) {
    fail(code, `tree ${ref}: mode ${String(node.mode)} is not an integer in 0..0o7777`);
  }
  if (typeof node.mtimeNs !== 'bigint' || node.mtimeNs < MIN_TIME_NS || node.mtimeNs > MAX_TIME_NS) {
    fail(code, `tree ${ref}: mtime is not a signed 64-bit nanosecond count`);
  }
  if (node.ctimeNs !== undefined && (typeof node.ctimeNs !== 'bigint' || node.ctimeNs < MIN_TIME_NS || node.ctimeNs > MAX_TIME_NS)) {
    fail(code, `tree ${ref}: ctime is not a signed 64-bit nanosecond count`);
  }
  if (node.inode !== undefined && (typeof node.inode !== 'bigint' || node.inode < 0n || node.inode > MAX_INODE)) {
    fail(code, `tree ${ref}: inode is not an unsigned 64-bit integer`);
  }
  if (typeof node.size !== 'number' || !Number.isSafeInteger(node.size) || node.size < 0) {
    fail(code, `tree ${ref}: size ${String(node.size)} is not a non-negative integer`);
  }
  const typeKey = TYPE_KEY[node.type];
  if (typeKey !== 'content' && node.content !== undefined) fail(code, `tree ${ref}: content is not allowed on a ${node.type} node`);
  if (typeKey !== 'subtree' && node.subtree !== undefined) fail(code, `tree ${ref}: subtree is not allowed on a ${node.type} node`);
  if (typeKey !== 'target' && node.target !== undefined) fail(code, `tree ${ref}: target is not allowed on a ${node.type} node`);
  switch (typeKey) {
    case 'content': {
      if (!Array.isArray(node.content)) fail(code, `tree ${ref}: a ${node.type} node needs content (an array of blob ids)`);
      node.content.forEach((id, i) => {
        if (!isHexId(id)) fail(code, `tree ${ref}: content[${i}] is not a 64-character lowercase hex blob id`);
      });
      break;
    }
    case 'subtree': {
      if (!isHexId(node.subtree)) fail(code, `tree ${ref}: subtree is not a 64-character lowercase hex blob id`);
      if (node.size !== 0) fail(code, `tree ${ref}: size of a dir node must be 0, not ${node.size}`);
      break;
    }
    case 'target': {
      const t = node.target;
      if (typeof t !== 'string') fail(code, `tree ${ref}: a symlink node needs a target string`);
      if (t === '') fail(code, `tree ${ref}: symlink target is empty`);
      if (t.includes('\0')) fail(code, `tree ${ref}: symlink target contains NUL`);
      if (!isWellFormed(t)) fail(code, `tree ${ref}: symlink target is not valid Unicode`);
      if (node.size !== 0) fail(code, `tree ${ref}: size of a symlink node must be 0, not ${node.size}`);
      break;
    }
    default:
      break;
  }
}

/** The canonical JSON of one (checked) node. */
function encodeNode(node: TreeNode): string {
  let s = `{"name":${JSON.stringify(node.name)},"type":"${node.type}","mode":${node.mode},"mtime":"${node.mtimeNs}"`;
  if (node.ctimeNs !== undefined) s += `,"ctime":"${node.ctimeNs}"`;
  if (node.inode !== undefined) s += `,"inode":"${node.inode}"`;
  s += `,"size":${node.size}`;
  if (node.content !== undefined) s += `,"content":[${node.content.map((id) => `"${id}"`).join(',')}]`;
  if (node.subtree !== undefined) s += `,"subtree":"${node.subtree}"`;
  if (node.target !== undefined) s += `,"target":${JSON.stringify(node.target)}`;
  return `${s}}`;
}

/**
 * Encodes `tree` canonically (see the module comment). The result does not depend on the
 * order of `tree.nodes`; the input is not modified.
 *
 * @returns the UTF-8 JSON bytes of the tree blob's plaintext.
 * @throws ClawbackError `INTERNAL` when a node breaks an invariant of {@link TreeNode}
 *   (bad name, mode, time, size, id, or a type-specific field missing or misplaced), has
 *   a property that is not a TreeNode field (it would be silently lost), or two nodes
 *   have the same name: the caller built an invalid tree.
 */
export function encodeTree(tree: Tree): Uint8Array {
  if (!isPlainObject(tree) || !Array.isArray(tree.nodes)) fail('INTERNAL', 'encodeTree: tree.nodes is not an array');
  const keyed = tree.nodes.map((node, i) => {
    for (const k of Object.keys(node)) {
      if (!NODE_FIELDS.has(k) && (node as unknown as Record<string, unknown>)[k] !== undefined) {
        fail('INTERNAL', `encodeTree: ${nodeRef(i, node.name)} has field ${quoteName(k)}, which trees cannot store`);
      }
    }
    checkNode(node, i, 'INTERNAL');
    return { node, key: Buffer.from(node.name, 'utf8') };
  });
  keyed.sort((a, b) => Buffer.compare(a.key, b.key));
  for (let i = 1; i < keyed.length; i++) {
    const prev = keyed[i - 1];
    const cur = keyed[i];
    if (prev !== undefined && cur !== undefined && prev.key.equals(cur.key)) {
      fail('INTERNAL', `encodeTree: duplicate node name ${quoteName(cur.node.name)}`);
    }
  }
  return utf8Encoder.encode(`{"nodes":[${keyed.map((k) => encodeNode(k.node)).join(',')}]}`);
}

/** Parses a 64-bit decimal string field; throws INTEGRITY. */
function parseBigintField(v: unknown, ref: string, key: string): bigint {
  if (typeof v !== 'string' || v.length > 21 || !DECIMAL.test(v)) {
    fail('INTEGRITY', `tree ${ref}: ${key} is not a decimal integer string`);
  }
  return BigInt(v);
}

/** Converts one parsed JSON value to a TreeNode, checking representation and keys. */
function parseNode(raw: unknown, index: number): TreeNode {
  if (!isPlainObject(raw)) fail('INTEGRITY', `tree node #${index} is not a JSON object`);
  const problem = nameProblem(raw.name);
  if (problem !== undefined) fail('INTEGRITY', `tree node #${index}: invalid name ${quoteName(raw.name)}: ${problem}`);
  const ref = nodeRef(index, raw.name);
  const type = raw.type;
  if (typeof type !== 'string' || !(NODE_TYPES as readonly string[]).includes(type)) {
    fail('INTEGRITY', `tree ${ref}: unknown type ${quoteName(type)}`);
  }
  const nodeType = type as NodeType;
  const typeKey = TYPE_KEY[nodeType];
  const keys = Object.keys(raw);
  let lastRank = -1;
  for (const k of keys) {
    const rank = KEY_RANK.get(k);
    const allowed =
      rank !== undefined && (REQUIRED_COMMON.includes(k as NodeKey) || OPTIONAL_COMMON.includes(k as NodeKey) || k === typeKey);
    if (!allowed || rank === undefined) fail('INTEGRITY', `tree ${ref}: unexpected key ${quoteName(k)} on a ${nodeType} node`);
    if (rank < lastRank) fail('INTEGRITY', `tree ${ref}: key ${quoteName(k)} is out of canonical order`);
    lastRank = rank;
  }
  for (const k of [...REQUIRED_COMMON, typeKey]) {
    if (!Object.hasOwn(raw, k)) fail('INTEGRITY', `tree ${ref}: missing key ${quoteName(k)} on a ${nodeType} node`);
  }
  if (typeof raw.mode !== 'number') fail('INTEGRITY', `tree ${ref}: mode is not a number`);
  if (typeof raw.size !== 'number') fail('INTEGRITY', `tree ${ref}: size is not a number`);
  const out: TreeNode = {
    name: raw.name as string,
    type: nodeType,
    mode: raw.mode,
    mtimeNs: parseBigintField(raw.mtime, ref, 'mtime'),
    size: raw.size,
  };
  if (Object.hasOwn(raw, 'ctime')) out.ctimeNs = parseBigintField(raw.ctime, ref, 'ctime');
  if (Object.hasOwn(raw, 'inode')) out.inode = parseBigintField(raw.inode, ref, 'inode');
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
  checkNode(out, index, 'INTEGRITY');
  return out;
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
  let text: string;
  try {
    text = utf8Decoder.decode(bytes);
  } catch (err) {
    throw new ClawbackError('INTEGRITY', 'tree blob is not valid UTF-8', { cause: err });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new ClawbackError('INTEGRITY', `tree blob is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  if (!isPlainObject(parsed)) fail('INTEGRITY', 'tree blob is not a JSON object');
  const topKeys = Object.keys(parsed);
  if (topKeys.length !== 1 || topKeys[0] !== 'nodes') {
    const extra = topKeys.find((k) => k !== 'nodes');
    fail('INTEGRITY', extra === undefined ? 'tree blob has no "nodes" key' : `tree blob has unexpected key ${quoteName(extra)}`);
  }
  const rawNodes = parsed.nodes;
  if (!Array.isArray(rawNodes)) fail('INTEGRITY', 'tree blob: "nodes" is not an array');
  const nodes: TreeNode[] = [];
  let prevKey: Buffer | undefined;
  let prevName = '';
  rawNodes.forEach((raw, i) => {
    const node = parseNode(raw, i);
    const key = Buffer.from(node.name, 'utf8');
    if (prevKey !== undefined) {
      const c = Buffer.compare(prevKey, key);
      if (c === 0) fail('INTEGRITY', `tree has duplicate node name ${quoteName(node.name)}`);
      if (c > 0) fail('INTEGRITY', `tree nodes are not sorted: ${quoteName(node.name)} comes after ${quoteName(prevName)}`);
    }
    prevKey = key;
    prevName = node.name;
    nodes.push(node);
  });
  const tree: Tree = { nodes };
  const canonical = encodeTree(tree);
  if (!Buffer.from(canonical.buffer, canonical.byteOffset, canonical.byteLength).equals(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength))) {
    fail('INTEGRITY', 'tree blob is not in canonical encoding (whitespace, escapes, number form or duplicate keys)');
  }
  return tree;
}

/** Sorts nodes into canonical order (by UTF-8 bytes of the name); returns a new array. */
export function sortNodes(nodes: readonly TreeNode[]): TreeNode[] {
  return [...nodes].sort((a, b) => compareNames(a.name, b.name));
}
