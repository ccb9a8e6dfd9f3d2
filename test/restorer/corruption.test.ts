/**
 * A flipped byte in a pack: restoring the affected file fails naming pack and file, and
 * every other file restores. No partial file is left for the damaged one.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, readdir, writeFile, stat } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { LocalBackend } from '../../src/backend/local.js';
import { initRepository } from '../../src/repository/repository.js';
import { createSnapshot } from '../../src/archiver/create-snapshot.js';
import { restoreTree } from '../../src/restorer/restorer.js';
import { walkTree } from '../../src/tree/walk.js';
import { ClawbackError } from '../../src/errors.js';
import { FAST_INIT, makeTmp } from '../helpers/tmp.js';

let tmp: { dir: string; cleanup: () => Promise<void> };
beforeEach(async () => {
  tmp = await makeTmp();
});
afterEach(async () => {
  await tmp.cleanup();
});

describe.each([
  ['encrypted', 'pw'],
  ['unencrypted', undefined],
])('corruption in an %s repository', (_name, password) => {
  it('names the pack and the file; the other files restore', async () => {
    const src = join(tmp.dir, 'src');
    await mkdir(src);
    const contents: Record<string, Buffer> = {};
    for (const n of ['a.bin', 'b.bin', 'c.bin']) {
      contents[n] = randomBytes(300_000);
      await writeFile(join(src, n), contents[n]!);
    }
    const repoDir = join(tmp.dir, 'repo');
    const repo = await initRepository(new LocalBackend(repoDir, { fsync: false }), { password, ...FAST_INIT }, { cacheDir: join(tmp.dir, 'cache') });
    const snap = await createSnapshot(repo, { paths: [src] });

    // Find the pack that holds b.bin's first chunk and flip one byte inside that blob.
    let bNode;
    for await (const e of walkTree(repo, snap.manifest.tree)) if (e.path === 'b.bin') bNode = e.node;
    const loc = (await repo.lookup(bNode!.content![0]!))!;
    const packPath = join(repoDir, 'data', loc.packId.slice(0, 2), loc.packId);
    const bytes = await readFile(packPath);
    const at = loc.offset + Math.floor(loc.length / 2);
    bytes[at] = bytes[at]! ^ 0x10;
    await writeFile(packPath, bytes);

    const out = join(tmp.dir, 'out');
    const err = await restoreTree(repo, snap.manifest.tree, out).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ClawbackError);
    const ce = err as ClawbackError;
    expect(ce.code).toBe('INTEGRITY');
    expect(ce.message).toContain('b.bin');
    expect(ce.message).toContain(loc.packId.slice(0, 8));
    expect((ce.details as { failures: { pack?: string }[] }).failures[0]!.pack, JSON.stringify(ce.details)).toBe(loc.packId);
    expect(await readFile(join(out, 'a.bin'))).toEqual(contents['a.bin']);
    expect(await readFile(join(out, 'c.bin'))).toEqual(contents['c.bin']);
    expect(existsSync(join(out, 'b.bin'))).toBe(false);
    expect((await readdir(out)).filter((n) => n.startsWith('.clawback-tmp'))).toEqual([]);
    expect((await stat(join(out, 'a.bin'))).size).toBe(300_000);
    await repo.close();
  });
});
