/**
 * The directory-tree data model. A snapshot's content is a Merkle tree: each directory is
 * stored as one *tree blob* (a {@link Tree}, encoded by `tree/codec.ts`), whose nodes point
 * at data blobs (file content) or at the tree blobs of subdirectories. After restic's
 * `internal/data/node.go` and `tree.go` (https://restic.readthedocs.io/en/stable/100_references.html#trees-and-data).
 *
 * This module is pure: no filesystem or backend access.
 */

import { ClawbackError } from '../errors.js';
import type { ErrorCode } from '../errors.js';
import { sameIds, type BlobId } from '../ids.js';

/**
 * Kind of a tree node.
 *
 * - `file`: a regular file; content in data blobs.
 * - `dir`: a directory; its entries are in the tree blob {@link TreeNode.subtree}.
 * - `symlink`: a symbolic link; {@link TreeNode.target} is stored, never followed.
 * - `sqlite`: a SQLite database captured through the online backup API (a consistent
 *   copy, not the raw file); content in data blobs like `file`.
 */
export type NodeType = 'file' | 'dir' | 'symlink' | 'sqlite';

/** All node types, in a stable order. */
export const NODE_TYPES: readonly NodeType[] = ['file', 'dir', 'symlink', 'sqlite'];

/**
 * One entry of a directory.
 *
 * Invariants (checked by `encodeTree` and `decodeTree`):
 * - `name` passes {@link validateName}.
 * - `mode` is an integer in 0..0o7777 (`st_mode & 0o7777`: permission, setuid/setgid, sticky).
 * - `mtimeNs`, `ctimeNs` are in the signed 64-bit range; `inode` in the unsigned 64-bit range.
 * - `size` is a non-negative safe integer; 0 for `dir` and `symlink`.
 * - `content` is present exactly for `file` and `sqlite` (empty array for empty content),
 *   `subtree` exactly for `dir`, `target` exactly for `symlink`.
 */
export interface TreeNode {
  /** One path component, well-formed Unicode (stored as UTF-8); see {@link validateName}. */
  name: string;
  type: NodeType;
  /** Permission bits: `st_mode & 0o7777`. */
  mode: number;
  /** Modification time, nanoseconds since the Unix epoch (may be negative). */
  mtimeNs: bigint;
  /** Status change time, ns since the Unix epoch; only for change detection, never restored. */
  ctimeNs?: bigint;
  /** Inode number; only for change detection, never restored. */
  inode?: bigint;
  /** Bytes of content (file, sqlite); 0 for dir and symlink. */
  size: number;
  /** file, sqlite: data blob ids in content order (empty array for an empty file). */
  content?: BlobId[];
  /** dir: id of the directory's tree blob. */
  subtree?: BlobId;
  /** symlink: the link target as stored by `readlink`, never resolved. Non-empty, no NUL. */
  target?: string;
}

/**
 * Builds a {@link TreeNode} as one object literal with every field in a fixed order (absent
 * ones undefined), so all nodes share one V8 hidden class: nodes built by spreading
 * (`{ ...base, type }`) each get their own, which made `sameNode` 8× and `encodeTree` 2×
 * slower on the kernel tree (bench/tree-codec.ts). No validation (see `encodeTree`).
 */
export function makeNode(
  name: string,
  type: NodeType,
  mode: number,
  mtimeNs: bigint,
  ctimeNs: bigint | undefined,
  inode: bigint | undefined,
  size: number,
  content: BlobId[] | undefined,
  subtree: BlobId | undefined,
  target: string | undefined,
): TreeNode {
  return { name, type, mode, mtimeNs, ctimeNs, inode, size, content, subtree, target };
}

/**
 * `node` with other blob references (content of a file or database, subtree of a
 * directory) and every other field unchanged; built by {@link makeNode}, so it shares the
 * nodes' hidden class. Used where a tree is rewritten blob by blob (copying between
 * repositories with other chunker parameters).
 */
export function withBlobs(node: TreeNode, content: BlobId[] | undefined, subtree: BlobId | undefined): TreeNode {
  return makeNode(node.name, node.type, node.mode, node.mtimeNs, node.ctimeNs, node.inode, node.size, content, subtree, node.target);
}

/** One directory: its entries, sorted by the UTF-8 bytes of their names (see `tree/codec.ts`). */
export interface Tree {
  nodes: TreeNode[];
}

/** Longest allowed name, in UTF-8 bytes (NAME_MAX on Linux and macOS). */
export const MAX_NAME_BYTES = 255;

/** Smallest value of `mtimeNs`/`ctimeNs` (int64 minimum). */
export const MIN_TIME_NS = -(2n ** 63n);
/** Largest value of `mtimeNs`/`ctimeNs` (int64 maximum). */
export const MAX_TIME_NS = 2n ** 63n - 1n;
/** Largest value of `inode` (uint64 maximum). */
export const MAX_INODE = 2n ** 64n - 1n;

/** Matches an unpaired UTF-16 surrogate (with the `u` flag, paired ones are whole code points). */
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

/** `String.prototype.isWellFormed` (ES2024, in Node >= 20), when the runtime has it. */
const nativeWellFormed = (String.prototype as { isWellFormed?: (this: string) => boolean }).isWellFormed;

/** True when `s` is well-formed Unicode (no unpaired surrogates), so it has a UTF-8 encoding. */
export const isWellFormed: (s: string) => boolean =
  typeof nativeWellFormed === 'function' ? (s) => nativeWellFormed.call(s) : (s) => !LONE_SURROGATE.test(s);

/**
 * What is wrong with `name` as a tree node name, or `undefined` when it is valid.
 *
 * A valid name is a string that is not `''`, `'.'` or `'..'`, contains neither `'/'` nor
 * NUL, is well-formed Unicode (file names that are not valid UTF-8 cannot be stored), and is
 * at most {@link MAX_NAME_BYTES} bytes long in UTF-8. Other control characters are allowed
 * (POSIX allows them).
 */
export function nameProblem(name: unknown): string | undefined {
  if (typeof name !== 'string') return 'name is not a string';
  if (name === '') return 'name is empty';
  if (name === '.' || name === '..') return `name ${JSON.stringify(name)} is not allowed`;
  if (name.includes('/')) return 'name contains "/"';
  if (name.includes('\0')) return 'name contains NUL';
  if (!isWellFormed(name)) return 'name is not valid Unicode (unpaired surrogate)';
  // A UTF-16 code unit takes at most 3 UTF-8 bytes, so short names need no count.
  if (name.length * 3 <= MAX_NAME_BYTES) return undefined;
  const bytes = Buffer.byteLength(name, 'utf8');
  if (bytes > MAX_NAME_BYTES) return `name is ${bytes} bytes long (at most ${MAX_NAME_BYTES})`;
  return undefined;
}

/**
 * Checks a node name (see {@link nameProblem} for the rules).
 *
 * @param name the candidate path component.
 * @param code the error code to throw: `INTEGRITY` (default) when checking stored data,
 *   `INTERNAL` when checking a tree about to be encoded, `CAPTURE` for a source file name.
 * @throws ClawbackError with `code` when the name is invalid; the message quotes the name
 *   (JSON-escaped, truncated to 100 characters).
 */
export function validateName(name: string, code: ErrorCode = 'INTEGRITY'): void {
  const problem = nameProblem(name);
  if (problem !== undefined) {
    throw new ClawbackError(code, `invalid tree node name ${quoteName(name)}: ${problem}`, {
      details: { problem },
    });
  }
}

/** `name` JSON-quoted and truncated for messages (never throws). */
export function quoteName(name: unknown): string {
  if (typeof name !== 'string') return `<${typeof name}>`;
  const short = name.length > 100 ? `${name.slice(0, 100)}…` : name;
  return JSON.stringify(short);
}

/** True for a UTF-16 surrogate code unit (half of a code point above U+FFFF, or a lone one). */
function isSurrogate(c: number): boolean {
  return c >= 0xd800 && c <= 0xdfff;
}

/**
 * Compares two names by their UTF-8 bytes (the canonical node order); <0, 0 or >0.
 *
 * Equal to `Buffer.compare` of the names' UTF-8 encodings (lone surrogates encoded as
 * U+FFFD, as `Buffer.from` does) for all strings, without encoding them: UTF-8 byte order is
 * code point order, which is UTF-16 code unit order except where a surrogate meets a unit
 * at or above U+E000: only names that first differ at a surrogate go through `Buffer.compare`.
 */
export function compareNames(a: string, b: string): number {
  const n = a.length < b.length ? a.length : b.length;
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) {
      if (!isSurrogate(x) && !isSurrogate(y)) return x - y;
      return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
    }
  }
  // One is a prefix of the other. Its UTF-8 is a prefix of the other's too, except that a
  // high surrogate at its end is lone there (EF BF BD) and may be paired in the other (F0-F4
  // lead byte): still the smaller.
  return a.length - b.length;
}

/**
 * Sorts names into the canonical node order (by UTF-8 bytes, see {@link compareNames}).
 * Returns a new array.
 */
export function sortByName(names: readonly string[]): string[] {
  return [...names].sort(compareNames);
}

/**
 * True when two nodes have the same fields, so a tree of them encodes to the same bytes.
 * Content arrays are compared element by element.
 */
export function sameNode(a: TreeNode, b: TreeNode): boolean {
  if (
    a.name !== b.name || a.type !== b.type || a.mode !== b.mode || a.size !== b.size || a.mtimeNs !== b.mtimeNs ||
    a.ctimeNs !== b.ctimeNs || a.inode !== b.inode || a.subtree !== b.subtree || a.target !== b.target
  ) return false;
  return sameIds(a.content, b.content);
}
