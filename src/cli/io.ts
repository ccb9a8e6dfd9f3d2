/**
 * What the CLI needs from the process, injected so tests run commands in-process.
 */

/** The CLI's view of the process. */
export interface CliIo {
  /** Writes to standard output (results; JSON only with --json). */
  stdout(text: string): void;
  /** Writes to standard error (messages, warnings, progress). */
  stderr(text: string): void;
  /**
   * Writes binary data to standard output (`dump`); the promise, if any, resolves when the
   * output can take more (backpressure). Absent where binary output is impossible.
   */
  stdoutBytes?(bytes: Uint8Array): void | Promise<void>;
  /** Environment variables. */
  env: Record<string, string | undefined>;
  /** Working directory for relative paths. */
  cwd: string;
  /** True when standard error is a terminal (progress bars). */
  stderrIsTTY: boolean;
  /** Reads a password from the terminal without echo; undefined when there is no terminal. */
  readPassword?: ((prompt: string) => Promise<string>) | undefined;
  /** Aborted on SIGINT/SIGTERM. */
  signal: AbortSignal;
}
