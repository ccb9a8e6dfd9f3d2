import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseSubset, selectPacks } from '../../src/checker/subset.js';

const hexId = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b).toString('hex'));

describe('parseSubset', () => {
  it('parses n/t, percentages and sizes as restic does', () => {
    expect(parseSubset('1/7')).toEqual({ kind: 'bucket', n: 1, t: 7 });
    expect(parseSubset('256/256')).toEqual({ kind: 'bucket', n: 256, t: 256 });
    expect(parseSubset('10%')).toEqual({ kind: 'percent', percent: 10 });
    expect(parseSubset('2.5%')).toEqual({ kind: 'percent', percent: 2.5 });
    expect(parseSubset('500M')).toEqual({ kind: 'size', bytes: 500 * 1024 ** 2 });
    expect(parseSubset('1.5G')).toEqual({ kind: 'size', bytes: 1.5 * 1024 ** 3 });
    expect(parseSubset('2KiB')).toEqual({ kind: 'size', bytes: 2048 });
    expect(parseSubset('4096')).toEqual({ kind: 'size', bytes: 4096 });
  });

  it('rejects malformed and out-of-range subsets with USAGE', () => {
    for (const bad of ['', '0/7', '8/7', '1/0', '1/257', '0%', '101%', 'x', '1/2/3', '-5%', '10X']) {
      expect(() => parseSubset(bad), bad).toThrow(/read-data-subset/);
    }
  });
});

describe('selectPacks', () => {
  it('n/t buckets partition the packs, deterministically', () => {
    fc.assert(
      fc.property(fc.uniqueArray(hexId, { maxLength: 60 }), fc.integer({ min: 1, max: 256 }), (ids, t) => {
        const packs = new Map(ids.map((id) => [id, 100]));
        const seen: string[] = [];
        for (let n = 1; n <= Math.min(t, 16); n++) {
          const a = selectPacks(packs, { kind: 'bucket', n, t });
          expect(selectPacks(packs, { kind: 'bucket', n, t })).toEqual(a);
          seen.push(...a);
        }
        expect(new Set(seen).size).toBe(seen.length);
        if (t <= 16) expect(seen.sort()).toEqual([...ids].sort());
      }),
      { numRuns: 50 },
    );
  });

  it('x% picks that share (at least one), a size picks packs until it is reached', () => {
    fc.assert(
      fc.property(fc.uniqueArray(hexId, { minLength: 1, maxLength: 60 }), fc.integer({ min: 1, max: 100 }), (ids, pct) => {
        const packs = new Map(ids.map((id, i) => [id, 10 + i]));
        const got = selectPacks(packs, { kind: 'percent', percent: pct });
        expect(got.length).toBe(Math.max(1, Math.round((ids.length * pct) / 100)));
        expect(new Set(got).size).toBe(got.length);
        const want = Math.floor(Math.random() * 200) + 1;
        const bySize = selectPacks(packs, { kind: 'size', bytes: want });
        const sum = bySize.reduce((n, id) => n + packs.get(id)!, 0);
        const all = [...packs.values()].reduce((a, b) => a + b, 0);
        expect(sum >= Math.min(want, all)).toBe(true);
        // Without its largest pack the selection would fall short: no more than needed.
        expect(sum - Math.max(...bySize.map((id) => packs.get(id)!)) < want).toBe(true);
      }),
      { numRuns: 50 },
    );
  });
});
