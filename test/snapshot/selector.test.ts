import { describe, expect, test } from 'vitest';
import { fc, test as fcTest } from '@fast-check/vitest';
import { ClawbackError } from '../../src/errors.js';
import { assignVersions, filterBySource, resolveSelector } from '../../src/snapshot/selector.js';
import type { SnapshotEntry } from '../../src/snapshot/selector.js';
import { entry, expectError, manifest } from './helpers.js';

const A = 'abcdef01'.repeat(8);
const B = 'abcdef02'.repeat(8);
const C = '12345678'.repeat(8);
const D = 'fedcba98'.repeat(8);

const entries: SnapshotEntry[] = [
  { id: C, manifest: manifest({ time: '2026-04-14T18:02:10.000Z', label: 'before-upgrade' }) },
  { id: A, manifest: manifest({ time: '2026-04-13T09:00:00.000Z' }) },
  { id: D, manifest: manifest({ time: '2026-04-15T07:30:00.000Z', label: 'abc123' }) },
  { id: B, manifest: manifest({ time: '2026-04-14T18:02:55.500Z' }) },
];

describe('assignVersions', () => {
  test('sorts by time, v1 = oldest', () => {
    expect(assignVersions(entries).map((v) => [v.version, v.id])).toEqual([
      [1, A],
      [2, C],
      [3, B],
      [4, D],
    ]);
  });

  test('ties are broken by id', () => {
    const t = '2026-01-01T00:00:00.000Z';
    const vs = assignVersions([entry(3, t), entry(1, t), entry(2, t)]);
    expect(vs.map((v) => v.id.slice(-1))).toEqual(['1', '2', '3']);
  });

  fcTest.prop([fc.array(fc.tuple(fc.integer({ min: 0, max: 50 }), fc.integer({ min: 0, max: 1e6 })), { maxLength: 20 })])(
    'versions are 1..n and independent of input order',
    (pairs) => {
      const es = pairs.map(([t, n], i) => entry(n * 100 + i, new Date(t * 60_000).toISOString()));
      const a = assignVersions(es);
      const b = assignVersions([...es].reverse());
      expect(a.map((v) => v.version)).toEqual(es.map((_, i) => i + 1));
      expect(a.map((v) => v.id)).toEqual(b.map((v) => v.id));
      for (let i = 1; i < a.length; i++) {
        expect((a[i - 1] as { manifest: { time: string } }).manifest.time <= (a[i] as { manifest: { time: string } }).manifest.time).toBe(true);
      }
    },
  );
});

describe('resolveSelector', () => {
  test.each([undefined, '', 'latest', 'LATEST'])('%j → newest', (sel) => {
    const r = resolveSelector(sel, entries);
    expect(r.snapshot.id).toBe(D);
    expect(r.matchedBy).toBe('latest');
    expect(r.snapshot.version).toBe(4);
  });

  test('no snapshots yet', () => {
    expectError(() => resolveSelector(undefined, []), 'NOT_FOUND', /no snapshots yet/);
    expectError(() => resolveSelector('v1', []), 'NOT_FOUND', /no snapshots yet/);
  });

  test('vN, case-insensitive', () => {
    expect(resolveSelector('v1', entries).snapshot.id).toBe(A);
    expect(resolveSelector('V3', entries)).toMatchObject({ matchedBy: 'version', snapshot: { id: B, version: 3 } });
    expect(resolveSelector('v04', entries).snapshot.id).toBe(D);
  });

  test('a missing version names vN and the range and never falls through', () => {
    expectError(() => resolveSelector('v5', entries), 'NOT_FOUND', /no snapshot v5: versions run from v1 to v4/);
    expectError(() => resolveSelector('v0', entries), 'NOT_FOUND', /v1 to v4/);
    expectError(() => resolveSelector('v99999999999999999999', entries), 'NOT_FOUND', /v1 to v4/);
  });

  test('exact label', () => {
    expect(resolveSelector('before-upgrade', entries)).toMatchObject({ matchedBy: 'label', snapshot: { id: C } });
    // A hex-looking label wins over the id-prefix rule.
    expect(resolveSelector('abc123', entries)).toMatchObject({ matchedBy: 'label', snapshot: { id: D } });
  });

  test('a label used in several sources is ambiguous', () => {
    const es = [
      { id: A, manifest: manifest({ label: 'x', source: 's1' }) },
      { id: B, manifest: manifest({ label: 'x', source: 's2' }) },
    ];
    expectError(() => resolveSelector('x', es), 'USAGE', /used by 2 snapshots.*s1, s2/);
    expect(resolveSelector('x', filterBySource(es, 's2')).snapshot.id).toBe(B);
  });

  test('timestamp prefixes pick the newest match and report the others', () => {
    const r = resolveSelector('2026-04-14T18:02', entries);
    expect(r.matchedBy).toBe('timestamp');
    expect(r.snapshot.id).toBe(B);
    expect(r.others.map((o) => o.id)).toEqual([C]);
    expect(resolveSelector('2026-04-13', entries)).toMatchObject({ snapshot: { id: A }, others: [] });
    expect(resolveSelector('2026-04', entries)).toMatchObject({ snapshot: { id: D } });
    expect(resolveSelector('2026-04', entries).others).toHaveLength(3);
    expect(resolveSelector('2026-04-14T18:02:10.000Z', entries).snapshot.id).toBe(C);
    expectError(() => resolveSelector('2025-01', entries), 'NOT_FOUND', /no snapshot matches "2025-01"/);
  });

  test('id prefixes', () => {
    expect(resolveSelector('123456', entries)).toMatchObject({ matchedBy: 'id', snapshot: { id: C } });
    expect(resolveSelector('FEDCBA', entries).snapshot.id).toBe(D);
    expect(resolveSelector(A, entries).snapshot.id).toBe(A);
    expectError(() => resolveSelector('abcdef', entries), 'USAGE', /ambiguous id prefix abcdef matches 2 snapshots: give more characters/);
    expect(resolveSelector('abcdef02', entries).snapshot.id).toBe(B);
    expectError(() => resolveSelector('abcde', entries), 'USAGE', /at least 6/);
    expectError(() => resolveSelector('2026', entries), 'USAGE', /at least 6/);
    expectError(() => resolveSelector('999999', entries), 'NOT_FOUND', /no snapshot matches "999999"/);
  });

  test('nothing matched lists the accepted forms', () => {
    const e = expectError(() => resolveSelector('nope', entries), 'NOT_FOUND', /no snapshot matches "nope"/);
    expect(e.message).toMatch(/latest.*v1.*label.*timestamp.*id prefix/);
  });

  test.each(['a/b', 'two words', ' latest', 'x\n', 'é', 'x'.repeat(129)])('malformed selector %j → USAGE', (sel) => {
    expectError(() => resolveSelector(sel, entries), 'USAGE', /malformed snapshot selector/);
  });

  fcTest.prop([fc.string({ maxLength: 20 })])('any string gives a result, USAGE or NOT_FOUND', (sel) => {
    try {
      const r = resolveSelector(sel, entries);
      expect(entries.map((e) => e.id)).toContain(r.snapshot.id);
    } catch (err) {
      expect(err).toBeInstanceOf(ClawbackError);
      expect(['USAGE', 'NOT_FOUND']).toContain((err as ClawbackError).code);
    }
  });
});

describe('filterBySource', () => {
  test('keeps entries of one source in input order', () => {
    const es = [entry(1, '2026-01-01 00:00:00', { source: 'a' }), entry(2, '2026-01-02 00:00:00', { source: 'b' }), entry(3, '2026-01-03 00:00:00', { source: 'a' })];
    expect(filterBySource(es, 'a').map((e) => e.id)).toEqual([es[0]?.id, es[2]?.id]);
    expect(filterBySource(es, 'c')).toEqual([]);
  });
});
