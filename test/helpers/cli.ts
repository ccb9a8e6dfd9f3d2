import { runCli } from '../../src/cli/run.js';
import type { CliIo } from '../../src/cli/io.js';

/** Output of one in-process CLI run. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI in-process with `env` (HOME etc.) and `cwd`. */
export async function cli(argv: string[], env: Record<string, string | undefined>, cwd = process.cwd()): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const io: CliIo = {
    stdout: (s) => void (stdout += s),
    stderr: (s) => void (stderr += s),
    env,
    cwd,
    stderrIsTTY: false,
    signal: new AbortController().signal,
  };
  const code = await runCli(argv, io);
  return { code, stdout, stderr };
}
