/**
 * Speculative key derivation at start-up. Opening an encrypted repository costs one scrypt
 * derivation (about 0.1 s at the 64 MiB calibration cap on the machine of
 * docs/PERFORMANCE.md), and loading the CLI's modules about as long; done one after the
 * other, every command waits for both. Before the rest of the CLI is loaded, this guesses
 * the repository and password the command will use, in the common case only (a local
 * repository from `--repo`/`-r`, CLAWBACK_REPO or the default ~/.clawback/repo, and the
 * password in CLAWBACK_PASSWORD with no password option given, for a command that opens the
 * repository: not `init`, `daemon`, `help`, `--help` or `--version`), reads its first key file
 * and starts the derivation on the thread pool ({@link prederiveKey}). The repository then
 * takes the result when it opens that key file with that password; any other outcome (a
 * wrong guess, another key file opening) only costs the derivation. Never throws.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseKeyFile } from '../repository/keys.js';
import { prederiveKey } from '../repository/kdf.js';

/** Global options that take a value (src/cli/program.ts), to find the command word after them. */
const VALUE_OPTIONS = new Set(['-r', '--repo', '--cache-dir', '--password-file', '--password-command', '--retry-lock', '--config']);

/**
 * Commands that do not open the repository (a derivation started for them would only delay
 * their exit: a pending scrypt keeps the process alive).
 */
const NO_REPOSITORY = new Set(['init', 'daemon', 'help']);

/** The command word: the first argument that is neither an option nor an option's value. */
function commandWord(argv: string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('-')) return a;
    if (VALUE_OPTIONS.has(a)) i++;
  }
  return undefined;
}

/** The value of option `long` (or `short`) in `argv` (`--repo X`, `--repo=X`, `-r X`). */
function optionValue(argv: string[], long: string, short: string): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') return undefined;
    if ((a === long || a === short) && i + 1 < argv.length) return argv[i + 1];
    if (a.startsWith(long + '=')) return a.slice(long.length + 1);
  }
  return undefined;
}

/**
 * See the module comment.
 * @param argv the command-line arguments after the executable and script.
 * @param env the environment; `home` the user's home directory; `cwd` the working directory.
 */
export function deriveKeyEarly(argv: string[], env: Record<string, string | undefined>, home: string, cwd: string): void {
  try {
    const password = env['CLAWBACK_PASSWORD'];
    if (password === undefined || argv.some((a) => a.startsWith('--password-') || ['-h', '--help', '-V', '--version'].includes(a))) return;
    const command = commandWord(argv);
    if (command === undefined || NO_REPOSITORY.has(command)) return;
    let location = optionValue(argv, '--repo', '-r') ?? env['CLAWBACK_REPO'] ?? join(home, '.clawback', 'repo');
    if (location.startsWith('s3:')) return;
    if (location.startsWith('local:')) location = location.slice('local:'.length);
    const dir = join(resolve(cwd, location), 'keys');
    const first = readdirSync(dir).filter((n) => !n.startsWith('.')).sort()[0];
    if (first === undefined) return;
    const file = parseKeyFile(readFileSync(join(dir, first)), 'key file');
    if (file.kdf !== 'scrypt') return;
    prederiveKey(password, Buffer.from(file.salt ?? '', 'base64'), { N: file.N ?? 0, r: file.r ?? 0, p: file.p ?? 0 });
  } catch {
    /* a guess only: the command opens the repository as usual */
  }
}
