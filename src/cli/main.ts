#!/usr/bin/env node
/**
 * The `clawback` executable: the only module that touches `process`.
 */
import { homedir } from 'node:os';
import { setFlagsFromString } from 'node:v8';
import type { CliIo } from './io.js';
import { deriveKeyEarly } from './early-key.js';

// V8 lets a heap grow to up to 4× what survived its last full collection before collecting
// again; a snapshot allocates per file and keeps little, so most of that is dead objects.
// Growing by 2× instead (every isolate, workers included) cut peak RSS by 4–10 % on the
// kernel tree and 200,000 small files at no measurable time; 1.5× saved a little more but
// cost about 5 % on the kernel's next-version snapshot (docs/PERFORMANCE.md).
setFlagsFromString('--heap-growing-percent=100');

// Start the repository's key derivation before loading the rest of the CLI (early-key.ts).
deriveKeyEarly(process.argv.slice(2), process.env, homedir(), process.cwd());
const { runCli } = await import('./run.js');

// The AWS SDK warns once per process on Node < 22; clawback supports Node 20 on purpose.
process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';
// URI filenames let the SQLite capture read a quiet database through an immutable
// connection, which creates no -wal/-shm files in the source (src/fs/sqlite-worker.ts).
// better-sqlite3 reads this when it loads; every path clawback opens is absolute.
process.env['SQLITE_USE_URI'] ??= '1';

const controller = new AbortController();
let interrupts = 0;
const onSignal = (sig: NodeJS.Signals) => {
  interrupts++;
  if (interrupts > 1) process.exit(130);
  process.stderr.write(`\nclawback: ${sig} received, stopping (nothing partial is kept)…\n`);
  controller.abort();
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);

async function readPassword(prompt: string): Promise<string> {
  const { createInterface } = await import('node:readline');
  return new Promise((resolve) => {
    const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
    const out = rl as unknown as { _writeToOutput: (s: string) => void; output: NodeJS.WriteStream };
    process.stderr.write(prompt);
    out._writeToOutput = (s: string) => {
      if (s.includes('\n')) process.stderr.write('\n');
    };
    rl.question('', (answer) => {
      rl.close();
      resolve(answer);
    });
  });
}

const io: CliIo = {
  stdout: (s) => void process.stdout.write(s),
  stdoutBytes: (b) => (process.stdout.write(b) ? undefined : new Promise<void>((resolve) => process.stdout.once('drain', () => resolve()))),
  stderr: (s) => void process.stderr.write(s),
  env: process.env,
  cwd: process.cwd(),
  stderrIsTTY: process.stderr.isTTY === true,
  readPassword: process.stdin.isTTY ? readPassword : undefined,
  signal: controller.signal,
};

process.exitCode = await runCli(process.argv.slice(2), io);
