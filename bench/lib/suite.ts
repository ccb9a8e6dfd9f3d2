/**
 * One tool's pass over one data set: first snapshot of v1, the same again unchanged, the
 * next version(s), full restore (checked against the manifest), verify reading all data,
 * forget half + gc. Each step is measured; the repository size is taken after each step.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { duBytes, measure, run, type Measurement, type RunSpec } from './measure.js';
import { checkRestore } from './check.js';
import { waitQuiet } from './quiet.js';
import { removeNewSidecars } from './strays.js';
import type { DataSet } from './datasets.js';
import type { Stage } from './stage.js';
import type { ToolInstance } from './tools/tool.js';

/** The measured steps, in order. */
export const STEPS = ['first', 'nochange', 'next', 'restore', 'verify', 'forgetGc'] as const;
/** One measured step. */
export type StepName = (typeof STEPS)[number];

/** Table labels of the steps. */
export const STEP_LABELS: Record<StepName, string> = {
  first: 'first snapshot (v1)',
  nochange: 'no-change snapshot',
  next: 'next version snapshot',
  restore: 'full restore (latest)',
  verify: 'verify, read all data',
  forgetGc: 'forget half + gc',
};

/** One measurement of a step. */
export interface StepSample extends Measurement {
  /** Repository bytes after the step (`du -sb`). */
  repoBytes: number;
  /** Repository bytes the step added (negative when it freed space). */
  addedBytes: number;
  /** Fraction of all CPUs busy just before the step started (other work on the machine). */
  busyBefore: number;
}

/** One tool's pass over a data set. */
export interface ToolRun {
  tool: string;
  rep: number;
  steps: Partial<Record<StepName, StepSample>>;
  /** `next` per version, for series of more than two versions. */
  nextPerVersion?: StepSample[];
  /** Steps the tool cannot do (yet). */
  unavailable: StepName[];
  /** Set when the pass failed: a command error or a restore mismatch. */
  error?: string;
  /** SQLite sidecar files the tool's snapshots left in the source (removed by the harness). */
  strays?: string[];
}

async function measureAll(specs: RunSpec[], repo: string, before: number, log?: (s: string) => void): Promise<StepSample> {
  const busyBefore = await waitQuiet(log);
  let wallS = 0;
  let cpuS = 0;
  let rssBytes = 0;
  for (const s of specs) {
    const m = await measure(s);
    wallS += m.wallS;
    cpuS += m.cpuS;
    rssBytes = Math.max(rssBytes, m.rssBytes);
  }
  const repoBytes = await duBytes(repo);
  return { wallS, cpuS, rssBytes, repoBytes, addedBytes: repoBytes - before, busyBefore };
}

function sumSamples(xs: StepSample[]): StepSample {
  return {
    wallS: xs.reduce((a, x) => a + x.wallS, 0),
    cpuS: xs.reduce((a, x) => a + x.cpuS, 0),
    rssBytes: Math.max(...xs.map((x) => x.rssBytes)),
    repoBytes: xs[xs.length - 1]!.repoBytes,
    addedBytes: xs.reduce((a, x) => a + x.addedBytes, 0),
    busyBefore: Math.max(...xs.map((x) => x.busyBefore)),
  };
}

/**
 * Runs every step for `inst` on `ds`, using `stage` as the source path and `dir` for
 * restore targets. Never throws for a tool failure: it is returned in `error`.
 */
export async function runSuite(inst: ToolInstance, ds: DataSet, stage: Stage, dir: string, rep: number, log: (s: string) => void): Promise<ToolRun> {
  const r: ToolRun = { tool: inst.tool, rep, steps: {}, unavailable: [] };
  let size = 0;
  let mounted = '';
  const mount = (v: string): void => {
    stage.mount(v);
    mounted = v;
  };
  const clean = async (): Promise<void> => {
    const removed = await removeNewSidecars(stage.src, ds.sidecars.get(mounted) ?? new Set());
    if (removed.length > 0) {
      r.strays = [...new Set([...(r.strays ?? []), ...removed])];
      log(`  ${inst.tool} left ${removed.length} SQLite sidecar file(s) in the source: ${removed.join(', ')} (removed)`);
    }
  };
  const step = async (name: StepName, specs: RunSpec[] | undefined): Promise<StepSample | undefined> => {
    if (specs === undefined) {
      r.unavailable.push(name);
      log(`  ${inst.tool} ${name}: not available`);
      return undefined;
    }
    const s = await measureAll(specs, inst.repo, size, log);
    size = s.repoBytes;
    log(`  ${inst.tool} ${name}: ${s.wallS.toFixed(2)} s wall, ${s.cpuS.toFixed(2)} s CPU, ${(s.rssBytes / 1e6).toFixed(0)} MB RSS, repo ${(s.repoBytes / 1e6).toFixed(1)} MB (${s.addedBytes >= 0 ? '+' : ''}${(s.addedBytes / 1e6).toFixed(2)} MB)`);
    r.steps[name] = s;
    return s;
  };
  try {
    for (const spec of inst.init()) await run(spec);
    size = await duBytes(inst.repo);
    mount(ds.versions[0]!);
    await step('first', [inst.snapshot(stage.src, 's1-v1')]);
    await clean();
    await step('nochange', [inst.snapshot(stage.src, 's2-v1')]);
    await clean();
    const nexts: StepSample[] = [];
    for (let i = 1; i < ds.versions.length; i++) {
      mount(ds.versions[i]!);
      const s = await measureAll([inst.snapshot(stage.src, `s${i + 2}-v${i + 1}`)], inst.repo, size, log);
      await clean();
      size = s.repoBytes;
      nexts.push(s);
    }
    const next = sumSamples(nexts);
    r.steps.next = next;
    if (nexts.length > 1) r.nextPerVersion = nexts;
    log(`  ${inst.tool} next: ${next.wallS.toFixed(2)} s wall, ${next.cpuS.toFixed(2)} s CPU, ${(next.rssBytes / 1e6).toFixed(0)} MB RSS, repo ${(next.repoBytes / 1e6).toFixed(1)} MB (+${(next.addedBytes / 1e6).toFixed(2)} MB)`);
    stage.unmount();
    const target = join(dir, 'restore');
    mkdirSync(target, { recursive: true });
    await step('restore', [inst.restore(target)]);
    await checkRestore(target, ds.manifest, inst.sqliteViaBackup ? { sqliteSource: ds.versions[ds.versions.length - 1]! } : {});
    await step('verify', inst.verify());
    await step('forgetGc', inst.forgetGc(ds.keepLast));
  } catch (err) {
    r.error = (err as Error).message;
    log(`  ${inst.tool} FAILED: ${r.error}`);
  } finally {
    stage.unmount();
  }
  return r;
}
