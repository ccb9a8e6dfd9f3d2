import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A temp directory that the returned cleanup removes. */
export async function makeTmp(prefix = 'clawback-test-'): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** Fast, test-only repository parameters: cheap scrypt, small chunks and packs. */
export const FAST_INIT = {
  scrypt: { N: 1024, r: 8, p: 1 },
  chunker: { algorithm: 'fastcdc-2020' as const, minSize: 1024, avgSize: 4096, maxSize: 16384 },
  sqliteChunker: { algorithm: 'fixed' as const, size: 4096 },
  packSize: 256 * 1024,
};
