/**
 * `npm run bench -- [agent|npmver|kernel|big]…`: clawback, restic and borg side by side on
 * the data sets of ../shared/BENCH.md (built under $BENCHDATA, default /tmp/benchdata).
 *
 * For each data set and each of BENCH_REPS (default 3) repetitions, every tool gets a fresh
 * repository and runs: first snapshot of v1, no-change snapshot, snapshot of the next
 * version(s), full restore of the latest (checked against the b3sum manifest), verify
 * reading all data, forget half + gc. Tools alternate (the order rotates every repetition)
 * and the page cache is warmed first. Nothing is deleted until the end of the run (ext4
 * without a journal here makes file creation slow right after mass deletion).
 *
 * With BENCH_TOOLS including `clawback-profile`, the agent set is also snapshotted as an
 * agent profile (JSON manifest with state dirs notes, sessions, state).
 *
 * Env: BENCH_REPS (3), BENCH_TOOLS (clawback,restic,borg; add clawback-profile),
 * BENCH_WORK (/tmp/benchwork), BENCH_QUIET / BENCH_QUIET_MAX_S (lib/quiet.ts),
 * BENCH_CLAWBACK (dist | tsx, see lib/build.ts), BENCH_KEEP=1 keeps repositories and restores,
 * BENCH_ALLOW_SIDECARS=1 runs on a data set holding SQLite -wal/-shm/-journal files (refused
 * otherwise: lib/datasets.ts `refuseSidecars`).
 *
 * Writes bench/results/<date>-<sets>.md (the tables) and .json (every sample) and prints
 * the tables. Exits 1 when any tool failed (a failed restore check is a failure).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildClawback, ROOT } from './lib/build.js';
import { DATASET_NAMES, loadDataSet, refuseSidecars, type DataSet } from './lib/datasets.js';
import { freeBytes, neededBytes, refuseShortSpace } from './lib/space.js';
import { describeMachine, machineInfo } from './lib/machine.js';
import { markdownTable, medians } from './lib/report.js';
import { recoverStages, Stage } from './lib/stage.js';
import { checkRestore, warmCache } from './lib/check.js';
import { runSuite, type ToolRun } from './lib/suite.js';
import { clawbackCommands, clawbackHasProfiles, clawbackTool } from './lib/tools/clawback.js';
import { restic } from './lib/tools/restic.js';
import { borg } from './lib/tools/borg.js';
import type { Tool } from './lib/tools/tool.js';

const log = (s: string): void => void process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${s}\n`);

const sets = process.argv.slice(2).filter((a) => a !== '--');
for (const s of sets) {
  if (!(DATASET_NAMES as readonly string[]).includes(s)) {
    console.error(`unknown data set ${s}: choose from ${DATASET_NAMES.join(', ')}`);
    process.exit(2);
  }
}
if (sets.length === 0) sets.push('agent', 'npmver');
const reps = Number(process.env['BENCH_REPS'] ?? 3);
const workRoot = process.env['BENCH_WORK'] ?? '/tmp/benchwork';
mkdirSync(workRoot, { recursive: true });
for (const f of recoverStages(workRoot)) log(`moved back ${f} left by an interrupted run`);
const wanted = (process.env['BENCH_TOOLS'] ?? 'clawback,restic,borg').split(',');
/** Whether tool `tool` runs on data set `set`: the profile variant only on the agent set. */
const runsOn = (tool: string, set: string): boolean => tool !== 'clawback-profile' || set === 'agent';
// All data sets first: a missing one, one holding SQLite sidecar files, or a disk too small
// for the whole run stops it before anything is built or measured.
const dataSets = new Map<string, DataSet>();
for (const name of sets) dataSets.set(name, await loadDataSet(name));
try {
  for (const ds of dataSets.values()) refuseSidecars(ds, process.env['BENCH_ALLOW_SIDECARS'] === '1');
  const needed = await neededBytes([...dataSets.values()].map((ds) => ({ ds, tools: wanted.filter((t) => runsOn(t, ds.name)).length })), reps);
  refuseShortSpace(workRoot, needed, freeBytes(workRoot));
} catch (err) {
  console.error((err as Error).message);
  process.exit(2);
}

const build = await buildClawback();
const commands = await clawbackCommands(build);
const work = mkdtempSync(join(workRoot, `run-${new Date().toISOString().slice(0, 10)}-`));
const all: Tool[] = [clawbackTool(build, commands), restic, borg];
// The agent set is also snapshotted as an agent profile (SQLite through the backup API, as
// 'sqlite' nodes with the fixed chunker) when this clawback has profiles.
if (await clawbackHasProfiles(build)) {
  const manifest = join(work, 'bench-agent.json');
  writeFileSync(manifest, JSON.stringify({ name: 'bench-agent', state_dirs: ['notes', 'sessions', 'state'], state_files: ['AGENTS.md', 'config.json'] }));
  all.push(clawbackTool(build, commands, { name: 'clawback-profile', agentManifest: manifest }));
}
const selected = all.filter((t) => wanted.includes(t.name));
/** Tools for one data set. */
const toolsFor = (set: string): Tool[] => selected.filter((t) => runsOn(t.name, set));
const machine = await machineInfo();
const versions: Record<string, string> = {};
for (const t of selected) versions[t.name] = await t.version();
const started = new Date();
log(`machine: ${describeMachine(machine)}`);
for (const v of Object.values(versions)) log(`version: ${v}`);

const stage = new Stage(work);
const results: Record<string, ToolRun[]> = {};
const onSignal = (): void => {
  stage.unmount();
  process.exit(130);
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);
try {
  for (const name of sets) {
    const ds = dataSets.get(name)!;
    log(`data set ${name}: ${ds.versions.length} versions; checking the latest against its manifest, warming the page cache`);
    // The data set itself first: a stray file in it (such as the -wal and -shm files that a
    // read-only SQLite connection leaves beside a WAL database) would otherwise fail every
    // other tool's restore check, and only once the whole run is over.
    await checkRestore(ds.versions[ds.versions.length - 1]!, ds.manifest).catch((err: Error) => {
      throw new Error(`data set ${name} no longer matches its manifest ${ds.manifest}; remove what was added or rebuild it (../shared/BENCH.md), then run again:\n${err.message}`);
    });
    await warmCache(ds.versions);
    const runs: ToolRun[] = [];
    const tools = toolsFor(name);
    for (let rep = 1; rep <= reps; rep++) {
      const order = tools.map((_, i) => tools[(i + rep - 1) % tools.length]!);
      for (const tool of order) {
        log(`${name} repetition ${rep}/${reps}: ${tool.name}`);
        const dir = join(work, `${name}-${tool.name}-r${rep}`);
        mkdirSync(dir);
        // Again before every tool: the previous tool's restores and repositories push the
        // data set out of the page cache (kdamond reclaims cold pages), which made whoever
        // ran after borg read the source from disk.
        await warmCache(ds.versions);
        runs.push(await runSuite(tool.instance(dir), ds, stage, dir, rep, log));
      }
    }
    results[name] = runs;
    console.log(`\n${markdownTable(name, runs, ds.versions.length > 2 ? ` (v2..v${ds.versions.length}, summed)` : '')}\n`);
  }
} finally {
  stage.unmount();
}

const date = started.toISOString().replace(/:/g, '').slice(0, 15);
const header = [
  `# clawback vs restic vs borg — ${started.toISOString().slice(0, 16).replace('T', ' ')} UTC`,
  '',
  `Machine: ${describeMachine(machine)}. Versions: ${[...new Set(Object.values(versions))].join('; ')}.`,
  `Medians of ${reps} alternating repetitions, warm page cache; each repetition uses a fresh repository.`,
  `Data: ../shared/BENCH.md data sets under ${process.env['BENCHDATA'] ?? '/tmp/benchdata'}. "forget half" keeps the newest snapshot of two-version sets (forgets both v1 snapshots) and the newest 3 of npmver's 7.`,
  'Restores were checked against the b3sum manifests (for clawback, a SQLite database may instead be byte-equal past its 100-byte header, which the backup API, used for databases over 64 MiB, may rewrite). Repo MB is `du -sb` after the step, with what the step added.',
  'clawback captures SQLite databases (detected by header) through SQLite (one read transaction: `sqlite3_serialize`, or the backup API over 64 MiB) as `sqlite` nodes cut by the fixed SQLite chunker, in plain snapshots too. clawback-profile (agent set only, when run): the same data as an agent profile (`--manifest`: state dirs notes, sessions, state; state files AGENTS.md, config.json).',
  '',
];
const nextNote = (n: string): string => (n === 'npmver' ? ' (v2..v6, summed)' : '');
const strayNote = (runs: ToolRun[]): string => {
  const by = [...new Set(runs.filter((r) => r.strays?.length).map((r) => r.tool))];
  return by.length === 0 ? '' : `\n\n${by.join(', ')} left SQLite -wal/-shm files next to the databases in the source tree (removed by the harness after each snapshot, outside the timing).`;
};
try {
  const md = header.concat(Object.entries(results).map(([n, runs]) => `## ${n}\n\n${markdownTable(n, runs, nextNote(n))}${strayNote(runs)}\n`)).join('\n');
  const outDir = join(ROOT, 'bench', 'results');
  mkdirSync(outDir, { recursive: true });
  const base = join(outDir, `${date}-${sets.join('-')}`);
  writeFileSync(`${base}.md`, md);
  writeFileSync(
    `${base}.json`,
    JSON.stringify({ started: started.toISOString(), finished: new Date().toISOString(), machine, versions, reps, clawbackBuild: build.mode, medians: Object.fromEntries(Object.entries(results).map(([n, r]) => [n, medians(r)])), runs: results }, null, 2),
  );
  log(`wrote ${base}.md and .json`);
} finally {
  // Even when the results could not be written (a full disk): the work left behind would
  // only fill it further.
  if (process.env['BENCH_KEEP'] !== '1') {
    log(`deleting ${work}`);
    rmSync(work, { recursive: true, force: true });
  }
  if (build.mode === 'dist') rmSync(build.root, { recursive: true, force: true });
}
const failed = Object.values(results).flat().filter((r) => r.error !== undefined);
if (failed.length > 0) {
  console.error(`${failed.length} pass(es) FAILED:`);
  for (const f of failed) console.error(`- ${f.tool} repetition ${f.rep}: ${f.error}`);
  process.exit(1);
}
