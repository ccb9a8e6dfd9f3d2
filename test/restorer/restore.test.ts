/**
 * Restore behaviour the worker-based restorer must keep: files spanning many packs and
 * written in pack order come out exact; --overwrite replaces what is in the way (never
 * following a link) and removes what the snapshot lacks; a missing pack or a damaged blob
 * in a many-segment file (on one worker, or shared out among them) fails only those files
 * and leaves no temp file; large files shared out among the workers come out exact; an abort stops
 * with ABORTED and no temp file; the SQLite placing hook gets the temp file; progress
 * counts every file; tiny budgets and one worker still finish; long UTF-8 names restore.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { chmod, lstat, mkdir, readFile, readdir, readlink, rm, stat, symlink, unlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LocalBackend } from '../../src/backend/local.js';
import { initRepository, type Repository } from '../../src/repository/repository.js';
import { createSnapshot } from '../../src/archiver/create-snapshot.js';
import { restoreTree, type RestoreOptions } from '../../src/restorer/restorer.js';
import { walkTree } from '../../src/tree/walk.js';
import type { TreeNode } from '../../src/tree/node.js';
import { ClawbackError } from '../../src/errors.js';
import { snapshotFs } from '../helpers/compare.js';
import { FAST_INIT, makeTmp } from '../helpers/tmp.js';
import { rejection as failure } from '../helpers/rejection.js';

let tmp: { dir: string; cleanup: () => Promise<void> };
beforeEach(async () => {
  tmp = await makeTmp();
});
afterEach(async () => {
  await tmp.cleanup();
});

async function repoAt(name: string, password: string | undefined = 'pw'): Promise<{ repo: Repository; dir: string }> {
  const dir = join(tmp.dir, name);
  const repo = await initRepository(new LocalBackend(dir, { fsync: false }), { password, ...FAST_INIT }, { cacheDir: join(tmp.dir, `${name}-cache`), sealThreads: 0 });
  return { repo, dir };
}

/** Every path under `root` (relative), recursively. */
async function allNames(root: string): Promise<string[]> {
  return (await readdir(root, { recursive: true })).map(String).sort();
}

const temps = async (root: string) => (await allNames(root)).filter((n) => n.split('/').pop()!.startsWith('.clawback-tmp'));

/** A tree: small files in several directories, big files of many blobs, a symlink, an empty dir and file. */
async function makeSource(src: string): Promise<void> {
  await mkdir(join(src, 'a', 'deep', 'er'), { recursive: true });
  await mkdir(join(src, 'b'));
  await mkdir(join(src, 'empty'));
  for (let i = 0; i < 40; i++) await writeFile(join(src, i % 2 ? 'a' : 'b', `f${i}.txt`), `file ${i}\n`.repeat(i * 30));
  await writeFile(join(src, 'big1.bin'), randomBytes(600_000));
  await writeFile(join(src, 'a', 'deep', 'big2.bin'), Buffer.concat([randomBytes(300_000), Buffer.alloc(300_000, 3)]));
  await writeFile(join(src, 'a', 'deep', 'er', 'zero'), '');
  await symlink('../b/f0.txt', join(src, 'a', 'link'));
  await chmod(join(src, 'b', 'f2.txt'), 0o640);
  await chmod(join(src, 'a', 'deep'), 0o750);
  await utimes(join(src, 'a', 'f1.txt'), 1_000_000, 1_000_000.5);
  await utimes(join(src, 'a', 'deep'), 2_000_000, 2_000_000);
}

describe('restore', () => {
  it('restores files spanning many packs exactly, after an edit in the middle of a big file (pack order)', async () => {
    const { repo } = await repoAt('repo');
    const src = join(tmp.dir, 'src');
    await makeSource(src);
    await createSnapshot(repo, { paths: [src] });
    // v2: the middle of big1 and one small file change; the new blobs land in new packs, so
    // big1 is assembled from old and new packs.
    const big = await readFile(join(src, 'big1.bin'));
    randomBytes(50_000).copy(big, 250_000);
    await writeFile(join(src, 'big1.bin'), big);
    await writeFile(join(src, 'a', 'f3.txt'), 'changed\n');
    const snap = await createSnapshot(repo, { paths: [src] });
    const out = join(tmp.dir, 'out');
    const res = await restoreTree(repo, snap.manifest.tree, out);
    expect(await snapshotFs(out, { dirMtimes: true })).toEqual(await snapshotFs(src, { dirMtimes: true }));
    expect(res).toMatchObject({ files: 43, symlinks: 1, dirs: 5 });
    expect(await temps(out)).toEqual([]);
    await repo.close();
  });

  it('with overwrite replaces what is in the way, never through a link, and removes what the snapshot lacks', async () => {
    const { repo } = await repoAt('repo', undefined);
    const src = join(tmp.dir, 'src');
    await makeSource(src);
    const snap = await createSnapshot(repo, { paths: [src] });
    const outside = join(tmp.dir, 'outside');
    await mkdir(outside);
    await writeFile(join(outside, 'sentinel'), 'keep');
    const out = join(tmp.dir, 'out');
    await mkdir(join(out, 'a', 'f1.txt'), { recursive: true }); // a directory where a file goes
    await writeFile(join(out, 'a', 'f1.txt', 'inner'), 'x');
    await writeFile(join(out, 'empty'), 'a file where a directory goes');
    await symlink(outside, join(out, 'b')); // a link where a directory goes
    await mkdir(join(out, 'a', 'deep'), { recursive: true });
    await symlink(join(outside, 'sentinel'), join(out, 'a', 'deep', 'big2.bin')); // a link where a file goes
    await writeFile(join(out, 'a', 'extra.txt'), 'not in the snapshot');
    await mkdir(join(out, 'extra-dir', 'x'), { recursive: true });
    await writeFile(join(out, 'big1.bin'), 'old content');
    await restoreTree(repo, snap.manifest.tree, out, { overwrite: true });
    expect(await snapshotFs(out)).toEqual(await snapshotFs(src));
    expect(await readFile(join(outside, 'sentinel'), 'utf8')).toBe('keep');
    expect(await readdir(outside)).toEqual(['sentinel']);
    // Again over the restored tree: nothing changes.
    await restoreTree(repo, snap.manifest.tree, out, { overwrite: true });
    expect(await snapshotFs(out)).toEqual(await snapshotFs(src));
    await repo.close();
  });

  it('a missing pack fails only the files that use it, naming pack and blob; no temp files', async () => {
    const { repo, dir } = await repoAt('repo');
    const src = join(tmp.dir, 'src');
    await makeSource(src);
    const snap = await createSnapshot(repo, { paths: [src] });
    const nodes = new Map<string, TreeNode>();
    for await (const e of walkTree(repo, snap.manifest.tree)) nodes.set(e.path, e.node);
    const loc = (await repo.lookup(nodes.get('big1.bin')!.content![3]!))!;
    const users: string[] = [];
    for (const [path, node] of nodes) {
      for (const id of node.content ?? []) if ((await repo.lookup(id))!.packId === loc.packId && !users.includes(path)) users.push(path);
    }
    await unlink(join(dir, 'data', loc.packId.slice(0, 2), loc.packId));
    const out = join(tmp.dir, 'out');
    const err = await failure(restoreTree(repo, snap.manifest.tree, out));
    expect(err.code).toBe('INTEGRITY');
    const failures = (err.details as { failures: { path: string; pack?: string; blob?: string }[] }).failures;
    expect(failures.map((f) => f.path.slice(out.length + 1)).sort()).toEqual(users.sort());
    for (const f of failures) expect(f.pack).toBe(loc.packId);
    expect(err.message).toContain(loc.packId.slice(0, 8));
    for (const [path, node] of nodes) {
      if (node.type !== 'file') continue;
      if (users.includes(path)) expect(await lstat(join(out, path)).catch(() => undefined)).toBeUndefined();
      else expect(await readFile(join(out, path))).toEqual(await readFile(join(src, path)));
    }
    expect(await temps(out)).toEqual([]);
    await repo.close();
  });

  it.each([
    // More than SEGMENT_BYTES (4 MiB) of incompressible blobs: several segments, one worker.
    ['first', 'in several segments', 5 << 20, 0],
    ['last', 'in several segments', 5 << 20, -1],
    // More than SHARE_ABOVE (8 MiB): segments after the first go to any worker.
    ['first', 'shared out among the workers', 12 << 20, 0],
    ['middle', 'shared out among the workers', 12 << 20, 2],
    ['last', 'shared out among the workers', 12 << 20, -1],
  ])('a damaged blob (%s) of a file sent %s fails that file only; no temp files', async (_w, _how, size, which) => {
    const { repo, dir } = await repoAt('repo');
    const src = join(tmp.dir, 'src');
    await mkdir(src);
    await writeFile(join(src, 'huge.bin'), randomBytes(size));
    await writeFile(join(src, 'other.bin'), randomBytes(3 << 20));
    const snap = await createSnapshot(repo, { paths: [src] });
    let node: TreeNode | undefined;
    for await (const e of walkTree(repo, snap.manifest.tree)) if (e.path === 'huge.bin') node = e.node;
    expect(node!.content!.length).toBeGreaterThan(2);
    const id = node!.content!.at(which)!;
    const loc = (await repo.lookup(id))!;
    const packPath = join(dir, 'data', loc.packId.slice(0, 2), loc.packId);
    const bytes = await readFile(packPath);
    bytes[loc.offset + 5] = bytes[loc.offset + 5]! ^ 1;
    await writeFile(packPath, bytes);
    const out = join(tmp.dir, 'out');
    const err = await failure(restoreTree(repo, snap.manifest.tree, out, { threads: 2 }));
    expect(err.code).toBe('INTEGRITY');
    expect((err.details as { failures: unknown[] }).failures).toEqual([expect.objectContaining({ path: join(out, 'huge.bin'), pack: loc.packId, blob: id })]);
    // Buffer.equals: toEqual compares megabytes element by element (slowly).
    expect((await readFile(join(out, 'other.bin'))).equals(await readFile(join(src, 'other.bin')))).toBe(true);
    expect(await allNames(out)).toEqual(['other.bin']);
    await repo.close();
  });

  it('shares large files out among the workers and restores them exactly', async () => {
    const { repo } = await repoAt('repo');
    const src = join(tmp.dir, 'src');
    await mkdir(join(src, 'state'), { recursive: true });
    // Over SHARE_ABOVE (8 MiB) stored each: their segments after the first go to any worker,
    // and each one's last segment waits (a copy of it) while the pack ranges move on.
    for (let i = 0; i < 3; i++) await writeFile(join(src, 'state', `big${i}.bin`), randomBytes(10 << 20));
    for (let i = 0; i < 20; i++) await writeFile(join(src, 'state', `note${i}.txt`), `note ${i}\n`.repeat(100 * i));
    const snap = await createSnapshot(repo, { paths: [src] });
    const out = join(tmp.dir, 'out');
    const res = await restoreTree(repo, snap.manifest.tree, out, { threads: 2 });
    expect(res.files).toBe(23);
    expect(await snapshotFs(out)).toEqual(await snapshotFs(src));
    expect(await temps(out)).toEqual([]);
    await repo.close();
  });

  it('an abort stops with ABORTED and leaves no temp file', async () => {
    const { repo } = await repoAt('repo', undefined);
    const src = join(tmp.dir, 'src');
    for (let d = 0; d < 20; d++) {
      await mkdir(join(src, `d${d}`), { recursive: true });
      for (let i = 0; i < 30; i++) await writeFile(join(src, `d${d}`, `f${i}`), randomBytes(2000));
    }
    const snap = await createSnapshot(repo, { paths: [src] });
    const out = join(tmp.dir, 'out');
    const ac = new AbortController();
    let seen = 0;
    const opts: RestoreOptions = { signal: ac.signal, progress: { update: () => void (++seen === 50 && ac.abort()) }, concurrency: 64 };
    const err = await failure(restoreTree(repo, snap.manifest.tree, out, opts));
    expect(err.code).toBe('ABORTED');
    expect(seen).toBeLessThan(600);
    expect(await temps(out)).toEqual([]);
    await repo.close();
  });

  it('hands SQLite databases to the placing hook as a temp file beside the final name', async () => {
    const { repo } = await repoAt('repo');
    // A tree with a `sqlite` node, built by hand (the archiver makes them only for real databases).
    const data = randomBytes(70_000);
    const blob = await repo.saveBlob('data', data);
    const { encodeTree } = await import('../../src/tree/codec.js');
    const node = (name: string): TreeNode => ({ name, type: 'sqlite', mode: 0o640, mtimeNs: 1_700_000_000_000_000_000n, size: data.length, content: [blob.id] });
    const tree = await repo.saveBlob('tree', encodeTree({ nodes: [node('bad.db'), node('good.db')] }));
    await repo.flush();
    const out = join(tmp.dir, 'out');
    const calls: string[] = [];
    const err = await failure(
      restoreTree(repo, tree.id, out, {
        hooks: {
          async placeSqlite(tempPath, finalPath, n) {
            calls.push(n.name);
            expect(tempPath.startsWith(join(out, '.clawback-tmp-'))).toBe(true);
            expect(await readFile(tempPath)).toEqual(data);
            expect((await stat(tempPath)).mode & 0o7777).toBe(0o640);
            if (n.name === 'bad.db') throw new ClawbackError('INTEGRITY', 'not a database', { details: {} });
            await writeFile(finalPath, await readFile(tempPath));
            await rm(tempPath);
          },
        },
      }),
    );
    expect(calls.sort()).toEqual(['bad.db', 'good.db']);
    expect((err.details as { failures: { path: string }[] }).failures.map((f) => f.path)).toEqual([join(out, 'bad.db')]);
    expect(await allNames(out)).toEqual(['good.db']);
    await repo.close();
  });

  it('counts every file in progress; one worker and tiny budgets still finish; long UTF-8 names restore', async () => {
    const { repo } = await repoAt('repo');
    const src = join(tmp.dir, 'src');
    await makeSource(src);
    const long = 'é'.repeat(127); // 254 bytes: the longest kind of name
    await writeFile(join(src, long), 'long name\n');
    await symlink('x', join(src, `${'日'.repeat(84)}l`));
    const snap = await createSnapshot(repo, { paths: [src] });
    const out = join(tmp.dir, 'out');
    const updates: number[] = [];
    const res = await restoreTree(repo, snap.manifest.tree, out, { threads: 1, concurrency: 1, progress: { update: (s) => void updates.push(s.filesDone) } });
    expect(await snapshotFs(out)).toEqual(await snapshotFs(src));
    expect(await readlink(join(out, `${'日'.repeat(84)}l`))).toBe('x');
    expect(updates).toEqual(Array.from({ length: res.files }, (_, i) => i + 1));
    await repo.close();
  });
});
