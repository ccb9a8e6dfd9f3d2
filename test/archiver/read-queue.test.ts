import { describe, expect, it } from 'vitest';
import { SealingChoice } from '../../src/archiver/read-queue.js';

describe('SealingChoice (whether the workers seal what they read)', () => {
  it('seals while most sealed chunks are new, stops when more than a quarter existed, probes every 64th batch', () => {
    const c = new SealingChoice();
    expect(c.wanted()).toBe(true);
    // 64 chunks with 16 already stored (a quarter): still on.
    c.record(48, 16);
    expect(c.wanted()).toBe(true);
    // The next window: 17 of 64 existed: off.
    c.record(47, 17);
    const asked: boolean[] = [];
    for (let i = 0; i < 128; i++) asked.push(c.wanted());
    // Off, but every 64th batch is a probe.
    expect(asked.filter(Boolean)).toHaveLength(2);
    // A probe window of new chunks turns it back on.
    c.record(64, 0);
    expect(c.wanted()).toBe(true);
  });

  it('decides only on full windows of 64 chunks', () => {
    const c = new SealingChoice();
    c.record(0, 63);
    expect(c.wanted()).toBe(true);
    c.record(0, 1);
    expect(c.wanted()).toBe(false);
  });
});
