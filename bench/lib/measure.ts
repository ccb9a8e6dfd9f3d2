/**
 * Runs one command under GNU time (`/usr/bin/time -f '%e %U %S %M'`) and returns what it
 * cost: wall seconds (measured here with a monotonic clock), CPU seconds (user + system of
 * the process and its waited-for children) and peak resident set size (bytes).
 *
 * A non-zero exit status is a failure of the benchmark, never a result: it throws with the
 * command line and the tail of stderr.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The cost of one command. */
export interface Measurement {
  /** Wall-clock seconds (monotonic clock around the whole command). */
  wallS: number;
  /** User + system CPU seconds. */
  cpuS: number;
  /** Peak RSS in bytes (GNU time's %M, KiB × 1024). */
  rssBytes: number;
}

/** How to run a command. */
export interface RunSpec {
  cmd: string;
  args: string[];
  cwd?: string;
  env?: Record<string, string>;
  /** Feed this to stdin (otherwise stdin is /dev/null). */
  input?: string;
}

/** A finished command: its measurement and captured output. */
export interface RunResult extends Measurement {
  stdout: string;
  stderr: string;
}

/** Human form of a command line for error messages. */
export function commandLine(s: RunSpec): string {
  return [s.cmd, ...s.args].map((a) => (/[^\w./=:,@+-]/.test(a) ? JSON.stringify(a) : a)).join(' ');
}

/** Runs `spec` and returns its exit code (or signal name) and output; never throws for an exit status. */
export function runStatus(spec: RunSpec): Promise<{ code: number | string; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(spec.cmd, spec.args, {
      cwd: spec.cwd,
      env: { ...process.env, ...spec.env },
      stdio: [spec.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout?.on('data', (b: Buffer) => out.push(b));
    child.stderr?.on('data', (b: Buffer) => err.push(b));
    if (spec.input !== undefined) child.stdin?.end(spec.input);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      resolve({ code: code ?? signal ?? 'unknown', stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
    });
  });
}

/** Runs `spec` without timing it; throws on a non-zero exit. */
export async function run(spec: RunSpec): Promise<{ stdout: string; stderr: string }> {
  const r = await runStatus(spec);
  if (r.code === 0) return r;
  const tail = r.stderr.trim().split('\n').slice(-15).join('\n');
  throw new Error(`command failed (exit ${r.code}): ${commandLine(spec)}\n  cwd: ${spec.cwd ?? process.cwd()}\n${tail}`);
}

/**
 * Runs `spec` under `/usr/bin/time` and measures it.
 * @throws Error naming the command when it exits non-zero.
 */
export async function measure(spec: RunSpec): Promise<RunResult> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-time-'));
  const timeFile = join(dir, 'time');
  try {
    const t0 = process.hrtime.bigint();
    const r = await run({ ...spec, cmd: '/usr/bin/time', args: ['-f', '%e %U %S %M', '-o', timeFile, spec.cmd, ...spec.args] });
    const wallS = Number(process.hrtime.bigint() - t0) / 1e9;
    const line = readFileSync(timeFile, 'utf8').trim().split('\n').pop() ?? '';
    const [, user, sys, maxKiB] = line.split(/\s+/).map(Number);
    if (user === undefined || sys === undefined || maxKiB === undefined || [user, sys, maxKiB].some(Number.isNaN)) {
      throw new Error(`cannot parse /usr/bin/time output "${line}" for ${commandLine(spec)}`);
    }
    return { ...r, wallS, cpuS: user + sys, rssBytes: maxKiB * 1024 };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Bytes under `path` (`du -sb`), 0 when it does not exist. */
export async function duBytes(path: string): Promise<number> {
  try {
    const { stdout } = await run({ cmd: 'du', args: ['-sb', path] });
    return Number(stdout.split(/\s+/)[0]);
  } catch {
    return 0;
  }
}
