import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { FileType, Handle } from '../../src/backend/backend.js';
import { FILE_TYPES } from '../../src/backend/backend.js';
import { checkName, handleFromPath, pathFor, resolveRange } from '../../src/backend/layout.js';
import { ClawbackError } from '../../src/errors.js';

const hexName = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b).toString('hex'));

describe('layout', () => {
  it('maps handles to paths', () => {
    const n = 'ab'.padEnd(64, '0');
    expect(pathFor({ type: 'config', name: 'whatever' })).toBe('config');
    expect(pathFor({ type: 'keys', name: n })).toBe(`keys/${n}`);
    expect(pathFor({ type: 'data', name: n })).toBe(`data/ab/${n}`);
    expect(pathFor({ type: 'index', name: n })).toBe(`index/${n}`);
    expect(pathFor({ type: 'snapshots', name: n })).toBe(`snapshots/${n}`);
    expect(pathFor({ type: 'locks', name: n })).toBe(`locks/${n}`);
  });

  it('handleFromPath inverts pathFor (property)', () => {
    fc.assert(
      fc.property(fc.constantFrom(...FILE_TYPES), hexName, (type: FileType, name) => {
        const h: Handle = { type, name: type === 'config' ? 'config' : name };
        expect(handleFromPath(pathFor(h))).toEqual(h);
      }),
    );
  });

  it('handleFromPath rejects everything that is not a repository file', () => {
    const n = 'cd'.padEnd(64, '1');
    for (const p of [
      '',
      'config/x',
      'keys',
      `keys/.tmp-123`,
      `keys/sub/${n}`,
      `data/${n}`,
      `data/ab/${n}`, // wrong fan-out directory
      `data/cd/.tmp-abc`,
      `data/cd/sub/${n}`,
      `other/${n}`,
      `config2`,
      `locks/`,
    ]) {
      expect(handleFromPath(p), p).toBeUndefined();
    }
  });

  it('rejects unsafe names with INTERNAL', () => {
    for (const bad of ['', '.', '..', '../x', 'a/b', 'a\\b', '.tmp-x', 'x\0', 'é', 'a'.repeat(256)]) {
      expect(() => pathFor({ type: 'keys', name: bad }), bad).toThrow(ClawbackError);
    }
    expect(() => checkName('data', 'a')).toThrow(/invalid data file name/);
    expect(() => checkName('data', 'ab')).not.toThrow();
  });

  it('resolveRange cuts at the end (property)', () => {
    fc.assert(
      fc.property(fc.nat(1000), fc.nat(1200), fc.option(fc.nat(1200), { nil: undefined }), (size, offset, length) => {
        const r = resolveRange(length === undefined ? { offset } : { offset, length }, size);
        const ref = new Uint8Array(size).map((_, i) => i).subarray(offset, length === undefined ? undefined : offset + length);
        expect(r.end - r.start).toBe(ref.length);
        expect(0 <= r.start && r.start <= r.end && r.end <= size).toBe(true);
      }),
    );
    expect(() => resolveRange({ offset: -1 }, 10)).toThrow(/invalid load range/);
    expect(() => resolveRange({ length: Number.NaN }, 10)).toThrow(/invalid load range/);
  });
});
