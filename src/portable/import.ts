/**
 * `clawback import`: a portable archive (`clawback export`) back into a repository as a
 * snapshot.
 *
 * Two passes over the archive file, so nothing is staged on disk and memory stays bounded:
 *
 * 1. {@link inspectArchive} reads the whole archive and writes nothing. It rejects (error
 *    `UNSAFE`) absolute member paths, `..` components and other unstorable names, duplicate
 *    members, hard links, devices, fifos and other special members, symbolic links whose
 *    target is absolute or leaves the archive root (also through other links of the
 *    archive), and members below a symlink or a
 *    non-directory; then (error `INTEGRITY`) a missing or malformed
 *    `clawback-manifest.json`, members the manifest does not list or lists differently,
 *    and every file whose SHA-256 or size differs from the manifest.
 * 2. {@link importArchive} reads it again, chunks and stores the file contents, builds the
 *    trees with the exact metadata of the manifest (ns mtimes, modes, `sqlite` nodes), and
 *    writes the snapshot manifest last. Each file is hashed again; a file that changed since
 *    pass 1 fails the import before any snapshot is written (blobs already stored are then
 *    unreferenced, for gc).
 *
 * The snapshot keeps the exported snapshot's time, paths, host, source, label (or the one
 * given), tags (plus `imported`); its kind is `manual` (an imported snapshot is never removed
 * by automatic retention), and `extra.imported` records the archive name, the original id
 * and kind, and the import time.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { basename, posix } from 'node:path';
import { createGunzip } from 'node:zlib';
import tar, { type Header } from 'tar-stream';
import { ClawbackError, isClawbackError, throwIfAborted } from '../errors.js';
import type { BlobId, SnapshotId } from '../ids.js';
import { chunkStream } from '../chunker/index.js';
import type { Progress } from '../progress.js';
import type { Repository } from '../repository/repository.js';
import { assertLabelUnique, validateLabel } from '../snapshot/label.js';
import { decodeManifest, encodeManifest, type SnapshotManifest } from '../snapshot/manifest.js';
import { listSnapshots, saveSnapshot } from '../snapshot/store.js';
import { encodeTree } from '../tree/codec.js';
import type { TreeNode } from '../tree/node.js';
import { VERSION } from '../version.js';
import { archivePathProblem, EXPORT_MANIFEST_NAME, MAX_EXPORT_MANIFEST_BYTES, parseExportManifest, type ExportEntry, type ExportManifest } from './manifest.js';

/** One archive member as pass 1 saw it. */
interface Member {
  path: string;
  type: 'file' | 'directory' | 'symlink';
  mode: number;
  size: number;
  sha256?: string;
  target?: string;
}

/** What {@link inspectArchive} found: a checked archive. */
export interface InspectedArchive {
  file: string;
  manifest: ExportManifest;
  /** Manifest entries by path. */
  entries: Map<string, ExportEntry>;
  files: number;
  dirs: number;
  symlinks: number;
  /** Content bytes of all files. */
  bytes: number;
}

function unsafe(file: string, path: string, why: string): ClawbackError {
  return new ClawbackError('UNSAFE', `refusing to import ${basename(file)}: member ${JSON.stringify(path)} ${why}; nothing was written`, { details: { archive: file, member: path } });
}

function integrity(file: string, why: string, path?: string): ClawbackError {
  return new ClawbackError('INTEGRITY', `refusing to import ${basename(file)}: ${why}; nothing was written`, { details: { archive: file, ...(path !== undefined ? { member: path } : {}) } });
}

/** True when symlink `target` at archive path `path` stays inside the archive root (lexically). */
export function linkStaysInside(path: string, target: string): boolean {
  if (target.startsWith('/')) return false;
  const resolved = posix.normalize(posix.join(posix.dirname(path), target));
  return resolved !== '..' && !resolved.startsWith('../') && resolved !== '/' && !resolved.startsWith('/');
}

/**
 * True when symlink `path` → `target` resolves outside the archive root, following the
 * archive's other symlinks on the way (so `b -> a/..` with `a -> .` escapes even though it
 * looks harmless lexically). Components that are not in the archive count as directories.
 * A chain longer than 40 links counts as escaping (a loop).
 */
export function linkEscapes(path: string, target: string, links: ReadonlyMap<string, string>): boolean {
  let budget = 40;
  const resolve = (base: string[], t: string): string[] | undefined => {
    if (t.startsWith('/')) return undefined;
    const stack = [...base];
    for (const part of t.split('/')) {
      if (part === '' || part === '.') continue;
      if (part === '..') {
        if (stack.length === 0) return undefined;
        stack.pop();
        continue;
      }
      stack.push(part);
      const link = links.get(stack.join('/'));
      if (link !== undefined) {
        if (--budget < 0) return undefined;
        stack.pop();
        const r = resolve(stack, link);
        if (r === undefined) return undefined;
        stack.splice(0, stack.length, ...r);
      }
    }
    return stack;
  };
  const parent = path.split('/').slice(0, -1);
  return resolve(parent, target) === undefined;
}

/** Member name → archive path: a trailing `/` of directories is dropped; nothing else is rewritten. */
function memberPath(h: Header): string {
  return h.type === 'directory' ? h.name.replace(/\/+$/, '') : h.name;
}

/**
 * Iterates the members of a .tar.gz file; each entry's stream must be consumed (or resumed).
 * Errors of the file and of gunzip surface through the iteration.
 */
async function* members(file: string, signal: AbortSignal | undefined): AsyncGenerator<{ header: Header; stream: AsyncIterable<Buffer> & { resume(): void } }> {
  const extract = tar.extract();
  const input = createReadStream(file);
  const gunzip = createGunzip();
  const fail = (err: Error) => extract.destroy(err);
  input.on('error', fail);
  gunzip.on('error', fail);
  input.pipe(gunzip).pipe(extract as unknown as NodeJS.WritableStream);
  try {
    for await (const entry of extract) {
      throwIfAborted(signal);
      yield { header: entry.header, stream: entry as unknown as AsyncIterable<Buffer> & { resume(): void } };
    }
  } finally {
    input.destroy();
    gunzip.destroy();
    extract.destroy();
  }
}

function describeTarError(file: string, err: unknown): ClawbackError {
  if (isClawbackError(err)) return err;
  return integrity(file, `it is not a readable .tar.gz (${(err as Error).message})`);
}

/** Pass 1: reads and checks the whole archive; writes nothing. See the module comment. */
export async function inspectArchive(file: string, opts: { signal?: AbortSignal | undefined; progress?: Progress | undefined } = {}): Promise<InspectedArchive> {
  const seen = new Map<string, Member>();
  let manifestText: string | undefined;
  let bytes = 0;
  try {
    for await (const { header: h, stream } of members(file, opts.signal)) {
      const path = memberPath(h);
      const problem = archivePathProblem(path);
      if (problem !== undefined) {
        stream.resume();
        throw unsafe(file, h.name, problem === 'absolute path' ? 'has an absolute path' : problem === 'path contains ".."' ? 'has a ".." component' : `has an invalid path (${problem})`);
      }
      if (h.type === 'link') throw unsafe(file, path, `is a hard link (to ${JSON.stringify(h.linkname)})`);
      if (h.type === 'character-device' || h.type === 'block-device') throw unsafe(file, path, 'is a device');
      if (h.type === 'fifo') throw unsafe(file, path, 'is a fifo');
      if (h.type !== 'file' && h.type !== 'directory' && h.type !== 'symlink') throw unsafe(file, path, `has an unsupported type (${String(h.type)})`);
      if (seen.has(path) || (path === EXPORT_MANIFEST_NAME && manifestText !== undefined)) throw unsafe(file, path, 'appears twice');
      if (h.type === 'symlink') {
        const target = h.linkname ?? '';
        if (target === '' || target.includes('\0')) throw unsafe(file, path, 'is a symbolic link without a valid target');
        if (!linkStaysInside(path, target)) throw unsafe(file, path, `is a symbolic link whose target ${JSON.stringify(target)} leaves the archive root`);
        seen.set(path, { path, type: 'symlink', mode: h.mode & 0o7777, size: 0, target });
        stream.resume();
        continue;
      }
      if (h.type === 'directory') {
        seen.set(path, { path, type: 'directory', mode: h.mode & 0o7777, size: 0 });
        stream.resume();
        continue;
      }
      if (path === EXPORT_MANIFEST_NAME) {
        if (h.size > MAX_EXPORT_MANIFEST_BYTES) throw integrity(file, `${EXPORT_MANIFEST_NAME} is ${h.size} bytes (at most ${MAX_EXPORT_MANIFEST_BYTES})`);
        const parts: Buffer[] = [];
        for await (const b of stream) parts.push(b);
        manifestText = Buffer.concat(parts).toString('utf8');
        continue;
      }
      const hash = createHash('sha256');
      let size = 0;
      for await (const b of stream) {
        hash.update(b);
        size += b.length;
      }
      bytes += size;
      opts.progress?.update?.({ phase: 'import-check', filesDone: seen.size, bytesDone: bytes, current: path });
      seen.set(path, { path, type: 'file', mode: h.mode & 0o7777, size, sha256: hash.digest('hex') });
    }
  } catch (err) {
    throw describeTarError(file, err);
  }
  // Every member's parent must be a directory member (a member under a symlink is an attack).
  for (const m of seen.values()) {
    const parent = posix.dirname(m.path);
    if (parent === '.') continue;
    const p = seen.get(parent);
    if (p === undefined) throw integrity(file, `member ${JSON.stringify(m.path)} has no directory member for ${JSON.stringify(parent)}`, m.path);
    if (p.type !== 'directory') throw unsafe(file, m.path, `lies below ${JSON.stringify(parent)}, which is a ${p.type === 'symlink' ? 'symbolic link' : 'file'}`);
  }
  const links = new Map<string, string>();
  for (const m of seen.values()) if (m.type === 'symlink') links.set(m.path, m.target ?? '');
  for (const [path, target] of links) {
    if (linkEscapes(path, target, links)) throw unsafe(file, path, `is a symbolic link whose target ${JSON.stringify(target)} leaves the archive root through other links`);
  }
  if (manifestText === undefined) throw integrity(file, `it has no ${EXPORT_MANIFEST_NAME} (not a clawback export)`);
  let manifest: ExportManifest;
  try {
    manifest = parseExportManifest(manifestText);
  } catch (err) {
    throw integrity(file, (err as Error).message);
  }
  const entries = new Map<string, ExportEntry>();
  const counts = { files: 0, dirs: 0, symlinks: 0 };
  for (const e of manifest.entries) {
    entries.set(e.path, e);
    const m = seen.get(e.path);
    if (m === undefined) throw integrity(file, `${JSON.stringify(e.path)} is listed in the manifest but missing from the archive`, e.path);
    const want = e.type === 'dir' ? 'directory' : e.type === 'symlink' ? 'symlink' : 'file';
    if (m.type !== want) throw integrity(file, `${JSON.stringify(e.path)} is a ${m.type} in the archive but a ${e.type} in the manifest`, e.path);
    if (m.type === 'file') {
      if (m.size !== e.size) throw integrity(file, `${JSON.stringify(e.path)} is ${m.size} bytes, the manifest says ${String(e.size)}`, e.path);
      if (m.sha256 !== e.sha256) throw integrity(file, `checksum mismatch for ${JSON.stringify(e.path)}: SHA-256 ${m.sha256 ?? '?'}, the manifest says ${e.sha256 ?? '?'}`, e.path);
      counts.files++;
    } else if (m.type === 'symlink') {
      if (m.target !== e.target) throw integrity(file, `${JSON.stringify(e.path)} links to ${JSON.stringify(m.target)}, the manifest says ${JSON.stringify(e.target)}`, e.path);
      counts.symlinks++;
    } else counts.dirs++;
    if (m.type !== 'symlink' && m.mode !== e.mode) throw integrity(file, `${JSON.stringify(e.path)} has mode ${m.mode.toString(8)}, the manifest says ${e.mode.toString(8)}`, e.path);
  }
  for (const p of seen.keys()) if (!entries.has(p)) throw integrity(file, `member ${JSON.stringify(p)} is not listed in the manifest`, p);
  return { file, manifest, entries, ...counts, bytes };
}

/** Options of {@link importArchive}. */
export interface ImportOptions {
  /** Label for the new snapshot (default: the exported snapshot's label, if any). */
  label?: string | undefined;
  signal?: AbortSignal | undefined;
  progress?: Progress | undefined;
  /** Import time (default now). */
  now?: Date;
}

/** What {@link importArchive} created. */
export interface ImportResult {
  id: SnapshotId;
  manifest: SnapshotManifest;
}

const PLACEHOLDER_TREE = '0'.repeat(64);

/**
 * The manifest the imported snapshot will get (tree and summary filled in later).
 * @throws ClawbackError `INTEGRITY` when the archive's snapshot metadata is not a valid manifest; `USAGE` for a bad label.
 */
export function importedManifest(a: InspectedArchive, label: string | undefined, now: Date): SnapshotManifest {
  const s = a.manifest.snapshot as Partial<SnapshotManifest> & { id: string };
  if (label !== undefined) validateLabel(label);
  const useLabel = label ?? s.label;
  const extra = s.extra !== undefined && typeof s.extra === 'object' && !Array.isArray(s.extra) ? s.extra : {};
  const tags = [...new Set([...(Array.isArray(s.tags) ? s.tags : []), 'imported'])];
  const m: SnapshotManifest = {
    version: 1,
    time: s.time as string,
    host: s.host as string,
    username: s.username as string,
    paths: s.paths as string[],
    tree: PLACEHOLDER_TREE,
    ...(useLabel !== undefined ? { label: useLabel } : {}),
    tags,
    kind: 'manual',
    source: s.source as string,
    ...(s.profile !== undefined ? { profile: s.profile } : {}),
    ...(s.scope !== undefined ? { scope: s.scope } : {}),
    programVersion: VERSION,
    summary: { files: 0, dirs: 0, symlinks: 0, bytes: 0, bytesAdded: 0, storedBytesAdded: 0, blobsAdded: 0, durationMs: 0 },
    extra: { ...extra, imported: { archive: basename(a.file), originalId: s.id, originalKind: s.kind ?? null, at: now.toISOString() } },
  };
  try {
    return decodeManifest(encodeManifest(m));
  } catch (err) {
    throw integrity(a.file, `its snapshot metadata is not valid (${(err as Error).message})`);
  }
}

/**
 * Checks the label of the import against the repository (before anything is written).
 * @throws ClawbackError `USAGE` when the label is taken for the same source.
 */
export async function checkImportTarget(repo: Repository, m: SnapshotManifest): Promise<void> {
  if (m.label === undefined) return;
  const { entries } = await listSnapshots(repo);
  try {
    assertLabelUnique(m.label, m.source, entries);
  } catch (err) {
    throw new ClawbackError('USAGE', `${(err as Error).message} (give the imported snapshot another one with --name)`, { cause: err });
  }
}

/**
 * Pass 2: stores the checked archive `a` in `repo` as a snapshot and returns it.
 * @param planned the manifest from {@link importedManifest}.
 * @throws ClawbackError `INTEGRITY` when the archive changed since {@link inspectArchive}
 *   (no snapshot is written); `ABORTED`.
 */
export async function importArchive(repo: Repository, a: InspectedArchive, planned: SnapshotManifest, opts: ImportOptions = {}): Promise<ImportResult> {
  const started = Date.now();
  const before = { ...repo.saveStats };
  const chunker = { file: repo.chunker('file'), sqlite: repo.chunker('sqlite') };
  const children = new Map<string, TreeNode[]>([['', []]]);
  const dirNodes = new Map<string, TreeNode>();
  const counts = { files: 0, dirs: 0, symlinks: 0, bytes: 0 };
  const changed = (path: string) => integrity(a.file, `${JSON.stringify(path)} changed since it was checked (is the archive being written?)`, path);
  // Members may come in any order (pass 1 checked that every parent is a directory member).
  const listOf = (dir: string): TreeNode[] => {
    let list = children.get(dir);
    if (list === undefined) children.set(dir, (list = []));
    return list;
  };
  const add = (path: string, node: TreeNode): void => {
    const parent = posix.dirname(path);
    listOf(parent === '.' ? '' : parent).push(node);
  };
  try {
    for await (const { header: h, stream } of members(a.file, opts.signal)) {
      const path = memberPath(h);
      if (path === EXPORT_MANIFEST_NAME) {
        stream.resume();
        continue;
      }
      const e = a.entries.get(path);
      if (e === undefined) {
        stream.resume();
        throw changed(path);
      }
      const base = { name: posix.basename(path), mode: e.mode, mtimeNs: BigInt(e.mtimeNs) };
      if (e.type === 'dir') {
        stream.resume();
        const node: TreeNode = { ...base, type: 'dir', size: 0, subtree: PLACEHOLDER_TREE };
        add(path, node);
        dirNodes.set(path, node);
        listOf(path);
        counts.dirs++;
      } else if (e.type === 'symlink') {
        stream.resume();
        if (h.linkname !== e.target) throw changed(path);
        add(path, { ...base, type: 'symlink', size: 0, target: e.target as string });
        counts.symlinks++;
      } else {
        const hash = createHash('sha256');
        const content: BlobId[] = [];
        const done: Promise<void>[] = [];
        let size = 0;
        const source = (async function* () {
          for await (const b of stream) {
            hash.update(b);
            yield b;
          }
        })();
        for await (const chunk of chunkStream(e.type === 'sqlite' ? chunker.sqlite : chunker.file, source)) {
          throwIfAborted(opts.signal);
          size += chunk.length;
          const t = await repo.saveBlob('data', chunk);
          content.push(t.id);
          t.done.catch(() => undefined); // awaited below; never left unhandled if we stop early
          done.push(t.done);
          if (done.length > 64) await Promise.all(done.splice(0));
          opts.progress?.update?.({ phase: 'import', filesDone: counts.files, bytesDone: counts.bytes + size, current: path });
        }
        await Promise.all(done);
        if (size !== e.size || hash.digest('hex') !== e.sha256) throw changed(path);
        add(path, { ...base, type: e.type, size, content });
        counts.files++;
        counts.bytes += size;
        opts.progress?.update?.({ phase: 'import', filesDone: counts.files, bytesDone: counts.bytes, current: path });
      }
    }
  } catch (err) {
    throw describeTarError(a.file, err);
  }
  if (counts.files !== a.files || counts.dirs !== a.dirs || counts.symlinks !== a.symlinks) throw changed('(member list)');
  const saveTree = async (nodes: TreeNode[]): Promise<BlobId> => {
    const t = await repo.saveBlob('tree', encodeTree({ nodes }));
    await t.done;
    return t.id;
  };
  const dirs = [...dirNodes.keys()].sort((x, y) => y.split('/').length - x.split('/').length);
  for (const d of dirs) {
    throwIfAborted(opts.signal);
    (dirNodes.get(d) as TreeNode).subtree = await saveTree(children.get(d) ?? []);
  }
  const tree = await saveTree(children.get('') ?? []);
  await repo.flush();
  const after = repo.saveStats;
  const manifest: SnapshotManifest = {
    ...planned,
    tree,
    summary: {
      files: counts.files,
      dirs: counts.dirs + 1,
      symlinks: counts.symlinks,
      bytes: counts.bytes,
      bytesAdded: after.bytesAdded - before.bytesAdded,
      storedBytesAdded: after.storedBytesAdded - before.storedBytesAdded,
      blobsAdded: after.blobsAdded - before.blobsAdded,
      durationMs: Date.now() - started,
    },
  };
  throwIfAborted(opts.signal);
  const id = await saveSnapshot(repo, manifest);
  return { id, manifest };
}
