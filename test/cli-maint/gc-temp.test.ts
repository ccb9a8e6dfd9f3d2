/**
 * gc removes the `.tmp-*` files interrupted saves leave in a local repository (they occupy
 * space, and `list` never shows them); `--dry-run` only reports them.
 */
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LocalBackend } from '../../src/backend/local.js';
import { cleanup, names, noise, snap, tmp, writeFiles } from '../fixtures/maint.js';
import { cliRepo } from './helpers.js';

afterAll(cleanup);

/** Every `.tmp-*` file below `dir`, repository-relative with `/`. */
async function temps(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true });
  return entries.map((p) => p.split('\\').join('/')).filter((p) => p.split('/').pop()!.startsWith('.tmp-')).sort();
}

describe('gc and stray temp files', () => {
  it('gc --dry-run reports the strays and keeps them; gc removes them and says how many and how big', async () => {
    const c = await cliRepo();
    const src = join(await tmp(), 'src');
    await writeFiles(src, { 'a.bin': noise(20_000) });
    await snap(c.repo, src);
    await c.repo.close();
    const packs = await names(new LocalBackend(c.dir), 'data');
    const fan = packs[0]!.slice(0, 2);
    // What a crash between writing a temp file and linking it leaves.
    await writeFile(join(c.dir, 'data', fan, '.tmp-00112233aabbccdd'), Buffer.alloc(3000, 1));
    await writeFile(join(c.dir, 'index', '.tmp-44556677eeff0011'), Buffer.alloc(200, 2));
    const strays = [`data/${fan}/.tmp-00112233aabbccdd`, 'index/.tmp-44556677eeff0011'];
    expect(await temps(c.dir)).toEqual(strays);

    const dry = await c.cli(['gc', '--dry-run']);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toMatch(/temp files: would remove 2 left by interrupted saves \(3\.\d+ KiB\)/);
    const dryJson = await c.json<{ plan: { tempFiles: { path: string; size: number }[]; totals: { tempFiles: number; tempBytes: number } } }>(['gc', '--dry-run']);
    expect(dryJson.plan.tempFiles).toEqual([
      { path: strays[0], size: 3000 },
      { path: strays[1], size: 200 },
    ]);
    expect(dryJson.plan.totals).toMatchObject({ tempFiles: 2, tempBytes: 3200 });
    expect(await temps(c.dir)).toEqual(strays);

    const gc = await c.json<{ result: { removedTempFiles: number; removedTempBytes: number } }>(['gc']);
    expect(gc.result).toMatchObject({ removedTempFiles: 2, removedTempBytes: 3200 });
    expect(await temps(c.dir)).toEqual([]);
    expect(await names(new LocalBackend(c.dir), 'data')).toEqual(packs);

    // Lock, key and config files are written without the exclusive lock: their temp files
    // may belong to a live writer and stay.
    await writeFile(join(c.dir, 'snapshots', '.tmp-99'), 'x');
    for (const p of ['.tmp-aa', 'locks/.tmp-bb', 'keys/.tmp-cc']) await writeFile(join(c.dir, p), 'y');
    const text = await c.cli(['gc']);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/and 1 stray temp file\(s\) \(1 B\)/);
    expect(await temps(c.dir)).toEqual(['.tmp-aa', 'keys/.tmp-cc', 'locks/.tmp-bb']);
    expect((await c.cli(['verify', '--read-data'])).code).toBe(0);
  });
});
