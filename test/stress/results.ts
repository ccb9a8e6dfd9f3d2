/**
 * Reliability records: every stress test (test/stress/) reports what it tried, how many
 * times and what held; test/stress/global-setup.ts turns the records of a run into
 * docs/RELIABILITY.md at the end of the run. The document is never typed by hand.
 *
 * Records are JSON files in a per-run directory (provided by the global setup as
 * `inject('reliabilityDir')`; without it, a directory under the OS temp dir), one file per
 * record, so parallel test files never write the same file.
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inject } from 'vitest';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Directory collecting this run's reliability records (test/stress/results.ts). */
    reliabilityDir: string;
  }
}

/** The promise areas of SPEC §4 / issue 8, in document order. */
export const SECTIONS = ['Crash (SIGKILL)', 'Fault injection', 'Bit rot', 'Concurrency', 'Model-based', 'Hostile input', 'Secrets'] as const;
/** One of {@link SECTIONS}. */
export type Section = (typeof SECTIONS)[number];

/** What one stress test tried and what held. */
export interface ReliabilityRecord {
  section: Section;
  /** The operation or object under test, e.g. `snapshot create`. */
  subject: string;
  /** What was done to it. */
  tried: string;
  /** How many times (trials, runs, inputs). */
  runs: number;
  /** The properties checked after every run. */
  held: string;
  /** True when every run held. */
  ok: boolean;
  /** Measurements and distributions (free text, one line). */
  notes?: string;
  /** The test file, relative to the project root. */
  file: string;
  /** Wall time of the test, ms. */
  ms: number;
  /** When the run happened (ISO time). */
  at: string;
}

/** The directory of this run's records. */
export function resultsDir(): string {
  try {
    const d = inject('reliabilityDir');
    if (typeof d === 'string' && d !== '') return d;
  } catch {
    /* no global setup */
  }
  return join(tmpdir(), 'clawback-reliability-orphan');
}

/** Stores one record (atomically: temp file + rename). */
export async function record(r: ReliabilityRecord): Promise<void> {
  const dir = resultsDir();
  await mkdir(dir, { recursive: true });
  const name = `${Date.now()}-${process.pid}-${randomBytes(4).toString('hex')}.json`;
  await writeFile(join(dir, `.${name}.tmp`), JSON.stringify(r));
  await rename(join(dir, `.${name}.tmp`), join(dir, name));
}

/** What a tracked test returns. */
export interface Outcome {
  runs: number;
  notes?: string;
}

/**
 * Runs `fn` and records its outcome: `ok` with the runs and notes it returns, or not ok
 * with the error's first line (the error is rethrown, so the test still fails).
 */
export async function tracked(meta: Omit<ReliabilityRecord, 'ok' | 'runs' | 'notes' | 'ms' | 'at'> & { runs?: number }, fn: () => Promise<Outcome>): Promise<Outcome> {
  const t0 = performance.now();
  const at = new Date().toISOString();
  try {
    const out = await fn();
    await record({ ...meta, runs: out.runs, ok: true, ...(out.notes !== undefined ? { notes: out.notes } : {}), ms: Math.round(performance.now() - t0), at });
    return out;
  } catch (err) {
    const first = String((err as Error)?.message ?? err).split('\n')[0]!.slice(0, 300);
    await record({ ...meta, runs: meta.runs ?? 0, ok: false, notes: `FAILED: ${first}`, ms: Math.round(performance.now() - t0), at });
    throw err;
  }
}

/** Reads every record in `dir` (none when it does not exist). */
export async function readRecords(dir: string): Promise<ReliabilityRecord[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  const out: ReliabilityRecord[] = [];
  for (const n of names.sort()) {
    if (!n.endsWith('.json') || n.startsWith('.')) continue;
    try {
      out.push(JSON.parse(await readFile(join(dir, n), 'utf8')) as ReliabilityRecord);
    } catch {
      /* a record being written when the run was interrupted */
    }
  }
  return out;
}

const DATA_START = '<!-- reliability-data';
const DATA_END = 'reliability-data -->';

/** The records embedded in an existing docs/RELIABILITY.md (none when absent or unreadable). */
export function embeddedRecords(doc: string): ReliabilityRecord[] {
  const a = doc.indexOf(DATA_START);
  const b = doc.indexOf(DATA_END);
  if (a < 0 || b < a) return [];
  try {
    const v = JSON.parse(doc.slice(a + DATA_START.length, b)) as unknown;
    return Array.isArray(v) ? (v as ReliabilityRecord[]) : [];
  } catch {
    return [];
  }
}

/**
 * Merges this run's records over the previous document's: a (section, subject, tried)
 * that ran now replaces the old row; rows of tests that did not run this time are kept
 * with their own date.
 */
export function mergeRecords(previous: ReliabilityRecord[], now: ReliabilityRecord[]): ReliabilityRecord[] {
  const key = (r: ReliabilityRecord) => `${r.section}\u0000${r.subject}\u0000${r.tried}`;
  const ranNow = new Set(now.map((r) => r.file));
  const out = new Map<string, ReliabilityRecord>();
  // Rows of a file that ran now are all replaced (a renamed test must not linger).
  for (const r of previous) if (!ranNow.has(r.file)) out.set(key(r), r);
  for (const r of now) out.set(key(r), r);
  return [...out.values()];
}

const SECTION_TEXT: Record<Section, string> = {
  'Crash (SIGKILL)':
    'SPEC §4: *crash at any moment (SIGKILL during snapshot, gc, restore, copy): every snapshot that was listed before is still complete and restorable, and `verify` reports at most unreferenced data.* A real `clawback` child process is killed at a random moment (a timer in the parent) or exactly at its k-th filesystem mutation (test/stress/fixtures/crash-preload.ts).',
  'Fault injection':
    'Backend calls fail, hang or return short data (FaultBackend and fs-level faults in a real CLI process): the operation succeeds after retries or fails with a clear message, and leaves the repository sound.',
  'Bit rot':
    'SPEC §4: *any flipped bit or truncated file in the repository is detected by `verify --read-data` and by restore, named, and never silently restored.*',
  Concurrency: 'SPEC §4: *two snapshots and a gc started at once on one repository: locks order them, nothing lost.*',
  'Model-based': 'fast-check `fc.commands` runs random sequences of store operations against a plain in-memory model; every kept snapshot must always restore exactly.',
  'Hostile input':
    'SPEC §4: *bad input gets a clear error and changes nothing.* Parsers get random and mutated bytes; repository objects crafted to escape the restore target are refused.',
  Secrets: 'SPEC §3.1/§3.3: credential files never reach an unencrypted repository; an encrypted repository shows no plaintext name or content.',
};

function cell(s: string): string {
  return s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

/** Renders docs/RELIABILITY.md from `records` (see the module comment). */
export function renderReliability(records: ReliabilityRecord[], run: { at: string; node: string; platform: string; cpus: number; env: string }): string {
  const lines: string[] = [];
  lines.push('# Reliability');
  lines.push('');
  lines.push('<!-- GENERATED by test/stress/global-setup.ts at the end of `npm test`; do not edit by hand. -->');
  lines.push('');
  lines.push(`This page is written by the test run itself (test/stress/): each row is one test, with what it tried, how many times, and what was checked after every run. Last run: ${run.at} on ${run.platform}, Node ${run.node}, ${run.cpus} CPU(s)${run.env ? `, ${run.env}` : ''}. Rows from tests that did not run in the last run keep their own date.`);
  lines.push('');
  const total = records.reduce((n, r) => n + r.runs, 0);
  const bad = records.filter((r) => !r.ok);
  lines.push(`**${records.length} tests, ${total} runs in total; ${bad.length === 0 ? 'every promise held' : `${bad.length} test(s) FAILED: ${bad.map((r) => `${r.section} / ${r.subject}`).join(', ')}`}.**`);
  lines.push('');
  for (const s of SECTIONS) {
    const rows = records.filter((r) => r.section === s);
    if (rows.length === 0) continue;
    lines.push(`## ${s}`);
    lines.push('');
    lines.push(SECTION_TEXT[s]);
    lines.push('');
    lines.push('| Subject | Tried | Runs | What held after every run | Result | Notes |');
    lines.push('|---|---|---:|---|---|---|');
    for (const r of rows) {
      const date = r.at.slice(0, 10);
      lines.push(`| ${cell(r.subject)} | ${cell(r.tried)} | ${r.runs} | ${cell(r.held)} | ${r.ok ? 'held' : '**FAILED**'} | ${cell(r.notes ?? '')} (${(r.ms / 1000).toFixed(1)} s, ${date}, \`${r.file}\`) |`);
    }
    lines.push('');
  }
  lines.push('More trials: `CLAWBACK_CRASH_TRIALS=500 npx vitest run test/stress/crash` (per command), `CLAWBACK_STRESS_RUNS=1000 npx vitest run test/stress` (fuzz and model runs), `CLAWBACK_CONCURRENCY_ROUNDS=100`.');
  lines.push('');
  lines.push(DATA_START);
  lines.push(JSON.stringify(records, null, 0));
  lines.push(DATA_END);
  lines.push('');
  return lines.join('\n');
}
