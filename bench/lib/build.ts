/**
 * How the harness runs clawback's CLI.
 *
 * - `dist` (default, env `BENCH_CLAWBACK=dist`): compiles src/ with tsc into a private
 *   directory under the OS temp dir (never the repository's dist/, which other sessions'
 *   `bin/clawback.js` would pick up) next to a copy of bin/clawback.js, package.json and a
 *   node_modules symlink, then runs `node <that>/bin/clawback.js` — what an installed
 *   package runs.
 * - `tsx` (`BENCH_CLAWBACK=tsx`): `node bin/clawback.js` of the checkout, which transpiles the
 *   sources through tsx at every start (adds a fixed start-up cost, ~0.5–1 s here).
 */
import { copyFileSync, mkdirSync, mkdtempSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { run } from './measure.js';

/** The checkout's root directory. */
export const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));

/** Where the CLI entry point is and how it was produced. */
export interface ClawbackBuild {
  mode: 'dist' | 'tsx';
  /** Absolute path of the `bin/clawback.js` to run with node. */
  bin: string;
  /** Root of the build (holds dist/ in `dist` mode; the checkout in `tsx` mode). */
  root: string;
}

/** Compiles (or locates) the CLI according to `BENCH_CLAWBACK`. */
export async function buildClawback(mode = process.env['BENCH_CLAWBACK'] ?? 'dist'): Promise<ClawbackBuild> {
  if (mode === 'tsx') return { mode, bin: join(ROOT, 'bin', 'clawback.js'), root: ROOT };
  if (mode !== 'dist') throw new Error(`BENCH_CLAWBACK must be dist or tsx (got ${mode})`);
  const out = mkdtempSync(join(tmpdir(), 'clawback-bench-build-'));
  // tsc emits even when some file has a type error (noEmitOnError is off); errors are
  // printed so a broken tree is visible, not fatal.
  try {
    await run({ cmd: join(ROOT, 'node_modules', '.bin', 'tsc'), args: ['-p', join(ROOT, 'tsconfig.build.json'), '--outDir', join(out, 'dist'), '--declaration', 'false', '--declarationMap', 'false'], cwd: ROOT });
  } catch (err) {
    process.stderr.write(`warning: tsc reported errors (the build is still used):\n${(err as Error).message.split('\n').slice(0, 20).join('\n')}\n`);
  }
  mkdirSync(join(out, 'bin'));
  copyFileSync(join(ROOT, 'bin', 'clawback.js'), join(out, 'bin', 'clawback.js'));
  copyFileSync(join(ROOT, 'package.json'), join(out, 'package.json'));
  symlinkSync(join(ROOT, 'node_modules'), join(out, 'node_modules'));
  return { mode: 'dist', bin: join(out, 'bin', 'clawback.js'), root: out };
}
