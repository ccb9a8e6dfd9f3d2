/**
 * `--health-check CMD`: a shell command run after an in-place restore; a non-zero exit,
 * a signal or a timeout rolls the restore back. The caller passes the environment (the
 * library never reads `process`).
 */
import { execFile } from 'node:child_process';
import { ClawbackError } from '../errors.js';

/** Options of {@link commandHealthCheck}. */
export interface HealthCheckOptions {
  /** Environment of the command. */
  env: Record<string, string | undefined>;
  /** Working directory (the agent's root). */
  cwd: string;
  /** Kill the command after this long, ms. Default 300 000. */
  timeoutMs?: number;
  signal?: AbortSignal | undefined;
}

function tail(s: string, n = 400): string {
  const t = s.trim();
  return t.length > n ? `…${t.slice(-n)}` : t;
}

/**
 * A health check that runs `command` with `/bin/sh -c`.
 * @returns a function that resolves when the command exits 0 and otherwise throws
 *   ClawbackError 'INTEGRITY' (exit 1; there is no dedicated code yet) with the
 *   exit status and the end of its output.
 */
export function commandHealthCheck(command: string, opts: HealthCheckOptions): () => Promise<void> {
  return () =>
    new Promise<void>((resolve, reject) => {
      const env = Object.fromEntries(Object.entries(opts.env).filter((e): e is [string, string] => e[1] !== undefined));
      execFile(
        '/bin/sh',
        ['-c', command],
        { env, cwd: opts.cwd, timeout: opts.timeoutMs ?? 300_000, maxBuffer: 4 << 20, ...(opts.signal ? { signal: opts.signal } : {}) },
        (err, stdout, stderr) => {
          if (!err) return resolve();
          const e = err as NodeJS.ErrnoException & { code?: number | string; signal?: string; killed?: boolean };
          const how = e.killed ? 'was killed (timeout)' : e.signal ? `was killed by ${e.signal}` : typeof e.code === 'number' ? `exited with status ${e.code}` : `could not run: ${e.message}`;
          const out = tail(`${stderr}\n${stdout}`);
          reject(new ClawbackError('INTEGRITY', `health check \`${command}\` ${how}${out ? `: ${out}` : ''}`, { cause: err }));
        },
      );
    });
}
