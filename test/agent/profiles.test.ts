/**
 * Profile declarations: patterns, rules, user manifests (validation with clear errors),
 * and an in-place restore of a snapshot with an extra path outside the root.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { HERMES, NEMOCLAW, OPENCLAW } from '../../src/agent/builtin.js';
import { createAgentSnapshot } from '../../src/agent/create.js';
import { restoreInPlace } from '../../src/agent/inplace.js';
import { parseAgentManifest } from '../../src/agent/manifest-file.js';
import { compilePattern, isAncestorOf, matchPattern } from '../../src/agent/pattern.js';
import { validateDefinition } from '../../src/agent/profile.js';
import { CaptureRules } from '../../src/agent/rules.js';
import { ClawbackError } from '../../src/errors.js';
import { makeTmp } from '../helpers/tmp.js';
import { buildOpenClaw, HERMES_SANDBOX_MANIFEST, makeRepo, put } from './fixtures.js';
import { builtin } from './helpers.js';

describe('patterns', () => {
  it('match names anywhere, anchored paths, dirs only, ** and ancestors', () => {
    const name = compilePattern('auth.json');
    expect(matchPattern(name, 'auth.json', false)).toBe(true);
    expect(matchPattern(name, 'agents/main/agent/auth.json', false)).toBe(true);
    const rooted = compilePattern('/credentials/');
    expect(matchPattern(rooted, 'credentials', true)).toBe(true);
    expect(matchPattern(rooted, 'credentials', false)).toBe(false);
    expect(matchPattern(rooted, 'workspace/credentials', true)).toBe(false);
    const glob = compilePattern('agents/*/agent/*.sqlite');
    expect(matchPattern(glob, 'agents/main/agent/x.sqlite', false)).toBe(true);
    expect(matchPattern(glob, 'agents/main/x.sqlite', false)).toBe(false);
    expect(isAncestorOf(glob, 'agents')).toBe(true);
    expect(isAncestorOf(glob, 'agents/main/agent')).toBe(true);
    expect(isAncestorOf(glob, 'memory')).toBe(false);
    const deep = compilePattern('logs/**/*.log');
    expect(matchPattern(deep, 'logs/a.log', false)).toBe(true);
    expect(matchPattern(deep, 'logs/x/y/a.log', false)).toBe(true);
  });
});

describe('rules', () => {
  const rules = (over: Partial<ConstructorParameters<typeof CaptureRules>[1]> = {}) =>
    new CaptureRules(OPENCLAW, { scope: 'everything', noWorkspace: false, includeSecrets: false, extraInside: [], ...over });
  it('select declared state, prefix dirs and ancestors; exclude credentials unless secrets are included', () => {
    const r = rules();
    expect(r.selection('workspace-research', true)).toBe('unit');
    expect(r.selection('workspace-research.txt', false)).toBe('none');
    expect(r.selection('agents/main/sessions/x.jsonl', false)).toBe('unit');
    expect(r.selection('logs', true)).toBe('none');
    expect(r.exclusion('credentials', true, '/nonexistent/credentials')).toBe('credential');
    expect(r.exclusion('agents/main/agent/auth-profiles.json', false, '/x')).toBe('credential');
    expect(r.exclusion('agents/main/x.lock', false, '/x')).toBe('excluded');
    expect(r.exclusion('.clawback-aside-abc', true, '/x')).toBe('internal');
    expect(rules({ includeSecrets: true }).exclusion('credentials', true, '/x')).toBeUndefined();
    expect(r.secretFormat('openclaw.json')).toBe('json');
    expect(r.secretFormat('workspace/project/.env')).toBe('env');
    expect(rules({ includeSecrets: true }).secretFormat('openclaw.json')).toBeUndefined();
    expect(rules({ noWorkspace: true }).selection('workspace', true)).toBe('none');
    expect(rules({ scope: 'config-only' }).selection('agents', true)).toBe('none');
    expect(rules({ scope: 'config-only' }).selection('openclaw.json', false)).toBe('unit');
    const h = new CaptureRules(HERMES, { scope: 'everything', noWorkspace: false, includeSecrets: false, extraInside: [] });
    expect(h.selection('runtime', true)).toBe('ancestor');
    expect(h.selection('runtime/state.db', false)).toBe('unit');
    expect(h.selection('runtime/gateway.pid', false)).toBe('none');
    expect(h.exclusion('.env', false, '/x')).toBe('credential');
    expect(h.secretFormat('config.yaml')).toBe('yaml');
  });
  it('built-in definitions are valid', () => {
    for (const d of [OPENCLAW, HERMES, NEMOCLAW]) expect(() => validateDefinition(d)).not.toThrow();
  });
});

describe('user manifests', () => {
  const bad = (doc: unknown, msg: RegExp) => {
    let err: unknown;
    try {
      parseAgentManifest(typeof doc === 'string' ? doc : JSON.stringify(doc), 'agent.json');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ClawbackError);
    expect((err as ClawbackError).code).toBe('USAGE');
    expect((err as ClawbackError).message).toMatch(msg);
  };
  it('reads NemoClaw-style manifests, ignoring (and reporting) fields it does not use', () => {
    const m = parseAgentManifest(JSON.stringify(HERMES_SANDBOX_MANIFEST), 'agent.json');
    expect(m.root).toBe('/sandbox/.hermes');
    expect(m.definition.configFile).toBe('config.yaml');
    expect(m.definition.stateDirs.map((d) => d.path)).toEqual(['memories', 'sessions', 'skills', 'cron', 'workspace']); // hooks: backup false
    expect(m.definition.stateDirs.find((d) => d.path === 'workspace')?.workspace).toBe(true);
    expect(m.definition.stateFiles).toEqual([
      { path: 'SOUL.md', strategy: 'copy' },
      { path: 'runtime/state.db', strategy: 'sqlite_backup' },
      { path: 'state.db', strategy: 'copy' },
      { path: 'kanban.db', strategy: 'sqlite_backup' },
    ]);
    expect(m.definition.credentials).toEqual(['/.env', '/auth.json']);
    expect(m.warnings).toEqual(['agent manifest agent.json: display_name is not used by clawback (ignored)']);
    const prefix = parseAgentManifest(JSON.stringify({ name: 'a', state_dirs: [{ prefix: 'workspace-' }], state_files: [{ path: 'openclaw.json', restore: { merge: 'openclaw-config' } }] }), 'a.json');
    expect(prefix.definition.stateDirs).toEqual([{ prefix: 'workspace-', workspace: true }]);
    expect(prefix.definition.secretFiles).toEqual(['/openclaw.json']);
  });
  it('names the field and the problem', () => {
    bad('{ nope', /agent manifest agent.json is not valid JSON/);
    bad([], /must be a JSON object/);
    bad({ state_dirs: ['a'] }, /name must be a non-empty string/);
    bad({ name: 'bad name!', state_dirs: ['a'] }, /name "bad name!" must match/);
    bad({ name: 'a', state_dirs: ['../up'] }, /state_dirs\[0\]\.path must not contain empty, "\." or "\.\." segments/);
    bad({ name: 'a', state_dirs: [{ path: 'x', prefix: 'y' }] }, /state_dirs\[0\] needs exactly one of "path" and "prefix"/);
    bad({ name: 'a', state_files: [{ path: '/abs' }] }, /state_files\[0\]\.path must be relative to the root/);
    bad({ name: 'a', state_files: [{ path: 'x', strategy: 'rsync' }] }, /state_files\[0\]\.strategy must be "copy" or "sqlite_backup"/);
    bad({ name: 'a', state_dirs: ['a'], allow_links: [{ path: 'l' }] }, /allow_links\[0\] needs either "target"/);
    bad({ name: 'a', state_dirs: ['a'], excludes: 'x' }, /excludes must be an array of strings/);
    bad({ name: 'a', state_dirs: [{ path: 'a', workspace: 'yes' }] }, /state_dirs\[0\]\.workspace must be true or false/);
    bad({ name: 'a' }, /declares nothing to capture/);
  });
});

describe('in-place restore with an extra path outside the root', () => {
  it('moves it aside and restores it too', async () => {
    const tmp = await makeTmp('clawback-extra-');
    const repo = await makeRepo(tmp.dir);
    try {
      const root = join(tmp.dir, '.openclaw');
      await buildOpenClaw(root);
      const notes = join(tmp.dir, 'notes');
      await put(notes, 'a.md', 'first\n');
      const v1 = await createAgentSnapshot(repo, { profile: builtin('openclaw', root), extraPaths: [notes] });
      await writeFile(join(notes, 'a.md'), 'second\n');
      await writeFile(join(notes, 'b.md'), 'new\n');
      await writeFile(join(root, 'workspace/SOUL.md'), 'changed\n');
      const r = await restoreInPlace(repo, { snapshot: v1, profile: builtin('openclaw', root) });
      expect(r.replaced).toContain(notes);
      expect(await readFile(join(notes, 'a.md'), 'utf8')).toBe('first\n');
      await expect(readFile(join(notes, 'b.md'))).rejects.toThrow();
      expect(await readFile(join(root, 'workspace/SOUL.md'), 'utf8')).toBe('# Soul\nCalm, precise.\n');
      const { readdir } = await import('node:fs/promises');
      expect((await readdir(tmp.dir)).filter((n) => n.startsWith('.clawback'))).toEqual([]);
    } finally {
      await repo.close();
      await tmp.cleanup();
    }
  });
});
