import { mkdtemp, mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LocalBackend, mapFsError } from '../../src/backend/local.js';
import { listAll, randomData, randomName } from './conformance.js';
import { rejection } from '../helpers/rejection.js';

describe('LocalBackend specifics', () => {
  let dir: string;
  let root: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'clawback-local-'));
    root = path.join(dir, 'repo');
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function walk(d: string): Promise<string[]> {
    const out: string[] = [];
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      out.push(p);
      if (e.isDirectory()) out.push(...(await walk(p)));
    }
    return out;
  }

  it('create makes the type directories 0700; data/xx lazily; files are 0600', async () => {
    const b = new LocalBackend(root);
    await b.create();
    expect((await readdir(root)).sort()).toEqual(['data', 'index', 'keys', 'locks', 'snapshots']);
    expect(await readdir(path.join(root, 'data'))).toEqual([]);
    const name = randomName();
    await b.save({ type: 'data', name }, randomData(10));
    await b.save({ type: 'config', name: 'config' }, randomData(10));
    if (process.platform !== 'win32') {
      for (const p of await walk(root)) {
        const st = await stat(p);
        expect(st.mode & 0o777, p).toBe(st.isDirectory() ? 0o700 : 0o600);
      }
    }
    expect(await readdir(path.join(root, 'data'))).toEqual([name.slice(0, 2)]);
    expect(b.location).toBe(root);
  });

  it('leaves no temp files behind, also when the save fails', async () => {
    const b = new LocalBackend(root);
    await b.create();
    const name = randomName();
    await b.save({ type: 'index', name }, randomData(10));
    expect((await rejection(b.save({ type: 'index', name }, randomData(10)))).code).toBe('ALREADY_EXISTS');
    // The final name is taken by a directory: link fails with EEXIST.
    const blocked = randomName();
    await mkdir(path.join(root, 'snapshots', blocked));
    expect((await rejection(b.save({ type: 'snapshots', name: blocked }, randomData(10)))).code).toBe('ALREADY_EXISTS');
    const stray = (await walk(root)).filter((p) => path.basename(p).startsWith('.tmp-'));
    expect(stray).toEqual([]);
  });

  it('list skips temp files (left by a crash) and foreign files', async () => {
    const b = new LocalBackend(root);
    await b.create();
    const name = `12${randomName().slice(2)}`;
    await b.save({ type: 'data', name }, randomData(5));
    const fan = path.join(root, 'data', name.slice(0, 2));
    await writeFile(path.join(fan, '.tmp-deadbeef'), 'partial');
    await writeFile(path.join(root, 'keys', '.tmp-0'), 'partial');
    await writeFile(path.join(root, 'data', 'stray-at-top'), 'x');
    await mkdir(path.join(root, 'data', 'zz-not-fanout'));
    await writeFile(path.join(root, 'data', 'zz-not-fanout', 'zz1'), 'x');
    await writeFile(path.join(fan, `ff${name.slice(2)}`), 'wrong fan-out directory');
    await mkdir(path.join(root, 'index', 'subdir'));
    expect(await listAll(b, 'data')).toEqual([{ name, size: 5 }]);
    expect(await listAll(b, 'keys')).toEqual([]);
    expect(await listAll(b, 'index')).toEqual([]);
  });

  it('listTempFiles finds the temp files a crash left where saves put them; removeTempFile deletes them', async () => {
    const b = new LocalBackend(root);
    await b.create();
    const name = `12${randomName().slice(2)}`;
    await b.save({ type: 'data', name }, randomData(5));
    await writeFile(path.join(root, 'data', '12', '.tmp-deadbeef'), 'partial');
    await writeFile(path.join(root, 'index', '.tmp-0'), 'ab');
    await writeFile(path.join(root, '.tmp-1234'), '');
    // Not where a save writes, or not a temp name: never reported, never removable.
    await writeFile(path.join(root, 'data', '.tmp-top'), 'x');
    await writeFile(path.join(root, 'index', '.tmp-'), 'x');
    await writeFile(path.join(root, 'index', '.tmpx'), 'x');
    await mkdir(path.join(root, 'snapshots', '.tmp-dir'));
    const found = [];
    for await (const f of b.listTempFiles()) found.push(f);
    found.sort((x, y) => (x.path < y.path ? -1 : 1));
    expect(found).toEqual([
      { path: '.tmp-1234', size: 0 },
      { path: 'data/12/.tmp-deadbeef', size: 7 },
      { path: 'index/.tmp-0', size: 2 },
    ]);
    for (const f of found) await b.removeTempFile(f.path);
    await b.removeTempFile('index/.tmp-0');
    expect((await rejection(b.removeTempFile('data/.tmp-top'))).code).toBe('INTERNAL');
    const left = (await walk(root)).map((p) => path.relative(root, p).split(path.sep).join('/')).filter((p) => p.includes('.tmp')).sort();
    expect(left).toEqual(['data/.tmp-top', 'index/.tmp-', 'index/.tmpx', 'snapshots/.tmp-dir']);
    expect(await listAll(b, 'data')).toEqual([{ name, size: 5 }]);
  });

  it('save without create: BACKEND naming the missing directory', async () => {
    const b = new LocalBackend(root);
    for (const type of ['keys', 'data', 'config'] as const) {
      const e = await rejection(b.save({ type, name: type === 'config' ? 'config' : randomName() }, randomData(1)));
      expect(e.code).toBe('BACKEND');
      expect(e.message).toMatch(/does not exist/);
      expect(e.message).toContain(root);
    }
    expect(await b.isRepository()).toBe(false);
    expect(await listAll(b, 'data')).toEqual([]);
  });

  it('a root that is a file: create fails with BACKEND', async () => {
    await writeFile(root, 'not a dir');
    const b = new LocalBackend(root);
    const e = await rejection(b.create());
    expect(e.code).toBe('BACKEND');
    expect(e.message).toContain(root);
    expect(await b.isRepository()).toBe(false);
  });

  it('reads a range into the given buffer when it is long enough, else into a new one', async () => {
    const b = new LocalBackend(root, { fsync: false });
    await b.create();
    const h = { type: 'data' as const, name: randomName() };
    const data = randomData(4096);
    await b.save(h, data);
    const into = new Uint8Array(1000);
    const got = await b.load(h, { offset: 10, length: 900, into });
    expect(got.buffer).toBe(into.buffer);
    expect(got.byteOffset).toBe(0);
    expect(Buffer.from(got).equals(Buffer.from(data.subarray(10, 910)))).toBe(true);
    // Cut at the end of the file: the view is as long as what is there.
    const tail = await b.load(h, { offset: 4000, length: 1000, into });
    expect(tail.buffer).toBe(into.buffer);
    expect(Buffer.from(tail).equals(Buffer.from(data.subarray(4000)))).toBe(true);
    const small = new Uint8Array(10);
    const big = await b.load(h, { offset: 0, length: 100, into: small });
    expect(big.buffer).not.toBe(small.buffer);
    expect(small.every((x) => x === 0)).toBe(true);
  });

  it('works with fsync off', async () => {
    const b = new LocalBackend(root, { fsync: false });
    await b.create();
    const name = randomName();
    await b.save({ type: 'locks', name }, randomData(3));
    expect((await b.stat({ type: 'locks', name })).size).toBe(3);
  });

  it('resolves a relative root against the working directory', () => {
    expect(new LocalBackend('some/rel').location).toBe(path.resolve('some/rel'));
  });
});

describe('mapFsError', () => {
  const errno = (code: string): NodeJS.ErrnoException => Object.assign(new Error(`${code}: boom`), { code });

  it('ENOSPC/EIO/EACCES → BACKEND naming the path and errno', () => {
    for (const code of ['ENOSPC', 'EIO', 'EACCES', 'EROFS', 'EDQUOT']) {
      const e = mapFsError(errno(code), 'save', '/r/data/ab/abc');
      expect(e.code).toBe('BACKEND');
      expect(e.retryable).toBe(false);
      expect(e.message).toContain('/r/data/ab/abc');
      expect(e.message).toContain(code);
      expect(e.details).toMatchObject({ path: '/r/data/ab/abc', errno: code });
    }
    expect(mapFsError(errno('ENOSPC'), 'save', '/p').message).toMatch(/no space left on device/);
  });

  it('ENOENT → BLOB_NOT_FOUND; EMFILE/EAGAIN → BACKEND_TRANSIENT', () => {
    expect(mapFsError(errno('ENOENT'), 'load', '/p').code).toBe('BLOB_NOT_FOUND');
    for (const code of ['EMFILE', 'ENFILE', 'EAGAIN', 'EBUSY']) {
      const e = mapFsError(errno(code), 'load', '/p');
      expect(e.code).toBe('BACKEND_TRANSIENT');
      expect(e.retryable).toBe(true);
    }
  });

  it('an error without errno → BACKEND with its message', () => {
    const e = mapFsError(new Error('weird'), 'load', '/p');
    expect(e.code).toBe('BACKEND');
    expect(e.message).toContain('weird');
  });
});
