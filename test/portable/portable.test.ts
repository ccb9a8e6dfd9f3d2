import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { chmod, lstat, mkdir, readdir, readFile, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import tar from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalBackend } from '../../src/backend/local.js';
import { createSnapshot } from '../../src/archiver/create-snapshot.js';
import { initRepository, openRepository, type Repository } from '../../src/repository/repository.js';
import { restoreTree } from '../../src/restorer/restorer.js';
import { exportSnapshot, paxTime } from '../../src/portable/export.js';
import { importArchive, importedManifest, inspectArchive, linkEscapes, linkStaysInside } from '../../src/portable/import.js';
import { EXPORT_MANIFEST_NAME, parseExportManifest, type ExportEntry } from '../../src/portable/manifest.js';
import { listSnapshots } from '../../src/snapshot/store.js';
import { walkTree } from '../../src/tree/walk.js';
import { cli } from '../helpers/cli.js';
import { snapshotFs } from '../helpers/compare.js';
import { FAST_INIT, makeTmp } from '../helpers/tmp.js';

let tmp: { dir: string; cleanup: () => Promise<void> };
let env: Record<string, string | undefined>;
let repoPath: string;
let src: string;
let snapId: string;
let archive: string;

const LONG = 'a-rather-long-directory-name-to-push-the-path-past-the-ustar-limit-of-one-hundred-bytes';

beforeAll(async () => {
  tmp = await makeTmp('clawback-portable-');
  repoPath = join(tmp.dir, 'repo');
  src = join(tmp.dir, 'src');
  env = { HOME: join(tmp.dir, 'home'), PATH: process.env['PATH'], CLAWBACK_CACHE_DIR: join(tmp.dir, 'cache') };
  await mkdir(join(src, 'docs', 'empty'), { recursive: true });
  await mkdir(join(src, LONG, LONG), { recursive: true });
  await writeFile(join(src, 'docs', 'readme.md'), '# hello\n');
  await writeFile(join(src, 'docs', 'empty.txt'), '');
  await writeFile(join(src, 'run.sh'), '#!/bin/sh\necho hi\n');
  await chmod(join(src, 'run.sh'), 0o755);
  await writeFile(join(src, 'secret.txt'), 'private');
  await chmod(join(src, 'secret.txt'), 0o600);
  await writeFile(join(src, 'naïve café ☕.txt'), 'unicode');
  await writeFile(join(src, LONG, LONG, 'deep.txt'), 'deep');
  const big = Buffer.alloc(200_000);
  for (let i = 0; i < big.length; i++) big[i] = (i * 7919) % 251;
  await writeFile(join(src, 'big.bin'), big);
  await writeFile(join(src, 'state.db'), Buffer.concat([Buffer.from('SQLite format 3\0'), Buffer.alloc(4080, 1)]));
  await symlink('docs/readme.md', join(src, 'link-to-readme'));
  await symlink('../run.sh', join(src, 'docs', 'up-link'));
  await utimes(join(src, 'docs', 'readme.md'), 1_600_000_000.123456, 1_600_000_000.123456);
  await chmod(join(src, 'docs'), 0o750);
  const repo = await initRepository(new LocalBackend(repoPath), { password: undefined, ...FAST_INIT }, { cacheDir: env['CLAWBACK_CACHE_DIR']! });
  // state.db is captured as a `sqlite` node (as the agent profiles do).
  const r = await createSnapshot(repo, {
    paths: [src],
    label: 'before-upgrade',
    tags: ['t1'],
    hooks: { capture: async (e) => (e.relPath === 'state.db' ? { type: 'sqlite', path: e.absPath } : undefined) },
  });
  snapId = r.id;
  archive = join(tmp.dir, 'out.tar.gz');
  await repo.close();
  const ex = await cli(['--repo', repoPath, 'export', 'before-upgrade', archive], env);
  expect(ex.code, ex.stderr).toBe(0);
});
afterAll(async () => {
  await tmp.cleanup();
});

async function withRepo<T>(path: string, fn: (repo: Repository) => Promise<T>): Promise<T> {
  const repo = await openRepository(new LocalBackend(path), { cacheDir: env['CLAWBACK_CACHE_DIR']! });
  try {
    return await fn(repo);
  } finally {
    await repo.close();
  }
}

/** Every file under `dir` with its size (a repository listing). */
async function listing(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string, rel: string): Promise<void> => {
    for (const name of (await readdir(d)).sort()) {
      const st = await lstat(join(d, name));
      if (st.isDirectory()) await walk(join(d, name), `${rel}${name}/`);
      else out.push(`${rel}${name} ${st.size}`);
    }
  };
  await walk(dir, '');
  return out;
}

describe('export', () => {
  it('tar -tzf lists the snapshot tree and the manifest', () => {
    const names = execFileSync('tar', ['-tzf', archive], { encoding: 'utf8' }).split('\n').filter((l) => l !== '');
    const expected = [
      'big.bin',
      'docs',
      'docs/empty',
      'docs/empty.txt',
      'docs/readme.md',
      'docs/up-link',
      `${LONG}`,
      `${LONG}/${LONG}`,
      `${LONG}/${LONG}/deep.txt`,
      'link-to-readme',
      'naïve café ☕.txt',
      'run.sh',
      'secret.txt',
      'state.db',
      EXPORT_MANIFEST_NAME,
    ];
    expect(names.map((n) => n.replace(/\/$/, '')).sort()).toEqual(expected.sort());
    expect(names[names.length - 1]).toBe(EXPORT_MANIFEST_NAME);
  });

  it('tar -xzf gives the same tree as a restore (content, modes, mtimes, symlinks, empty dirs)', async () => {
    const x = join(tmp.dir, 'x-tar');
    await mkdir(x);
    execFileSync('tar', ['-xpzf', archive, '-C', x]);
    const manifestText = await readFile(join(x, EXPORT_MANIFEST_NAME), 'utf8');
    await rm(join(x, EXPORT_MANIFEST_NAME));
    const restored = join(tmp.dir, 'x-restore');
    await withRepo(repoPath, async (repo) => {
      const tree = (await listSnapshots(repo)).entries.find((e) => e.id === snapId)!.manifest.tree;
      await restoreTree(repo, tree, restored);
    });
    const a = await snapshotFs(x, { dirMtimes: true });
    const b = await snapshotFs(restored, { dirMtimes: true });
    expect(a).toEqual(b);
    expect(a.find((e) => e.path === 'run.sh')?.mode).toBe(0o755);
    expect(a.find((e) => e.path === 'secret.txt')?.mode).toBe(0o600);
    expect(a.find((e) => e.path === 'docs')?.mode).toBe(0o750);
    expect(a.find((e) => e.path === 'docs/readme.md')?.mtimeMs).toBe(1_600_000_000_123);
    expect(a.find((e) => e.path === 'docs/empty')?.type).toBe('dir');
    expect(a.find((e) => e.path === 'link-to-readme')?.target).toBe('docs/readme.md');
    // The manifest carries the snapshot metadata and the SHA-256 of every file.
    const m = parseExportManifest(manifestText);
    expect(m.snapshot).toMatchObject({ id: snapId, label: 'before-upgrade', tags: ['t1'], kind: 'manual' });
    const files = m.entries.filter((e) => e.type === 'file' || e.type === 'sqlite');
    expect(files).toHaveLength(8);
    for (const f of files) {
      const sha = createHash('sha256').update(await readFile(join(x, f.path))).digest('hex');
      expect(sha, f.path).toBe(f.sha256);
    }
    expect(m.entries.find((e) => e.path === 'state.db')?.type).toBe('sqlite');
  });

  it('refuses to overwrite an existing archive without --force', async () => {
    const r = await cli(['--repo', repoPath, 'export', 'latest', archive], env);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/exists: choose another name, or pass --force/);
    const again = join(tmp.dir, 'again.tar.gz');
    await writeFile(again, 'old');
    expect((await cli(['--repo', repoPath, 'export', 'latest', again, '--force'], env)).code).toBe(0);
    expect((await readFile(again)).subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b]));
    expect((await readdir(tmp.dir)).filter((n) => n.includes('clawback-tmp'))).toEqual([]);
  });

  it('writes pax times with ns precision, negative ones too', () => {
    expect(paxTime(1_600_000_000_123_456_789n)).toBe('1600000000.123456789');
    expect(paxTime(5_000_000_000n)).toBe('5');
    expect(paxTime(-1_500_000_000n)).toBe('-1.5');
  });
});

describe('import', () => {
  it('round-trips: the imported snapshot has the same tree metadata and restores identically', async () => {
    const other = join(tmp.dir, 'repo2');
    const repo2 = await initRepository(new LocalBackend(other), { password: 'pw', ...FAST_INIT, chunker: { algorithm: 'fastcdc-2020', minSize: 2048, avgSize: 8192, maxSize: 32768 } }, { cacheDir: env['CLAWBACK_CACHE_DIR']! });
    try {
      const a = await inspectArchive(archive);
      const r = await importArchive(repo2, a, importedManifest(a, undefined, new Date()));
      expect(r.manifest).toMatchObject({ label: 'before-upgrade', kind: 'manual', tags: ['t1', 'imported'], source: `paths:${src}`, summary: { files: 8, symlinks: 2 } });
      expect((r.manifest.extra as { imported: { originalId: string } }).imported.originalId).toBe(snapId);
      const strip = (n: { ctimeNs?: bigint; inode?: bigint; content?: string[]; subtree?: string }) => {
        const { ctimeNs: _c, inode: _i, content: _x, subtree: _s, ...rest } = n;
        return rest;
      };
      const nodes2: unknown[] = [];
      for await (const e of walkTree(repo2, r.manifest.tree)) nodes2.push({ path: e.path, ...strip(e.node) });
      const nodes1: unknown[] = [];
      await withRepo(repoPath, async (repo) => {
        const tree = (await listSnapshots(repo)).entries.find((e) => e.id === snapId)!.manifest.tree;
        for await (const e of walkTree(repo, tree)) nodes1.push({ path: e.path, ...strip(e.node) });
      });
      expect(nodes2).toEqual(nodes1);
      expect(nodes2.find((n) => (n as { path: string }).path === 'state.db')).toMatchObject({ type: 'sqlite' });
      const out = join(tmp.dir, 'x-import');
      await restoreTree(repo2, r.manifest.tree, out);
      expect(await snapshotFs(out, { dirMtimes: true })).toEqual(await snapshotFs(join(tmp.dir, 'x-restore'), { dirMtimes: true }));
    } finally {
      await repo2.close();
    }
  });

  it('CLI: --name relabels; a taken label is refused before anything is written', async () => {
    const before = await listing(repoPath);
    const taken = await cli(['--repo', repoPath, 'import', archive], env);
    expect(taken.code).toBe(2);
    expect(taken.stderr).toMatch(/label "before-upgrade" is already used .* --name/);
    expect(await listing(repoPath)).toEqual(before);
    const ok = await cli(['--repo', repoPath, '--json', 'import', archive, '--name', 'restored-copy'], env);
    expect(ok.code, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ name: 'restored-copy', originalId: snapId });
    const list = JSON.parse((await cli(['--repo', repoPath, '--json', 'snapshot', 'list'], env)).stdout) as { name: string; kind: string }[];
    expect(list.map((s) => s.name).sort()).toEqual(['before-upgrade', 'restored-copy']);
    // Only tree blobs differ (no ctime/inode), the file data deduplicates.
    expect((JSON.parse(ok.stdout) as { summary: { bytesAdded: number } }).summary.bytesAdded).toBeLessThan(10_000);
  });
});

describe('malicious archives are rejected before anything is written', () => {
  interface Member {
    header: { name: string; type?: 'file' | 'directory' | 'symlink' | 'link' | 'character-device' | 'block-device' | 'fifo'; linkname?: string; mode?: number; devmajor?: number; devminor?: number };
    body?: string;
    /** Leave out of the manifest. */
    unlisted?: boolean;
    /** Manifest sha256 override. */
    sha256?: string;
  }

  function entryOf(m: Member): ExportEntry | undefined {
    const h = m.header;
    const base = { path: h.name.replace(/\/$/, ''), mode: h.mode ?? (h.type === 'directory' ? 0o755 : 0o644), mtimeNs: '1700000000000000000' };
    if (h.type === 'directory') return { ...base, type: 'dir' };
    if (h.type === 'symlink') return { ...base, mode: h.mode ?? 0o777, type: 'symlink', target: h.linkname ?? '' };
    if (h.type === undefined || h.type === 'file') {
      const body = Buffer.from(m.body ?? '');
      return { ...base, type: 'file', size: body.length, sha256: m.sha256 ?? createHash('sha256').update(body).digest('hex') };
    }
    return undefined;
  }

  async function makeArchive(name: string, members: Member[], opts: { manifest?: boolean } = {}): Promise<string> {
    const file = join(tmp.dir, 'evil', `${name}.tar.gz`);
    await mkdir(join(tmp.dir, 'evil'), { recursive: true });
    const pack = tar.pack();
    const done = pipeline(pack, createGzip(), createWriteStream(file));
    const add = (header: Member['header'], body?: string) =>
      new Promise<void>((res, rej) => {
        const h = { mtime: new Date(1_700_000_000_000), mode: header.type === 'directory' ? 0o755 : 0o644, ...header };
        if (header.type === undefined || header.type === 'file') pack.entry(h, body ?? '', (e) => (e ? rej(e) : res()));
        else pack.entry(h, (e) => (e ? rej(e) : res()));
      });
    for (const m of members) await add(m.header, m.body);
    if (opts.manifest !== false) {
      const entries = members.filter((m) => !m.unlisted).map(entryOf).filter((e): e is ExportEntry => e !== undefined);
      const manifest = { format: 'clawback-export', version: 1, exportedAt: '2026-01-01T00:00:00.000Z', programVersion: '0.1.0', snapshot: { id: 'cd'.repeat(32), time: '2026-01-01T00:00:00.000Z', host: 'h', username: 'u', paths: ['/x'], tags: [], kind: 'manual', source: 'paths:/x', programVersion: '0.1.0', summary: { files: 0, dirs: 0, symlinks: 0, bytes: 0, bytesAdded: 0, storedBytesAdded: 0, blobsAdded: 0, durationMs: 0 } }, entries };
      await add({ name: EXPORT_MANIFEST_NAME }, JSON.stringify(manifest));
    }
    pack.finalize();
    await done;
    return file;
  }

  const ok: Member[] = [{ header: { name: 'dir', type: 'directory' } }, { header: { name: 'dir/a.txt' }, body: 'hello' }];

  const cases: [string, Member[], RegExp, { manifest?: boolean }?][] = [
    ['absolute-path', [...ok, { header: { name: '/etc/cron.d/evil' }, body: 'x' }], /"\/etc\/cron\.d\/evil" has an absolute path/],
    ['dotdot', [...ok, { header: { name: '../evil.txt' }, body: 'x' }], /"\.\.\/evil\.txt" has a "\.\." component/],
    ['dotdot-inner', [...ok, { header: { name: 'dir/../../evil.txt' }, body: 'x' }], /has a "\.\." component/],
    ['link-absolute', [...ok, { header: { name: 'dir/passwd', type: 'symlink', linkname: '/etc/passwd' } }], /symbolic link whose target "\/etc\/passwd" leaves the archive root/],
    ['link-escape', [...ok, { header: { name: 'dir/up', type: 'symlink', linkname: '../../outside' } }], /target "\.\.\/\.\.\/outside" leaves the archive root/],
    ['link-chain', [...ok, { header: { name: 'a', type: 'symlink', linkname: '.' } }, { header: { name: 'b', type: 'symlink', linkname: 'a/..' } }], /"b" is a symbolic link whose target "a\/\.\." leaves the archive root through other links/],
    ['link-loop', [...ok, { header: { name: 'p', type: 'symlink', linkname: 'q' } }, { header: { name: 'q', type: 'symlink', linkname: 'p' } }], /leaves the archive root through other links/],
    ['member-under-link', [...ok, { header: { name: 'l', type: 'symlink', linkname: 'dir' } }, { header: { name: 'l/x.txt' }, body: 'x' }], /lies below "l", which is a symbolic link/],
    ['hard-link', [...ok, { header: { name: 'dir/hl', type: 'link', linkname: 'dir/a.txt' } }], /"dir\/hl" is a hard link/],
    ['char-device', [...ok, { header: { name: 'dir/null', type: 'character-device', devmajor: 1, devminor: 3 } }], /"dir\/null" is a device/],
    ['block-device', [...ok, { header: { name: 'dir/sda', type: 'block-device', devmajor: 8, devminor: 0 } }], /is a device/],
    ['fifo', [...ok, { header: { name: 'dir/fifo', type: 'fifo' } }], /"dir\/fifo" is a fifo/],
    ['duplicate', [...ok, { header: { name: 'dir/a.txt' }, body: 'overwrite', unlisted: true }], /"dir\/a\.txt" appears twice/],
    ['checksum', [ok[0]!, { ...ok[1]!, sha256: 'ee'.repeat(32) }], /checksum mismatch for "dir\/a\.txt"/],
    ['unlisted', [...ok, { header: { name: 'dir/extra.txt' }, body: 'x', unlisted: true }], /member "dir\/extra\.txt" is not listed in the manifest/],
    ['no-manifest', ok, /has no clawback-manifest\.json/, { manifest: false }],
  ];

  it('a well-formed hand-made archive is accepted (the cases below differ from it in one way)', async () => {
    const file = await makeArchive('ok', ok);
    const a = await inspectArchive(file);
    expect(a.files).toBe(1);
    expect(a.dirs).toBe(1);
  });

  for (const [name, members, message, opts] of cases) {
    it(`rejects ${name}`, async () => {
      const file = await makeArchive(name, members, opts);
      const before = await listing(repoPath);
      const r = await cli(['--repo', repoPath, 'import', file, '--name', `evil-${name}`], env);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).toMatch(/nothing was written/);
      expect(await listing(repoPath)).toEqual(before);
    });
  }

  it('rejects a file that is not a gzip tar at all', async () => {
    const file = join(tmp.dir, 'evil', 'garbage.tar.gz');
    await mkdir(join(tmp.dir, 'evil'), { recursive: true });
    await writeFile(file, 'this is not an archive');
    const before = await listing(repoPath);
    const r = await cli(['--repo', repoPath, 'import', file], env);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/not a readable \.tar\.gz/);
    expect(await listing(repoPath)).toEqual(before);
  });

  it('linkEscapes follows the links of the archive', () => {
    const links = new Map([['a', '.'], ['d/up', '..'], ['deep', 'd/up/d/up/..']]);
    expect(linkEscapes('b', 'a/..', links)).toBe(true);
    expect(linkEscapes('b', 'a/x', links)).toBe(false);
    expect(linkEscapes('d/up', '..', links)).toBe(false);
    expect(linkEscapes('x', 'd/up/..', links)).toBe(true);
    expect(linkEscapes('deep', 'd/up/d/up/..', links)).toBe(true);
    expect(linkEscapes('x', 'missing/../y', links)).toBe(false);
  });

  it('linkStaysInside', () => {
    expect(linkStaysInside('a/b', '../c')).toBe(true);
    expect(linkStaysInside('a/b', '../../c')).toBe(false);
    expect(linkStaysInside('a', 'b/../../c')).toBe(false);
    expect(linkStaysInside('a', '/c')).toBe(false);
    expect(linkStaysInside('a', '.')).toBe(true);
  });
});
