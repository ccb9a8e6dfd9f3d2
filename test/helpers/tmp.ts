import { afterEach, beforeEach } from 'vitest';
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

/** A per-test temp directory: `dir` is fresh in each test (see {@link useTmp}). */
export interface TestTmp {
  /** The current test's directory; throws outside a test. */
  readonly dir: string;
}

/**
 * Registers `beforeEach`/`afterEach` hooks (in the calling file or `describe` block) that give
 * every test a fresh temp directory and remove it afterwards. Anything pushed onto `close` is
 * closed (and the list emptied) before the directory is removed, so open repositories release
 * their LMDB files first.
 */
export function useTmp(prefix = 'clawback-test-', opts: { close?: { close(): Promise<void> }[] } = {}): TestTmp {
  let current: { dir: string; cleanup: () => Promise<void> } | undefined;
  beforeEach(async () => {
    current = await makeTmp(prefix);
  });
  afterEach(async () => {
    for (const r of opts.close?.splice(0) ?? []) await r.close();
    await current?.cleanup();
    current = undefined;
  });
  return {
    get dir(): string {
      if (!current) throw new Error('useTmp: the temp directory exists only inside a test');
      return current.dir;
    },
  };
}
