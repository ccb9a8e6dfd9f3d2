/**
 * `clawback export`: one snapshot as a portable, self-checking `.tar.gz`.
 *
 * The archive is a POSIX (pax) tar, gzip-compressed (tar-stream + node:zlib), readable by
 * GNU tar, bsdtar and `tar -xzf`: the snapshot's tree at the archive root (directories,
 * regular files, symbolic links with their modes; mtimes with ns precision in pax
 * `mtime` records; SQLite nodes as plain database files, which are consistent copies made
 * at capture), then `clawback-manifest.json` (`portable/manifest.ts`: the snapshot's
 * metadata and every member with its SHA-256). Owners are written as 0/0 without names.
 *
 * The archive is written to a temp file next to `out` and renamed into place only when
 * complete, so an interrupted export leaves no partial archive.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { once } from 'node:events';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import tar, { type Header } from 'tar-stream';
import { ClawbackError, throwIfAborted } from '../errors.js';
import type { Progress } from '../progress.js';
import type { Repository } from '../repository/repository.js';
import type { SnapshotEntry } from '../snapshot/selector.js';
import { loadTree, walkTree } from '../tree/walk.js';
import type { TreeNode } from '../tree/node.js';
import { VERSION } from '../version.js';
import { EXPORT_FORMAT, EXPORT_MANIFEST_NAME, EXPORT_VERSION, type ExportEntry, type ExportManifest } from './manifest.js';

/** Options of {@link exportSnapshot}. */
export interface ExportOptions {
  /** gzip level 0..9 (default 6). */
  level?: number;
  signal?: AbortSignal | undefined;
  progress?: Progress | undefined;
  /** Time recorded as `exportedAt` (default now). */
  now?: Date;
}

/** What {@link exportSnapshot} wrote. */
export interface ExportResult {
  /** The archive path. */
  archive: string;
  files: number;
  dirs: number;
  symlinks: number;
  /** Content bytes of all files. */
  bytes: number;
  /** Size of the archive, bytes. */
  archiveBytes: number;
}

/** `ns` as a pax time value: decimal seconds with up to 9 fraction digits (`-1.5` for -1.5 s). */
export function paxTime(ns: bigint): string {
  const neg = ns < 0n;
  const abs = neg ? -ns : ns;
  const sec = abs / 1_000_000_000n;
  const frac = (abs % 1_000_000_000n).toString().padStart(9, '0').replace(/0+$/, '');
  return `${neg ? '-' : ''}${sec}${frac === '' ? '' : `.${frac}`}`;
}

/** The ustar header time (whole seconds, clamped at the epoch; pax carries the exact value). */
function headerTime(ns: bigint): Date {
  const ms = Number(ns / 1_000_000n);
  return new Date(ms < 0 ? 0 : ms);
}

/** The snapshot metadata recorded in the export manifest. */
export function exportedSnapshotMeta(s: SnapshotEntry): ExportManifest['snapshot'] {
  const { version: _v, tree: _t, parent: _p, ...rest } = s.manifest;
  void _v;
  void _t;
  void _p;
  return { id: s.id, ...rest };
}

/**
 * Writes snapshot `s` to `out` (see the module comment). Overwrites `out` if it exists
 * (the CLI refuses that unless asked).
 * @throws ClawbackError `USAGE` when the snapshot's root holds an entry named
 *   `clawback-manifest.json` (the name is reserved in archives); `INTEGRITY` /
 *   `BLOB_NOT_FOUND` for damaged data (no archive is left behind); `ABORTED`.
 */
export async function exportSnapshot(repo: Repository, s: SnapshotEntry, out: string, opts: ExportOptions = {}): Promise<ExportResult> {
  const root = await loadTree(repo, s.manifest.tree);
  if (root.nodes.some((n) => n.name === EXPORT_MANIFEST_NAME)) {
    throw new ClawbackError('USAGE', `snapshot ${s.id.slice(0, 8)} has a top-level entry named ${EXPORT_MANIFEST_NAME}, which portable archives reserve for their manifest: it cannot be exported`);
  }
  const tmp = join(dirname(out), `.${basename(out)}.clawback-tmp-${randomBytes(6).toString('hex')}`);
  const pack = tar.pack();
  const sink = createWriteStream(tmp, { flags: 'wx', mode: 0o600, flush: true });
  let archiveBytes = 0;
  const gzip = createGzip({ level: opts.level ?? 6 });
  gzip.on('data', (b: Buffer) => void (archiveBytes += b.length));
  const piped = pipeline(pack, gzip, sink);
  piped.catch(() => undefined);
  const entries: ExportEntry[] = [];
  const result = { files: 0, dirs: 0, symlinks: 0, bytes: 0 };

  const addEntry = (header: Partial<Header> & { name: string }): { stream: ReturnType<typeof pack.entry>; done: Promise<void> } => {
    let resolveDone!: () => void;
    let rejectDone!: (e: Error) => void;
    const done = new Promise<void>((res, rej) => {
      resolveDone = res;
      rejectDone = rej;
    });
    const stream = pack.entry({ uid: 0, gid: 0, ...header }, (err) => (err ? rejectDone(err) : resolveDone()));
    return { stream, done };
  };

  const writeNode = async (path: string, node: TreeNode): Promise<void> => {
    throwIfAborted(opts.signal);
    const base = { name: path, mode: node.mode & 0o7777, mtime: headerTime(node.mtimeNs), pax: { mtime: paxTime(node.mtimeNs) } };
    const entry: ExportEntry = { path, type: node.type, mode: node.mode & 0o7777, mtimeNs: node.mtimeNs.toString() };
    if (node.type === 'dir') {
      await addEntry({ ...base, type: 'directory' }).done;
      result.dirs++;
    } else if (node.type === 'symlink') {
      const target = node.target ?? '';
      await addEntry({ ...base, type: 'symlink', linkname: target }).done;
      entry.target = target;
      result.symlinks++;
    } else {
      const hash = createHash('sha256');
      const e = addEntry({ ...base, type: 'file', size: node.size });
      let written = 0;
      for (const id of node.content ?? []) {
        throwIfAborted(opts.signal);
        const data = await repo.loadBlob(id);
        hash.update(data);
        written += data.length;
        if (written > node.size) break;
        if (!e.stream.write(data)) await once(e.stream as unknown as NodeJS.EventEmitter, 'drain');
        opts.progress?.update?.({ phase: 'export', filesDone: result.files, bytesDone: result.bytes + written, current: path });
      }
      if (written !== node.size) {
        const err = new ClawbackError('INTEGRITY', `${path}: content is ${written} bytes, the tree says ${node.size}`, { details: { path } });
        e.stream.destroy(err);
        throw err;
      }
      e.stream.end(undefined);
      await e.done;
      entry.size = node.size;
      entry.sha256 = hash.digest('hex');
      result.files++;
      result.bytes += node.size;
      opts.progress?.update?.({ phase: 'export', filesDone: result.files, bytesDone: result.bytes, current: path });
    }
    entries.push(entry);
  };

  const feed = async (): Promise<void> => {
    for await (const { path, node } of walkTree(repo, s.manifest.tree)) await writeNode(path, node);
    const manifest: ExportManifest = {
      format: EXPORT_FORMAT,
      version: EXPORT_VERSION,
      exportedAt: (opts.now ?? new Date()).toISOString(),
      programVersion: VERSION,
      snapshot: exportedSnapshotMeta(s),
      entries,
    };
    const body = Buffer.from(JSON.stringify(manifest, null, 1) + '\n', 'utf8');
    const now = opts.now ?? new Date();
    await new Promise<void>((res, rej) => pack.entry({ name: EXPORT_MANIFEST_NAME, mode: 0o644, mtime: now, uid: 0, gid: 0, type: 'file' }, body, (err) => (err ? rej(err) : res())));
    pack.finalize();
  };

  try {
    await Promise.all([
      piped,
      feed().catch((err: unknown) => {
        pack.destroy(err as Error);
        throw err;
      }),
    ]);
    await rename(tmp, out);
  } catch (err) {
    sink.destroy();
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  return { archive: out, ...result, archiveBytes };
}
