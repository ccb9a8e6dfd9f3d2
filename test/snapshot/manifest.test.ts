import { describe, expect, test } from 'vitest';
import { fc, test as fcTest } from '@fast-check/vitest';
import { ClawbackError } from '../../src/errors.js';
import { toHex } from '../../src/ids.js';
import { labelProblem, tagProblem } from '../../src/snapshot/label.js';
import { decodeManifest, encodeManifest, isManifestTime } from '../../src/snapshot/manifest.js';
import type { SnapshotManifest } from '../../src/snapshot/manifest.js';
import { TREE_ID, expectError, manifest } from './helpers.js';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const dec = (b: Uint8Array): string => new TextDecoder().decode(b);

const wellFormed = (s: string): boolean => !/[\uD800-\uDFFF]/u.test(s) && !s.includes('\0');
const hexId = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => toHex(b));
const text = (min: number): fc.Arbitrary<string> =>
  fc.oneof(fc.string({ minLength: min, maxLength: 20 }), fc.string({ unit: 'binary', minLength: min, maxLength: 20 })).filter(wellFormed);
const count = fc.nat({ max: Number.MAX_SAFE_INTEGER });

const manifestArb: fc.Arbitrary<SnapshotManifest> = fc
  .record(
    {
      time: fc.date({ min: new Date('0000-01-01T00:00:00.000Z'), max: new Date('9999-12-31T23:59:59.999Z'), noInvalidDate: true }).map((d) => d.toISOString()),
      host: text(1),
      username: text(0),
      paths: fc.uniqueArray(
        fc.oneof(
          text(0).map((s) => `/${s}`),
          text(0).map((s) => `C:\\${s}`),
        ),
        { maxLength: 4 },
      ),
      tree: hexId,
      parent: hexId,
      label: fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/).filter((l) => labelProblem(l) === undefined),
      tags: fc.uniqueArray(text(1).filter((t) => tagProblem(t) === undefined), { maxLength: 4 }),
      kind: fc.constantFrom('manual' as const, 'auto' as const),
      source: text(1),
      profile: text(1),
      scope: fc.constantFrom('everything', 'config-only', 'x'),
      programVersion: fc.constantFrom('0.1.0', '1.2.3-beta.1'),
      summary: fc.record({
        files: count,
        dirs: count,
        symlinks: count,
        bytes: count,
        bytesAdded: count,
        storedBytesAdded: count,
        blobsAdded: count,
        durationMs: count,
      }),
      extra: fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 4 }),
    },
    { requiredKeys: ['time', 'host', 'username', 'paths', 'tree', 'tags', 'kind', 'source', 'programVersion', 'summary'] },
  )
  .map((r) => ({ version: 1 as const, ...r }))
  .filter((m) => {
    try {
      encodeManifest(m);
      return true;
    } catch {
      return false; // e.g. lone surrogates inside extra strings
    }
  });

/** JSON round trip of `extra` (normalizes -0 to 0 as JSON does). */
function normalized(m: SnapshotManifest): SnapshotManifest {
  return m.extra === undefined ? m : { ...m, extra: JSON.parse(JSON.stringify(m.extra)) as Record<string, unknown> };
}

describe('encodeManifest / decodeManifest', () => {
  fcTest.prop([manifestArb])('decode(encode(m)) equals m', (m) => {
    expect(decodeManifest(encodeManifest(m))).toEqual(normalized(m));
  });

  fcTest.prop([manifestArb])('encoding is canonical: encode(decode(encode(m))) === encode(m)', (m) => {
    const b = encodeManifest(m);
    expect(dec(encodeManifest(decodeManifest(b)))).toBe(dec(b));
  });

  test('exact canonical form and key order', () => {
    const m = manifest({
      parent: 'e'.repeat(64),
      label: 'before-upgrade',
      tags: ['keep', 'x'],
      kind: 'manual',
      source: 'profile:openclaw',
      profile: 'openclaw',
      scope: 'everything',
      extra: { z: 1, a: { y: [true, null], b: 'é' } },
    });
    // Build the same manifest with keys in reverse order: same bytes.
    const reversed = Object.fromEntries(Object.entries(m).reverse()) as unknown as SnapshotManifest;
    const expected =
      '{"version":1,"time":"2026-01-01T00:00:00.000Z","host":"host","username":"user","paths":["/home/user/work"],' +
      `"tree":"${TREE_ID}","parent":"${'e'.repeat(64)}","label":"before-upgrade","tags":["keep","x"],"kind":"manual",` +
      '"source":"profile:openclaw","profile":"openclaw","scope":"everything","programVersion":"0.1.0",' +
      '"summary":{"files":1,"dirs":1,"symlinks":0,"bytes":10,"bytesAdded":10,"storedBytesAdded":20,"blobsAdded":2,"durationMs":5},' +
      '"extra":{"a":{"b":"é","y":[true,null]},"z":1}}';
    expect(dec(encodeManifest(m))).toBe(expected);
    expect(dec(encodeManifest(reversed))).toBe(expected);
  });

  test('optional keys are omitted, undefined treated as absent', () => {
    const m = { ...manifest(), label: undefined, parent: undefined };
    const s = dec(encodeManifest(m));
    expect(s).not.toContain('label');
    expect(s).not.toContain('parent');
    expect(decodeManifest(enc(s))).toEqual(manifest());
  });

  test('decode accepts whitespace and other key orders (not byte-canonical)', () => {
    const pretty = JSON.stringify(JSON.parse(dec(encodeManifest(manifest()))), null, 2);
    expect(decodeManifest(enc(pretty))).toEqual(manifest());
  });

  test('extra is kept as is, including a __proto__ key', () => {
    const bytes = enc(dec(encodeManifest(manifest())).replace(/}$/, ',"extra":{"__proto__":{"x":1},"agent":{"name":"claw","n":[1,2.5]}}}'));
    const m = decodeManifest(bytes);
    expect(Object.getPrototypeOf(m.extra)).toBe(Object.prototype);
    expect(Object.keys(m.extra ?? {})).toEqual(['__proto__', 'agent']);
    expect(dec(encodeManifest(m))).toContain('"extra":{"__proto__":{"x":1},"agent":{"n":[1,2.5],"name":"claw"}}');
  });

  test('a newer version asks to upgrade', () => {
    const s = dec(encodeManifest(manifest())).replace('"version":1', '"version":2');
    expectError(() => decodeManifest(enc(s)), 'INTEGRITY', /version 2 is newer.*upgrade/);
  });

  const base = (): Record<string, unknown> => JSON.parse(dec(encodeManifest(manifest()))) as Record<string, unknown>;
  const invalid: [string, (o: Record<string, unknown>) => void, RegExp][] = [
    ['unknown key', (o) => (o.hostname = 'x'), /unknown key "hostname"/],
    ['missing tree', (o) => delete o.tree, /missing key "tree"/],
    ['missing summary', (o) => delete o.summary, /missing key "summary"/],
    ['null label', (o) => (o.label = null), /label is null/],
    ['version 0', (o) => (o.version = 0), /unsupported version/],
    ['version as string', (o) => (o.version = '1'), /unsupported version/],
    ['time without ms', (o) => (o.time = '2026-01-01T00:00:00Z'), /time/],
    ['time with offset', (o) => (o.time = '2026-01-01T00:00:00.000+01:00'), /time/],
    ['impossible date', (o) => (o.time = '2026-02-30T00:00:00.000Z'), /time/],
    ['empty host', (o) => (o.host = ''), /host is empty/],
    ['host not string', (o) => (o.host = 1), /host is not a string/],
    ['relative path', (o) => (o.paths = ['rel/x']), /not absolute/],
    ['duplicate path', (o) => (o.paths = ['/a', '/a']), /duplicate path/],
    ['paths not array', (o) => (o.paths = '/a'), /paths is not an array/],
    ['bad tree', (o) => (o.tree = 'x'), /tree is not/],
    ['uppercase parent', (o) => (o.parent = 'A'.repeat(64)), /parent is not/],
    ['bad label', (o) => (o.label = 'has space'), /invalid label/],
    ['version-like label', (o) => (o.label = 'v3'), /invalid label/],
    ['empty tag', (o) => (o.tags = ['']), /tags\[0\]/],
    ['comma tag', (o) => (o.tags = ['a,b']), /tags\[0\]/],
    ['duplicate tag', (o) => (o.tags = ['a', 'a']), /duplicate tag/],
    ['bad kind', (o) => (o.kind = 'cron'), /kind/],
    ['empty source', (o) => (o.source = ''), /source is empty/],
    ['empty programVersion', (o) => (o.programVersion = ''), /programVersion is empty/],
    ['summary extra key', (o) => ((o.summary as Record<string, unknown>).x = 1), /unexpected key "x" in summary/],
    ['summary negative', (o) => ((o.summary as Record<string, unknown>).bytes = -1), /summary.bytes/],
    ['summary fraction', (o) => ((o.summary as Record<string, unknown>).files = 1.5), /summary.files/],
    ['summary missing', (o) => delete (o.summary as Record<string, unknown>).durationMs, /summary.durationMs/],
    ['extra array', (o) => (o.extra = [1]), /extra is not a JSON object/],
    ['extra too deep', (o) => (o.extra = JSON.parse('{"a":' + '['.repeat(40) + ']'.repeat(40) + '}') as unknown), /nested deeper/],
  ];
  test.each(invalid)('%s → INTEGRITY', (_label, mutate, message) => {
    const o = base();
    mutate(o);
    expectError(() => decodeManifest(enc(JSON.stringify(o))), 'INTEGRITY', message);
  });

  test('encodeManifest rejects invalid manifests with INTERNAL', () => {
    expectError(() => encodeManifest(manifest({ time: 'yesterday' })), 'INTERNAL', /time/);
    expectError(() => encodeManifest({ ...manifest(), bogus: 1 } as unknown as SnapshotManifest), 'INTERNAL', /unknown key "bogus"/);
    expectError(() => encodeManifest(manifest({ extra: { d: new Date(0) } })), 'INTERNAL', /extra.d is not a JSON value/);
    expectError(() => encodeManifest(manifest({ extra: { n: Number.NaN } })), 'INTERNAL', /finite/);
    expectError(() => encodeManifest(manifest({ extra: { u: undefined } })), 'INTERNAL', /extra.u/);
    expectError(() => encodeManifest(manifest({ label: 'latest' })), 'INTERNAL', /label/);
  });

  test('isManifestTime', () => {
    expect(isManifestTime('2026-11-22T00:08:48.123Z')).toBe(true);
    expect(isManifestTime('0000-01-01T00:00:00.000Z')).toBe(true);
    for (const bad of ['2026-11-22T00:08:48.123', '2026-11-22 00:08:48.123Z', '2026-11-22T24:00:00.000Z', '+002026-11-22T00:08:48.123Z', 5]) {
      expect(isManifestTime(bad)).toBe(false);
    }
  });
});

describe('decodeManifest fuzzing: a valid manifest or INTEGRITY', () => {
  function check(b: Uint8Array): void {
    let m: SnapshotManifest;
    try {
      m = decodeManifest(b);
    } catch (err) {
      expect(err).toBeInstanceOf(ClawbackError);
      expect((err as ClawbackError).code).toBe('INTEGRITY');
      return;
    }
    // Whatever is accepted can be written back and read again unchanged.
    expect(decodeManifest(encodeManifest(m))).toEqual(m);
  }

  fcTest.prop([fc.uint8Array({ maxLength: 300 })])('random bytes', (b) => check(b));

  fcTest.prop([manifestArb, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.boolean()), { minLength: 1, maxLength: 4 })])(
    'byte-mutated encodings',
    (m, muts) => {
      let b = Buffer.from(encodeManifest(m));
      for (const [at, byte, del] of muts) {
        const i = at % b.length;
        if (del) b = Buffer.concat([b.subarray(0, i), b.subarray(i + 1)]);
        else b[i] = byte;
      }
      check(b);
    },
  );

  const keys = fc.constantFrom(
    'version', 'time', 'host', 'username', 'paths', 'tree', 'parent', 'label', 'tags', 'kind', 'source', 'profile', 'scope',
    'programVersion', 'summary', 'extra', 'other',
  );
  fcTest.prop([manifestArb, keys, fc.option(fc.jsonValue({ maxDepth: 2 }), { nil: undefined })])('field-mutated encodings', (m, key, value) => {
    const o = JSON.parse(dec(encodeManifest(m))) as Record<string, unknown>;
    if (value === undefined) delete o[key];
    else o[key] = value;
    check(enc(JSON.stringify(o)));
  });
});
