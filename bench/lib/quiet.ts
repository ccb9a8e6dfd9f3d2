/**
 * Other work on the machine (other sessions' test runs) distorts wall times. Before each
 * measured step the harness samples /proc/stat and waits, up to a limit, until the CPUs are
 * mostly idle. The busy fraction seen when the step starts is kept with the sample.
 *
 * Env: BENCH_QUIET (busy fraction of all CPUs to wait below, default 0.15; 1 disables),
 * BENCH_QUIET_MAX_S (longest wait per step, default 600 s).
 */
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

function cpuTimes(): { idle: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  const idle = (f[3] ?? 0) + (f[4] ?? 0);
  return { idle, total: f.reduce((a, b) => a + b, 0) };
}

/** Fraction (0..1) of all CPUs busy during the next `ms` milliseconds. */
export async function busyFraction(ms = 1000): Promise<number> {
  const a = cpuTimes();
  await sleep(ms);
  const b = cpuTimes();
  const total = b.total - a.total;
  return total <= 0 ? 0 : 1 - (b.idle - a.idle) / total;
}

/**
 * Waits until two consecutive one-second samples are below the threshold, or the limit.
 * @returns the busy fraction of the last sample.
 */
export async function waitQuiet(log?: (s: string) => void): Promise<number> {
  const threshold = Number(process.env['BENCH_QUIET'] ?? 0.15);
  const maxS = Number(process.env['BENCH_QUIET_MAX_S'] ?? 600);
  if (threshold >= 1) return 0;
  const t0 = Date.now();
  let quietRuns = 0;
  let last = 0;
  let told = false;
  for (;;) {
    last = await busyFraction();
    quietRuns = last < threshold ? quietRuns + 1 : 0;
    if (quietRuns >= 2) return last;
    if ((Date.now() - t0) / 1000 > maxS) {
      log?.(`  machine still ${(last * 100).toFixed(0)}% busy after ${maxS} s: measuring anyway`);
      return last;
    }
    if (!told && Date.now() - t0 > 5000) {
      log?.(`  waiting for the machine to go quiet (${(last * 100).toFixed(0)}% busy)`);
      told = true;
    }
  }
}
