/**
 * vitest globalSetup for the stress tests: gives test files a fresh directory for their
 * reliability records (`inject('reliabilityDir')`, see results.ts) and, at teardown,
 * writes docs/RELIABILITY.md from them when any stress test ran.
 *
 * The document is replaced atomically (temp file + rename) and a failure to write it is
 * reported as a warning, never as a failed run (CI runs in a fresh clone, where the file
 * may or may not be committed; writing it changes nothing else).
 *
 * @module
 */
import { mkdtemp, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { cpus, platform, release, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';
import { embeddedRecords, mergeRecords, readRecords, renderReliability } from './results.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
/** Where the document goes (env CLAWBACK_RELIABILITY_DOC overrides, for tests of this file). */
const DOC = process.env['CLAWBACK_RELIABILITY_DOC'] ?? join(ROOT, 'docs', 'RELIABILITY.md');

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const dir = await mkdtemp(join(tmpdir(), 'clawback-reliability-'));
  project.provide('reliabilityDir', dir);
  return async () => {
    try {
      const now = await readRecords(dir);
      if (now.length === 0) return;
      let previous: string;
      try {
        previous = await readFile(DOC, 'utf8');
      } catch {
        previous = '';
      }
      const records = mergeRecords(embeddedRecords(previous), now);
      const envNotes = ['CLAWBACK_CRASH_TRIALS', 'CLAWBACK_STRESS_RUNS', 'CLAWBACK_CONCURRENCY_ROUNDS', 'CI']
        .filter((k) => process.env[k] !== undefined && process.env[k] !== '')
        .map((k) => `${k}=${process.env[k]}`)
        .join(', ');
      const text = renderReliability(records, { at: new Date().toISOString(), node: process.versions.node, platform: `${platform()} ${release()}`, cpus: cpus().length, env: envNotes });
      await mkdir(dirname(DOC), { recursive: true });
      const tmp = `${DOC}.${process.pid}.tmp`;
      await writeFile(tmp, text);
      await rename(tmp, DOC);
    } catch (err) {
      console.warn(`[clawback] could not write ${DOC}: ${(err as Error).message}`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  };
}
