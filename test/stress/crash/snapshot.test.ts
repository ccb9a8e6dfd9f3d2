/**
 * Crash campaign: `clawback snapshot create` killed at random moments. After every kill:
 * every snapshot listed before is listed and restores byte for byte, a new snapshot (if
 * the kill came after its manifest) is complete, `verify --read-data` finds nothing but
 * unreferenced data, the local backend's temp files are only ever stray `.tmp-*` names
 * that `list` skips, and the next `snapshot create` succeeds and is complete.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listSnapshots } from '../../../src/snapshot/store.js';
import { tracked } from '../results.js';
import { checkSound, cleanupTmp, cliEnv, errorsOf, openAt, PASSWORD, restoredTree, tmp, writeSourceTree, type Norm } from '../harness.js';
import { verifyRepository } from '../../../src/checker/checker.js';
import { runCampaign, type CrashCase } from './campaign.js';
import { buildTemplate, copyOf, removeTrial, rerun, type Template } from './fixtures.js';

let template: Template;
let fresh: Norm;

beforeAll(async () => {
  template = await buildTemplate(3);
  // The source now holds a new variant with bigger binaries: the command has work to do.
  fresh = await writeSourceTree(template.src, 3, 3);
});
afterAll(cleanupTmp);

interface State {
  repo: string;
  home: string;
}

const snapshotCase: CrashCase<State> = {
  subject: 'snapshot create',
  trials: 50,
  async prepare() {
    const repo = await copyOf(template.repo);
    const home = await tmp('cb-home-');
    const env = cliEnv(home, { CLAWBACK_PASSWORD: PASSWORD });
    return { args: ['-r', repo, 'snapshot', 'create', template.src], env, watch: [repo], state: { repo, home } };
  },
  async check(p, run, t) {
    const { repo: dir, home } = p.state;
    const repo = await openAt(dir, PASSWORD, t.index % 4 === 0 ? { cacheDir: join(home, 'cache') } : {});
    let outcome: string;
    try {
      const s = await checkSound(repo, template.expected, 'after the kill', { sample: t.index % 5 === 0 ? 3 : 1 });
      const added = s.listed.filter((e) => !template.expected.has(e.id));
      expect(added.length).toBeLessThanOrEqual(1);
      for (const e of added) expect(await restoredTree(repo, e.manifest.tree), 'a new snapshot must be complete').toEqual(fresh);
      if (t.finished) expect(added.length, `finished run: ${run.stdout}`).toBe(1);
      outcome = added.length === 1 ? 'snapshot complete' : s.infos > 0 ? 'no snapshot, garbage left' : 'no snapshot, nothing left';
    } finally {
      await repo.close();
    }
    await rerun(p.args, p.env);
    const after = await openAt(dir, PASSWORD);
    try {
      const { entries } = await listSnapshots(after);
      const added = entries.filter((e) => !template.expected.has(e.id));
      expect(added.length).toBeGreaterThanOrEqual(1);
      for (const e of added) expect(await restoredTree(after, e.manifest.tree)).toEqual(fresh);
      expect(errorsOf(await verifyRepository(after))).toEqual([]);
    } finally {
      await after.close();
    }
    return outcome;
  },
  dispose: async (p) => {
    await removeTrial(p.state.repo);
  },
};

describe('crash campaign', () => {
  it('snapshot create survives SIGKILL at any moment', async () => {
    await tracked(
      {
        section: 'Crash (SIGKILL)',
        subject: 'snapshot create',
        tried: 'SIGKILL of `clawback snapshot create` (≈300 KiB new data into a repository with 3 snapshots)',
        held: 'every earlier snapshot listed and byte-identical; a new snapshot only if complete; verify --read-data: only unreferenced data; the next run succeeds and is complete',
        file: 'test/stress/crash/snapshot.test.ts',
      },
      async () => {
        const r = await runCampaign(snapshotCase);
        return { runs: r.trials.length, notes: r.notes };
      },
    );
  }, 900_000);
});
