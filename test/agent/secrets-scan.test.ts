/**
 * Credentials never reach an unencrypted repository: known secret strings are planted in
 * every credential file and config of OpenClaw, Hermes and NemoClaw trees, the trees are
 * snapshotted through their profiles, and every file of the repository and of the LMDB
 * cache is scanned for them. Compression is off, and a control snapshot of the same trees
 * without a profile shows that the scan does find them when they are stored.
 */
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createSnapshot } from '../../src/archiver/create-snapshot.js';
import { createAgentSnapshot } from '../../src/agent/create.js';
import { restoreInPlace } from '../../src/agent/inplace.js';
import { LocalBackend } from '../../src/backend/local.js';
import { initRepository, type Repository } from '../../src/repository/repository.js';
import { FAST_INIT, useTmp } from '../helpers/tmp.js';
import { buildHermes, buildNemoClawSandbox, buildOpenClaw, SECRETS } from './fixtures.js';
import { builtin, treeListing } from './helpers.js';

const tmp = useTmp('clawback-secrets-');

async function allFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) if (e.isFile()) out.push(join(e.parentPath, e.name));
  return out;
}

/** Secret strings found in any file below `dirs`. */
async function scan(dirs: string[]): Promise<Set<string>> {
  const hits = new Set<string>();
  const needles = Object.values(SECRETS).map((s) => [s, Buffer.from(s)] as const);
  let files = 0;
  for (const d of dirs) {
    for (const f of await allFiles(d)) {
      files++;
      const bytes = await readFile(f);
      for (const [s, b] of needles) if (bytes.includes(b)) hits.add(s);
    }
  }
  expect(files).toBeGreaterThan(5);
  return hits;
}

async function repoAt(name: string, password?: string): Promise<Repository> {
  return initRepository(new LocalBackend(join(tmp.dir, name, 'repo')), { password, ...FAST_INIT, compressionLevel: 0 }, { cacheDir: join(tmp.dir, name, 'cache'), sealThreads: 0 });
}

async function buildAll(): Promise<{ oc: string; hermes: string; nemo: string }> {
  const oc = join(tmp.dir, 'home', '.openclaw');
  const hermes = join(tmp.dir, 'home', '.hermes');
  const nemo = join(tmp.dir, 'sandbox', '.openclaw');
  await buildOpenClaw(oc);
  await buildHermes(hermes);
  await buildNemoClawSandbox(nemo);
  return { oc, hermes, nemo };
}

describe('secret scan', () => {
  it('an unencrypted repository holds none of the planted secrets', async () => {
    const { oc, hermes, nemo } = await buildAll();
    const repo = await repoAt('plain');
    for (const scope of ['everything', 'config-only'] as const) {
      await createAgentSnapshot(repo, { profile: builtin('openclaw', oc), scope });
      await createAgentSnapshot(repo, { profile: builtin('hermes', hermes), scope });
      await createAgentSnapshot(repo, { profile: builtin('nemoclaw', nemo), scope });
    }
    await repo.close();
    expect([...(await scan([join(tmp.dir, 'plain')]))]).toEqual([]);

    // Control: the same trees stored as plain paths are found by the same scan.
    const control = await repoAt('control');
    for (const p of [oc, hermes, nemo]) await createSnapshot(control, { paths: [p] });
    await control.close();
    const found = await scan([join(tmp.dir, 'control')]);
    expect([...found].sort()).toEqual(Object.values(SECRETS).sort());
  });

  it('--include-secrets is refused without encryption and stores credentials in an encrypted repository', async () => {
    const { oc } = await buildAll();
    const plain = await repoAt('plain');
    await expect(createAgentSnapshot(plain, { profile: builtin('openclaw', oc), includeSecrets: true })).rejects.toThrow(/not encrypted/);
    await plain.close();

    const enc = await repoAt('enc', 'pw');
    const snap = await createAgentSnapshot(enc, { profile: builtin('openclaw', oc), includeSecrets: true });
    const t = await treeListing(enc, snap.manifest.tree);
    for (const p of ['credentials/oauth.json', 'identity/device.json', 'chatgpt-auth.json', 'agents/main/agent/auth-profiles.json']) expect(t.has(p), p).toBe(true);
    expect(snap.info.stripped).toEqual([]);
    // In place, the snapshot's credentials come back too.
    await writeFile(join(oc, 'credentials/oauth.json'), '{"changed":true}');
    await restoreInPlace(enc, { snapshot: snap, profile: builtin('openclaw', oc) });
    expect(await readFile(join(oc, 'credentials/oauth.json'), 'utf8')).toContain(SECRETS.oauth);
    await enc.close();
    expect([...(await scan([join(tmp.dir, 'enc')]))]).toEqual([]); // encrypted at rest
  });
});
