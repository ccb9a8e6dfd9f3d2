/**
 * A damaged index file met while building a fresh local cache: the error keeps its code
 * (INTEGRITY), names the index file and names the fix, `clawback repair index`, which then
 * works.
 */
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LocalBackend } from '../../src/backend/local.js';
import { shortId } from '../../src/ids.js';
import { cleanup, damage, flipBit, makeRepo, names, noise, reopen, snap, tmp, writeFiles } from '../fixtures/maint.js';
import { cliRepo } from '../cli-maint/helpers.js';
import { rejection } from '../helpers/rejection.js';

afterAll(cleanup);

describe.each([
  [false, 'a flipped bit'],
  [true, 'a flipped bit'],
  [false, 'sealed, but not an index'],
  [true, 'sealed, but not an index'],
] as const)('a damaged index file and a fresh cache (encrypted: %s, %s)', (encrypted, how) => {
  it('fails with INTEGRITY naming the index file and `clawback repair index`', async () => {
    const dir = join(await tmp(), 'repo');
    const backend = new LocalBackend(dir, { fsync: false });
    const { repo, password } = await makeRepo({ backend, encrypted });
    const src = join(await tmp(), 'src');
    await writeFiles(src, { 'a.bin': noise(20_000) });
    const s = await snap(repo, src);
    let index: string | undefined;
    if (how === 'sealed, but not an index') {
      index = await repo.saveFile('index', new TextEncoder().encode('not an index file: no CBIX magic'));
    } else {
      [index] = await names(backend, 'index');
      await damage(backend, { type: 'index', name: index! }, (b) => flipBit(b));
    }
    await repo.close();

    const fresh = await reopen(backend, await tmp('cb-cache-'), password);
    try {
      const e = await rejection(fresh.lookup(s.manifest.tree));
      expect(e.code).toBe('INTEGRITY');
      expect(e.message).toContain(`index file ${shortId(index!)}`);
      expect(e.message).toContain('`clawback repair index`');
      expect(e.details).toMatchObject({ indexFile: index });
    } finally {
      await fresh.close();
    }
  });
});

describe('through the CLI', () => {
  it('a restore with a fresh cache says to run `clawback repair index`; after it the restore works', async () => {
    const c = await cliRepo();
    const src = join(await tmp(), 'src');
    await writeFiles(src, { 'a.bin': noise(20_000), 'b.txt': 'b' });
    await snap(c.repo, src);
    await c.repo.close();
    const backend = new LocalBackend(c.dir);
    const [index] = await names(backend, 'index');
    await damage(backend, { type: 'index', name: index! }, (b) => flipBit(b));

    await rm(c.cacheDir, { recursive: true, force: true }); // a fresh cache
    const target = join(await tmp(), 'out');
    const bad = await c.cli(['snapshot', 'restore', 'latest', '--target', target]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain(`index file ${shortId(index!)}`);
    expect(bad.stderr).toMatch(/run `clawback repair index`/);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    expect((await c.cli(['repair', 'index'])).code).toBe(0);
    expect((await c.cli(['snapshot', 'restore', 'latest', '--target', target])).code).toBe(0);
    expect(await readFile(join(target, 'b.txt'), 'utf8')).toBe('b');
  });
});
