import { afterAll, beforeAll, describe, expect } from 'vitest';
import { test, fc } from '@fast-check/vitest';
import { chmod, mkdir, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MemoryBackend } from '../../src/backend/mem.js';
import { initRepository, type Repository } from '../../src/repository/repository.js';
import { createSnapshot } from '../../src/archiver/create-snapshot.js';
import { restoreTree } from '../../src/restorer/restorer.js';
import { snapshotFs } from '../helpers/compare.js';
import { FAST_INIT, makeTmp } from '../helpers/tmp.js';

/** A generated file tree. */
type Entry =
  | { kind: 'file'; name: string; size: number; seed: number; mode: number; mtime: number }
  | { kind: 'link'; name: string; target: string }
  | { kind: 'dir'; name: string; mode: number; children: Entry[] };

const nameArb = fc.oneof(
  fc.stringMatching(/^[a-z0-9_][a-z0-9_.-]{0,12}$/),
  fc.constantFrom('ünïcødé', 'space name', 'UPPER', '.hidden', '日本語', 'a'.repeat(200)),
).filter((n) => n !== '.' && n !== '..');

const sizeArb = fc.oneof({ weight: 6, arbitrary: fc.integer({ min: 0, max: 5000 }) }, { weight: 2, arbitrary: fc.integer({ min: 5000, max: 200_000 }) }, { weight: 1, arbitrary: fc.integer({ min: 1 << 20, max: 3 << 20 }) });

const entryArb: fc.Arbitrary<Entry[]> = fc.letrec((tie) => ({
  entries: fc.uniqueArray(tie('entry') as fc.Arbitrary<Entry>, { maxLength: 6, selector: (e) => e.name }),
  entry: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.record({ kind: fc.constant('file' as const), name: nameArb, size: sizeArb, seed: fc.nat(), mode: fc.constantFrom(0o644, 0o600, 0o755, 0o400), mtime: fc.integer({ min: 0, max: 2_000_000_000_000 }) }),
    fc.record({ kind: fc.constant('link' as const), name: nameArb, target: fc.constantFrom('a', '../x', '/etc/passwd', 'dangling/target', 'ünï') }),
    fc.record({ kind: fc.constant('dir' as const), name: nameArb, mode: fc.constantFrom(0o755, 0o700), children: tie('entries') as fc.Arbitrary<Entry[]> }),
  ),
})).entries as fc.Arbitrary<Entry[]>;

function content(size: number, seed: number): Buffer {
  const b = Buffer.alloc(size);
  let x = seed | 1;
  const pattern = seed % 3;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = pattern === 0 ? x & 0xff : pattern === 1 ? (i % 7) + 97 : (i >> 10) & 0xff;
  }
  return b;
}

async function build(dir: string, entries: Entry[]): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.kind === 'file') {
      await writeFile(p, content(e.size, e.seed));
      await chmod(p, e.mode);
      await utimes(p, e.mtime / 1000, e.mtime / 1000);
    } else if (e.kind === 'link') {
      await symlink(e.target, p);
    } else {
      await build(p, e.children);
      await chmod(p, e.mode);
    }
  }
}

let tmp: { dir: string; cleanup: () => Promise<void> };
let repo: Repository;
let run = 0;
beforeAll(async () => {
  tmp = await makeTmp();
  repo = await initRepository(new MemoryBackend(), { password: 'pw', ...FAST_INIT }, { cacheDir: join(tmp.dir, 'cache') });
});
afterAll(async () => {
  await repo.close();
  await tmp.cleanup();
});

describe('snapshot → restore round trip', () => {
  test.prop([entryArb], { numRuns: Number(process.env.FC_NUM_RUNS ?? 25) })('restores random trees exactly (content, modes, mtimes, symlinks, empty dirs)', async (entries) => {
    const src = join(tmp.dir, `src${run}`);
    const out = join(tmp.dir, `out${run}`);
    run++;
    try {
      await build(src, entries);
      const snap = await createSnapshot(repo, { paths: [src] });
      await restoreTree(repo, snap.manifest.tree, out);
      expect(await snapshotFs(out)).toEqual(await snapshotFs(src));
    } finally {
      await rm(src, { recursive: true, force: true }).catch(() => undefined);
      await rm(out, { recursive: true, force: true });
    }
  });
});

