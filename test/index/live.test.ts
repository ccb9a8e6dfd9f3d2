import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fc, test as fcTest } from '@fast-check/vitest';
import { ClawbackError } from '../../src/errors.js';
import { IndexCache } from '../../src/index/cache.js';
import { decodeIndex, encodeIndex, INDEX_RECORD_BYTES, packRecords, scanIndex, type IndexFile, type ScannedIndex } from '../../src/index/format.js';
import { LiveIndex } from '../../src/index/live.js';
import type { PackEntry } from '../../src/pack/format.js';

const made: string[] = [];
afterAll(async () => {
  for (const d of made) await rm(d, { recursive: true, force: true });
});

const hexId = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b).toString('hex'));
const entry = fc.record({ type: fc.constantFrom('data' as const, 'tree' as const), id: hexId, length: fc.integer({ min: 1, max: 5000 }), rawLength: fc.integer({ min: 0, max: 0xffffffff }) });

/** Entries at consecutive offsets, in shuffled listing order when `shuffle`. */
function packFrom(id: string, raw: Omit<PackEntry, 'offset'>[], shuffle: boolean): IndexFile['packs'][number] {
  let offset = 0;
  const blobs = raw.map((r) => {
    const e = { ...r, offset };
    offset += r.length;
    return e;
  });
  if (shuffle) blobs.reverse();
  return { id, size: offset + 100, blobs };
}

const indexArb = fc.record({
  superseded: fc.array(hexId, { maxLength: 3 }),
  packs: fc.array(fc.tuple(hexId, fc.array(entry, { maxLength: 8 }), fc.boolean()).map(([id, raw, s]) => packFrom(id, raw, s)), { maxLength: 5 }),
});

function records(idx: ScannedIndex): PackEntry[][] {
  return idx.packs.map((p) => {
    const out: PackEntry[] = [];
    for (let r = 0; r < p.records.length; r += INDEX_RECORD_BYTES) {
      out.push({
        type: p.records[r] === 0 ? 'data' : 'tree',
        offset: p.records.readUInt32LE(r + 1),
        length: p.records.readUInt32LE(r + 5),
        rawLength: p.records.readUInt32LE(r + 9),
        id: p.records.toString('hex', r + 13, r + 45),
      });
    }
    return out;
  });
}

function outcome(f: () => unknown): unknown {
  try {
    return { ok: f() };
  } catch (err) {
    expect(err).toBeInstanceOf(ClawbackError);
    return { error: (err as ClawbackError).code, message: (err as Error).message };
  }
}

describe('scanIndex', () => {
  fcTest.prop([indexArb])('reads what decodeIndex reads', (idx) => {
    const bytes = encodeIndex(idx);
    const d = decodeIndex(bytes, 'i');
    const s = scanIndex(bytes, 'i');
    expect(s.superseded).toEqual(d.superseded);
    expect(s.packs.map((p) => [p.id, p.size])).toEqual(d.packs.map((p) => [p.id, p.size]));
    expect(records(s)).toEqual(d.packs.map((p) => p.blobs));
    // packRecords turns decoded blobs back into exactly the scanned records.
    expect(d.packs.map((p) => packRecords(p.blobs))).toEqual(s.packs.map((p) => p.records));
  });

  it('packRecords refuses an id that is not 64 hex digits', () => {
    const blob = { type: 'data' as const, offset: 0, length: 1, rawLength: 1, id: 'ab'.repeat(32) };
    expect(packRecords([blob])).toHaveLength(INDEX_RECORD_BYTES);
    for (const id of ['ab'.repeat(31), 'zz'.repeat(32), 'ab'.repeat(33)]) {
      expect(() => packRecords([{ ...blob, id }])).toThrow(expect.objectContaining({ code: 'INTERNAL' }));
    }
  });

  fcTest.prop([indexArb, fc.nat(), fc.integer({ min: 0, max: 255 })])('fails exactly where decodeIndex fails, with the same message', (idx, pos, byte) => {
    const bytes = encodeIndex(idx);
    if (bytes.length > 0) bytes[pos % bytes.length] = byte;
    for (const b of [bytes, bytes.subarray(0, pos % (bytes.length + 1))]) {
      const d = outcome(() => decodeIndex(b, 'i'));
      const s = outcome(() => {
        const r = scanIndex(b, 'i');
        return { superseded: r.superseded, packs: r.packs.map((p, i) => ({ id: p.id, size: p.size, blobs: records(r)[i] })) };
      });
      expect(s).toEqual(d);
    }
  });
});

/** The reference: the rules of docs/FORMAT.md §7 on decoded files, object by object. */
function model(files: Map<string, IndexFile>) {
  const superseded = new Set<string>();
  for (const f of files.values()) for (const s of f.superseded) if (files.has(s)) superseded.add(s);
  const live = [...files.keys()].filter((id) => !superseded.has(id)).sort();
  const packs = new Map<string, { size: number; blobs: PackEntry[]; files: string[] }>();
  const copies = new Map<string, { pack: string; e: PackEntry }[]>();
  let conflicts = 0;
  for (const fid of live) {
    for (const p of files.get(fid)!.packs) {
      const known = packs.get(p.id);
      if (known) {
        known.files.push(fid);
        const key = (e: PackEntry) => `${e.offset}:${e.length}:${e.rawLength}:${e.type}:${e.id}`;
        const a = known.blobs.map(key).sort();
        const b = p.blobs.map(key).sort();
        if (known.size !== p.size || a.length !== b.length || a.some((k, i) => k !== b[i])) conflicts++;
        continue;
      }
      const sorted = [...p.blobs].sort((a, b) => a.offset - b.offset);
      packs.set(p.id, { size: p.size, blobs: sorted, files: [fid] });
      for (const e of sorted) copies.set(e.id, [...(copies.get(e.id) ?? []), { pack: p.id, e }]);
    }
  }
  return { superseded, live, packs, copies, conflicts };
}

/** Index files sharing packs and blobs, some superseding others. */
const repoArb = fc
  .record({
    packs: fc.array(fc.tuple(hexId, fc.array(entry, { minLength: 1, maxLength: 6 }), fc.boolean()), { minLength: 1, maxLength: 6 }),
    files: fc.array(fc.record({ packs: fc.array(fc.nat(), { maxLength: 4 }), supersedes: fc.array(fc.nat(), { maxLength: 2 }), alter: fc.boolean() }), { minLength: 1, maxLength: 5 }),
    shared: fc.array(fc.tuple(fc.nat(), fc.nat()), { maxLength: 4 }),
  })
  .map(({ packs, files, shared }) => {
    // Some blobs copied into other packs (same id, other place): duplicates.
    for (const [a, b] of shared) {
      const from = packs[a % packs.length]![1];
      const to = packs[b % packs.length]![1];
      to.push({ ...from[0]!, rawLength: from[0]!.rawLength });
    }
    const built = packs.map(([id, raw, s]) => packFrom(id, raw, s));
    const ids = files.map((_, i) => i.toString(16).padStart(64, '0'));
    const out = new Map<string, IndexFile>();
    files.forEach((f, i) => {
      out.set(ids[i]!, {
        superseded: f.supersedes.map((n) => ids[n % ids.length]!).filter((s) => s !== ids[i]),
        packs: f.packs.map((n) => {
          const p = built[n % built.length]!;
          // A listing that differs from the others: a conflict.
          return f.alter ? { ...p, size: p.size + 1 } : p;
        }),
      });
    });
    return out;
  });

describe('LiveIndex', () => {
  fcTest.prop([repoArb])('follows the index rules: live files, first listings, conflicts, every copy of every blob', (files) => {
    const scanned = new Map([...files].map(([id, f]) => [id, scanIndex(encodeIndex(f), id)]));
    const live = LiveIndex.fromScanned(scanned);
    const m = model(files);
    expect(live.live).toEqual(m.live);
    expect([...live.superseded].sort()).toEqual([...m.superseded].sort());
    expect(live.conflicts.length).toBe(m.conflicts);
    expect(live.packCount).toBe(m.packs.size);
    for (const [id, p] of m.packs) {
      const i = live.packIndex(id)!;
      expect(live.packSize(i)).toBe(p.size);
      expect(live.packFiles(i)).toEqual(p.files);
      expect(live.packEntries(i)).toEqual(p.blobs);
    }
    expect(live.blobCount).toBe(m.copies.size);
    expect([...live.blobs()].length).toBe(m.copies.size);
    for (const [id, want] of m.copies) {
      const got = live.copies(id).map((e) => ({ pack: live.packId(live.packOf(e)), e: live.entry(e) }));
      expect(got).toEqual(want);
      expect(live.find(id)).toBe(live.copies(id)[0]);
    }
    expect(live.find('f'.repeat(64))).toBe(m.copies.has('f'.repeat(64)) ? live.copies('f'.repeat(64))[0] : -1);
    expect(live.find('not hex')).toBe(-1);
  });

  it('reports damaged files and skips vanished ones when loading', async () => {
    const good = { superseded: [], packs: [packFrom('a'.repeat(64), [{ type: 'data', id: 'b'.repeat(64), length: 10, rawLength: 5 }], false)] };
    const live = await LiveIndex.load({
      list: async () => ['1'.repeat(64), '2'.repeat(64), '3'.repeat(64)],
      load: async (id) => {
        if (id.startsWith('1')) return scanIndex(encodeIndex(good), id);
        if (id.startsWith('2')) throw new ClawbackError('INTEGRITY', 'index file 22222222: damaged');
        throw new ClawbackError('BLOB_NOT_FOUND', 'gone');
      },
    });
    expect(live.files).toEqual(['1'.repeat(64)]);
    expect(live.damaged).toEqual([{ id: '2'.repeat(64), error: 'index file 22222222: damaged' }]);
    expect(live.location(live.find('b'.repeat(64)))).toEqual({ type: 'data', id: 'b'.repeat(64), offset: 0, length: 10, rawLength: 5, packId: 'a'.repeat(64) });
  });
});

describe('IndexCache.addIndexFile', () => {
  fcTest.prop([fc.array(indexArb, { minLength: 1, maxLength: 3 })], { numRuns: 15 })('stores the same entries from a scanned file as from a decoded one', async (idxs) => {
    const dirs = await Promise.all([0, 1].map(() => mkdtemp(join(tmpdir(), 'cb-live-'))));
    made.push(...dirs);
    const [a, b] = dirs.map((d) => IndexCache.open(join(d, 'index')));
    try {
      idxs.forEach((idx, i) => {
        const bytes = encodeIndex(idx);
        const fid = i.toString(16).padStart(64, '0');
        a!.addIndexFile(fid, decodeIndex(bytes, 'i'));
        b!.addIndexFile(fid, scanIndex(bytes, 'i'));
      });
      expect([...b!.allBlobs()]).toEqual([...a!.allBlobs()]);
      expect([...b!.allPacks()]).toEqual([...a!.allPacks()]);
      expect(b!.indexFiles()).toEqual(a!.indexFiles());
    } finally {
      await a!.close();
      await b!.close();
    }
  });
});
