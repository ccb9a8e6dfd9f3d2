/**
 * `npx tsx bench/tree-codec.ts [dir]`: micro benchmark of the tree codec (src/tree/codec.ts)
 * and `sameNode` (src/tree/node.ts) on the directories of a real tree, by default the kernel
 * data set's v1 ($BENCHDATA/kernel/v1, see ../shared/BENCH.md).
 *
 * Builds one {@link Tree} per directory as the archiver's `saveEntry` does (names from
 * `readdirSync`, `lstatSync` bigint times and inode, fake 64-hex content and subtree ids), then
 * times, over all directories: `encodeTree` of the sorted nodes (what the archiver passes),
 * `encodeTree` of the nodes in `readdir` order, `decodeTree`, and `sameNode` of every decoded
 * node against its original (the no-change snapshot case). Does it twice: with nodes built
 * by object spread, as `saveEntry` builds them (`{ ...base, type: 'dir', size: 0, subtree }`),
 * and with nodes built as one object literal (see `Build`): V8 gives each spread-built node
 * its own hidden class, which makes `sameNode` and `encodeTree` several times slower on
 * them. Prints the best and median of BENCH_TREE_REPS (default 15) repetitions, in ms.
 * BENCH_TREE_BUILD=spread or literal runs only that one.
 */
import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { decodeTree, encodeTree } from '../src/tree/codec.js';
import { sameNode, sortByName, type Tree, type TreeNode } from '../src/tree/node.js';
import { benchDataDir } from './lib/datasets.js';

const root = process.argv[2] ?? join(benchDataDir(), 'kernel', 'v1');
const reps = Number(process.env['BENCH_TREE_REPS'] ?? 15);

let counter = 0;
/** A deterministic fake blob id. */
function fakeId(): string {
  return createHash('sha256').update(String(counter++)).digest('hex');
}

/** The fields every node has, as the archiver's `saveEntry` takes them from `lstat`. */
interface Base {
  name: string;
  mode: number;
  mtimeNs: bigint;
  ctimeNs: bigint;
  inode: bigint;
}

/**
 * How a node is put together: `spread` as `{ ...base, type, size, content }` (which gives
 * V8 a new hidden class per object, so every property access on them is megamorphic),
 * `literal` as one object literal with all the fields.
 */
type Build = 'spread' | 'literal';

/** A node of `type` from `b` and its type-specific field, put together as `build` says. */
function makeNode(build: Build, b: Base, type: TreeNode['type'], size: number, extra: Pick<TreeNode, 'content' | 'subtree' | 'target'>): TreeNode {
  const { content, subtree, target } = extra;
  if (build === 'spread') {
    if (content !== undefined) return { ...b, type, size, content };
    if (subtree !== undefined) return { ...b, type, size, subtree };
    return { ...b, type, size, target: target! };
  }
  const { name, mode, mtimeNs, ctimeNs, inode } = b;
  if (content !== undefined) return { name, mode, mtimeNs, ctimeNs, inode, type, size, content };
  if (subtree !== undefined) return { name, mode, mtimeNs, ctimeNs, inode, type, size, subtree };
  return { name, mode, mtimeNs, ctimeNs, inode, type, size, target: target! };
}

/** One directory: its nodes in canonical order and in `readdir` order. */
interface Dir {
  sorted: Tree;
  raw: Tree;
}

/** Builds the trees of `dir` and below into `out` (children first); returns a fake id for `dir`'s tree. */
function treeOf(dir: string, build: Build, out: Dir[]): string {
  const byName = new Map<string, TreeNode>();
  for (const name of readdirSync(dir)) {
    const abs = join(dir, name);
    const st = lstatSync(abs, { bigint: true });
    const base: Base = { name, mode: Number(st.mode & 0o7777n), mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs, inode: st.ino };
    let node: TreeNode;
    if (st.isDirectory()) node = makeNode(build, base, 'dir', 0, { subtree: treeOf(abs, build, out) });
    else if (st.isSymbolicLink()) node = makeNode(build, base, 'symlink', 0, { target: readlinkSync(abs) });
    else if (st.isFile()) {
      const size = Number(st.size);
      const chunks = size === 0 ? 0 : 1 + Math.floor(size / (1 << 20));
      node = makeNode(build, base, 'file', size, { content: Array.from({ length: chunks }, fakeId) });
    } else continue;
    byName.set(name, node);
  }
  const sorted = sortByName([...byName.keys()]).map((n) => byName.get(n)!);
  out.push({ sorted: { nodes: sorted }, raw: { nodes: [...byName.values()] } });
  return fakeId();
}

function stats(times: number[]): string {
  const s = [...times].sort((a, b) => a - b);
  return `best ${s[0]!.toFixed(1)} ms, median ${s[Math.floor(s.length / 2)]!.toFixed(1)} ms`;
}

function time(label: string, fn: () => void): void {
  fn(); // warm-up
  const times: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    fn();
    times.push(performance.now() - t0);
  }
  console.log(`${label.padEnd(28)} ${stats(times)}`);
}

let sink = 0;
const builds: readonly Build[] = process.env['BENCH_TREE_BUILD'] ? [process.env['BENCH_TREE_BUILD'] as Build] : ['spread', 'literal'];
for (const build of builds) {
  counter = 0;
  const trees: Dir[] = [];
  treeOf(root, build, trees);
  const nodeCount = trees.reduce((n, t) => n + t.sorted.nodes.length, 0);
  const encoded = trees.map((t) => encodeTree(t.sorted));
  const bytes = encoded.reduce((n, b) => n + b.byteLength, 0);
  console.log(`\nnodes built as ${build === 'spread' ? '{ ...base, type, size, content }' : 'one object literal'}`);
  console.log(`${root}: ${trees.length} directories, ${nodeCount} nodes, ${(bytes / 1e6).toFixed(1)} MB of tree JSON; ${reps} reps`);
  time('encodeTree (sorted input)', () => {
    for (const t of trees) sink += encodeTree(t.sorted).byteLength;
  });
  time('encodeTree (readdir order)', () => {
    for (const t of trees) sink += encodeTree(t.raw).byteLength;
  });
  const decoded: Tree[] = encoded.map((b) => decodeTree(b));
  time('decodeTree', () => {
    for (const b of encoded) sink += decodeTree(b).nodes.length;
  });
  time('sameNode (all equal)', () => {
    for (let i = 0; i < trees.length; i++) {
      const a = trees[i]!.sorted.nodes;
      const b = decoded[i]!.nodes;
      for (let j = 0; j < a.length; j++) if (sameNode(a[j]!, b[j]!)) sink++;
    }
  });
}
if (sink === 0) console.log('(nothing done)');
