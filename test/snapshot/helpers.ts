import { expect } from 'vitest';
import { ClawbackError } from '../../src/errors.js';
import type { ErrorCode } from '../../src/errors.js';
import type { SnapshotManifest } from '../../src/snapshot/manifest.js';
import type { SnapshotEntry } from '../../src/snapshot/selector.js';

export const TREE_ID = 'f'.repeat(64);

/** A valid manifest with `overrides` applied. */
export function manifest(overrides: Partial<SnapshotManifest> = {}): SnapshotManifest {
  return {
    version: 1,
    time: '2026-01-01T00:00:00.000Z',
    host: 'host',
    username: 'user',
    paths: ['/home/user/work'],
    tree: TREE_ID,
    tags: [],
    kind: 'auto',
    source: 'paths:/home/user/work',
    programVersion: '0.1.0',
    summary: { files: 1, dirs: 1, symlinks: 0, bytes: 10, bytesAdded: 10, storedBytesAdded: 20, blobsAdded: 2, durationMs: 5 },
    ...overrides,
  };
}

/** A 64-hex id from a number: `n` in hex, left-padded with zeros. */
export function idOf(n: number, prefix = ''): string {
  return (prefix + n.toString(16).padStart(64 - prefix.length, '0')).slice(0, 64);
}

/** An entry with id `idOf(n)` at `time` ('YYYY-MM-DD HH:MM:SS[.f]' or ISO). */
export function entry(n: number, time: string, overrides: Partial<SnapshotManifest> = {}): SnapshotEntry {
  return { id: idOf(n), manifest: manifest({ time: isoTime(time), ...overrides }) };
}

/** '2014-09-01 10:20:30' or '2014-09-01 10:20:30.1' → '2014-09-01T10:20:30.000Z' (UTC). */
export function isoTime(t: string): string {
  if (t.endsWith('Z')) return new Date(t).toISOString();
  return new Date(`${t.replace(' ', 'T')}Z`).toISOString();
}

export function expectError(fn: () => unknown, code: ErrorCode, message?: RegExp): ClawbackError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(ClawbackError);
  const e = caught as ClawbackError;
  expect(e.code).toBe(code);
  if (message !== undefined) expect(e.message).toMatch(message);
  return e;
}
