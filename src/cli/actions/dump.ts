/**
 * `clawback dump SELECTOR PATH`: write one file of a snapshot to stdout, or a directory as
 * a tar archive (paths relative to the directory's parent; `/` dumps the whole snapshot).
 */
import { once } from 'node:events';
import type { Command } from 'commander';
import tar from 'tar-stream';
import { ClawbackError } from '../../errors.js';
import type { BlobId } from '../../ids.js';
import { preloadIndexCache, type Repository } from '../../repository/repository.js';
import { findNode, walkTree } from '../../tree/walk.js';
import type { TreeNode } from '../../tree/node.js';
import type { CliIo } from '../io.js';
import { Context } from '../context.js';
import { selectSnapshot } from '../select.js';

type Write = (b: Uint8Array) => void | Promise<void>;

async function writeFileContent(repo: Repository, node: TreeNode, write: Write): Promise<void> {
  let n = 0;
  for (const id of node.content ?? []) {
    const data = await repo.loadBlob(id);
    n += data.length;
    await write(data);
  }
  if (n !== node.size) throw new ClawbackError('INTEGRITY', `${node.name}: content is ${n} bytes, the tree says ${node.size}`);
}

function mtimeOf(n: TreeNode): Date {
  return new Date(Number(n.mtimeNs / 1_000_000n));
}

/** Writes the tree `tree` (named `base`, '' for the snapshot root) as a tar stream. */
async function writeTar(repo: Repository, tree: BlobId, base: string, dirNode: TreeNode | undefined, write: Write): Promise<void> {
  const pack = tar.pack();
  const consumer = (async () => {
    for await (const chunk of pack as AsyncIterable<Uint8Array>) await write(chunk);
  })();
  const add = (header: Partial<tar.Header> & { name: string }): Promise<void> =>
    new Promise((resolve, reject) => {
      pack.entry(header, (err) => (err ? reject(err) : resolve()));
    });
  try {
    if (dirNode && base !== '') await add({ name: `${base}/`, type: 'directory', mode: dirNode.mode, mtime: mtimeOf(dirNode) });
    for await (const e of walkTree(repo, tree, base)) {
      const n = e.node;
      if (n.type === 'dir') await add({ name: `${e.path}/`, type: 'directory', mode: n.mode, mtime: mtimeOf(n) });
      else if (n.type === 'symlink') await add({ name: e.path, type: 'symlink', linkname: n.target ?? '', mode: n.mode, mtime: mtimeOf(n) });
      else {
        await new Promise<void>((resolve, reject) => {
          const s = pack.entry({ name: e.path, type: 'file', size: n.size, mode: n.mode, mtime: mtimeOf(n) }, (err) => (err ? reject(err) : resolve()));
          writeFileContent(repo, n, async (b) => {
            if (!s.write(Buffer.from(b.buffer, b.byteOffset, b.byteLength))) await once(s, 'drain');
          }).then(
            () => void (s as unknown as { end(): void }).end(),
            (err: unknown) => {
              (s as unknown as { destroy(e: unknown): void }).destroy(err);
              reject(err as Error);
            },
          );
        });
      }
    }
    pack.finalize();
  } catch (err) {
    // tar-stream's destroy takes the error (streamx).
    (pack as unknown as { destroy(e: unknown): void }).destroy(err);
    await consumer.catch(() => undefined);
    throw err;
  }
  await consumer;
}

/** Runs `clawback dump SELECTOR PATH`. */
export async function runDump(io: CliIo, selector: string, path: string, c: Command): Promise<void> {
  const ctx = await Context.of(io, c);
  const write = io.stdoutBytes;
  if (!write) throw new ClawbackError('INTERNAL', 'this output cannot take binary data');
  await ctx.withRepo(async (repo) => {
    const r = await selectSnapshot(ctx, repo, selector);
    const clean = path.split('/').filter((p) => p !== '' && p !== '.').join('/');
    const found = await findNode(repo, r.snapshot.manifest.tree, clean);
    const node = found.node;
    if (node && (node.type === 'file' || node.type === 'sqlite')) {
      await writeFileContent(repo, node, (b) => write(b));
      return;
    }
    if (node && node.type === 'symlink') throw new ClawbackError('USAGE', `${clean} is a symbolic link to ${node.target ?? ''}: dump its target or its directory`);
    if (!found.tree) throw new ClawbackError('NOT_FOUND', `${clean} is not in the snapshot`);
    const base = clean.split('/').pop() ?? '';
    await writeTar(repo, found.tree, base, node, (b) => write(b));
  }, { preload: [preloadIndexCache] });
}
