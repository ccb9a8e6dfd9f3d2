import { describe, expect, it } from 'vitest';
import { compileGlob, matchGlob } from '../../src/cli/glob.js';

const m = (pattern: string, path: string) => matchGlob(compileGlob(pattern), path);

describe('glob', () => {
  it('matches names at any depth when the pattern has no slash', () => {
    expect(m('*.sqlite', '/a/b/state.sqlite')).toBe(true);
    expect(m('*.sqlite', 'state.sqlite')).toBe(true);
    expect(m('*.sqlite', '/a/state.sqlite-wal')).toBe(false);
    expect(m('state.db', '/hermes/state.db')).toBe(true);
    expect(m('?.txt', '/x/a.txt')).toBe(true);
    expect(m('?.txt', '/x/ab.txt')).toBe(false);
  });

  it('matches whole paths when the pattern has a slash; ** spans directories', () => {
    expect(m('agents/*/state.db', '/agents/x/state.db')).toBe(true);
    expect(m('agents/*/state.db', '/agents/x/y/state.db')).toBe(false);
    expect(m('agents/**/state.db', '/agents/x/y/state.db')).toBe(true);
    expect(m('agents/**/state.db', '/agents/state.db')).toBe(true);
    expect(m('/agents/**', '/agents/a/b')).toBe(true);
    expect(m('**/*.md', '/README.md')).toBe(true);
    expect(m('**/*.md', '/docs/a/README.md')).toBe(true);
    expect(m('a/*', '/b/a/x')).toBe(false);
  });

  it('supports classes, negation and escapes, never matching "/" with a wildcard', () => {
    expect(m('file[0-9].log', 'file7.log')).toBe(true);
    expect(m('file[0-9].log', 'filex.log')).toBe(false);
    expect(m('file[!0-9].log', 'filex.log')).toBe(true);
    expect(m('file[^0-9].log', 'file1.log')).toBe(false);
    expect(m('a[]]b', 'a]b')).toBe(true);
    expect(m('a\\*b', 'a*b')).toBe(true);
    expect(m('a\\*b', 'axb')).toBe(false);
    expect(m('a.b', 'axb')).toBe(false);
    expect(m('x/a?b', '/x/a/b')).toBe(false);
    expect(m('x/a[/]b', '/x/a/b')).toBe(false);
    expect(m('(x)+$', '(x)+$')).toBe(true);
  });

  it('rejects broken patterns', () => {
    expect(() => compileGlob('a[bc')).toThrow(/closing/);
    expect(() => compileGlob('abc\\')).toThrow(/backslash/);
  });
});
