/**
 * The bench harness's disk-space check (bench/lib/space.ts): a run keeps every repository
 * and restore until it ends, so it refuses to start on a disk that cannot hold them.
 */
import { expect, it } from 'vitest';
import { mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freeBytes, neededBytes, refuseShortSpace } from '../../bench/lib/space.js';
import { useTmp } from '../helpers/tmp.js';

const tmp = useTmp('clawback-bench-space-');

it('counts, per tool and repetition, a restore of the last version and a repository as large as the largest', async () => {
  const versions = [join(tmp.dir, 'v1'), join(tmp.dir, 'v2')];
  for (const v of versions) mkdirSync(v);
  writeFileSync(join(versions[0]!, 'a'), Buffer.alloc(300_000));
  writeFileSync(join(versions[1]!, 'a'), Buffer.alloc(100_000));
  const ds = { name: 'x', versions, manifest: '', keepLast: 1, sidecars: new Map<string, Set<string>>() };
  // du -sb counts each directory's own (apparent) size too.
  const [v1, v2] = [300_000 + statSync(versions[0]!).size, 100_000 + statSync(versions[1]!).size];
  expect(await neededBytes([{ ds, tools: 3 }], 2)).toBe(2 * 3 * (v2 + v1));
  expect(await neededBytes([{ ds, tools: 3 }, { ds, tools: 1 }], 5)).toBe(5 * 4 * (v2 + v1));
  expect(freeBytes(tmp.dir)).toBeGreaterThan(0);
});

it('refuses a run that does not fit, naming both sizes and the ways out', () => {
  expect(() => refuseShortSpace('/w', 40e9, 50e9)).not.toThrow();
  expect(() => refuseShortSpace('/w', 48e9, 50e9)).toThrow('this run needs about 48.0 GB under /w (every repository and restore stays until the run ends) and 50.0 GB are free: free some space, point BENCH_WORK at a larger disk, or run fewer data sets or repetitions (BENCH_REPS)');
});
