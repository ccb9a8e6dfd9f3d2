/**
 * End to end through the CLI on a real tree nobody here wrote: this project's node_modules.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendFile, chmod, cp, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { cli } from '../helpers/cli.js';
import { snapshotFs, type FsEntry } from '../helpers/compare.js';
import { makeTmp } from '../helpers/tmp.js';

let tmp: { dir: string; cleanup: () => Promise<void> };
let env: Record<string, string>;
const src = () => join(tmp.dir, 'src');

beforeAll(async () => {
  tmp = await makeTmp('clawback-e2e-');
  await cp(resolve('node_modules'), src(), { recursive: true, verbatimSymlinks: true, preserveTimestamps: true });
  // vitest writes its own cache under node_modules/.vite while tests run: leave it out.
  await rm(join(src(), '.vite'), { recursive: true, force: true });
  // Files changed less than 1 s before they are read are re-read by the next snapshot (the
  // archiver's "racy" rule): let the copy's ctimes age so that only real changes count.
  await new Promise((r) => setTimeout(r, 1100));
  env = { HOME: tmp.dir, CLAWBACK_REPO: join(tmp.dir, 'repo'), CLAWBACK_PASSWORD: 'e2e password', CLAWBACK_CACHE_DIR: join(tmp.dir, 'cache') };
}, 300_000);
afterAll(async () => {
  await tmp.cleanup();
});

describe('CLI end to end on node_modules', () => {
  let before: FsEntry[];

  it('init, snapshot, change, snapshot again (only changes added), restore both exactly', async () => {
    const init = await cli(['init', '--json'], env, tmp.dir);
    expect(init.code, init.stderr).toBe(0);
    expect(JSON.parse(init.stdout)).toMatchObject({ encrypted: true });

    const s1 = await cli(['snapshot', 'create', src(), '--json'], env, tmp.dir);
    expect(s1.code, s1.stderr).toBe(0);
    const sum1 = JSON.parse(s1.stdout);
    expect(sum1.version).toBe(1);
    expect(sum1.files).toBeGreaterThan(1000);
    before = await snapshotFs(src());

    // Change a few files: append to three, chmod one, add one, delete one.
    const files = before.filter((e) => e.type === 'file');
    const pick = (i: number) => join(src(), files[Math.floor((files.length * i) / 7)]!.path);
    await appendFile(pick(1), '\n// changed by the e2e test\n');
    await appendFile(pick(2), Buffer.alloc(100_000, 0x42));
    await writeFile(pick(3), 'rewritten entirely');
    await chmod(pick(4), 0o600);
    await writeFile(join(src(), 'NEW-FILE.txt'), 'brand new');
    await rm(pick(5));
    const after = await snapshotFs(src());

    const s2 = await cli(['snapshot', 'create', src(), '--name', 'after-change', '--json'], env, tmp.dir);
    expect(s2.code, s2.stderr).toBe(0);
    const sum2 = JSON.parse(s2.stdout);
    expect(sum2.version).toBe(2);
    expect(sum2.summary.bytesAdded).toBeGreaterThan(0);
    // Only the changed files' chunks (and the trees above them) are new.
    expect(sum2.summary.bytesAdded).toBeLessThan(sum1.summary.bytesAdded / 20);
    expect(sum2.filesRead).toBeLessThanOrEqual(10);

    const list = await cli(['snapshot', 'list', '--json'], env, tmp.dir);
    expect(JSON.parse(list.stdout).map((s: { version: number; name: string | null }) => [s.version, s.name])).toEqual([
      [1, null],
      [2, 'after-change'],
    ]);

    const o1 = join(tmp.dir, 'out1');
    const o2 = join(tmp.dir, 'out2');
    const r1 = await cli(['snapshot', 'restore', 'v1', '--target', o1], env, tmp.dir);
    expect(r1.code, r1.stderr).toBe(0);
    const r2 = await cli(['snapshot', 'restore', 'after-change', '--target', o2], env, tmp.dir);
    expect(r2.code, r2.stderr).toBe(0);
    expect(await snapshotFs(o1)).toEqual(before);
    expect(await snapshotFs(o2)).toEqual(after);

    // ls sees the new file; a non-empty target is refused before anything is written.
    const ls = await cli(['ls', 'v2', '--json'], env, tmp.dir);
    expect(ls.stdout).toContain('NEW-FILE.txt');
    const again = await cli(['snapshot', 'restore', 'v2', '--target', o2], env, tmp.dir);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/not empty/);
  });

  it('a wrong password exits 12 and changes nothing', async () => {
    const res = await cli(['snapshot', 'list'], { ...env, CLAWBACK_PASSWORD: 'nope' }, tmp.dir);
    expect(res.code).toBe(12);
    expect(res.stderr).toMatch(/wrong password/);
  });

  it('a missing repository exits 10; a missing vN exits non-zero without fallthrough', async () => {
    const res = await cli(['snapshot', 'list', '--repo', join(tmp.dir, 'nowhere')], env, tmp.dir);
    expect(res.code).toBe(10);
    const v9 = await cli(['snapshot', 'restore', 'V9', '--target', join(tmp.dir, 'x')], env, tmp.dir);
    expect(v9.code).not.toBe(0);
    expect(v9.stderr).toMatch(/v9/i);
  });
});
