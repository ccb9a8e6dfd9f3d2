/**
 * Sample data for the micro-benchmarks: the agent data set's v1 (or any directory) read
 * into one buffer, files in path order, and helpers to cut it into fixed-size pieces.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** Every regular file under `dir`, sorted by path. */
export function listFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) out.push(p);
    }
  };
  walk(dir);
  return out;
}

/** The files under `dir` concatenated, at most `maxBytes` (whole files; the last may be cut). */
export function readSample(dir: string, maxBytes = Infinity): Buffer {
  const files = listFiles(dir);
  const total = Math.min(maxBytes, files.reduce((a, f) => a + statSync(f).size, 0));
  const out = Buffer.allocUnsafe(total);
  let pos = 0;
  for (const f of files) {
    if (pos >= total) break;
    const b = readFileSync(f);
    pos += b.copy(out, pos, 0, Math.min(b.length, total - pos));
  }
  return out.subarray(0, pos);
}

/** `data` cut into consecutive pieces of `size` bytes (views, not copies). */
export function pieces(data: Uint8Array, size: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let off = 0; off < data.length; off += size) out.push(data.subarray(off, Math.min(off + size, data.length)));
  return out;
}
