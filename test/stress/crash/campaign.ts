/**
 * The crash campaign engine: runs one `clawback` command as a child process over and over
 * on fresh copies of a repository, SIGKILLs it at a random moment, and hands the remains
 * to the case's check (which also runs the same command again, in-process, and expects it
 * to succeed).
 *
 * Two kinds of kill alternate:
 * - `op`: the child kills itself exactly at its k-th filesystem mutation below the watched
 *   directories, before or after the call (test/stress/fixtures/crash-preload.ts), with k
 *   uniform over the mutations an uninterrupted run makes (measured first);
 * - `timer`: the parent sends SIGKILL at a random moment: a delay uniform in 0..1.2 × the
 *   longest active time seen in an uninterrupted run, counted from the child's first
 *   watched mutation (its start-up, identical for every command, is skipped).
 *
 * Trials per command: the case's default, or `CLAWBACK_CRASH_TRIALS`.
 *
 * @module
 */
import { expect } from 'vitest';
import { childStartupMs, runChild, type ChildResult } from '../harness.js';

/** One trial's state, made by {@link CrashCase.prepare}. */
export interface Prepared<S> {
  args: string[];
  env: Record<string, string>;
  /** Directories whose mutations count for `op` kills. */
  watch: string[];
  state: S;
}

/** How a trial was killed. */
export interface TrialInfo {
  index: number;
  how: 'op' | 'timer' | 'none';
  /** `op 12/40 before`, `timer 830 ms`. */
  at: string;
  /** The child exited 0 before the kill landed. */
  finished: boolean;
}

/** A command under test. */
export interface CrashCase<S> {
  /** E.g. `snapshot create`. */
  subject: string;
  /** Default number of trials. */
  trials: number;
  /** Only timed kills (most of the command's writes are not local files, e.g. copy to S3). */
  timedOnly?: boolean;
  /** Trials run at once (default 2). */
  concurrency?: number;
  /** Fresh state for trial `index` (-1: the calibration run). */
  prepare(index: number): Promise<Prepared<S>>;
  /**
   * Checks the remains of a trial and runs the command again; returns a short outcome
   * label for the report (e.g. `complete`, `untouched`, `recovered`).
   */
  check(p: Prepared<S>, run: ChildResult, t: TrialInfo): Promise<string>;
  /** Removes a trial's files (after its check). */
  dispose?(p: Prepared<S>): Promise<void>;
}

/** What {@link runCampaign} measured. */
export interface CampaignReport {
  trials: TrialInfo[];
  outcomes: Record<string, number>;
  /** Mutations of an uninterrupted run. */
  ops: number;
  /** Wall time of an uninterrupted run and of a bare start-up, ms. */
  runMs: number;
  startupMs: number;
  /** One-line summary for the reliability table. */
  notes: string;
}

/** Trials for a case: `CLAWBACK_CRASH_TRIALS` when set, else `fallback`. */
export function trialsFor(fallback: number): number {
  const v = Number(process.env['CLAWBACK_CRASH_TRIALS'] ?? '');
  return Number.isInteger(v) && v > 0 ? v : fallback;
}

function failure(c: CrashCase<unknown>, p: Prepared<unknown>, r: ChildResult): string {
  return `clawback ${c.subject} failed on its own (exit ${r.code}, signal ${r.signal}): ${r.stderr.trim()}\nargs: ${p.args.join(' ')}`;
}

/** Runs the campaign of `c` (see the module comment). */
export async function runCampaign<S>(c: CrashCase<S>): Promise<CampaignReport> {
  const trials = trialsFor(c.trials);
  // Calibration: one uninterrupted run, counted; its check must pass too.
  const cal = await c.prepare(-1);
  const startupMs = await childStartupMs(cal.env);
  const calRun = await runChild(cal.args, cal.env, { watch: cal.watch, countOps: true });
  expect(calRun.code, failure(c as CrashCase<unknown>, cal as Prepared<unknown>, calRun)).toBe(0);
  const ops = calRun.ops ?? 0;
  await c.check(cal, calRun, { index: -1, how: 'none', at: 'uninterrupted', finished: true });
  await c.dispose?.(cal);
  expect(ops, `${c.subject}: mutations counted`).toBeGreaterThan(0);
  // Timed kills: uniform over 1.1 × the active part of an uninterrupted run, counted from
  // the child's first watched mutation (start-up is the same for every command).
  // The window grows to the longest active time a finished trial shows (children run
  // slower while other trials and test files share the CPU).
  let activeMs = calRun.ms - (calRun.firstOpMs ?? startupMs);
  const windowMs = () => Math.max(20, activeMs * 1.2);

  const done: TrialInfo[] = [];
  const outcomes: Record<string, number> = {};
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < trials) {
      const index = next++;
      const p = await c.prepare(index);
      const byOp = !c.timedOnly && index % 2 === 0;
      let run: ChildResult;
      let at: string;
      if (byOp) {
        const k = 1 + Math.floor(Math.random() * ops);
        const after = Math.random() < 0.5;
        at = `op ${k}/${ops} ${after ? 'after' : 'before'}`;
        run = await runChild(p.args, p.env, { watch: p.watch, crash: { at: k, after } });
      } else {
        const delay = Math.round(Math.random() * windowMs());
        at = `timer ${delay} ms`;
        run = await runChild(p.args, p.env, { watch: p.watch, killAfterMs: delay, fromFirstOp: true });
      }
      const finished = run.code === 0;
      if (finished && run.firstOpMs !== undefined) activeMs = Math.max(activeMs, run.ms - run.firstOpMs);
      if (!finished && run.signal !== 'SIGKILL') throw new Error(failure(c as CrashCase<unknown>, p as Prepared<unknown>, run));
      const t: TrialInfo = { index, how: byOp ? 'op' : 'timer', at, finished };
      let outcome: string;
      const tc = performance.now();
      try {
        outcome = await c.check(p, run, t);
        if (process.env['CLAWBACK_CRASH_DEBUG']) console.log(`${c.subject} #${index} ${at}: child ${Math.round(run.ms)} ms, check ${Math.round(performance.now() - tc)} ms -> ${outcome}`);
      } catch (err) {
        (err as Error).message = `${c.subject}, trial ${index} (${at}${finished ? ', child had finished' : ''}): ${(err as Error).message}`;
        throw err;
      }
      outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
      done.push(t);
      await c.dispose?.(p);
    }
  };
  await Promise.all(Array.from({ length: c.concurrency ?? 2 }, worker));
  const byOp = done.filter((t) => t.how === 'op').length;
  const fin = done.filter((t) => t.finished).length;
  const hist = Object.entries(outcomes)
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  const notes =
    `${byOp} killed at an exact write (of ${ops} per run), ${done.length - byOp} by a timer (0–${Math.round(windowMs())} ms after the first write; uninterrupted run ${Math.round(calRun.ms)} ms, start-up ${Math.round(startupMs)} ms), ${fin} finished before the kill; ` +
    `after the kill: ${hist}`;
  return { trials: done, outcomes, ops, runMs: calRun.ms, startupMs, notes };
}
