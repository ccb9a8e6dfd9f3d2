/**
 * `verify --read-data-subset`: which packs to read, as restic's `check --read-data-subset`
 * (https://restic.readthedocs.io/en/stable/045_working_with_repos.html#checking-integrity-and-consistency):
 *
 * - `n/t` (1 ≤ n ≤ t ≤ 256): the packs whose first id byte modulo t is n−1. Deterministic,
 *   so running 1/t … t/t (e.g. one per day) reads every pack exactly once.
 * - `x%` (0 < x ≤ 100): a random x% of the packs (at least one when there are any).
 * - a byte size (`500M`, `2G`, `1.5T`, `4096`; units K, M, G, T are powers of 1024, with an
 *   optional `B`/`iB`): random packs until their total size reaches it.
 */
import { ClawbackError } from '../errors.js';
import type { FileId } from '../ids.js';

/** A parsed subset. */
export type Subset = { kind: 'bucket'; n: number; t: number } | { kind: 'percent'; percent: number } | { kind: 'size'; bytes: number };

/** Largest `t` in `n/t` (restic's limit: one bucket per value of the first id byte). */
export const MAX_BUCKETS = 256;

const UNITS: Record<string, number> = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 };

/**
 * Parses a subset spec.
 * @throws ClawbackError `USAGE` naming the spec and the accepted forms.
 */
export function parseSubset(spec: string): Subset {
  const s = spec.trim();
  const bad = (why: string): never => {
    throw new ClawbackError('USAGE', `invalid --read-data-subset ${JSON.stringify(spec)}: ${why}; give n/t (e.g. 1/7), a percentage (10%) or a size (500M)`);
  };
  let m = /^(\d+)\/(\d+)$/.exec(s);
  if (m) {
    const n = Number(m[1]);
    const t = Number(m[2]);
    if (t < 1 || t > MAX_BUCKETS) bad(`t must be 1..${MAX_BUCKETS}`);
    if (n < 1 || n > t) bad(`n must be 1..${t}`);
    return { kind: 'bucket', n, t };
  }
  m = /^(\d+(?:\.\d+)?)%$/.exec(s);
  if (m) {
    const percent = Number(m[1]);
    if (!(percent > 0 && percent <= 100)) bad('the percentage must be above 0 and at most 100');
    return { kind: 'percent', percent };
  }
  m = /^(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?$/i.exec(s);
  if (m) {
    const bytes = Math.round(Number(m[1]) * UNITS[(m[2] ?? '').toUpperCase()]!);
    if (!(bytes > 0) || !Number.isSafeInteger(bytes)) bad('the size must be positive');
    return { kind: 'size', bytes };
  }
  return bad('unrecognized form');
}

/** Fisher–Yates shuffle of a copy, with `random` in [0, 1). */
function shuffled<T>(items: readonly T[], random: () => number): T[] {
  const a = [...items];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

/**
 * The packs of `packs` (id → size in bytes) that `subset` selects, sorted by id.
 * @param random source of randomness for `x%` and sizes; default `Math.random`.
 */
export function selectPacks(packs: ReadonlyMap<FileId, number>, subset: Subset, random: () => number = Math.random): FileId[] {
  const ids = [...packs.keys()].sort();
  let out: FileId[];
  switch (subset.kind) {
    case 'bucket':
      out = ids.filter((id) => parseInt(id.slice(0, 2), 16) % subset.t === subset.n - 1);
      break;
    case 'percent': {
      const count = ids.length === 0 ? 0 : Math.max(1, Math.round((ids.length * subset.percent) / 100));
      out = shuffled(ids, random).slice(0, count);
      break;
    }
    case 'size': {
      out = [];
      let total = 0;
      for (const id of shuffled(ids, random)) {
        if (total >= subset.bytes) break;
        out.push(id);
        total += packs.get(id) ?? 0;
      }
      break;
    }
  }
  return out.sort();
}
