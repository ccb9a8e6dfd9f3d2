/**
 * Runs one CLI invocation against an injected io and returns the exit code. Errors are
 * printed here (text, or a JSON `exit_error` line on stderr with --json).
 */
import { CommanderError } from 'commander';
import { isClawbackError } from '../errors.js';
import type { CliIo } from './io.js';
import { createProgram } from './program.js';
import { EXIT, exitCodeFor } from './exit-codes.js';

/** Parses `argv` (without node and script) and runs the command. */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  const program = createProgram(io);
  const json = argv.includes('--json');
  try {
    await program.parseAsync(argv, { from: 'user' });
    return EXIT.OK;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version exit 0; parse errors were already printed by commander.
      return err.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
    }
    const code = exitCodeFor(err);
    const message = err instanceof Error ? err.message : String(err);
    if (json) io.stderr(JSON.stringify({ message_type: 'exit_error', code, error: isClawbackError(err) ? err.code : 'INTERNAL', message }) + '\n');
    else io.stderr(`clawback: ${message}\n`);
    if (!isClawbackError(err) && err instanceof Error && err.stack && io.env['CLAWBACK_DEBUG']) io.stderr(err.stack + '\n');
    return code;
  }
}
