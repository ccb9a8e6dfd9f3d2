/**
 * Crash campaign: `clawback snapshot restore`, into a target directory and in place with
 * an agent profile, killed at random moments.
 *
 * - `--target DIR --overwrite`: the repository stays sound; files are written atomically,
 *   so every file in the target is either its old content or the snapshot's (never a
 *   partial file under its final name); the next run leaves exactly the snapshot.
 * - in place (`--profile openclaw --root R`): the live tree is as it was or as the
 *   snapshot; when the kill left an aside directory, the next restore recovers it and says
 *   so (or, in half of those trials, the library's `recoverAsides` is called first and
 *   must bring back one of the two states); the next run leaves exactly the snapshot.
 */
import { cp, mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAgentSnapshot } from '../../../src/agent/create.js';
import { readJournal, recoverAsides } from '../../../src/agent/aside.js';
import { BUILTIN_PROFILES } from '../../../src/agent/builtin.js';
import { ASIDE_PREFIX } from '../../../src/agent/rules.js';
import { tracked } from '../results.js';
import { checkSound, cleanupTmp, cliEnv, openAt, PASSWORD, pseudoRandom, runChild, tmp, treeOf, writeSourceTree, type Norm } from '../harness.js';
import { runCampaign, type CrashCase } from './campaign.js';
import { buildTemplate, copyOf, initLocal, removeTrial, rerun, type Template } from './fixtures.js';

const FILE = 'test/stress/crash/restore.test.ts';
let template: Template;
let oldTree: string;
let oldNorm: Norm;

beforeAll(async () => {
  template = await buildTemplate(3);
  // A populated target: other content under the same names, plus files the snapshot lacks.
  oldTree = join(await tmp('cb-old-'), 'old');
  await writeSourceTree(oldTree, 9);
  await writeFile(join(oldTree, 'stale.txt'), 'not in the snapshot\n');
  await writeFile(join(oldTree, 'notes', 'stale.md'), 'not in the snapshot either\n');
  oldNorm = await treeOf(oldTree);
});
afterAll(cleanupTmp);

// ---------------------------------------------------------------- --target

interface TargetState {
  repo: string;
  target: string;
  populated: boolean;
}

function targetCase(): CrashCase<TargetState> {
  const want = template.expected.get(template.ids[1]!)!;
  return {
    subject: 'snapshot restore --target',
    trials: 50,
    async prepare(i) {
      const repo = await copyOf(template.repo);
      const target = join(dirname(repo), 'target');
      const populated = i % 4 < 2;
      if (populated) await cp(oldTree, target, { recursive: true, verbatimSymlinks: true });
      const env = cliEnv(join(dirname(repo), 'home'), { CLAWBACK_PASSWORD: PASSWORD });
      return { args: ['-r', repo, 'snapshot', 'restore', 'v2', '--target', target, '--overwrite'], env, watch: [repo, target], state: { repo, target, populated } };
    },
    async check(p, run, t) {
      const { repo: dir, target, populated } = p.state;
      const repo = await openAt(dir, PASSWORD);
      try {
        await checkSound(repo, template.expected, 'after the kill', { sample: t.index % 5 === 0 ? 3 : 1 });
      } finally {
        await repo.close();
      }
      let outcome: string;
      const exists = await readdir(target).then(
        () => true,
        () => false,
      );
      if (!exists) outcome = 'target not created';
      else {
        const now = await treeOf(target);
        let temps = 0;
        for (const [path, v] of Object.entries(now)) {
          if (basename(path).startsWith('.clawback-tmp-')) {
            temps++;
            continue;
          }
          const ok = JSON.stringify(v) === JSON.stringify(want[path]) || (populated && JSON.stringify(v) === JSON.stringify(oldNorm[path]));
          expect(ok, `${path} in the target is neither its old content nor the snapshot's: ${JSON.stringify(v)}`).toBe(true);
        }
        if (t.finished) expect(now).toEqual(want);
        outcome = JSON.stringify(now) === JSON.stringify(want) ? 'target complete' : populated && JSON.stringify(now) === JSON.stringify(oldNorm) ? 'target untouched' : `target partly restored${temps > 0 ? ' (temp file left)' : ''}`;
      }
      await rerun(p.args, p.env);
      expect(await treeOf(target), 'after the next run').toEqual(want);
      void run;
      return outcome;
    },
    dispose: (p) => removeTrial(p.state.repo),
  };
}

// ---------------------------------------------------------------- in place

/** An OpenClaw state tree (no credentials, no secrets: what is stored is all there is). */
async function writeAgentTree(root: string, variant: number): Promise<Norm> {
  await rm(root, { recursive: true, force: true });
  const put = async (rel: string, data: string | Buffer) => {
    await mkdir(dirname(join(root, rel)), { recursive: true });
    await writeFile(join(root, rel), data);
  };
  await put('openclaw.json', JSON.stringify({ agents: { defaults: { model: `model-${variant}` } }, version: variant }, null, 2));
  await put('agents/main/sessions/main.jsonl', `{"turn":1,"v":${variant}}\n`.repeat(200));
  if (variant % 2 === 0) await put(`agents/main/sessions/only-${variant}.jsonl`, `{"only":${variant}}\n`);
  await put('memory/notes.md', `# memory v${variant}\n` + 'remember this\n'.repeat(100));
  await put('cron/jobs.json', `{"jobs":[${variant}]}`);
  await put('workspace/AGENTS.md', `agents v${variant}\n`);
  await put('workspace/data/blob.bin', pseudoRandom(`ws:${variant}`, 40_000));
  await put('workspace/data/shared.bin', pseudoRandom('ws:shared', 30_000));
  await put(`workspace-research/r${variant}.md`, `research ${variant}\n`);
  return treeOf(root);
}

interface InPlaceState {
  repo: string;
  root: string;
  before: Norm;
  want: Norm;
  expected: Map<string, Norm>;
}

const AGENT_B = 2;
const AGENT_A = 5;
let agentBase: string | undefined;
let agentBaseMade: Promise<void> | undefined;

/** An empty encrypted repository the in-place trials copy (made once). */
function ensureAgentBase(): Promise<void> {
  agentBaseMade ??= (async () => {
    const dir = join(await tmp('cb-agent-'), 'repo');
    await (await initLocal(dir)).close();
    agentBase = dir;
  })();
  return agentBaseMade;
}

function inPlaceCase(): CrashCase<InPlaceState> {
  return {
    subject: 'snapshot restore --profile (in place)',
    trials: 50,
    async prepare() {
      // The snapshot's source key holds the root path, so every trial snapshots its own root.
      const repo = await copyOf(agentBase!);
      const root = join(dirname(repo), 'state', '.openclaw');
      const want = await writeAgentTree(root, AGENT_B);
      const r = await openAt(repo, PASSWORD);
      let id: string;
      try {
        id = (await createAgentSnapshot(r, { profile: { definition: BUILTIN_PROFILES['openclaw']!, root, origin: 'builtin' }, time: new Date(Date.UTC(2026, 1, 1)) })).id;
      } finally {
        await r.close();
      }
      const before = await writeAgentTree(root, AGENT_A);
      const env = cliEnv(join(dirname(repo), 'home'), { CLAWBACK_PASSWORD: PASSWORD });
      return {
        args: ['-r', repo, 'snapshot', 'restore', 'v1', '--profile', 'openclaw', '--root', root],
        env,
        watch: [repo, dirname(root)],
        state: { repo, root, before, want, expected: new Map([[id, want]]) },
      };
    },
    async check(p, run, t) {
      const { repo: dir, root, before, want, expected } = p.state;
      const repo = await openAt(dir, PASSWORD);
      try {
        await checkSound(repo, expected, 'after the kill');
      } finally {
        await repo.close();
      }
      // Aside directories with a journal: a restore got past its first step. One without
      // (killed while writing the first journal) holds nothing and is simply removed.
      const asides: string[] = [];
      for (const n of (await readdir(root).catch(() => [] as string[])).filter((x) => x.startsWith(ASIDE_PREFIX))) {
        if (await readJournal(join(root, n))) asides.push(n);
      }
      const live = async () => Object.fromEntries(Object.entries(await treeOf(root)).filter(([k]) => !k.startsWith(ASIDE_PREFIX)));
      const which = (n: Record<string, unknown>) => (JSON.stringify(n) === JSON.stringify(before) ? 'as before' : JSON.stringify(n) === JSON.stringify(want) ? 'as the snapshot' : 'MIXED');
      let outcome: string;
      if (asides.length === 0) {
        const state = which(await live());
        expect(state, 'with no journaled aside directory the live tree must be as before or as the snapshot').not.toBe('MIXED');
        if (t.finished) expect(state).toBe('as the snapshot');
        outcome = `live tree ${state}`;
        const r = await rerun(p.args, p.env);
        expect(r.stderr).not.toMatch(/recovered|interrupted restore/);
      } else if (t.index % 4 === 1) {
        // The library recovers the leftovers to one of the two states.
        const rec = await recoverAsides(root, hostname(), { pid: process.pid, isAlive: () => false });
        expect(rec.length).toBeGreaterThan(0);
        const state = which(await live());
        expect(state, `recoverAsides (${rec.map((x) => x.action).join(',')}) must leave the live tree as before or as the snapshot`).not.toBe('MIXED');
        outcome = `aside left; recovered to ${state} (${rec.map((x) => x.action).join(',')})`;
        await rerun(p.args, p.env);
      } else {
        // The next restore recovers first and says so.
        const r = await rerun(p.args, p.env);
        expect(r.stderr, 'the next run must say it recovered').toMatch(/recovered an interrupted restore|finished cleaning up after an interrupted restore|removed .*left over/);
        outcome = 'aside left; next run recovered it';
      }
      expect(await live(), 'after the next run').toEqual(want);
      expect((await readdir(root)).filter((n) => n.startsWith(ASIDE_PREFIX)), 'aside directories after the next run').toEqual([]);
      void run;
      return outcome;
    },
    dispose: (p) => removeTrial(p.state.repo),
  };
}

describe('in-place restore: aimed kills', () => {
  it('a kill while a file directly in the root is being written leaves no temp file after recovery', async () => {
    await ensureAgentBase();
    const c = inPlaceCase();
    // Find the mutations that create restore temp files directly in the root (openclaw.json's).
    // They are made by the restorer's worker threads, interleaved with the main thread's
    // steps, so the kill is aimed by call and path (the n-th such open), not by number.
    const probe = await c.prepare(0);
    const log = (await runChild(probe.args, probe.env, { watch: probe.watch, logOps: true })).opLog ?? [];
    const root = probe.state.root;
    const aims = log
      .map((l) => l.split('\t'))
      .filter(([, call, path]) => (call === 'open' || call === 'openSync') && dirname(path!) === root && basename(path!).startsWith('.clawback-tmp-'))
      .map(([, call]) => call!);
    expect(aims.length, `no temp file written in the root: ${log.join(' | ')}`).toBeGreaterThan(0);
    await c.dispose?.(probe);
    for (let nth = 1; nth <= aims.length; nth++) {
      for (const after of [false, true]) {
        const p = await c.prepare(1);
        const match = { call: aims[nth - 1]!, prefix: join(p.state.root, '.clawback-tmp-'), nth };
        const run = await runChild(p.args, p.env, { watch: p.watch, crash: { match, after } });
        expect(run.signal).toBe('SIGKILL');
        await c.check(p, run, { index: 2, how: 'op', at: `temp file ${nth} in the root`, finished: false });
        await c.dispose?.(p);
      }
    }
  }, 120_000);
});

describe('crash campaign: restore', () => {
  it('restore --target survives SIGKILL at any moment', async () => {
    await tracked(
      {
        section: 'Crash (SIGKILL)',
        subject: 'snapshot restore --target',
        tried: 'SIGKILL of `clawback snapshot restore v2 --target DIR --overwrite` (DIR new, or holding other content and extra files)',
        held: 'repository sound; every file in the target is its old content or the snapshot\'s, never partial; the next run leaves exactly the snapshot',
        file: FILE,
      },
      async () => {
        const r = await runCampaign(targetCase());
        return { runs: r.trials.length, notes: r.notes };
      },
    );
  }, 900_000);

  it('in-place restore survives SIGKILL at any moment', async () => {
    await ensureAgentBase();
    await tracked(
      {
        section: 'Crash (SIGKILL)',
        subject: 'snapshot restore --profile (in place)',
        tried: 'SIGKILL of `clawback snapshot restore v1 --profile openclaw --root R` (pre-restore snapshot, move aside, restore, commit)',
        held: 'repository sound; the live tree is as before or as the snapshot, or an aside directory is left that the next restore recovers and reports; the next run leaves exactly the snapshot',
        file: FILE,
      },
      async () => {
        const r = await runCampaign(inPlaceCase());
        return { runs: r.trials.length, notes: r.notes };
      },
    );
  }, 900_000);
});
