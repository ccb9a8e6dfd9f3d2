/**
 * The *units* of an in-place restore: the root-relative paths that are moved aside and
 * replaced as a whole. They are the declared state dirs, `prefix` dirs, state files and
 * extra paths that exist live or in the snapshot (so a `workspace-new/` created after the
 * snapshot is replaced by nothing), minus excluded ones (credentials stay where they are
 * unless the snapshot holds them), without any unit nested in another.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { BlobId } from '../ids.js';
import { loadTree, type TreeLoader } from '../tree/walk.js';
import type { CaptureRules } from './rules.js';

/** One listed entry. */
interface Listed {
  name: string;
  isDir: boolean;
}

/** Lists one directory of the live root and of the snapshot tree. */
class DualLister {
  private readonly root: string;
  private readonly repo: TreeLoader;
  private readonly tree: BlobId | undefined;
  private readonly cache = new Map<string, Promise<BlobId | undefined>>();

  constructor(root: string, repo: TreeLoader, tree: BlobId | undefined) {
    this.root = root;
    this.repo = repo;
    this.tree = tree;
  }

  async live(rel: string): Promise<Listed[]> {
    try {
      const ents = await readdir(rel === '' ? this.root : join(this.root, rel), { withFileTypes: true });
      return ents.map((e) => ({ name: e.name, isDir: e.isDirectory() }));
    } catch {
      return [];
    }
  }

  private treeOf(rel: string): Promise<BlobId | undefined> {
    let p = this.cache.get(rel);
    if (!p) {
      p = (async () => {
        if (rel === '') return this.tree;
        const i = rel.lastIndexOf('/');
        const parent = await this.treeOf(i < 0 ? '' : rel.slice(0, i));
        if (!parent) return undefined;
        const node = (await loadTree(this.repo, parent)).nodes.find((n) => n.name === rel.slice(i + 1));
        return node?.type === 'dir' ? node.subtree : undefined;
      })();
      this.cache.set(rel, p);
    }
    return p;
  }

  async stored(rel: string): Promise<Listed[]> {
    const id = await this.treeOf(rel);
    if (!id) return [];
    return (await loadTree(this.repo, id)).nodes.map((n) => ({ name: n.name, isDir: n.type === 'dir' }));
  }

  /** Union of both listings (a name that is a dir on either side counts as a dir). */
  async both(rel: string): Promise<Listed[]> {
    const m = new Map<string, boolean>();
    for (const e of [...(await this.live(rel)), ...(await this.stored(rel))]) m.set(e.name, (m.get(e.name) ?? false) || e.isDir);
    return [...m].map(([name, isDir]) => ({ name, isDir }));
  }

  /** True when `rel` exists in the snapshot. */
  async inSnapshot(rel: string): Promise<boolean> {
    const i = rel.lastIndexOf('/');
    const names = await this.stored(i < 0 ? '' : rel.slice(0, i));
    return names.some((n) => n.name === rel.slice(i + 1));
  }
}

/** One unit of an in-place restore. */
export interface RestoreUnit {
  /** Root-relative path. */
  rel: string;
  isDir: boolean;
  /** Present in the snapshot (restored); otherwise only moved aside. */
  inSnapshot: boolean;
}

/**
 * Computes the units of `rules` for the live `root` and the snapshot tree `tree` (the
 * root's tree; undefined when the snapshot lacks it).
 */
export async function restoreUnits(rules: CaptureRules, root: string, repo: TreeLoader, tree: BlobId | undefined): Promise<RestoreUnit[]> {
  const lister = new DualLister(root, repo, tree);
  const found = new Map<string, boolean>();
  if (rules.prefixes.length > 0) {
    for (const e of await lister.both('')) if (e.isDir && rules.prefixes.some((p) => e.name.startsWith(p))) found.set(e.name, true);
  }
  for (const u of rules.units) {
    let candidates: { rel: string; isDir: boolean }[] = [{ rel: '', isDir: true }];
    for (const seg of u.pattern.segments) {
      if (seg === '**') break; // everything below the part before ** is one unit
      const next: { rel: string; isDir: boolean }[] = [];
      for (const c of candidates) {
        if (!c.isDir) continue;
        for (const e of await lister.both(c.rel)) if (seg.test(e.name)) next.push({ rel: c.rel === '' ? e.name : `${c.rel}/${e.name}`, isDir: e.isDir });
      }
      candidates = next;
    }
    for (const c of candidates) if (c.rel !== '') found.set(c.rel, c.isDir);
  }
  const rels = [...found.keys()]
    .filter((rel) => rules.exclusion(rel, found.get(rel)!, join(root, rel)) === undefined)
    .sort();
  const units: RestoreUnit[] = [];
  for (const rel of rels) {
    if (units.some((u) => rel.startsWith(u.rel + '/'))) continue;
    units.push({ rel, isDir: found.get(rel)!, inSnapshot: await lister.inSnapshot(rel) });
  }
  return units;
}
