/**
 * `npx tsx bench/many.ts [FILES]`: peak RSS (and time) of a first and a no-change snapshot
 * of a synthetic tree of many small files (default 1,000,000: 1000 dirs × 1000 files of
 * 20–400 bytes), for clawback and restic (BENCH_TOOLS to choose; borg too if listed).
 * Issue 7 wants clawback under 500 MB RSS here.
 *
 * The tree is generated once under $BENCHDATA/many-<FILES> (never in the repository) and
 * kept for later runs (delete it by hand; it holds FILES inodes). Repositories go to a temp
 * dir under BENCH_WORK (/tmp/benchwork), deleted at the end unless BENCH_KEEP=1. The table
 * is printed and written to bench/results/<date>-many-<FILES>.md.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildClawback, ROOT } from './lib/build.js';
import { benchDataDir } from './lib/datasets.js';
import { duBytes, measure, run } from './lib/measure.js';
import { waitQuiet } from './lib/quiet.js';
import { describeMachine, machineInfo } from './lib/machine.js';
import { clawbackCommands, clawbackTool } from './lib/tools/clawback.js';
import { restic } from './lib/tools/restic.js';
import { borg } from './lib/tools/borg.js';

const files = Number(process.argv[2] ?? 1_000_000);
const perDir = 1000;
const root = join(benchDataDir(), `many-${files}`);
const log = (s: string): void => void process.stderr.write(`[many ${new Date().toISOString().slice(11, 19)}] ${s}\n`);

if (!existsSync(join(root, '.done'))) {
  log(`generating ${files} files under ${root}`);
  const src = join(root, 'v1');
  let x = 12345;
  const rnd = (): number => ((x = (x * 1103515245 + 12345) >>> 0) / 2 ** 32);
  for (let i = 0; i < files; i++) {
    const dir = join(src, `d${String(Math.floor(i / perDir)).padStart(4, '0')}`);
    if (i % perDir === 0) mkdirSync(dir, { recursive: true });
    const len = 20 + Math.floor(rnd() * 380);
    writeFileSync(join(dir, `f${String(i % perDir).padStart(4, '0')}.txt`), `file ${i} `.padEnd(len, String.fromCharCode(97 + (i % 26))));
    if (i % 100_000 === 0 && i > 0) log(`${i} files`);
  }
  writeFileSync(join(root, '.done'), '');
}

const build = await buildClawback();
const tools = [clawbackTool(build, await clawbackCommands(build)), restic, borg].filter((t) => (process.env['BENCH_TOOLS'] ?? 'clawback,restic').split(',').includes(t.name));
const work = mkdtempSync(join(process.env['BENCH_WORK'] ?? '/tmp/benchwork', 'many-'));
const src = join(root, 'v1');
log(`warming the page cache`);
await run({ cmd: 'sh', args: ['-c', 'find . -type f -print0 | xargs -0 -r cat > /dev/null'], cwd: src });
const lines = [
  `Snapshot of ${files.toLocaleString('en')} small files (${(await duBytes(src) / 1e6).toFixed(0)} MB on disk), ${new Date().toISOString().slice(0, 10)}, ${describeMachine(await machineInfo())}`,
  '',
  '| tool | step | wall s | CPU s | peak RSS MB | repo MB |',
  '|---|---|--:|--:|--:|--:|',
];
for (const t of tools) {
  const dir = join(work, t.name);
  mkdirSync(dir);
  const inst = t.instance(dir);
  for (const s of inst.init()) await run(s);
  for (const [step, label] of [['first', 's1'], ['no-change', 's2']] as const) {
    await waitQuiet(log);
    const m = await measure(inst.snapshot(src, label));
    const line = `| ${t.name} | ${step} | ${m.wallS.toFixed(1)} | ${m.cpuS.toFixed(1)} | ${(m.rssBytes / 1e6).toFixed(0)} | ${((await duBytes(inst.repo)) / 1e6).toFixed(1)} |`;
    log(line);
    lines.push(line);
  }
}
console.log(lines.join('\n'));
const out = join(ROOT, 'bench', 'results', `${new Date().toISOString().replace(/:/g, '').slice(0, 15)}-many-${files}.md`);
writeFileSync(out, lines.join('\n') + '\n');
log(`wrote ${out}`);
if (process.env['BENCH_KEEP'] !== '1') rmSync(work, { recursive: true, force: true });
if (build.mode === 'dist') rmSync(build.root, { recursive: true, force: true });
