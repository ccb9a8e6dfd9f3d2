/**
 * Secrets at rest, through the real CLI (in-process):
 *
 * - an unencrypted repository never holds a credential file's bytes: OpenClaw, Hermes and
 *   NemoClaw trees with planted secrets (test/agent/fixtures.ts) are snapshotted through
 *   their profiles, and every file of the repository and of the local cache is scanned;
 * - an encrypted repository shows nothing readable: a tree with distinctive file and
 *   directory names, contents, symlink targets, a label and a tag is snapshotted (no
 *   compression, so plaintext would show) plainly and, with --include-secrets, through a
 *   profile; every repository file (its bytes and its path) is scanned for all of them.
 *
 * Each scan has a control: the same data in an unencrypted repository without profiles,
 * where the same scan finds every needle (so the scan can fail).
 */
import { mkdir, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cli } from '../helpers/cli.js';
import { buildHermes, buildNemoClawSandbox, buildOpenClaw, SECRETS } from '../agent/fixtures.js';
import { cleanupTmp, cliEnv, openAt, tmp } from './harness.js';
import { tracked } from './results.js';

const FILE = 'test/stress/secrets.test.ts';
afterAll(cleanupTmp);

async function allFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) if (e.isFile()) out.push(join(e.parentPath, e.name));
  return out;
}

/** The needles found in the bytes or the relative paths of the files below `dirs`. */
async function scan(dirs: string[], needles: string[], skip: (rel: string) => boolean = () => false): Promise<{ found: Set<string>; files: number }> {
  const found = new Set<string>();
  let files = 0;
  const bufs = needles.map((n) => [n, Buffer.from(n)] as const);
  for (const d of dirs) {
    for (const f of await allFiles(d)) {
      const rel = relative(d, f);
      if (skip(rel)) continue;
      files++;
      const bytes = await readFile(f);
      for (const [n, b] of bufs) if (bytes.includes(b) || rel.includes(n)) found.add(n);
    }
  }
  return { found, files };
}

async function run(args: string[], env: Record<string, string>): Promise<string> {
  const r = await cli(args, env);
  expect(r.code, `clawback ${args.join(' ')}: ${r.stderr}`).toBe(0);
  return r.stdout;
}

describe('secrets', () => {
  it('an unencrypted repository never holds a credential file\'s bytes (CLI, three profiles)', async () => {
    await tracked(
      {
        section: 'Secrets',
        subject: 'unencrypted repository, agent profiles',
        tried: `OpenClaw, Hermes and NemoClaw trees with ${Object.keys(SECRETS).length} planted secrets (credential files, .env, JSON/YAML configs) snapshotted through \`clawback snapshot create --profile\`, scope everything and config-only`,
        held: 'no secret appears in any repository or cache file; the same scan of a control repository (plain paths) finds every one',
        file: FILE,
        runs: 6,
      },
      async () => {
        const dir = await tmp('cb-secrets-');
        const trees = { openclaw: join(dir, 'home', '.openclaw'), hermes: join(dir, 'home', '.hermes'), nemoclaw: join(dir, 'sandbox', '.openclaw') };
        await buildOpenClaw(trees.openclaw);
        await buildHermes(trees.hermes);
        await buildNemoClawSandbox(trees.nemoclaw);
        const env = cliEnv(join(dir, 'h'));
        const repo = join(dir, 'plain');
        await run(['-r', repo, 'init', '--no-password', '--compression-level', '0'], env);
        let runs = 0;
        for (const [profile, root] of Object.entries(trees)) {
          for (const scope of ['everything', 'config-only']) {
            await run(['-r', repo, 'snapshot', 'create', '--profile', profile, '--root', root, '--scope', scope], env);
            runs++;
          }
        }
        const needles = Object.values(SECRETS);
        const got = await scan([repo, join(dir, 'h', 'cache')], needles);
        expect(got.files).toBeGreaterThan(10);
        expect([...got.found]).toEqual([]);
        const control = join(dir, 'control');
        await run(['-r', control, 'init', '--no-password', '--compression-level', '0'], env);
        for (const root of Object.values(trees)) await run(['-r', control, 'snapshot', 'create', root], env);
        expect([...(await scan([control], needles)).found].sort()).toEqual([...needles].sort());
        return { runs, notes: `${got.files} files scanned for ${needles.length} secrets` };
      },
    );
  });

  it('an encrypted repository shows no plaintext name, content or metadata', async () => {
    await tracked(
      {
        section: 'Secrets',
        subject: 'encrypted repository',
        tried: 'a tree with distinctive file/dir names, contents and symlink targets, a label and a tag, snapshotted without compression (plain paths, and an OpenClaw tree with --include-secrets); every repository file and path scanned',
        held: 'none of the names, contents, targets, label, tag, source path or planted secrets is found in any repository file or file name (key files hold only their own host/user/creation time); the control repository shows them all',
        file: FILE,
        runs: 2,
      },
      async () => {
        const dir = await tmp('cb-enc-');
        const src = join(dir, 'project-nightingale-src');
        const names = ['diary-of-agent-kestrel.md', 'operation-bluefin-plans', 'wallet-seed-phrase.txt'];
        const contents = ['the eagle lands at midnight under the old bridge', 'CORRECT-HORSE-BATTERY-STAPLE-7731', 'private memory: user prefers quiet mornings'];
        await mkdir(join(src, names[1]!), { recursive: true });
        await writeFile(join(src, names[0]!), `${contents[0]}\n`.repeat(50));
        await writeFile(join(src, names[1]!, names[2]!), contents[1]!);
        await writeFile(join(src, names[1]!, 'notes.txt'), contents[2]!);
        await symlink('../symlink-target-osprey', join(src, 'link-to-osprey'));
        const oc = join(dir, 'home', '.openclaw');
        await buildOpenClaw(oc);
        const env = cliEnv(join(dir, 'h'), { CLAWBACK_PASSWORD: 'a-long-enough-password' });
        const repo = join(dir, 'enc');
        await run(['-r', repo, 'init', '--compression-level', '0'], env);
        await run(['-r', repo, 'snapshot', 'create', src, '--name', 'label-albatross', '--tag', 'tag-cormorant'], env);
        await run(['-r', repo, 'snapshot', 'create', '--profile', 'openclaw', '--root', oc, '--include-secrets'], env);
        const needles = [...names, ...contents, 'symlink-target-osprey', 'label-albatross', 'tag-cormorant', 'project-nightingale-src', ...Object.values(SECRETS).filter((v) => v.startsWith('gw-') || v.startsWith('oauth') || v.startsWith('sk-proj'))];
        const got = await scan([repo], needles);
        expect(got.files).toBeGreaterThan(5);
        expect([...got.found]).toEqual([]);
        // Every repository file name is a hex id (or `config`): no name leaks through paths.
        for (const f of await allFiles(repo)) expect(relative(repo, f)).toMatch(/^(config|(keys|index|snapshots|locks)\/[0-9a-f]{64}|data\/[0-9a-f]{2}\/[0-9a-f]{64})$/);
        // Control: unencrypted, the same scan finds them.
        const control = join(dir, 'control');
        const penv = cliEnv(join(dir, 'h2'));
        await run(['-r', control, 'init', '--no-password', '--compression-level', '0'], penv);
        await run(['-r', control, 'snapshot', 'create', src, '--name', 'label-albatross', '--tag', 'tag-cormorant'], penv);
        await run(['-r', control, 'snapshot', 'create', oc], penv);
        // Metadata files are zstd-compressed even without encryption: the control reads
        // their plaintext too.
        const found = (await scan([control], needles)).found;
        const plain = await openAt(control, undefined);
        try {
          for (const id of await plain.listFiles('snapshots')) {
            const text = (await plain.loadFile('snapshots', id)).toString('utf8');
            for (const n of needles) if (text.includes(n)) found.add(n);
          }
        } finally {
          await plain.close();
        }
        expect([...found].sort()).toEqual([...needles].sort());
        return { runs: 2, notes: `${got.files} files scanned for ${needles.length} needles` };
      },
    );
  });
});
