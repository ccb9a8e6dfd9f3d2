/**
 * Read planning (packs in order of first need, neighbouring blobs merged up to the gap and
 * range limits) and the in-flight budget (FIFO, an oversized request passes when idle).
 */
import { describe, expect, it } from 'vitest';
import { test, fc } from '@fast-check/vitest';
import { planRanges } from '../../src/restorer/ranges.js';
import { Budget } from '../../src/util/budget.js';
import type { BlobLocation } from '../../src/index/cache.js';

const loc = (packId: string, offset: number, length: number, id = `${packId}@${offset}`): BlobLocation => ({ id, packId, offset, length, rawLength: length, type: 'data' });

describe('planRanges', () => {
  it('reads packs in order of first need, each by offset, merging small gaps', () => {
    const wanted = [loc('b', 500, 100), loc('a', 0, 10), loc('b', 0, 100), loc('a', 20, 10), loc('b', 5000, 10)].map((l, i) => ({ loc: l, ref: i }));
    const ranges = planRanges(wanted, { maxGap: 1000, maxRange: 1 << 20 });
    expect(ranges.map((r) => [r.packId, r.offset, r.length, r.blobs.map((b) => b.ref)])).toEqual([
      ['b', 0, 600, [2, 0]],
      ['b', 5000, 10, [4]],
      ['a', 0, 30, [1, 3]],
    ]);
  });

  it('splits at maxRange; a blob longer than maxRange is read alone; the same blob twice is read once', () => {
    const wanted = [loc('p', 0, 60), loc('p', 60, 60), loc('p', 120, 500), loc('p', 620, 10), loc('p', 620, 10)].map((l, i) => ({ loc: l, ref: i }));
    const ranges = planRanges(wanted, { maxGap: 0, maxRange: 100 });
    expect(ranges.map((r) => [r.offset, r.length, r.blobs.map((b) => b.ref)])).toEqual([
      [0, 60, [0]],
      [60, 60, [1]],
      [120, 500, [2]],
      [620, 10, [3, 4]],
    ]);
  });

  test.prop([fc.array(fc.record({ pack: fc.constantFrom('a', 'b', 'c'), slot: fc.nat(50) }), { maxLength: 60 }), fc.nat(100), fc.integer({ min: 1, max: 200 })])(
    'every wanted blob lies inside exactly one range of its pack; ranges respect the limits',
    (items, maxGap, maxRange) => {
      // A pack's slots hold blobs of up to 40 bytes (one blob per slot, as in a real pack).
      const wanted = items.map((x, i) => ({ loc: loc(x.pack, x.slot * 40, 1 + ((x.slot * 7) % 40)), ref: i }));
      const ranges = planRanges(wanted, { maxGap, maxRange });
      const seen = new Map<number, number>();
      for (const r of ranges) {
        if (r.blobs.length > 1) expect(r.length).toBeLessThanOrEqual(maxRange);
        for (const b of r.blobs) {
          expect(b.loc.packId).toBe(r.packId);
          expect(b.loc.offset).toBeGreaterThanOrEqual(r.offset);
          expect(b.loc.offset + b.loc.length).toBeLessThanOrEqual(r.offset + r.length);
          seen.set(b.ref, (seen.get(b.ref) ?? 0) + 1);
        }
      }
      expect([...seen.keys()].sort((x, y) => x - y)).toEqual(wanted.map((w) => w.ref));
      expect([...seen.values()].every((n) => n === 1)).toBe(true);
    },
  );
});

describe('Budget', () => {
  it('waits in order while exhausted; lets one oversized request through when idle', async () => {
    const b = new Budget(10);
    expect(b.tryTake(6)).toBe(true);
    const order: string[] = [];
    const big = b.take(8).then(() => order.push('big'));
    const small = b.take(1).then(() => order.push('small'));
    expect(b.tryTake(1)).toBe(false); // someone is waiting: no overtaking
    b.give(6);
    await big;
    await small;
    expect(order).toEqual(['big', 'small']);
    b.give(9);
    await b.take(50); // larger than the budget, nothing else taken
    b.give(50);
    expect(b.tryTake(10)).toBe(true);
  });
});
