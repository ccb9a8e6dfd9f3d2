/**
 * Concurrency: two `snapshot create` of different sources and one `gc` started at the
 * same moment on one repository (real CLI processes, `--retry-lock`), 20 rounds on a local
 * repository and a few on S3 (Ceph RGW). Locks order them (snapshots share, gc is
 * exclusive) and nothing is lost: all three commands succeed, both new snapshots restore
 * exactly, every earlier snapshot too, and verify --read-data finds no damage.
 *
 * And two processes using one LMDB cache at once (two snapshots with the same cache
 * directory): afterwards every blob the index files list is found in the cache at a place
 * the index files give, every cache entry passes its check, and restores through that
 * cache are exact.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { openBackend } from '../../src/backend/location.js';
import { initRepository } from '../../src/repository/repository.js';
import { loadIndexState } from '../../src/repository/index-state.js';
import { createSnapshot } from '../../src/archiver/create-snapshot.js';
import { removeSnapshot } from '../../src/snapshot/store.js';
import { uniqueBucket } from '../s3/rgw.js';
import { buildTemplate, copyOf, removeTrial, TEMPLATE_INIT, type Template } from './crash/fixtures.js';
import { checkSound, cleanupTmp, cliEnv, openAt, PASSWORD, randomName, restoredTree, runChild, tmp, writeSourceTree, type Norm } from './harness.js';
import { tracked } from './results.js';

const FILE = 'test/stress/concurrency.test.ts';
const ROUNDS = Number(process.env['CLAWBACK_CONCURRENCY_ROUNDS'] ?? 0) || 20;
const S3_ROUNDS = Math.max(3, Math.round(ROUNDS / 6));
const s3 = inject('s3') ?? null;

let template: Template;
let gcTemplate: string;
let kept: Map<string, Norm>;
const sources: { dir: string; want: Norm }[] = [];

beforeAll(async () => {
  template = await buildTemplate(3);
  gcTemplate = await copyOf(template.repo);
  const r = await openAt(gcTemplate, PASSWORD);
  try {
    await removeSnapshot(r, template.ids[0]!); // garbage for gc
  } finally {
    await r.close();
  }
  kept = new Map(template.ids.slice(1).map((id) => [id, template.expected.get(id)!]));
  for (const v of [4, 5]) {
    const dir = join(await tmp('cb-src-'), `source-${v}`);
    sources.push({ dir, want: await writeSourceTree(dir, v, 2) });
  }
});
afterAll(cleanupTmp);

/** Starts the three commands at once on `location`; checks the outcome; returns a label. */
async function round(location: string, extraEnv: Record<string, string>, what: string, expected: Map<string, Norm>): Promise<string> {
  const home = await tmp('cb-home-');
  const envFor = (n: number) => cliEnv(join(home, `p${n}`), { CLAWBACK_PASSWORD: PASSWORD, ...extraEnv });
  const runs = await Promise.all([
    runChild(['-r', location, '--retry-lock', '5m', 'snapshot', 'create', sources[0]!.dir], envFor(0)),
    runChild(['-r', location, '--retry-lock', '5m', 'snapshot', 'create', sources[1]!.dir], envFor(1)),
    runChild(['-r', location, '--retry-lock', '5m', 'gc', '--max-unused', '0'], envFor(2)),
  ]);
  for (const [i, r] of runs.entries()) expect(r.code, `${what}: command ${i} failed: ${r.stderr}`).toBe(0);
  const repo = await openAt(location, PASSWORD, { env: extraEnv });
  try {
    const s = await checkSound(repo, expected, what, { sample: 1 });
    for (const src of sources) {
      const mine = s.listed.filter((e) => e.manifest.paths[0] === src.dir);
      expect(mine.length, `${what}: snapshots of ${src.dir}`).toBe(1);
      expect(await restoredTree(repo, mine[0]!.manifest.tree), `${what}: ${src.dir}`).toEqual(src.want);
    }
    expect(s.listed.length).toBe(expected.size + 2);
  } finally {
    await repo.close();
  }
  const waited = runs.filter((r) => /repository is locked/.test(r.stderr)).length;
  return waited === 0 ? 'no command waited' : `${waited} command(s) waited for a lock`;
}

describe('concurrency', () => {
  it(`two snapshots and a gc at once on a local repository (${ROUNDS} rounds)`, async () => {
    await tracked(
      {
        section: 'Concurrency',
        subject: '2 × snapshot create + gc, local',
        tried: 'three real CLI processes started at the same moment on one local repository (with garbage for gc), `--retry-lock 5m`',
        held: 'all three succeed (locks order gc against the snapshots; the snapshots run together); both new snapshots and every earlier one restore exactly; verify --read-data: no damage',
        file: FILE,
        runs: ROUNDS,
      },
      async () => {
        const outcomes: Record<string, number> = {};
        for (let i = 0; i < ROUNDS; i++) {
          const dir = await copyOf(gcTemplate);
          const o = await round(dir, {}, `local round ${i}`, kept);
          outcomes[o] = (outcomes[o] ?? 0) + 1;
          await removeTrial(dir);
        }
        return { runs: ROUNDS, notes: Object.entries(outcomes).map(([k, v]) => `${k}: ${v}`).join(', ') };
      },
    );
  }, 600_000);

  it.skipIf(s3 === null)('two snapshots and a gc at once on an S3 repository', async () => {
    const env = s3!;
    const s3env = { AWS_ACCESS_KEY_ID: env.accessKeyId, AWS_SECRET_ACCESS_KEY: env.secretAccessKey, AWS_REGION: env.region };
    const bucket = uniqueBucket('clawback-conc');
    await tracked(
      {
        section: 'Concurrency',
        subject: '2 × snapshot create + gc, S3',
        tried: 'three real CLI processes started at the same moment on one S3 repository (Ceph RGW) holding a snapshot, `--retry-lock 5m`',
        held: 'all three succeed; both new snapshots and the earlier one restore exactly; verify --read-data: no damage',
        file: FILE,
        runs: S3_ROUNDS,
      },
      async () => {
        const outcomes: Record<string, number> = {};
        for (let i = 0; i < S3_ROUNDS; i++) {
          const location = `s3:${env.endpoint}/${bucket}/${randomName('conc')}`;
          // A repository holding one earlier snapshot, of the template's source.
          const repo = await initRepository(await openBackend(location, { env: s3env }), { password: PASSWORD, ...TEMPLATE_INIT }, { cacheDir: await tmp('cb-cache-'), sealThreads: 0 });
          let expected: Map<string, Norm>;
          try {
            const first = await createSnapshot(repo, { paths: [template.src] });
            expected = new Map([[first.id, template.expected.get(template.ids[2]!)!]]);
          } finally {
            await repo.close();
          }
          const o = await round(location, s3env, `S3 round ${i}`, expected);
          outcomes[o] = (outcomes[o] ?? 0) + 1;
        }
        return { runs: S3_ROUNDS, notes: Object.entries(outcomes).map(([k, v]) => `${k}: ${v}`).join(', ') };
      },
    );
  }, 600_000);

  it('two processes sharing one LMDB cache do not corrupt it', async () => {
    const rounds = Math.max(4, Math.round(ROUNDS / 3));
    await tracked(
      {
        section: 'Concurrency',
        subject: 'one LMDB cache, two processes',
        tried: 'two `snapshot create` processes (different sources, shared locks) at once with the same cache directory, then a third process restoring through that cache',
        held: 'both succeed; every blob the index files list is in the cache at a listed place; every cache entry passes its check; restores through the shared cache are exact',
        file: FILE,
        runs: rounds,
      },
      async () => {
        for (let i = 0; i < rounds; i++) {
          const dir = await copyOf(template.repo);
          const home = join(dir, '..', 'home');
          const env = cliEnv(home, { CLAWBACK_PASSWORD: PASSWORD }); // same CLAWBACK_CACHE_DIR for both
          const runs = await Promise.all(sources.map((s) => runChild(['-r', dir, 'snapshot', 'create', s.dir], env)));
          for (const r of runs) expect(r.code, r.stderr).toBe(0);
          const repo = await openAt(dir, PASSWORD, { cacheDir: join(home, 'cache') });
          try {
            const cache = await repo.index();
            let checked = 0;
            for (const b of cache.allBlobs()) checked++; // throws CacheDamagedError on a bad entry
            const state = await loadIndexState(repo);
            for (const [id, locs] of state.blobs) {
              const got = cache.get(id);
              expect(got, `blob ${id} missing from the shared cache`).toBeDefined();
              expect(locs.some((l) => l.packId === got!.packId && l.offset === got!.offset && l.length === got!.length), `blob ${id} at a place no index lists`).toBe(true);
            }
            expect(checked).toBeGreaterThanOrEqual(state.blobs.size);
            const s = await checkSound(repo, template.expected, `shared cache round ${i}`, { sample: 1 });
            for (const src of sources) {
              const e = s.listed.find((x) => x.manifest.paths[0] === src.dir)!;
              expect(await restoredTree(repo, e.manifest.tree)).toEqual(src.want);
            }
          } finally {
            await repo.close();
          }
          await removeTrial(dir);
        }
        return { runs: rounds };
      },
    );
  }, 600_000);
});
