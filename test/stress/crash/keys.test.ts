/**
 * Crash campaign: `clawback key add` and `clawback key passwd` killed at random moments
 * (CLAWBACK_TEST_SCRYPT_N keeps the key derivation cheap; see src/cli/test-kdf.ts).
 *
 * After every kill: the repository opens with the old password (key add: always; key
 * passwd: with the old or the new one, never with neither), every key file parses, every
 * snapshot is listed and restores byte for byte, verify --read-data finds nothing but
 * unreferenced data, and the next run of the command (with a password that opens) succeeds
 * and leaves the new password working.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isClawbackError } from '../../../src/errors.js';
import type { Repository } from '../../../src/repository/repository.js';
import { tracked } from '../results.js';
import { checkSound, cleanupTmp, cliEnv, openAt, PASSWORD } from '../harness.js';
import { runCampaign, type CrashCase } from './campaign.js';
import { buildTemplate, copyOf, removeTrial, rerun, type Template } from './fixtures.js';

const FILE = 'test/stress/crash/keys.test.ts';
const NEW_PASSWORD = 'new-stress-pw';
let template: Template;

beforeAll(async () => {
  template = await buildTemplate(2);
});
afterAll(cleanupTmp);

/** The repository opened with `password`, or undefined when no key opens with it. */
async function tryOpen(dir: string, password: string): Promise<Repository | undefined> {
  try {
    return await openAt(dir, password);
  } catch (err) {
    if (isClawbackError(err, 'WRONG_PASSWORD')) return undefined;
    throw err;
  }
}

interface State {
  repo: string;
}

function keyCase(verb: 'add' | 'passwd'): CrashCase<State> {
  return {
    subject: `key ${verb}`,
    trials: 25,
    async prepare() {
      const repo = await copyOf(template.repo);
      const env = cliEnv(join(repo, '..', 'home'), { CLAWBACK_PASSWORD: PASSWORD, CLAWBACK_NEW_PASSWORD: NEW_PASSWORD });
      return { args: ['-r', repo, 'key', verb], env, watch: [repo], state: { repo } };
    },
    async check(p, _run, t) {
      const dir = p.state.repo;
      const oldRepo = await tryOpen(dir, PASSWORD);
      const newRepo = await tryOpen(dir, NEW_PASSWORD);
      let outcome: string;
      try {
        if (verb === 'add') expect(oldRepo, 'key add must never lock the old password out').toBeDefined();
        expect(oldRepo ?? newRepo, 'no password opens the repository').toBeDefined();
        const repo = (oldRepo ?? newRepo)!;
        const keys = await repo.listKeys(); // parses every key file
        await checkSound(repo, template.expected, 'after the kill', { sample: t.index % 5 === 0 ? 2 : 1 });
        outcome = `${keys.length} key(s); opens with ${[oldRepo ? 'old' : '', newRepo ? 'new' : ''].filter((x) => x).join(' and ')}`;
        if (t.finished) expect(newRepo, 'a finished run must leave the new password working').toBeDefined();
        if (t.finished && verb === 'passwd') expect(oldRepo, 'a finished passwd must remove the old password').toBeUndefined();
      } finally {
        await oldRepo?.close();
        await newRepo?.close();
      }
      // The next run, with a password that opens the repository.
      const pw = oldRepo ? PASSWORD : NEW_PASSWORD;
      await rerun(p.args, { ...p.env, CLAWBACK_PASSWORD: pw });
      const after = await tryOpen(dir, NEW_PASSWORD);
      expect(after, 'the new password opens after the next run').toBeDefined();
      try {
        await after!.listKeys();
      } finally {
        await after!.close();
      }
      return outcome;
    },
    dispose: (p) => removeTrial(p.state.repo),
  };
}

describe('crash campaign: key changes', () => {
  it('key add and key passwd survive SIGKILL at any moment', async () => {
    const notes: string[] = [];
    await tracked(
      {
        section: 'Crash (SIGKILL)',
        subject: 'key add / key passwd',
        tried: 'SIGKILL of `clawback key add` and of `clawback key passwd` (half the trials each)',
        held: 'the repository opens with the old or the new password (key add: always the old); every key file parses; every snapshot listed and byte-identical; verify --read-data: only unreferenced data; the next run succeeds',
        file: FILE,
      },
      async () => {
        let runs = 0;
        for (const verb of ['add', 'passwd'] as const) {
          const r = await runCampaign(keyCase(verb));
          runs += r.trials.length;
          notes.push(`key ${verb}: ${r.notes}`);
        }
        return { runs, notes: notes.join(' | ') };
      },
    );
  }, 900_000);
});
