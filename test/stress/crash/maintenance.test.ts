/**
 * Crash campaign: `clawback gc` and `clawback forget --prune` killed at random moments.
 * (test/pruner/crash.test.ts kills a library-level gc child; these kill the real CLI.)
 *
 * - gc: every snapshot is listed and restores byte for byte, verify --read-data finds
 *   nothing but unreferenced data (left-over packs, superseded index files), and the next
 *   gc succeeds and leaves a repository where verify finds nothing at all.
 * - forget --keep-last 2 --prune: the two kept snapshots are always listed and restore;
 *   each snapshot being forgotten is either still listed and complete, or gone; verify
 *   finds only unreferenced data; the next run succeeds and leaves exactly the kept two.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyRepository } from '../../../src/checker/checker.js';
import { removeSnapshot } from '../../../src/snapshot/store.js';
import { listSnapshots } from '../../../src/snapshot/store.js';
import { tracked } from '../results.js';
import { checkSound, cleanupTmp, cliEnv, openAt, PASSWORD, type Norm } from '../harness.js';
import { runCampaign, type CrashCase } from './campaign.js';
import { buildTemplate, copyOf, removeTrial, rerun, type Template } from './fixtures.js';

const FILE = 'test/stress/crash/maintenance.test.ts';
let six: Template;
let gcTemplate: string;
let kept: Map<string, Norm>;

beforeAll(async () => {
  six = await buildTemplate(6);
  // gc: forget v1, v3 and v4 first, so gc has packs to delete and packs to repack.
  gcTemplate = await copyOf(six.repo);
  const repo = await openAt(gcTemplate, PASSWORD);
  try {
    for (const i of [0, 2, 3]) await removeSnapshot(repo, six.ids[i]!);
  } finally {
    await repo.close();
  }
  kept = new Map([1, 4, 5].map((i) => [six.ids[i]!, six.expected.get(six.ids[i]!)!]));
});
afterAll(cleanupTmp);

interface State {
  repo: string;
}

const gcCase: CrashCase<State> = {
  subject: 'gc',
  trials: 50,
  async prepare() {
    const repo = await copyOf(gcTemplate);
    const env = cliEnv(join(repo, '..', 'home'), { CLAWBACK_PASSWORD: PASSWORD });
    return { args: ['-r', repo, 'gc', '--max-unused', '0'], env, watch: [repo], state: { repo } };
  },
  async check(p, _run, t) {
    const repo = await openAt(p.state.repo, PASSWORD, t.index % 4 === 0 ? { cacheDir: join(p.state.repo, '..', 'home', 'cache') } : {});
    let outcome: string;
    try {
      const s = await checkSound(repo, kept, 'after the kill', { sample: t.index % 5 === 0 ? 3 : 1 });
      expect(s.listed.length).toBe(kept.size);
      outcome = t.finished ? 'gc had finished' : s.infos > 0 ? 'unreferenced data left' : 'nothing to report';
    } finally {
      await repo.close();
    }
    await rerun(p.args, p.env);
    const after = await openAt(p.state.repo, PASSWORD);
    try {
      const v = await verifyRepository(after, { readData: true });
      expect(v.findings, 'after the next gc verify finds nothing at all').toEqual([]);
    } finally {
      await after.close();
    }
    return outcome;
  },
  dispose: (p) => removeTrial(p.state.repo),
};

const forgetCase: CrashCase<State> = {
  subject: 'forget --prune',
  trials: 50,
  async prepare() {
    const repo = await copyOf(six.repo);
    const env = cliEnv(join(repo, '..', 'home'), { CLAWBACK_PASSWORD: PASSWORD });
    return { args: ['-r', repo, 'forget', '--keep-last', '2', '--prune', '--max-unused', '0'], env, watch: [repo], state: { repo } };
  },
  async check(p, _run, t) {
    const keep = new Map(six.ids.slice(4).map((id) => [id, six.expected.get(id)!]));
    const going = new Map(six.ids.slice(0, 4).map((id) => [id, six.expected.get(id)!]));
    const repo = await openAt(p.state.repo, PASSWORD);
    let outcome: string;
    try {
      const s = await checkSound(repo, keep, 'after the kill', { optional: going, sample: t.index % 5 === 0 ? 2 : 1 });
      for (const e of s.listed) expect(six.expected.has(e.id), 'forget must not make new snapshots').toBe(true);
      const left = s.listed.length - keep.size;
      outcome = left === 0 ? (s.infos > 0 ? 'all forgotten, unreferenced data left' : 'all forgotten') : `${left} of 4 not yet forgotten`;
    } finally {
      await repo.close();
    }
    await rerun(p.args, p.env);
    const after = await openAt(p.state.repo, PASSWORD);
    try {
      expect((await listSnapshots(after)).entries.map((e) => e.id).sort()).toEqual([...keep.keys()].sort());
      const v = await verifyRepository(after, { readData: true });
      expect(v.findings.filter((f) => f.severity === 'error')).toEqual([]);
    } finally {
      await after.close();
    }
    return outcome;
  },
  dispose: (p) => removeTrial(p.state.repo),
};

describe('crash campaign: maintenance', () => {
  it('gc survives SIGKILL at any moment', async () => {
    await tracked(
      {
        section: 'Crash (SIGKILL)',
        subject: 'gc',
        tried: 'SIGKILL of `clawback gc --max-unused 0` (3 of 6 snapshots forgotten: packs to delete and to repack)',
        held: 'every snapshot listed and byte-identical; verify --read-data: only unreferenced data; the next gc succeeds and verify then finds nothing at all',
        file: FILE,
      },
      async () => {
        const r = await runCampaign(gcCase);
        return { runs: r.trials.length, notes: r.notes };
      },
    );
  }, 900_000);

  it('forget --prune survives SIGKILL at any moment', async () => {
    await tracked(
      {
        section: 'Crash (SIGKILL)',
        subject: 'forget --prune',
        tried: 'SIGKILL of `clawback forget --keep-last 2 --prune --max-unused 0` on 6 snapshots',
        held: 'the kept snapshots listed and byte-identical; a snapshot being forgotten is either gone or complete; verify --read-data: only unreferenced data; the next run succeeds and leaves exactly the kept ones',
        file: FILE,
      },
      async () => {
        const r = await runCampaign(forgetCase);
        return { runs: r.trials.length, notes: r.notes };
      },
    );
  }, 900_000);
});
