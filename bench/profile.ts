/**
 * `npx tsx bench/profile.ts [agent|kernel|npmver|big] [first,nochange,restore]`: CPU
 * profiles (`node --cpu-prof`, one .cpuprofile per thread: main and seal workers) of
 * clawback's first snapshot of v1 of a data set and, if asked, of the no-change snapshot
 * after it and of the full restore of it, summarised by bench/profile-summary.ts. Uses the
 * compiled CLI (lib/build.ts), a fresh encrypted repository and a warm page cache.
 * Profiles are kept in a new profile-<set>-XXXX/prof/<step> directory under BENCH_WORK
 * (/tmp/benchwork); the summaries go to stdout.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { buildClawback, ROOT } from './lib/build.js';
import { warmCache } from './lib/check.js';
import { loadDataSet } from './lib/datasets.js';
import { measure, run, type Measurement } from './lib/measure.js';
import { waitQuiet } from './lib/quiet.js';
import { removeNewSidecars } from './lib/strays.js';
import { clawbackCommands, clawbackTool } from './lib/tools/clawback.js';
import type { ToolInstance } from './lib/tools/tool.js';

const set = process.argv[2] ?? 'agent';
const steps = (process.argv[3] ?? 'first').split(',');
const ds = await loadDataSet(set);
const build = await buildClawback();
const work = mkdtempSync(join(process.env['BENCH_WORK'] ?? '/tmp/benchwork', `profile-${set}-`));
const commands = await clawbackCommands(build);
const plain = clawbackTool(build, commands).instance(work);
const profiled = (step: string): ToolInstance => {
  const dir = join(work, 'prof', step);
  mkdirSync(dir, { recursive: true });
  return clawbackTool(build, commands, { nodeArgs: ['--cpu-prof', '--cpu-prof-dir', dir] }).instance(work);
};
for (const s of plain.init()) await run(s);
const src = ds.versions[0]!;
await warmCache([src]);
const quiet = (): Promise<number> => waitQuiet((s) => process.stderr.write(`${s}\n`));
const summarise = async (step: string, what: string, m: Measurement): Promise<void> => {
  process.stderr.write(`profiled ${what}: ${m.wallS.toFixed(2)} s wall, ${m.cpuS.toFixed(2)} s CPU, ${(m.rssBytes / 1e6).toFixed(0)} MB RSS (under the profiler)\n`);
  console.log(`## CPU profile: ${what} (${m.wallS.toFixed(2)} s wall, ${m.cpuS.toFixed(2)} s CPU under the profiler)\n`);
  const { stdout } = await run({ cmd: join(ROOT, 'node_modules', '.bin', 'tsx'), args: [join(ROOT, 'bench', 'profile-summary.ts'), join(work, 'prof', step)] });
  console.log(stdout);
};
// The first snapshot is always taken (the other steps need it); it is profiled if asked.
await quiet();
let m = await measure((steps.includes('first') ? profiled('first') : plain).snapshot(src, 's1'));
await removeNewSidecars(src, ds.sidecars.get(src) ?? new Set());
if (steps.includes('first')) await summarise('first', `first snapshot of ${set} v1`, m);
if (steps.includes('nochange')) {
  await quiet();
  m = await measure(profiled('nochange').snapshot(src, 's2'));
  await removeNewSidecars(src, ds.sidecars.get(src) ?? new Set());
  await summarise('nochange', `no-change snapshot of ${set} v1`, m);
}
if (steps.includes('restore')) {
  const target = join(work, 'restore');
  mkdirSync(target);
  await quiet();
  m = await measure(profiled('restore').restore(target));
  await summarise('restore', `full restore of ${set} v1`, m);
}
if (build.mode === 'dist') rmSync(build.root, { recursive: true, force: true });
process.stderr.write(`profiles kept in ${join(work, 'prof')}\n`);
