/**
 * What gc's mark phase needs from a tree blob: the ids it references (subtrees and file
 * content), read with `JSON.parse` and a check of every field that carries a reference —
 * without the full canonical-form validation of `decodeTree` (src/tree/codec.ts), which is
 * `verify`'s job and cost most of gc's planning time.
 *
 * Leniency only ever keeps more: a tree whose id matched its content (the blob was opened
 * and re-hashed before) is what a writer wrote, and every reference in it is followed.
 * Anything that could hide a reference — invalid JSON, a node that is not an object, an
 * unknown type, a `content` that is not an array of ids, a `subtree` that is not an id —
 * is refused like a damaged tree, so gc stops rather than deleting what it might need.
 */
import { ClawbackError } from '../errors.js';
import type { BlobId } from '../ids.js';

const HEX_ID = /^[0-9a-f]{64}$/;
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** One node of a tree as far as references go (the parsed node itself, checked). */
export interface RefNode {
  type: 'file' | 'dir' | 'symlink' | 'sqlite';
  /** A dir node's tree. */
  subtree?: BlobId;
  /** A file or sqlite node's data blobs. */
  content?: BlobId[];
}

function bad(why: string): never {
  throw new ClawbackError('INTEGRITY', `tree blob ${why}`);
}

/**
 * The nodes of a tree blob's plaintext, in stored order, with their references checked;
 * see the module comment.
 * @throws ClawbackError 'INTEGRITY' when the blob is not a tree whose references can be
 *   read with certainty.
 */
export function treeRefs(plain: Uint8Array): RefNode[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(utf8.decode(plain));
  } catch (err) {
    return bad(`is not valid UTF-8 JSON: ${(err as Error).message}`);
  }
  const nodes = (parsed as { nodes?: unknown } | null)?.nodes;
  if (typeof parsed !== 'object' || parsed === null || !Array.isArray(nodes)) return bad('has no "nodes" array');
  for (const n of nodes as unknown[]) {
    if (typeof n !== 'object' || n === null) return bad('has a node that is not an object');
    const node = n as { type?: unknown; content?: unknown; subtree?: unknown };
    switch (node.type) {
      case 'dir':
        if (typeof node.subtree !== 'string' || !HEX_ID.test(node.subtree) || node.content !== undefined) return bad('has a dir node without a valid subtree id');
        break;
      case 'file':
      case 'sqlite':
        if (!Array.isArray(node.content) || node.subtree !== undefined) return bad(`has a ${node.type} node without a content array`);
        for (const id of node.content as unknown[]) {
          if (typeof id !== 'string' || !HEX_ID.test(id)) return bad('has a content entry that is not a blob id');
        }
        break;
      case 'symlink':
        if (node.subtree !== undefined || node.content !== undefined) return bad('has a symlink node with references');
        break;
      default:
        return bad(`has a node of unknown type ${JSON.stringify(node.type)}`);
    }
  }
  return nodes as RefNode[];
}
