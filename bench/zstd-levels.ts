/**
 * `npx tsx bench/zstd-levels.ts`: zstd throughput (one core) and ratio per level on 1 MiB
 * pieces of three data sets (npmver v1, the first 200 MB of kernel v1, agent v1), through
 * src/compress/zstd.ts. Best of 2 runs. Used to choose the default compression level
 * (docs/CHUNKING.md).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { zstdCompress } from '../src/compress/zstd.js';
import { benchDataDir } from './lib/datasets.js';
import { pieces, readSample } from './lib/sample.js';
import { waitQuiet } from './lib/quiet.js';

const levels = (process.env['ZSTD_LEVELS'] ?? '1,2,3,4,5,6,7,9').split(',').map(Number);
const sets: [string, string, number][] = [
  ['npmver v1', join(benchDataDir(), 'npmver', 'v1'), Infinity],
  ['kernel v1, first 200 MB', join(benchDataDir(), 'kernel', 'v1'), 200e6],
  ['agent v1', join(benchDataDir(), 'agent', 'v1'), Infinity],
];
console.log('| data | level | MiB/s (1 core) | ratio |\n|---|--:|--:|--:|');
for (const [name, dir, cap] of sets) {
  if (!existsSync(dir)) continue;
  const data = readSample(dir, cap);
  const ps = pieces(data, 1 << 20);
  for (const level of levels) {
    await waitQuiet();
    let best = Infinity;
    let out = 0;
    for (let r = 0; r < 2; r++) {
      const t0 = performance.now();
      out = 0;
      for (const p of ps) out += zstdCompress(p, level)?.length ?? p.length;
      best = Math.min(best, performance.now() - t0);
    }
    console.log(`| ${name} | ${level} | ${(data.length / 2 ** 20 / (best / 1000)).toFixed(0)} | ${(data.length / out).toFixed(2)} |`);
  }
}
