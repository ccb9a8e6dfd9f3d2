/**
 * Bit rot: one random bit flipped (or the file cut short) in each kind of repository file
 * — pack, index, snapshot, key, config — and in the local LMDB cache.
 *
 * - pack: verify --read-data names the pack; every snapshot restores, except the files
 *   (or directories, for a damaged tree) that use a damaged blob, which fail by name and
 *   are never written with wrong bytes; the files that fail are among those verify named.
 * - index: verify names the index file; a restore either works exactly or fails naming the
 *   index file; `repair index` rebuilds the index, after which everything restores and
 *   verify is clean. Losing every index file is repaired the same way.
 * - snapshot: listed as damaged (never silently dropped), verify names it, the other
 *   snapshots restore exactly.
 * - key, config: opening fails with a clear error naming the file, or (a bit that does not
 *   matter) succeeds and everything restores exactly.
 * - LMDB cache (in a child process, since lmdb-js may crash on a damaged file): a restore
 *   through the damaged cache is exact (damage detected, cache rebuilt); when lmdb-js
 *   crashes (SIGBUS on some B-tree flips), the next run rebuilds the cache and is exact.
 */
import { randomInt } from 'node:crypto';
import { readdir, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyRepository } from '../../src/checker/checker.js';
import { isClawbackError, type ClawbackError } from '../../src/errors.js';
import { repairIndex } from '../../src/repository/repair.js';
import { restoreTree } from '../../src/restorer/restorer.js';
import { listSnapshots } from '../../src/snapshot/store.js';
import { buildTemplate, copyOf, type Template } from './crash/fixtures.js';
import { checkSound, cleanupTmp, cliEnv, errorsOf, openAt, PASSWORD, runChild, tmp, treeOf, type Norm } from './harness.js';
import { tracked } from './results.js';

const FILE = 'test/stress/bitrot.test.ts';
const TRIALS = Number(process.env['CLAWBACK_STRESS_RUNS'] ?? 0) || 8;
let template: Template;

beforeAll(async () => {
  template = await buildTemplate(3);
});
afterAll(cleanupTmp);

/** Every file below `dir/sub` (recursively). */
async function filesOf(dir: string, sub: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(join(dir, sub), { withFileTypes: true, recursive: true })) if (e.isFile() && !e.name.startsWith('.')) out.push(join(e.parentPath, e.name));
  return out.sort();
}

/** Flips bit `bit` (random when undefined) of `file` in place; returns the bit. */
async function flipBit(file: string, bit?: number): Promise<number> {
  const b = await readFile(file);
  const i = bit ?? randomInt(b.length * 8);
  b[i >> 3] = b[i >> 3]! ^ (1 << (i & 7));
  await writeFile(file, b);
  return i;
}

function pick<T>(xs: T[]): T {
  return xs[randomInt(xs.length)]!;
}

/** What {@link restoreAll} saw. */
interface Restored {
  /** Per snapshot, the paths that failed (relative, with a leading /; `(whole restore)` when the restore stopped). */
  failed: Map<string, Set<string>>;
  /** Messages of the failed restores. */
  messages: string[];
}

/** Restores every snapshot, checking that whatever is written is exact. */
async function restoreAll(dir: string, what: string): Promise<Restored> {
  const repo = await openAt(dir, PASSWORD);
  const failed = new Map<string, Set<string>>();
  const messages: string[] = [];
  try {
    const { entries } = await listSnapshots(repo);
    for (const e of entries) {
      const want = template.expected.get(e.id)!;
      const target = join(await tmp('cb-rot-'), 'out');
      let err: unknown;
      try {
        await restoreTree(repo, e.manifest.tree, target);
      } catch (x) {
        err = x;
      }
      const bad = new Set<string>();
      if (err !== undefined) {
        expect(isClawbackError(err, 'INTEGRITY', 'BLOB_NOT_FOUND'), `${what}: restore failed with ${String(err)}`).toBe(true);
        messages.push((err as Error).message);
        const failures = ((err as ClawbackError).details['failures'] as { path: string }[] | undefined) ?? [];
        for (const f of failures) bad.add('/' + relative(target, f.path));
        if (failures.length === 0) bad.add('(whole restore)');
      }
      // Whatever was written is exact: damage is never restored silently.
      const got = await treeOf(target).catch(() => ({}) as Norm);
      for (const [p, v] of Object.entries(got)) expect(v, `${what}: ${p} restored with wrong content`).toEqual(want[p]);
      if (err === undefined) expect(got, `${what}: restore incomplete`).toEqual(want);
      failed.set(e.id, bad);
      await rm(join(target, '..'), { recursive: true, force: true });
    }
  } finally {
    await repo.close();
  }
  return { failed, messages };
}

describe('bit rot', () => {
  it('a flipped bit or a cut in a pack is named by verify and fails only the files that use it', async () => {
    await tracked(
      {
        section: 'Bit rot',
        subject: 'pack files',
        tried: 'one random bit flipped, or the file cut at a random length, in a random pack',
        held: 'verify --read-data reports an error naming the pack; restore writes no wrong byte; files that cannot be restored are named and are among the paths verify reports; all others restore exactly',
        file: FILE,
        runs: 2 * TRIALS,
      },
      async () => {
        let partial = 0;
        let untouched = 0;
        let whole = 0;
        for (let i = 0; i < 2 * TRIALS; i++) {
          const dir = await copyOf(template.repo);
          const pack = pick(await filesOf(dir, 'data'));
          const packId = pack.split('/').pop()!;
          const what = `pack ${packId.slice(0, 8)} ${i % 2 === 0 ? 'bit flip' : 'cut'}`;
          if (i % 2 === 0) await flipBit(pack);
          else await truncate(pack, randomInt((await stat(pack)).size));
          const repo = await openAt(dir, PASSWORD);
          let affected: Set<string>;
          try {
            const v = await verifyRepository(repo, { readData: true });
            expect(v.clean, `${what}: verify must report it`).toBe(false);
            expect(errorsOf(v).join('\n'), `${what}: verify must name the pack`).toContain(packId.slice(0, 8));
            affected = new Set(v.findings.flatMap((f) => f.affected.map((a) => `${a.snapshot}:${a.path}`)));
          } finally {
            await repo.close();
          }
          const { failed } = await restoreAll(dir, what);
          let any = false;
          for (const [id, paths] of failed) {
            for (const p of paths) {
              any = true;
              if (p === '(whole restore)') {
                whole++;
                continue;
              }
              // A file below a damaged directory is covered by the directory's entry.
              const covered = [...affected].some((a) => a.startsWith(`${id}:`) && (p === a.slice(id.length + 1) || p.startsWith(a.slice(id.length + 1) + '/')));
              expect(covered, `${what}: ${p} failed but verify did not name it`).toBe(true);
            }
          }
          if (any) partial++;
          else untouched++;
          await rm(join(dir, '..'), { recursive: true, force: true });
        }
        return { runs: 2 * TRIALS, notes: `${partial} damaged files or directories (named, not restored; the rest restored exactly${whole > 0 ? `; ${whole} restore(s) stopped at a damaged root tree` : ''}), ${untouched} hit only bytes no file needs (pack header, unused blob) and every file restored` };
      },
    );
  });

  it('a damaged or lost index is named by verify and repaired by `repair index`', async () => {
    await tracked(
      {
        section: 'Bit rot',
        subject: 'index files',
        tried: 'one random bit flipped in a random index file, or every index file deleted',
        held: 'verify names the index file (or the unindexed packs); restore is exact or fails naming the index; after `repair index` every snapshot restores exactly and verify is clean',
        file: FILE,
        runs: TRIALS + 2,
      },
      async () => {
        const outcomes: Record<string, number> = {};
        for (let i = 0; i < TRIALS + 2; i++) {
          const dir = await copyOf(template.repo);
          const lost = i >= TRIALS;
          const indexes = await filesOf(dir, 'index');
          const victim = pick(indexes);
          const id = victim.split('/').pop()!;
          if (lost) for (const f of indexes) await rm(f);
          else await flipBit(victim);
          const what = lost ? 'all index files lost' : `index ${id.slice(0, 8)} bit flip`;
          const repo = await openAt(dir, PASSWORD);
          try {
            const v = await verifyRepository(repo, { readData: true });
            expect(v.clean, `${what}: verify must report it`).toBe(false);
            if (!lost) expect(errorsOf(v).join('\n')).toContain(id.slice(0, 8));
          } finally {
            await repo.close();
          }
          // Restore before repair: exact, or a clean failure naming the index.
          const before = await restoreAll(dir, what);
          for (const m of before.messages) expect(m, `${what}: the error must name the index or what is missing`).toMatch(/index/);
          const outcome = before.messages.length === 0 ? 'every restore exact before repair' : `${before.messages.length} of ${template.ids.length} restores failed before repair, naming the index`;
          outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
          const r = await openAt(dir, PASSWORD);
          try {
            await repairIndex(r);
          } finally {
            await r.close();
          }
          const after = await openAt(dir, PASSWORD);
          try {
            await checkSound(after, template.expected, `${what}, after repair index`);
          } finally {
            await after.close();
          }
          await rm(join(dir, '..'), { recursive: true, force: true });
        }
        return { runs: TRIALS + 2, notes: Object.entries(outcomes).map(([k, v]) => `${k}: ${v}`).join(', ') };
      },
    );
  });

  it('a damaged snapshot file is reported, never silently dropped; the others restore', async () => {
    await tracked(
      {
        section: 'Bit rot',
        subject: 'snapshot files',
        tried: 'one random bit flipped in a random snapshot file',
        held: 'listed as damaged and named by verify; every other snapshot restores exactly',
        file: FILE,
        runs: TRIALS,
      },
      async () => {
        for (let i = 0; i < TRIALS; i++) {
          const dir = await copyOf(template.repo);
          const victim = pick(await filesOf(dir, 'snapshots'));
          const id = victim.split('/').pop()!;
          await flipBit(victim);
          const repo = await openAt(dir, PASSWORD);
          try {
            const { entries, damaged } = await listSnapshots(repo);
            expect(damaged.map((d) => d.id)).toEqual([id]);
            const v = await verifyRepository(repo, { readData: true });
            expect(v.findings.filter((f) => f.kind === 'snapshot-damaged').map((f) => f.object.id)).toEqual([id]);
            const others = new Map([...template.expected].filter(([k]) => k !== id));
            expect(entries.map((e) => e.id).sort()).toEqual([...others.keys()].sort());
          } finally {
            await repo.close();
          }
          await restoreAll(dir, `snapshot ${id.slice(0, 8)} bit flip`);
          await rm(join(dir, '..'), { recursive: true, force: true });
        }
        return { runs: TRIALS };
      },
    );
  });

  it('a damaged key or config file fails to open with a clear error, or does not matter', async () => {
    await tracked(
      {
        section: 'Bit rot',
        subject: 'key and config files',
        tried: 'one random bit flipped in the key file or in the config (encrypted repository)',
        held: 'opening fails with INTEGRITY / WRONG_PASSWORD / USAGE naming the file, or succeeds and every snapshot restores exactly; never a crash or wrong data',
        file: FILE,
        runs: 2 * TRIALS,
      },
      async () => {
        const outcomes: Record<string, number> = {};
        for (let i = 0; i < 2 * TRIALS; i++) {
          const dir = await copyOf(template.repo);
          const kind = i % 2 === 0 ? 'key' : 'config';
          const victim = kind === 'key' ? pick(await filesOf(dir, 'keys')) : join(dir, 'config');
          const bit = await flipBit(victim);
          const what = `${kind} bit ${bit}`;
          let outcome: string;
          try {
            const repo = await openAt(dir, PASSWORD);
            await repo.close();
            outcome = 'opened (the bit did not matter)';
            await restoreAll(dir, what);
          } catch (err) {
            expect(isClawbackError(err, 'INTEGRITY', 'WRONG_PASSWORD', 'USAGE'), `${what}: ${String(err)}`).toBe(true);
            expect((err as Error).message, `${what}: names the file`).toMatch(kind === 'key' ? /key file|no key file opens/ : /config/);
            outcome = `refused: ${(err as ClawbackError).code}`;
          }
          outcomes[`${kind} ${outcome}`] = (outcomes[`${kind} ${outcome}`] ?? 0) + 1;
          await rm(join(dir, '..'), { recursive: true, force: true });
        }
        return { runs: 2 * TRIALS, notes: Object.entries(outcomes).map(([k, v]) => `${k}: ${v}`).join(', ') };
      },
    );
  });

  it('a damaged LMDB cache is detected and rebuilt, or the process fails cleanly (child processes)', async () => {
    const n = Math.max(16, 2 * TRIALS);
    await tracked(
      {
        section: 'Bit rot',
        subject: 'LMDB index cache',
        tried: `one random bit flipped in the cache's data.mdb (half in the two meta pages, half anywhere), then \`clawback snapshot restore\` with that cache in a child process`,
        held: 'the restore is exact (damage detected: the cache is rebuilt); where lmdb-js crashes on a damaged page, the next run rebuilds the cache and restores exactly; the repository is untouched',
        file: FILE,
        runs: n,
      },
      async () => {
        const outcomes: Record<string, number> = {};
        const want = template.expected.get(template.ids[1]!)!;
        // A cache built by a real run.
        const dir = await copyOf(template.repo);
        const home = join(dir, '..', 'home');
        const env = cliEnv(home, { CLAWBACK_PASSWORD: PASSWORD });
        const first = await runChild(['-r', dir, 'snapshot', 'restore', 'v1', '--target', join(await tmp('cb-rot-'), 'out')], env);
        expect(first.code, first.stderr).toBe(0);
        const cacheRoot = join(home, 'cache');
        const [repoCache] = await readdir(cacheRoot);
        const mdb = join(cacheRoot, repoCache!, 'index', 'data.mdb');
        const pristine = await readFile(mdb);
        for (let i = 0; i < n; i++) {
          const b = Buffer.from(pristine);
          const bit = i % 2 === 0 ? randomInt(2 * 4096 * 8) : randomInt(b.length * 8);
          b[bit >> 3] = b[bit >> 3]! ^ (1 << (bit & 7));
          await writeFile(mdb, b);
          await rm(join(cacheRoot, repoCache!, 'index', 'lock.mdb'), { force: true });
          const target = join(await tmp('cb-rot-'), 'out');
          const args = ['-r', dir, 'snapshot', 'restore', 'v2', '--target', target, '--overwrite'];
          let r = await runChild(args, env);
          const where = `${bit < 8192 * 8 ? 'meta page' : 'B-tree page'} bit ${bit}`;
          let outcome: string;
          if (r.signal !== null) {
            // lmdb-js crashed on the damaged page (no check can see every such flip first):
            // the next run must find the crashed process's record and rebuild the cache.
            r = await runChild(args, env);
            expect(r.signal, `${where}: the run after a crash died of ${r.signal} too: ${r.stderr}`).toBeNull();
            expect(r.code, `${where}: the run after a crash failed: ${r.stderr}`).toBe(0);
            outcome = 'crashed; the next run rebuilt the cache and restored exactly';
          } else if (r.code === 0) {
            outcome = 'restored exactly';
          } else {
            outcome = `failed (exit ${r.code}): ${r.stderr.split('\n')[0]}`;
            expect.fail(`${where}: a damaged cache made the restore fail: ${r.stderr}`);
          }
          expect(await treeOf(target), where).toEqual(want);
          outcomes[`${where.split(' bit')[0]}: ${outcome}`] = (outcomes[`${where.split(' bit')[0]}: ${outcome}`] ?? 0) + 1;
          await writeFile(mdb, pristine);
        }
        const repo = await openAt(dir, PASSWORD);
        try {
          await checkSound(repo, template.expected, 'after the cache trials', { sample: 1 });
        } finally {
          await repo.close();
        }
        return { runs: n, notes: Object.entries(outcomes).map(([k, v]) => `${k}: ${v}`).join(', ') };
      },
    );
  }, 300_000);
});
