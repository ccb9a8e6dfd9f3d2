/**
 * Restore verification against a data set's b3sum manifest: every listed file must have
 * its hash, and the restore must hold exactly as many regular files as the manifest lists.
 * A mismatch is a failed benchmark, not a result.
 *
 * SQLite databases captured through the online backup API (clawback's agent profiles) come
 * back with a few bytes of the 100-byte database header changed (change counter, page count,
 * version-valid-for, SQLite version); with `sqliteSource` set, a database that fails the hash
 * check passes when it has the source's length and every byte after the header is equal.
 */
import { closeSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { run, runStatus } from './measure.js';

const SQLITE_MAGIC = Buffer.from('SQLite format 3\0', 'latin1');
/** Size of the SQLite database header, bytes. */
const SQLITE_HEADER = 100;

function sameAfterHeader(a: string, b: string): boolean {
  const size = statSync(a).size;
  if (statSync(b).size !== size) return false;
  const fa = openSync(a, 'r');
  const fb = openSync(b, 'r');
  try {
    const ba = Buffer.alloc(1 << 20);
    const bb = Buffer.alloc(1 << 20);
    const head = Buffer.alloc(16);
    readSync(fa, head, 0, 16, 0);
    if (!head.equals(SQLITE_MAGIC)) return false;
    for (let pos = SQLITE_HEADER; pos < size; ) {
      const n = readSync(fa, ba, 0, ba.length, pos);
      const m = readSync(fb, bb, 0, n, pos);
      if (n === 0 || m !== n || !ba.subarray(0, n).equals(bb.subarray(0, n))) return false;
      pos += n;
    }
    return true;
  } finally {
    closeSync(fa);
    closeSync(fb);
  }
}

/** Options of {@link checkRestore}. */
export interface CheckOptions {
  /** The original version directory, to compare SQLite databases past their header. */
  sqliteSource?: string;
}

/**
 * Checks the restored tree at `dir` against `manifest`.
 * @throws Error naming the mismatching files.
 */
export async function checkRestore(dir: string, manifest: string, o: CheckOptions = {}): Promise<void> {
  const expected = readFileSync(manifest, 'utf8').split('\n').filter((l) => l.trim() !== '').length;
  const r = await runStatus({ cmd: 'b3sum', args: ['--check', '--quiet', manifest], cwd: dir });
  if (r.code !== 0) {
    const failed = [...r.stdout.matchAll(/^(.+): FAILED$/gm)].map((m) => m[1]!);
    const lenient = o.sqliteSource !== undefined && failed.length > 0 && r.stderr.trim() === '' &&
      failed.every((f) => sameAfterHeader(join(o.sqliteSource!, f), join(dir, f)));
    if (!lenient) {
      throw new Error(`restore in ${dir} does not match ${manifest} (b3sum exit ${r.code}):\n${(r.stdout + r.stderr).trim().split('\n').slice(0, 10).join('\n')}`);
    }
  }
  const { stdout } = await run({ cmd: 'find', args: ['.', '-type', 'f', '-printf', '.'], cwd: dir });
  if (stdout.length !== expected) {
    throw new Error(`restore in ${dir} has ${stdout.length} files, the manifest ${manifest} lists ${expected}`);
  }
}

/** Reads every file under `dirs` once so the page cache is warm. */
export async function warmCache(dirs: string[]): Promise<void> {
  for (const d of dirs) {
    await run({ cmd: 'sh', args: ['-c', 'find . -type f -print0 | xargs -0 -r cat > /dev/null'], cwd: d });
  }
}
