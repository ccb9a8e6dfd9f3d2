import { describe, expect, test } from 'vitest';
import { fc, test as fcTest } from '@fast-check/vitest';
import { assertLabelUnique, labelProblem, tagProblem, validateLabel, validateTag } from '../../src/snapshot/label.js';
import { expectError, idOf, manifest } from './helpers.js';

describe('validateLabel', () => {
  test.each(['a', 'Z', '0', 'before-upgrade', 'v1.2', 'v1a', 'release_2026.04', 'x'.repeat(63), '2026-04-14', 'abcdef', 'vv1', 'v'])(
    'accepts %j',
    (l) => {
      expect(() => validateLabel(l)).not.toThrow();
    },
  );

  test.each([
    ['', /1-63 characters/],
    ['-a', /starting with a letter or digit/],
    ['.hidden', /starting with a letter or digit/],
    ['has space', /letters, digits/],
    ['a/b', /letters, digits/],
    ['é', /letters, digits/],
    ['x'.repeat(64), /1-63 characters/],
    ['v1', /version selector/],
    ['V12', /version selector/],
    ['v007', /version selector/],
    ['latest', /reserved/],
    ['LATEST', /reserved/],
  ])('rejects %j with USAGE naming the label, the rule and the fix', (l, rule) => {
    const e = expectError(() => validateLabel(l), 'USAGE', rule);
    expect(e.message).toContain(JSON.stringify(l.length > 80 ? `${l.slice(0, 80)}…` : l));
    expect(e.message).toMatch(/choose another label/);
  });

  fcTest.prop([fc.string({ maxLength: 70 })])('labelProblem agrees with the documented grammar', (l) => {
    const ok = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(l) && !/^v\d+$/i.test(l) && l.toLowerCase() !== 'latest';
    expect(labelProblem(l) === undefined).toBe(ok);
  });
});

describe('assertLabelUnique', () => {
  const existing = [
    { id: idOf(1), manifest: manifest({ label: 'before', source: 'profile:a' }) },
    { manifest: manifest({ label: 'other', source: 'profile:a' }) },
  ];
  test('passes for a new label or another source', () => {
    expect(() => assertLabelUnique('fresh', 'profile:a', existing)).not.toThrow();
    expect(() => assertLabelUnique('before', 'profile:b', existing)).not.toThrow();
    expect(() => assertLabelUnique('Before', 'profile:a', existing)).not.toThrow(); // case-sensitive
  });
  test('throws USAGE naming the label, the holder and the source', () => {
    expectError(() => assertLabelUnique('before', 'profile:a', existing), 'USAGE', /label "before" is already used by snapshot 00000000 of source "profile:a"/);
    expectError(() => assertLabelUnique('other', 'profile:a', existing), 'USAGE', /another snapshot/);
  });
});

describe('tags', () => {
  test('valid and invalid tags', () => {
    for (const t of ['keep', 'a b', 'é', 'x'.repeat(255)]) expect(tagProblem(t)).toBeUndefined();
    for (const t of ['', 'a,b', 'a\nb', 'x'.repeat(256), '\uD800']) expect(tagProblem(t)).toBeDefined();
    expectError(() => validateTag('a,b'), 'USAGE', /invalid tag "a,b"/);
  });
});
