/**
 * In-place restore of an agent snapshot, atomic and undoable (SPEC §3.2, §3.3):
 *
 * 1. recover what a crashed earlier restore left (`aside.ts`), and say so;
 * 2. take a `pre-restore` snapshot of the live state (kind `auto`, tag `pre-restore`), so
 *    every restore can be undone;
 * 3. move the live units (declared dirs and files, see `units.ts`) aside into
 *    `<root>/.clawback-aside-<id>/`, journaled;
 * 4. restore the snapshot's units (SQLite through SQLite, see `restore-hooks.ts`);
 * 5. merge configs stored without secrets with the live file (live values for the
 *    stripped fields); copy back live entries the snapshot never holds (credentials,
 *    excluded files) from the aside copy;
 * 6. run the optional health check;
 * 7. on success remove the aside copy; on any failure (or interruption) put the
 *    moved-aside state back exactly and report the failure.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { chmod, copyFile, lstat, lutimes, mkdir, readFile, readdir, readlink, rename, symlink, utimes, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { ClawbackError, isClawbackError, type ErrorCode } from '../errors.js';
import type { BlobId, SnapshotId } from '../ids.js';
import { shortId } from '../ids.js';
import { decodeConfigText, mergeSecrets, secretFormatOf } from '../fs/secrets.js';
import { sidecarsOf } from '../fs/sqlite.js';
import type { Progress } from '../progress.js';
import type { Repository } from '../repository/repository.js';
import { restoreTree, type RestoreResult } from '../restorer/restorer.js';
import type { SnapshotManifest } from '../snapshot/manifest.js';
import { loadTree } from '../tree/walk.js';
import { asideDirOf, commit, dirState, moveAside, newAsideId, recoverAsides, rollback, writeJournal, type Journal, type JournalUnit, type Recovery, type RestoreOwner } from './aside.js';
import { agentInfoOf, createAgentSnapshot, recordedDefinition, rulesFor, splitExtraPaths } from './create.js';
import type { AgentProfile } from './profile.js';
import { sqliteRestoreHooks } from './restore-hooks.js';
import { canonicalPath, isWithin } from './root.js';
import { TEMP_PREFIX, type CaptureRules } from './rules.js';
import { restoreUnits } from './units.js';
import { pathExists as exists } from '../util/fs.js';

/** Options of {@link restoreInPlace}. */
export interface InPlaceOptions {
  snapshot: { id: SnapshotId; manifest: SnapshotManifest };
  /** The agent's profile; its root is where the snapshot goes back. */
  profile: AgentProfile;
  /** Runs after the restore; throwing rolls it back. */
  healthCheck?: (() => Promise<void>) | undefined;
  /** Take the pre-restore snapshot (default true). */
  preRestore?: boolean | undefined;
  /** Who restores (tells a crashed earlier restore from a running one). */
  owner?: RestoreOwner | undefined;
  /** Host name recorded in the journal (default os.hostname()). */
  host?: string | undefined;
  signal?: AbortSignal | undefined;
  progress?: Progress | undefined;
  tempDir?: string | undefined;
}

/** What {@link restoreInPlace} did. */
export interface InPlaceResult {
  root: string;
  /** The pre-restore snapshot, when the root existed. */
  preRestore?: { id: SnapshotId } | undefined;
  /** Leftovers of crashed restores that were recovered first. */
  recovered: Recovery[];
  restored: RestoreResult;
  /** Replaced units: root-relative paths, absolute for extra paths outside the root. */
  replaced: string[];
  /** Files merged with the live file's secret values. */
  merged: string[];
  /** Live entries the snapshot does not hold (credentials, excluded) that were kept. */
  kept: string[];
}


/** Copies an entry (file, dir, symlink) with mode and times; skips special files. */
async function copyEntry(src: string, dst: string): Promise<void> {
  const st = await lstat(src);
  if (st.isSymbolicLink()) {
    await symlink(await readlink(src), dst);
    await lutimes(dst, st.atime, st.mtime).catch(() => undefined);
  } else if (st.isDirectory()) {
    await mkdir(dst, { mode: 0o700 });
    for (const n of await readdir(src)) await copyEntry(join(src, n), join(dst, n));
    await chmod(dst, st.mode & 0o7777);
    await utimes(dst, st.atime, st.mtime);
  } else if (st.isFile()) {
    await copyFile(src, dst);
    await chmod(dst, st.mode & 0o7777);
    await utimes(dst, st.atime, st.mtime);
  }
}

/** The unit holding root-relative `rel`, if any. */
function unitOf(units: JournalUnit[], root: string, abs: string): JournalUnit | undefined {
  return units.find((u) => isWithin(abs, u.live) && isWithin(u.live, root));
}

/** The path of `abs` inside its unit's aside copy. */
function asidePathOf(u: JournalUnit, abs: string): string {
  return abs === u.live ? u.aside : join(u.aside, abs.slice(u.live.length + 1));
}

/** Merges every restored file stored without secrets with its live (aside) version. */
async function mergeStripped(root: string, stripped: string[], units: JournalUnit[]): Promise<string[]> {
  const merged: string[] = [];
  for (const rel of stripped) {
    const abs = join(root, rel);
    const u = unitOf(units, root, abs);
    if (!u || !(await exists(abs))) continue;
    const format = secretFormatOf(basename(rel)) ?? 'json';
    const st = await lstat(abs);
    const restored = decodeConfigText(await readFile(abs), `restored ${rel}`);
    const livePath = asidePathOf(u, abs);
    const live = u.existed && (await exists(livePath)) ? decodeConfigText(await readFile(livePath), `live ${rel}`) : undefined;
    const text = mergeSecrets(format, restored, live, rel);
    const tmp = join(dirname(abs), `${TEMP_PREFIX}${randomBytes(6).toString('hex')}-${basename(abs)}`);
    await writeFile(tmp, text, { mode: st.mode & 0o7777, flag: 'wx' });
    await chmod(tmp, st.mode & 0o7777);
    await utimes(tmp, st.atime, st.mtime);
    await rename(tmp, abs);
    merged.push(rel);
  }
  return merged;
}

/**
 * Copies live entries that the snapshot never holds (credentials, excluded entries) from
 * the aside copies into the restored units, where nothing is in the way.
 */
async function keepUncaptured(root: string, units: JournalUnit[], rules: CaptureRules): Promise<string[]> {
  const kept: string[] = [];
  const walk = async (asideDir: string, liveDir: string, rel: string): Promise<void> => {
    let names: string[];
    try {
      names = await readdir(asideDir);
    } catch {
      return;
    }
    for (const n of names.sort()) {
      const a = join(asideDir, n);
      const l = join(liveDir, n);
      const r = `${rel}/${n}`;
      const st = await lstat(a);
      const reason = rules.exclusion(r, st.isDirectory(), a);
      if (reason === 'credential' || reason === 'excluded') {
        if (await exists(l)) continue;
        await mkdir(liveDir, { recursive: true, mode: 0o700 });
        await copyEntry(a, l);
        kept.push(r);
      } else if (reason === undefined && st.isDirectory()) {
        await walk(a, l, r);
      }
    }
  };
  for (const u of units) {
    if (!u.existed || !isWithin(u.live, root) || u.live === root) continue;
    const st = await lstat(u.aside).catch(() => undefined);
    if (!st?.isDirectory()) continue;
    await walk(u.aside, u.live, u.live.slice(root.length + 1));
  }
  return kept;
}

/** The subtree of `name` in tree `tree`, if any. */
async function subtreeOf(repo: Repository, tree: BlobId, name: string): Promise<BlobId | undefined> {
  const node = (await loadTree(repo, tree)).nodes.find((n) => n.name === name);
  return node?.type === 'dir' ? node.subtree : undefined;
}

/**
 * Restores an agent snapshot in place; see the module comment.
 * @throws ClawbackError 'USAGE' when the snapshot was not made through this profile and
 *   root; 'LOCKED' when another restore is running on the root; the failure's own code
 *   (with a message saying the live state was put back) when the restore or the health
 *   check fails; 'INTERNAL' naming the aside directory when even putting back failed.
 */
export async function restoreInPlace(repo: Repository, opts: InPlaceOptions): Promise<InPlaceResult> {
  const { manifest, id } = opts.snapshot;
  const info = agentInfoOf(manifest);
  const def = opts.profile.definition;
  if (!info) throw new ClawbackError('USAGE', `snapshot ${shortId(id)} was not taken through an agent profile: restore it with --target DIR`);
  if (info.profile !== def.name) throw new ClawbackError('USAGE', `snapshot ${shortId(id)} was taken with profile ${info.profile}, not ${def.name}`);
  const root = await canonicalPath(opts.profile.root);
  if (info.root !== root) throw new ClawbackError('USAGE', `snapshot ${shortId(id)} was taken of ${info.root}, not ${root}: restore it with --target DIR`);
  const host = opts.host ?? hostname();

  const recovered = await recoverAsides(root, host, opts.owner);
  for (const r of recovered) {
    if (r.action === 'rolled-back') opts.progress?.warn?.(`recovered an interrupted restore: put ${r.units} item(s) back from ${r.asideDir}`);
    else if (r.action === 'cleaned') opts.progress?.warn?.(`finished cleaning up after an interrupted restore: removed ${r.asideDir}`);
  }

  const recordedDef = recordedDefinition(info, def);
  const extras = await splitExtraPaths(root, info.extraPaths);
  const rules = rulesFor(recordedDef, { scope: info.scope, noWorkspace: info.noWorkspace, includeSecrets: info.includeSecrets, extraInside: extras.inside });

  const rootExisted = await exists(root);
  let preRestore: { id: SnapshotId } | undefined;
  if (opts.preRestore !== false && rootExisted) {
    try {
      const presentExtras: string[] = [];
      for (const p of info.extraPaths) if (await exists(p)) presentExtras.push(p);
      const pre = await createAgentSnapshot(repo, {
        profile: { definition: recordedDef, root, origin: opts.profile.origin },
        scope: info.scope,
        noWorkspace: info.noWorkspace,
        extraPaths: presentExtras,
        includeSecrets: info.includeSecrets && repo.encrypted,
        kind: 'auto',
        tags: ['pre-restore'],
        signal: opts.signal,
        progress: opts.progress,
        tempDir: opts.tempDir,
      });
      preRestore = { id: pre.id };
    } catch (err) {
      const code: ErrorCode = isClawbackError(err) ? err.code : 'INTERNAL';
      throw new ClawbackError(code, `the pre-restore snapshot of ${root} failed, so nothing was changed: ${(err as Error).message}`, { cause: err });
    }
  }

  // Units and the journal.
  const multi = manifest.paths.length > 1;
  const rootTree = multi ? await subtreeOf(repo, manifest.tree, basename(manifest.paths[0]!)) : manifest.tree;
  const units = await restoreUnits(rules, root, repo, rootTree);
  const asideId = newAsideId();
  const asideRoot = asideDirOf(root, asideId);
  const jUnits: JournalUnit[] = [];
  const dirs = [await dirState(root)];
  for (const u of units) {
    const live = join(root, u.rel);
    jUnits.push({ live, aside: join(asideRoot, u.rel), existed: await exists(live) });
    if (!u.isDir) {
      for (const s of sidecarsOf(live)) if (await exists(s)) jUnits.push({ live: s, aside: join(asideRoot, s.slice(root.length + 1)), existed: true });
    }
    const parts = u.rel.split('/');
    for (let i = 1; i < parts.length; i++) {
      const d = join(root, ...parts.slice(0, i));
      if (!dirs.some((x) => x.path === d)) dirs.push(await dirState(d));
    }
  }
  const outsideInSnapshot = new Map<string, boolean>();
  const topNames = multi ? new Set((await loadTree(repo, manifest.tree)).nodes.map((n) => n.name)) : new Set<string>();
  const asideDirs = [asideRoot];
  for (const e of extras.outside) {
    const aside = join(dirname(e), `${asideRoot.slice(root.length + 1)}-${basename(e)}`);
    jUnits.push({ live: e, aside, existed: await exists(e) });
    asideDirs.push(aside);
    dirs.push(await dirState(dirname(e)));
    outsideInSnapshot.set(e, topNames.has(basename(e)));
  }
  const journal: Journal = {
    version: 1,
    snapshot: id,
    root,
    host,
    ...(opts.owner ? { pid: opts.owner.pid } : {}),
    started: new Date().toISOString(),
    state: 'moving',
    units: jUnits,
    dirs,
    asideDirs,
  };
  await mkdir(root, { recursive: true, mode: 0o700 });
  await mkdir(asideRoot, { mode: 0o700 });
  await writeJournal(asideRoot, journal);

  const hooks = sqliteRestoreHooks();
  const restored: RestoreResult = { files: 0, dirs: 0, symlinks: 0, bytes: 0 };
  const add = (r: RestoreResult) => {
    restored.files += r.files;
    restored.dirs += r.dirs;
    restored.symlinks += r.symlinks;
    restored.bytes += r.bytes;
  };
  let merged: string[] = [];
  let kept: string[] = [];
  try {
    await moveAside(journal);
    journal.state = 'restoring';
    await writeJournal(asideRoot, journal);
    const paths = units.filter((u) => u.inSnapshot).map((u) => u.rel);
    if (rootTree && paths.length > 0) add(await restoreTree(repo, rootTree, root, { paths, overwrite: true, hooks, signal: opts.signal, progress: opts.progress }));
    for (const e of extras.outside) {
      if (outsideInSnapshot.get(e)) add(await restoreTree(repo, manifest.tree, dirname(e), { paths: [basename(e)], overwrite: true, hooks, signal: opts.signal, progress: opts.progress }));
    }
    merged = await mergeStripped(root, info.stripped, jUnits);
    kept = await keepUncaptured(root, jUnits, rules);
    if (opts.healthCheck) await opts.healthCheck();
  } catch (err) {
    let putBack: number;
    try {
      putBack = await rollback(journal);
    } catch (rbErr) {
      throw new ClawbackError(
        'INTERNAL',
        `restore of ${root} failed (${(err as Error).message}) and putting the previous state back failed too (${(rbErr as Error).message}): ` +
          `the previous state is kept in ${asideRoot}; run the restore again to recover it`,
        { cause: err, details: { asideDir: asideRoot } },
      );
    }
    const code: ErrorCode = opts.signal?.aborted ? 'ABORTED' : isClawbackError(err) ? err.code : 'INTERNAL';
    throw new ClawbackError(
      code,
      `restore of snapshot ${shortId(id)} into ${root} failed and was rolled back (${putBack} item(s) put back; the live state is as before): ${(err as Error).message}` +
        (preRestore ? ` [pre-restore snapshot ${shortId(preRestore.id)} kept]` : ''),
      { cause: err, details: { rolledBack: true, ...(isClawbackError(err) ? err.details : {}) } },
    );
  }
  await commit(journal);
  return {
    root,
    preRestore,
    recovered,
    restored,
    replaced: units.map((u) => u.rel).concat(extras.outside),
    merged,
    kept,
  };
}
