/**
 * `copy`: snapshots from one repository to another (restic's `copy`). Only blobs missing
 * at the destination travel, and a snapshot copied before is skipped, so copying twice
 * adds nothing.
 *
 * - Same chunking (the destination was made with `init --copy-chunker-params`, so chunker
 *   parameters, seed and blob-id key match): blobs are copied as they are (decrypted and
 *   verified at the source, re-encrypted under the destination's key).
 * - Different chunking: file contents are streamed from the source and re-chunked with the
 *   destination's chunker; trees are rebuilt with the new ids.
 */
import { ClawbackError, throwIfAborted } from '../errors.js';
import { shortId, type BlobId, type SnapshotId } from '../ids.js';
import { chunkStream } from '../chunker/index.js';
import type { Progress } from '../progress.js';
import type { Repository } from '../repository/repository.js';
import { PackCache } from '../repository/pack-cache.js';
import { encodeTree, decodeTree } from '../tree/codec.js';
import { withBlobs, type TreeNode } from '../tree/node.js';
import type { SnapshotManifest } from '../snapshot/manifest.js';
import type { SnapshotEntry } from '../snapshot/selector.js';
import { listSnapshots, saveSnapshot } from '../snapshot/store.js';

/** Options of {@link copySnapshots}. */
export interface CopyOptions {
  signal?: AbortSignal | undefined;
  progress?: Progress | undefined;
}

/** What {@link copySnapshots} did. */
export interface CopyResult {
  /** Snapshots written at the destination. */
  copied: { source: SnapshotId; destination: SnapshotId }[];
  /** Snapshots the destination already had. */
  skipped: { source: SnapshotId; destination: SnapshotId }[];
  /** True when contents were re-chunked (different chunking). */
  rechunked: boolean;
  /** Blobs written at the destination and their plaintext bytes. */
  blobsAdded: number;
  bytesAdded: number;
}

/** A snapshot named by its repository's id and its own id. */
interface SnapshotRef {
  repository: string;
  snapshot: SnapshotId;
}

/**
 * `extra.copiedFrom` of a copied snapshot: the snapshot it was copied from, and `origin`,
 * the snapshot that started the chain of copies (A → B → C: C's origin is A's snapshot).
 */
interface CopiedFrom extends SnapshotRef {
  origin?: SnapshotRef;
}

function isRef(v: unknown): v is SnapshotRef {
  const c = v as Partial<SnapshotRef> | undefined;
  return typeof c === 'object' && c !== null && typeof c.repository === 'string' && typeof c.snapshot === 'string';
}

function copiedFrom(m: SnapshotManifest): CopiedFrom | undefined {
  const c: unknown = m.extra?.['copiedFrom'];
  if (!isRef(c)) return undefined;
  const o: unknown = (c as { origin?: unknown }).origin;
  return { repository: c.repository, snapshot: c.snapshot, ...(isRef(o) ? { origin: { repository: o.repository, snapshot: o.snapshot } } : {}) };
}

/** The original of snapshot `id` of repository `repoId`: itself unless it is a copy (`origin`, else the snapshot it was copied from). */
function originOf(m: SnapshotManifest, id: SnapshotId, repoId: string): SnapshotRef {
  const c = copiedFrom(m);
  if (!c) return { repository: repoId, snapshot: id };
  return c.origin ?? { repository: c.repository, snapshot: c.snapshot };
}

const refKey = (r: SnapshotRef): string => `${r.repository}/${r.snapshot}`;

/** Memory for whole source packs while copying, bytes (see {@link PackCache}). */
const SOURCE_PACK_CACHE = 64 << 20;

/** Copies `entries` (snapshots of `src`) into `dst`. The caller holds the locks. */
export async function copySnapshots(src: Repository, dst: Repository, entries: SnapshotEntry[], opts: CopyOptions = {}): Promise<CopyResult> {
  if (src.config.id === dst.config.id) throw new ClawbackError('USAGE', 'source and destination are the same repository');
  const same = dst.sharesChunkingWith(src);
  const existing = (await listSnapshots(dst)).entries;
  // Destination snapshots by what they are copies of (directly, or as the original of a
  // chain of copies): a snapshot whose original is already there is skipped, so copying
  // A → B → C and then A → C adds nothing.
  const already = new Map<string, SnapshotId>();
  for (const e of existing) {
    const c = copiedFrom(e.manifest);
    if (c) already.set(refKey(c), e.id);
    already.set(refKey(originOf(e.manifest, e.id, dst.config.id)), e.id);
  }
  const result: CopyResult = { copied: [], skipped: [], rechunked: !same, blobsAdded: 0, bytesAdded: 0 };
  const before = { ...dst.saveStats };
  const treeMemo = new Map<BlobId, BlobId>();
  let files = 0;
  let bytes = 0;
  // Whole-pack reads: snapshots are written in walk order and copied in walk order, so
  // each source pack is read about once instead of once per blob (one GET, not hundreds).
  const packs = new PackCache(src.backend, SOURCE_PACK_CACHE);

  // Blobs are not waited for one by one: saving resolves on acceptance (the destination's
  // backpressure), sealing runs on its workers meanwhile, and `dst.flush()` before each
  // snapshot is written waits for all of them (and throws the first failure).
  const copyBlob = async (id: BlobId, type: 'data' | 'tree'): Promise<void> => {
    if (await dst.hasBlob(id)) return;
    const plain = await src.loadBlob(id, packs);
    const t = await dst.saveBlob(type, plain, id);
    t.done.catch(() => undefined);
  };

  const rechunk = async (node: TreeNode): Promise<BlobId[]> => {
    const ids = node.content ?? [];
    if (ids.length === 0) return [];
    async function* source(): AsyncGenerator<Uint8Array> {
      for (const id of ids) {
        throwIfAborted(opts.signal);
        yield await src.loadBlob(id, packs);
      }
    }
    const out: BlobId[] = [];
    for await (const chunk of chunkStream(dst.chunker(node.type === 'sqlite' ? 'sqlite' : 'file'), source())) {
      const t = await dst.saveBlob('data', chunk);
      out.push(t.id);
      t.done.catch(() => undefined);
    }
    return out;
  };

  const copyTree = async (id: BlobId): Promise<BlobId> => {
    const memo = treeMemo.get(id);
    if (memo) return memo;
    throwIfAborted(opts.signal);
    const tree = decodeTree(await src.loadBlob(id, packs));
    const nodes: TreeNode[] = [];
    for (const node of tree.nodes) {
      if (node.type === 'dir') {
        nodes.push(withBlobs(node, node.content, await copyTree(node.subtree!)));
      } else if (node.type === 'file' || node.type === 'sqlite') {
        if (same) {
          for (const b of node.content ?? []) await copyBlob(b, 'data');
          nodes.push(node);
        } else {
          nodes.push(withBlobs(node, await rechunk(node), node.subtree));
        }
        files++;
        bytes += node.size;
        opts.progress?.update?.({ phase: 'copy', filesDone: files, bytesDone: bytes });
      } else {
        nodes.push(node);
      }
    }
    let newId: BlobId;
    if (same) {
      await copyBlob(id, 'tree');
      newId = id;
    } else {
      const t = await dst.saveBlob('tree', encodeTree({ nodes }));
      t.done.catch(() => undefined);
      newId = t.id;
    }
    treeMemo.set(id, newId);
    return newId;
  };

  const labelsTaken = new Set(existing.map((e) => `${e.manifest.source}\u0000${e.manifest.label ?? ''}`));
  const dstIds = new Set(existing.map((e) => e.id));
  for (const entry of entries) {
    // Skip snapshots copied before (directly or through other repositories), and
    // snapshots that came from the destination itself.
    const origin = originOf(entry.manifest, entry.id, src.config.id);
    const prior =
      already.get(refKey({ repository: src.config.id, snapshot: entry.id })) ??
      already.get(refKey(origin)) ??
      (origin.repository === dst.config.id && dstIds.has(origin.snapshot) ? origin.snapshot : undefined);
    if (prior) {
      result.skipped.push({ source: entry.id, destination: prior });
      continue;
    }
    const root = await copyTree(entry.manifest.tree);
    await dst.flush();
    const m = entry.manifest;
    const { parent: _p, label, ...rest } = m;
    void _p;
    const keepLabel = label !== undefined && !labelsTaken.has(`${m.source}\u0000${label}`);
    if (label !== undefined && !keepLabel) opts.progress?.warn?.(`label "${label}" is taken at the destination; snapshot ${shortId(entry.id)} is copied without it`);
    const manifest: SnapshotManifest = {
      ...rest,
      ...(keepLabel ? { label } : {}),
      tree: root,
      extra: { ...(m.extra ?? {}), copiedFrom: { repository: src.config.id, snapshot: entry.id, origin } },
    };
    const id = await saveSnapshot(dst, manifest);
    already.set(refKey(origin), id);
    if (keepLabel) labelsTaken.add(`${m.source}\u0000${label}`);
    result.copied.push({ source: entry.id, destination: id });
  }
  result.blobsAdded = dst.saveStats.blobsAdded - before.blobsAdded;
  result.bytesAdded = dst.saveStats.bytesAdded - before.bytesAdded;
  return result;
}
