import { describe, expect, test } from 'vitest';
import { fc, test as fcTest } from '@fast-check/vitest';
import { ClawbackError } from '../../src/errors.js';
import type { ErrorCode } from '../../src/errors.js';
import { isHexId, toHex } from '../../src/ids.js';
import { decodeTree, decodeTreeParts, encodeTree, sortNodes } from '../../src/tree/codec.js';
import { compareNames, isWellFormed, makeNode, nameProblem, sameNode, sortByName, validateName } from '../../src/tree/node.js';
import type { Tree, TreeNode } from '../../src/tree/node.js';

const ID_A = 'a'.repeat(64);
const ID_B = 'b'.repeat(64);
const ID_C = '0123456789abcdef'.repeat(4);

function text(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}

function str(b: Uint8Array): string {
  return new TextDecoder().decode(b);
}

function codeOf(fn: () => unknown): ErrorCode | 'none' | 'foreign' {
  try {
    fn();
    return 'none';
  } catch (err) {
    return err instanceof ClawbackError ? err.code : 'foreign';
  }
}

function expectError(fn: () => unknown, code: ErrorCode, message?: RegExp): void {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(ClawbackError);
  const e = caught as ClawbackError;
  expect(e.code).toBe(code);
  if (message !== undefined) expect(e.message).toMatch(message);
}

// ---- arbitraries ----

const hexId = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => toHex(b));

const nameArb = fc
  .oneof(
    fc.string({ unit: 'binary', minLength: 1, maxLength: 12 }),
    fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 12 }),
    fc.constantFrom('a', 'B', 'é', '\u{1F600}', '\uFFFD', '\uE000', '.x', '...', 'x'.repeat(255), 'é'.repeat(127)),
  )
  .filter((n) => nameProblem(n) === undefined);

const int64 = fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n });
const uint64 = fc.bigInt({ min: 0n, max: 2n ** 64n - 1n });
const mode = fc.integer({ min: 0, max: 0o7777 });

const common = fc.record(
  { name: nameArb, mode, mtimeNs: int64, ctimeNs: int64, inode: uint64 },
  { requiredKeys: ['name', 'mode', 'mtimeNs'] },
);

const nodeArb: fc.Arbitrary<TreeNode> = fc.oneof(
  fc
    .tuple(common, fc.constantFrom('file' as const, 'sqlite' as const), fc.nat({ max: 2 ** 40 }), fc.array(hexId, { maxLength: 5 }))
    .map(([c, type, size, content]) => ({ ...c, type, size, content })),
  fc.tuple(common, hexId).map(([c, subtree]) => ({ ...c, type: 'dir' as const, size: 0, subtree })),
  fc
    .tuple(
      common,
      fc.string({ unit: 'binary', minLength: 1, maxLength: 40 }).filter((t) => !t.includes('\0') && !/[\uD800-\uDFFF]/u.test(t)),
    )
    .map(([c, target]) => ({ ...c, type: 'symlink' as const, size: 0, target })),
);

const treeArb: fc.Arbitrary<Tree> = fc.uniqueArray(nodeArb, { selector: (n) => n.name, maxLength: 12 }).map((nodes) => ({ nodes }));

/** Trees whose encoding is mostly ASCII without escapes (what decodeTree's first tier reads). */
const asciiTreeArb: fc.Arbitrary<Tree> = fc
  .uniqueArray(
    fc
      .tuple(
        nodeArb,
        fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 14 }).filter((n) => nameProblem(n) === undefined),
        fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 14 }),
      )
      .map(([n, name, target]): TreeNode => ({ ...n, name, ...(n.type === 'symlink' ? { target } : {}) })),
    { selector: (n) => n.name, maxLength: 8 },
  )
  .map((nodes) => ({ nodes }));

// ---- tests ----


/** One edit of an encoded tree: a byte set, deleted, inserted, or set to a JSON-ish character. */
const mutation = fc.oneof(
  fc.record({ kind: fc.constant('set' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 8 }) }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 4 }) }),
  fc.record({
    kind: fc.constant('ascii' as const),
    at: fc.nat(),
    byte: fc.constantFrom(...[...'"{}[],:0123456789-. \\aeflnrstu/'].map((c) => c.charCodeAt(0))),
  }),
);

describe('encodeTree / decodeTree', () => {
  fcTest.prop([treeArb])('decode(encode(t)) equals t with nodes sorted', (t) => {
    const decoded = decodeTree(encodeTree(t));
    expect(decoded).toEqual({ nodes: sortNodes(t.nodes) });
  });

  fcTest.prop([treeArb.chain((t) => fc.tuple(fc.constant(t), fc.shuffledSubarray(t.nodes, { minLength: t.nodes.length })))])(
    'the encoding does not depend on node order',
    ([t, shuffled]) => {
      expect(str(encodeTree({ nodes: shuffled }))).toBe(str(encodeTree(t)));
    },
  );

  fcTest.prop([treeArb])('encoded bytes are canonical: encode(decode(b)) === b', (t) => {
    const b = encodeTree(t);
    expect(Buffer.from(encodeTree(decodeTree(b))).equals(Buffer.from(b))).toBe(true);
  });

  test('the exact canonical form', () => {
    const tree: Tree = {
      nodes: [
        { name: 'z', type: 'symlink', mode: 0o777, mtimeNs: -5n, size: 0, target: '../a "b"\n' },
        { name: 'dir', type: 'dir', mode: 0o755, mtimeNs: 0n, size: 0, subtree: ID_A },
        {
          name: 'a.txt',
          type: 'file',
          mode: 0o644,
          mtimeNs: 1700000000123456789n,
          ctimeNs: 1700000000987654321n,
          inode: 18446744073709551615n,
          size: 3,
          content: [ID_B, ID_C],
        },
        { name: 'db.sqlite', type: 'sqlite', mode: 0o600, mtimeNs: 1n, size: 0, content: [] },
      ],
    };
    expect(str(encodeTree(tree))).toBe(
      '{"nodes":[' +
        `{"name":"a.txt","type":"file","mode":420,"mtime":"1700000000123456789","ctime":"1700000000987654321","inode":"18446744073709551615","size":3,"content":["${ID_B}","${ID_C}"]},` +
        `{"name":"db.sqlite","type":"sqlite","mode":384,"mtime":"1","size":0,"content":[]},` +
        `{"name":"dir","type":"dir","mode":493,"mtime":"0","size":0,"subtree":"${ID_A}"},` +
        '{"name":"z","type":"symlink","mode":511,"mtime":"-5","size":0,"target":"../a \\"b\\"\\n"}' +
        ']}',
    );
    expect(str(encodeTree({ nodes: [] }))).toBe('{"nodes":[]}');
  });

  test('nodes are sorted by UTF-8 bytes, not UTF-16 code units', () => {
    // U+FFFD is EF BF BD in UTF-8; U+1F600 is F0 9F 98 80 (but D83D DE00 in UTF-16).
    const mk = (name: string): TreeNode => ({ name, type: 'dir', mode: 0o755, mtimeNs: 0n, size: 0, subtree: ID_A });
    const names = decodeTree(encodeTree({ nodes: [mk('\u{1F600}'), mk('\uFFFD'), mk('Z'), mk('a')] })).nodes.map((n) => n.name);
    expect(names).toEqual(['Z', 'a', '\uFFFD', '\u{1F600}']);
    expect(['\u{1F600}', '\uFFFD'].sort()).toEqual(['\u{1F600}', '\uFFFD']); // JS order differs
    expect(compareNames('\uFFFD', '\u{1F600}')).toBeLessThan(0);
  });

  test('non-ASCII and U+2028 are written raw; control characters escaped', () => {
    const b = encodeTree({ nodes: [{ name: 'é\u2028\u0001', type: 'dir', mode: 0, mtimeNs: 0n, size: 0, subtree: ID_A }] });
    expect(str(b)).toContain('"name":"é\u2028\\u0001"');
  });

  test('duplicate names are an INTERNAL error', () => {
    const n: TreeNode = { name: 'x', type: 'dir', mode: 0, mtimeNs: 0n, size: 0, subtree: ID_A };
    expectError(() => encodeTree({ nodes: [n, { ...n, subtree: ID_B }] }), 'INTERNAL', /duplicate node name "x"/);
  });

  test.each<[string, TreeNode]>([
    ['content on a dir', { name: 'd', type: 'dir', mode: 0, mtimeNs: 0n, size: 0, subtree: ID_A, content: [] }],
    ['subtree on a file', { name: 'f', type: 'file', mode: 0, mtimeNs: 0n, size: 0, content: [], subtree: ID_A }],
    ['target on a file', { name: 'f', type: 'file', mode: 0, mtimeNs: 0n, size: 0, content: [], target: 'x' }],
    ['file without content', { name: 'f', type: 'file', mode: 0, mtimeNs: 0n, size: 0 }],
    ['dir without subtree', { name: 'd', type: 'dir', mode: 0, mtimeNs: 0n, size: 0 }],
    ['symlink without target', { name: 's', type: 'symlink', mode: 0, mtimeNs: 0n, size: 0 }],
    ['empty symlink target', { name: 's', type: 'symlink', mode: 0, mtimeNs: 0n, size: 0, target: '' }],
    ['dir with size', { name: 'd', type: 'dir', mode: 0, mtimeNs: 0n, size: 1, subtree: ID_A }],
    ['mode too big', { name: 'f', type: 'file', mode: 0o10000, mtimeNs: 0n, size: 0, content: [] }],
    ['fractional size', { name: 'f', type: 'file', mode: 0, mtimeNs: 0n, size: 1.5, content: [] }],
    ['negative size', { name: 'f', type: 'file', mode: 0, mtimeNs: 0n, size: -1, content: [] }],
    ['mtime out of range', { name: 'f', type: 'file', mode: 0, mtimeNs: 2n ** 63n, size: 0, content: [] }],
    ['negative inode', { name: 'f', type: 'file', mode: 0, mtimeNs: 0n, inode: -1n, size: 0, content: [] }],
    ['uppercase id', { name: 'f', type: 'file', mode: 0, mtimeNs: 0n, size: 0, content: ['A'.repeat(64)] }],
    ['bad name', { name: '..', type: 'file', mode: 0, mtimeNs: 0n, size: 0, content: [] }],
    ['unknown type', { name: 'f', type: 'fifo' as 'file', mode: 0, mtimeNs: 0n, size: 0, content: [] }],
    ['a field trees cannot store', { name: 'f', type: 'file', mode: 0, mtimeNs: 0n, size: 0, content: [], uid: 0 } as TreeNode],
  ])('encodeTree rejects %s with INTERNAL', (_label, node) => {
    expectError(() => encodeTree({ nodes: [node] }), 'INTERNAL');
  });
});

describe('decodeTree strictness', () => {
  const good = (fields: string): string => `{"nodes":[{"name":"n","type":"file","mode":420,"mtime":"1"${fields}}]}`;
  const cases: [string, string, RegExp][] = [
    ['not JSON', '{"nodes":[', /not valid JSON/],
    ['not an object', '[]', /not a JSON object/],
    ['extra top-level key', '{"nodes":[],"x":1}', /unexpected key "x"/],
    ['no nodes', '{}', /no "nodes" key/],
    ['nodes not an array', '{"nodes":{}}', /not an array/],
    ['node not an object', '{"nodes":[1]}', /node #0 is not a JSON object/],
    ['whitespace', '{"nodes": []}', /canonical/],
    ['trailing newline', '{"nodes":[]}\n', /canonical/],
    ['missing size', good(''), /missing key "size"/],
    ['missing content', good(',"size":0'), /missing key "content"/],
    ['unknown key', good(',"size":0,"content":[],"xattr":1'), /unexpected key "xattr"/],
    ['subtree on file', good(',"size":0,"content":[],"subtree":"' + ID_A + '"'), /unexpected key "subtree"/],
    ['keys out of order', '{"nodes":[{"type":"file","name":"n","mode":420,"mtime":"1","size":0,"content":[]}]}', /out of canonical order/],
    ['mode as string', good(',"size":0,"content":[]').replace('"mode":420', '"mode":"420"'), /mode is not a number/],
    ['mode too big', good(',"size":0,"content":[]').replace('"mode":420', '"mode":4096'), /mode 4096/],
    ['fractional mode', good(',"size":0,"content":[]').replace('"mode":420', '"mode":1.5'), /mode 1.5/],
    ['exponent mode', good(',"size":0,"content":[]').replace('"mode":420', '"mode":4.2e2'), /canonical/],
    ['negative size', good(',"size":-1,"content":[]'), /size -1/],
    ['mtime as number', good(',"size":0,"content":[]').replace('"mtime":"1"', '"mtime":1'), /mtime is not a decimal/],
    ['mtime leading zero', good(',"size":0,"content":[]').replace('"mtime":"1"', '"mtime":"01"'), /mtime is not a decimal/],
    ['mtime -0', good(',"size":0,"content":[]').replace('"mtime":"1"', '"mtime":"-0"'), /mtime is not a decimal/],
    ['mtime overflow', good(',"size":0,"content":[]').replace('"mtime":"1"', '"mtime":"9223372036854775808"'), /mtime is not a signed 64-bit/],
    ['negative inode', good(',"inode":"-1","size":0,"content":[]'), /inode is not an unsigned/],
    ['bad content id', good(',"size":0,"content":["abc"]'), /content\[0\]/],
    ['uppercase id', good(`,"size":0,"content":["${'A'.repeat(64)}"]`), /content\[0\]/],
    ['unknown type', '{"nodes":[{"name":"n","type":"fifo","mode":0,"mtime":"1","size":0}]}', /unknown type "fifo"/],
    ['empty name', '{"nodes":[{"name":"","type":"dir","mode":0,"mtime":"1","size":0,"subtree":"' + ID_A + '"}]}', /name is empty/],
    ['dot name', '{"nodes":[{"name":".","type":"dir","mode":0,"mtime":"1","size":0,"subtree":"' + ID_A + '"}]}', /not allowed/],
    ['dotdot name', '{"nodes":[{"name":"..","type":"dir","mode":0,"mtime":"1","size":0,"subtree":"' + ID_A + '"}]}', /not allowed/],
    ['slash', '{"nodes":[{"name":"a/b","type":"dir","mode":0,"mtime":"1","size":0,"subtree":"' + ID_A + '"}]}', /contains "\/"/],
    ['NUL', '{"nodes":[{"name":"a\\u0000","type":"dir","mode":0,"mtime":"1","size":0,"subtree":"' + ID_A + '"}]}', /NUL/],
    ['lone surrogate', '{"nodes":[{"name":"\\ud800","type":"dir","mode":0,"mtime":"1","size":0,"subtree":"' + ID_A + '"}]}', /Unicode/],
    ['long name', `{"nodes":[{"name":"${'x'.repeat(256)}","type":"dir","mode":0,"mtime":"1","size":0,"subtree":"${ID_A}"}]}`, /256 bytes/],
    ['dir with size', `{"nodes":[{"name":"d","type":"dir","mode":0,"mtime":"1","size":5,"subtree":"${ID_A}"}]}`, /size of a dir node must be 0/],
    ['empty target', '{"nodes":[{"name":"s","type":"symlink","mode":0,"mtime":"1","size":0,"target":""}]}', /target is empty/],
    [
      'unsorted',
      `{"nodes":[{"name":"b","type":"dir","mode":0,"mtime":"1","size":0,"subtree":"${ID_A}"},{"name":"a","type":"dir","mode":0,"mtime":"1","size":0,"subtree":"${ID_A}"}]}`,
      /not sorted: "a" comes after "b"/,
    ],
    [
      'duplicate',
      `{"nodes":[{"name":"a","type":"dir","mode":0,"mtime":"1","size":0,"subtree":"${ID_A}"},{"name":"a","type":"dir","mode":0,"mtime":"1","size":0,"subtree":"${ID_A}"}]}`,
      /duplicate node name "a"/,
    ],
    [
      'duplicate JSON key',
      `{"nodes":[{"name":"a","type":"dir","mode":0,"mtime":"1","size":0,"subtree":"${ID_A}","subtree":"${ID_B}"}]}`,
      /canonical/,
    ],
    ['escaped ASCII', `{"nodes":[{"name":"\\u0061","type":"dir","mode":0,"mtime":"1","size":0,"subtree":"${ID_A}"}]}`, /canonical/],
  ];
  test.each(cases)('%s → INTEGRITY', (_label, json, message) => {
    expectError(() => decodeTree(text(json)), 'INTEGRITY', message);
  });

  test('invalid UTF-8 and a BOM are INTEGRITY', () => {
    expectError(() => decodeTree(new Uint8Array([0x7b, 0xff, 0x7d])), 'INTEGRITY', /UTF-8/);
    expectError(() => decodeTree(text('\uFEFF{"nodes":[]}')), 'INTEGRITY');
  });

  test('the node name appears in messages', () => {
    expectError(() => decodeTree(text(`{"nodes":[{"name":"secret-dir","type":"dir","mode":0,"mtime":"1","size":0,"subtree":"x"}]}`)), 'INTEGRITY', /node "secret-dir": subtree/);
  });
});

describe('decodeTree fuzzing: a valid Tree or INTEGRITY, nothing else', () => {
  function check(bytes: Uint8Array): void {
    let tree: Tree;
    try {
      tree = decodeTree(bytes);
    } catch (err) {
      expect(err).toBeInstanceOf(ClawbackError);
      expect((err as ClawbackError).code).toBe('INTEGRITY');
      return;
    }
    // Accepted input must be exactly canonical.
    expect(Buffer.from(encodeTree(tree)).equals(Buffer.from(bytes))).toBe(true);
  }

  fcTest.prop([fc.uint8Array({ maxLength: 300 })])('random bytes', (b) => check(b));

  fcTest.prop([fc.string({ unit: 'binary-ascii', maxLength: 200 }).map((s) => `{"nodes":[${s}]}`)])('random text inside a tree', (s) =>
    check(text(s)),
  );


  fcTest.prop([treeArb.filter((t) => t.nodes.length > 0), fc.array(mutation, { minLength: 1, maxLength: 4 })])(
    'mutated valid encodings',
    (t, muts) => {
      let b = Buffer.from(encodeTree(t));
      for (const m of muts) {
        const at = b.length === 0 ? 0 : m.at % b.length;
        if (m.kind === 'set' || m.kind === 'ascii') {
          if (b.length > 0) b[at] = m.byte;
        } else if (m.kind === 'delete') b = Buffer.concat([b.subarray(0, at), b.subarray(at + m.len)]);
        else b = Buffer.concat([b.subarray(0, at), Buffer.from(m.bytes), b.subarray(at)]);
      }
      check(b);
    },
  );

  const jsonValue = fc.oneof(
    fc.constant(null),
    fc.boolean(),
    fc.integer(),
    fc.double(),
    fc.string({ maxLength: 10 }),
    fc.constantFrom('0', '-1', '18446744073709551616', ID_A, 'file', 'dir', 'symlink', 'sqlite', '', '.', 'a/b'),
    fc.array(fc.constantFrom(ID_A, 'x', 1), { maxLength: 3 }),
    fc.constant({}),
  );
  const fieldName = fc.constantFrom('name', 'type', 'mode', 'mtime', 'ctime', 'inode', 'size', 'content', 'subtree', 'target', 'extra');

  fcTest.prop([treeArb.filter((t) => t.nodes.length > 0), fc.nat(), fieldName, fc.option(jsonValue, { nil: undefined })])(
    'JSON-level mutations of one field',
    (t, which, field, value) => {
      const obj = JSON.parse(str(encodeTree(t))) as { nodes: Record<string, unknown>[] };
      const node = obj.nodes[which % obj.nodes.length] as Record<string, unknown>;
      if (value === undefined) delete node[field];
      else node[field] = value;
      check(text(JSON.stringify(obj)));
    },
  );

  test('never throws anything but ClawbackError on odd inputs', () => {
    for (const s of ['', 'null', '0', '"x"', '{"nodes":null}', '{"nodes":[null]}', '{"nodes":[[]]}', '{"__proto__":[]}', '{"nodes":[{"name":"__proto__"}]}']) {
      expect(['INTEGRITY', 'none']).toContain(codeOf(() => decodeTree(text(s))));
    }
  });
});

describe('validateName', () => {
  test.each(['a', '.a', '..a', 'a b', 'é', '\u{1F600}', 'x'.repeat(255), '\n', 'é'.repeat(127)])('accepts %j', (n) => {
    expect(nameProblem(n)).toBeUndefined();
    expect(() => validateName(n)).not.toThrow();
  });
  test.each(['', '.', '..', 'a/b', '/', 'a\0', 'x'.repeat(256), 'é'.repeat(128), '\uD800', 'a\uDC00b'])('rejects %j', (n) => {
    expectError(() => validateName(n), 'INTEGRITY', /invalid tree node name/);
    expectError(() => validateName(n, 'CAPTURE'), 'CAPTURE');
  });
});

// ---- the fast paths (codec.ts, node.ts, ids.ts) against the plain definitions ----

/** Code units that exercise UTF-16 vs UTF-8 order: surrogates (paired and lone), U+E000+, edges. */
const trickyUnit = fc.constantFrom('a', 'z', '\u007f', '\u0080', 'é', '\u07ff', '\u0800', '\ud7ff', '\ud800', '\udbff', '\udc00', '\udfff', '\ue000', '\ufffd', '\uffff', '\u{10000}', '\u{1F600}', '\u{10FFFF}');
const trickyString = fc.oneof(
  fc.array(trickyUnit, { maxLength: 6 }).map((a) => a.join('')),
  fc.string({ unit: 'binary', maxLength: 8 }),
  fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)), maxLength: 6 }),
);

/** The definitions the fast versions must match (the implementations before they were sped up). */
const reference = {
  compareNames: (a: string, b: string): number => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8')),
  isHexId: (s: unknown): boolean => typeof s === 'string' && /^[0-9a-f]{64}$/.test(s),
  isWellFormed: (s: string): boolean => !/[\uD800-\uDFFF]/u.test(s),
  nameProblem(name: unknown): string | undefined {
    if (typeof name !== 'string') return 'name is not a string';
    if (name === '') return 'name is empty';
    if (name === '.' || name === '..') return `name ${JSON.stringify(name)} is not allowed`;
    if (name.includes('/')) return 'name contains "/"';
    if (name.includes('\0')) return 'name contains NUL';
    if (/[\uD800-\uDFFF]/u.test(name)) return 'name is not valid Unicode (unpaired surrogate)';
    const bytes = Buffer.byteLength(name, 'utf8');
    if (bytes > 255) return `name is ${bytes} bytes long (at most 255)`;
    return undefined;
  },
};

describe('fast helpers match their definitions', () => {
  fcTest.prop([trickyString, trickyString])('compareNames has the sign of Buffer.compare of the UTF-8 bytes', (a, b) => {
    expect(Math.sign(compareNames(a, b))).toBe(reference.compareNames(a, b));
    expect(Math.sign(compareNames(a, a))).toBe(0);
  });

  fcTest.prop([trickyString, trickyUnit, trickyUnit])('compareNames on a common prefix', (p, x, y) => {
    expect(Math.sign(compareNames(p + x, p + y))).toBe(reference.compareNames(p + x, p + y));
    expect(Math.sign(compareNames(p + x, p + x + y))).toBe(reference.compareNames(p + x, p + x + y));
    expect(Math.sign(compareNames(p + x + y, p + x))).toBe(reference.compareNames(p + x + y, p + x));
  });

  fcTest.prop([fc.array(trickyString, { maxLength: 20 })])('sortByName sorts by UTF-8 bytes', (names) => {
    const byBytes = names
      .map((name) => ({ name, key: Buffer.from(name, 'utf8') }))
      .sort((a, b) => Buffer.compare(a.key, b.key))
      .map((k) => Buffer.from(k.name, 'utf8').toString('hex'));
    expect(sortByName(names).map((n) => Buffer.from(n, 'utf8').toString('hex'))).toEqual(byBytes);
  });

  const nearHexChar = fc.oneof(
    fc.constantFrom(...'0123456789abcdef'),
    // Wrong characters, among them ones whose low 7 bits are a hex digit.
    fc.constantFrom('A', 'F', 'g', '/', ':', '`', 'G', ' ', '\u00b0', '\u00e1', '\u0130', '\u0161', '\uff10', '\ud800'),
  );
  fcTest.prop([
    fc.oneof(
      fc.array(nearHexChar, { minLength: 64, maxLength: 64 }).map((a) => a.join('')),
      fc.tuple(hexId, fc.nat({ max: 63 }), nearHexChar).map(([id, at, c]) => id.slice(0, at) + c + id.slice(at + 1)),
      fc.string({ maxLength: 70 }),
      hexId.map((id) => id.slice(1)),
      hexId.map((id) => `${id}0`),
    ),
  ])('isHexId matches /^[0-9a-f]{64}$/', (s) => {
    expect(isHexId(s)).toBe(reference.isHexId(s));
  });

  test('isHexId on non-strings', () => {
    for (const v of [undefined, null, 1, ['a'.repeat(64)], { length: 64 }]) expect(isHexId(v)).toBe(false);
    expect(isHexId(ID_C)).toBe(true);
  });

  fcTest.prop([trickyString])('isWellFormed finds unpaired surrogates', (s) => {
    expect(isWellFormed(s)).toBe(reference.isWellFormed(s));
  });

  fcTest.prop([
    fc.oneof(
      trickyString,
      fc.tuple(fc.constantFrom('x', 'é', 'ह', '\u{1F600}', '\ud800'), fc.integer({ min: 60, max: 130 })).map(([c, n]) => c.repeat(n)),
      fc.constantFrom('', '.', '..', '...', 'a/b', 'a\0', 'ह'.repeat(85), 'ह'.repeat(86), 'x'.repeat(255), 'x'.repeat(256)),
    ),
  ])('nameProblem', (name) => {
    expect(nameProblem(name)).toBe(reference.nameProblem(name));
  });

  /** One node with one field changed to another valid value (or the same node). */
  const nodePair: fc.Arbitrary<[TreeNode, TreeNode]> = fc
    .tuple(nodeArb, fc.constantFrom('same', 'name', 'mode', 'mtimeNs', 'ctimeNs', 'inode', 'size', 'id', 'target', 'type', 'copy'), fc.nat())
    .map(([a, field, n]): [TreeNode, TreeNode] => {
      const b: TreeNode = { ...a, ...(a.content ? { content: [...a.content] } : {}) };
      if (field === 'same') return [a, a];
      if (field === 'name') b.name = a.name === 'a' ? 'b' : 'a';
      if (field === 'mode') b.mode = (a.mode + 1 + (n % 7)) % 0o10000;
      if (field === 'mtimeNs') b.mtimeNs = a.mtimeNs === 0n ? 1n : 0n;
      if (field === 'ctimeNs') b.ctimeNs = a.ctimeNs === undefined ? 5n : n % 2 === 0 ? a.ctimeNs + 1n : undefined;
      if (field === 'inode') b.inode = a.inode === undefined ? 5n : n % 2 === 0 ? undefined : a.inode === 0n ? 1n : 0n;
      if (field === 'size' && a.type !== 'dir' && a.type !== 'symlink') b.size = a.size + 1;
      if (field === 'id' && a.content) b.content = n % 2 === 0 ? [...a.content, ID_A] : a.content.map(() => ID_B);
      if (field === 'id' && a.subtree) b.subtree = a.subtree === ID_A ? ID_B : ID_A;
      if (field === 'target' && a.target) b.target = `${a.target}/`;
      if (field === 'type' && a.content) b.type = a.type === 'file' ? 'sqlite' : 'file';
      return [a, b];
    });
  fcTest.prop([nodePair])('sameNode(a, b) exactly when a and b encode alike', ([a, b]) => {
    const alike = Buffer.from(encodeTree({ nodes: [a] })).equals(Buffer.from(encodeTree({ nodes: [b] })));
    expect(sameNode(a, b)).toBe(alike);
    expect(sameNode(b, a)).toBe(alike);
  });
});

describe('decodeTree: the fast path and the detailed validator agree', () => {
  /** decodeTree's answer for `bytes`: the tree, or the error's code and message. */
  function outcome(fn: () => Tree): { tree: Tree } | { code: string; message: string } {
    try {
      return { tree: fn() };
    } catch (err) {
      expect(err).toBeInstanceOf(ClawbackError);
      return { code: (err as ClawbackError).code, message: (err as ClawbackError).message };
    }
  }

  /** Checks the agreement on `bytes`; returns whether they were accepted. */
  function agree(bytes: Uint8Array): boolean {
    const detailed = outcome(() => decodeTreeParts.detailed(bytes));
    const fast = outcome(() => decodeTreeParts.fast(bytes) ?? fail());
    const scan = outcome(() => decodeTreeParts.scan(bytes) ?? fail());
    const full = outcome(() => decodeTree(bytes));
    // The fast tiers never accept what the detailed validator refuses, and return the same tree.
    if ('tree' in fast) expect(detailed).toEqual(fast);
    if ('tree' in scan) expect(detailed).toEqual(scan);
    // The JSON tier accepts every valid tree, the scanner every one that is ASCII without escapes
    // (otherwise they are only slow), and decodeTree says what the validator says.
    if ('tree' in detailed) expect(fast).toEqual(detailed);
    if ('tree' in detailed && bytes.every((b) => b < 0x80 && b !== 0x5c)) expect(scan).toEqual(detailed);
    expect(full).toEqual(detailed);
    return 'tree' in detailed;
  }
  function fail(): never {
    throw new ClawbackError('INTEGRITY', 'fast path refused');
  }

  fcTest.prop([fc.oneof(treeArb, asciiTreeArb)])('on valid encodings', (t) => {
    expect(agree(encodeTree(t))).toBe(true);
  });

  fcTest.prop([fc.oneof(treeArb, asciiTreeArb).filter((t) => t.nodes.length > 0), fc.array(mutation, { minLength: 1, maxLength: 3 })], { numRuns: 300 })(
    'on mutated encodings',
    (t, muts) => {
      let b = Buffer.from(encodeTree(t));
      for (const m of muts) {
        const at = m.at % b.length;
        if (m.kind === 'set' || m.kind === 'ascii') b[at] = m.byte;
        else if (m.kind === 'delete') b = Buffer.concat([b.subarray(0, at), b.subarray(at + m.len)]);
        else b = Buffer.concat([b.subarray(0, at), Buffer.from(m.bytes), b.subarray(at)]);
        if (b.length === 0) return;
      }
      agree(b);
    },
  );

  const fieldValue = fc.oneof(
    fc.constantFrom<unknown>(
      null, true, 0, -0, 1, 1.5, -1, 4095, 4096, 2 ** 53 - 1, 2 ** 53, 1e21, '', '0', '-0', '00', '01', '+1', ' 1', '1 ', '0x10', '1e3',
      '9223372036854775807', '9223372036854775808', '-9223372036854775808', '-9223372036854775809', '18446744073709551615',
      '18446744073709551616', '99999999999999999999', '-99999999999999999999', '123456789012345678901', ID_A, ID_A.toUpperCase(), 'file', 'dir',
      'symlink', 'sqlite', 'fifo', '.', '..', 'a/b', 'x\u0000', '\ud800', 'é', 'a"b', 'a\\b', '\u2028', [], [ID_A], [ID_A, 'x'], [1], {},
    ),
    fc.string({ maxLength: 6 }),
  );
  const fieldName = fc.constantFrom('name', 'type', 'mode', 'mtime', 'ctime', 'inode', 'size', 'content', 'subtree', 'target', 'extra', '__proto__');
  fcTest.prop([fc.oneof(treeArb, asciiTreeArb).filter((t) => t.nodes.length > 0), fc.nat(), fieldName, fc.option(fieldValue, { nil: undefined })], { numRuns: 500 })(
    'on JSON-level changes of one field',
    (t, which, field, value) => {
      const obj = JSON.parse(str(encodeTree(t))) as { nodes: Record<string, unknown>[] };
      const node = obj.nodes[which % obj.nodes.length] as Record<string, unknown>;
      if (value === undefined) delete node[field];
      else Object.defineProperty(node, field, { value, enumerable: true, configurable: true, writable: true });
      agree(text(JSON.stringify(obj)));
    },
  );

  test.each([
    ['9223372036854775807', true],
    ['-9223372036854775808', true],
    ['9223372036854775808', false],
    ['-9223372036854775809', false],
    ['18446744073709551615', false],
    ['99999999999999999999', false],
    ['0', true],
    ['-1', true],
    ['-0', false],
    ['01', false],
    ['', false],
  ])('mtime and ctime %j: accepted %j', (v, ok) => {
    for (const key of ['mtime', 'ctime']) {
      const json = `{"nodes":[{"name":"n","type":"file","mode":0,"mtime":"${key === 'mtime' ? v : '1'}"${key === 'ctime' ? `,"ctime":"${v}"` : ''},"size":0,"content":[]}]}`;
      expect(agree(text(json))).toBe(ok);
    }
  });

  test.each([
    ['18446744073709551615', true],
    ['18446744073709551616', false],
    ['9223372036854775808', true],
    ['0', true],
    ['-1', false],
    ['99999999999999999999', false],
  ])('inode %j: accepted %j', (v, ok) => {
    expect(agree(text(`{"nodes":[{"name":"n","type":"file","mode":0,"mtime":"1","inode":"${v}","size":0,"content":[]}]}`))).toBe(ok);
  });

  test.each([
    ['"mode":4095,', '"size":9007199254740991', true],
    ['"mode":4095,', '"size":9007199254740992', false],
    ['"mode":4095.5,', '"size":0', false],
    ['"mode":-0,', '"size":0', false],
    ['"mode":0,', '"size":-0', false],
    ['"mode":0,', '"size":1E1', false],
  ])('%s %s: accepted %j', (mode, size, ok) => {
    expect(agree(text(`{"nodes":[{"name":"n","type":"file",${mode}"mtime":"1",${size},"content":[]}]}`))).toBe(ok);
  });

  // Near misses of a canonical all-ASCII encoding, aimed at the first tier's grammar.
  const ok = `{"nodes":[{"name":"a","type":"file","mode":420,"mtime":"1","ctime":"2","inode":"3","size":10,"content":["${ID_A}","${ID_B}"]},{"name":"b","type":"dir","mode":0,"mtime":"0","size":0,"subtree":"${ID_C}"},{"name":"c","type":"symlink","mode":511,"mtime":"-1","size":0,"target":"a"}]}`;
  test('the near-miss base case is accepted by every tier', () => {
    expect(agree(text(ok))).toBe(true);
    expect(decodeTreeParts.scan(text(ok))).toBeDefined();
  });
  test.each<[string, string, string]>([
    ['mode with a leading zero', '"mode":420', '"mode":0420'],
    ['mode 00', '"mode":0,', '"mode":00,'],
    ['size with a leading zero', '"size":10', '"size":010'],
    ['size 1.0', '"size":10', '"size":10.0'],
    ['size with an exponent', '"size":10', '"size":1e1'],
    ['negative size', '"size":10', '"size":-10'],
    ['a 17-digit size', '"size":10', '"size":10000000000000000'],
    ['text after the end', '"a"}]}', '"a"}]}x'],
    ['whitespace after the end', '"a"}]}', '"a"}]} '],
    ['a missing end', '"a"}]}', '"a"}]'],
    ['a node closed by another character', '"a"}]}', '"a"]]}'],
    ['a dir node closed by another character', `"${ID_C}"},`, `"${ID_C}"],`],
    ['a file node closed by another character', `"${ID_B}"]},`, `"${ID_B}"]],`],
    ['a key after the last one', '"a"}]}', '"a","x":1}]}'],
    ['ids separated by a space', `"${ID_A}","${ID_B}"`, `"${ID_A}" "${ID_B}"`],
    ['ids separated by a colon', `"${ID_A}","${ID_B}"`, `"${ID_A}":"${ID_B}"`],
    ['a trailing comma in content', `"${ID_B}"]`, `"${ID_B}",]`],
    ['a short id', `"${ID_B}"]`, `"${ID_B.slice(1)}"]`],
    ['a long id', `"${ID_B}"]`, `"${ID_B}0"]`],
    ['a long subtree id', `"${ID_C}"}`, `"${ID_C}0"}`],
    ['nodes separated by a space', '},{"name":"b"', '}, {"name":"b"'],
    ['a raw tab in a name', '"name":"b"', `"name":"b${String.fromCharCode(9)}x"`],
    ['a raw newline in a target', '"target":"a"', `"target":"a${String.fromCharCode(10)}b"`],
    ['an escaped name', '"name":"b"', '"name":"\\u0062"'],
    ['an escaped slash in a target', '"target":"a"', '"target":"a\\/b"'],
    ['a missing ctime quote', '"ctime":"2"', '"ctime":2'],
    ['ctime after inode', '"ctime":"2","inode":"3"', '"inode":"3","ctime":"2"'],
    ['a type of another case', '"type":"dir"', '"type":"Dir"'],
    ['a type prefix', '"type":"dir"', '"type":"di"'],
    ['a longer type', '"type":"dir"', '"type":"dirs"'],
    ['subtree on a file too', `"${ID_B}"]}`, `"${ID_B}"],"subtree":"${ID_C}"}`],
    ['a duplicate name', '"name":"b"', '"name":"a"'],
    ['unsorted names', '"name":"c"', '"name":"B"'],
    ['whitespace after the nodes key', '{"nodes":[', '{"nodes" :['],
  ])('%s is refused by every tier', (_label, from, to) => {
    expect(ok.includes(from)).toBe(true);
    const bad = ok.replace(from, to);
    expect(agree(text(bad))).toBe(false);
    expectError(() => decodeTree(text(bad)), 'INTEGRITY');
  });
  test('a raw control character equal to its escape is refused (JSON strings cannot hold one)', () => {
    for (let c = 0; c < 0x20; c++) {
      expect(agree(text(ok.replace('"name":"b"', `"name":"b${String.fromCharCode(c)}"`)))).toBe(false);
      expect(agree(text(ok.replace('"target":"a"', `"target":"a${String.fromCharCode(c)}"`)))).toBe(false);
    }
  });

  test('names that need escapes and non-ASCII names, in UTF-8 order', () => {
    const mk = (name: string): TreeNode => ({ name, type: 'dir', mode: 0, mtimeNs: 0n, size: 0, subtree: ID_A });
    const names = ['a"b', 'a\\b', 'tab\there', '\u0001', '\u007f', 'é', '\u2028', '\uffff', '\u{10000}', '\u{1F600}'];
    const b = encodeTree({ nodes: names.map(mk) });
    expect(agree(b)).toBe(true);
    expect(decodeTreeParts.fast(b)?.nodes.map((n) => n.name)).toEqual(sortByName(names));
  });
});

describe('encodeTree: sorted and unsorted input', () => {
  const mk = (name: string, subtree = ID_A): TreeNode => ({ name, type: 'dir', mode: 0, mtimeNs: 0n, size: 0, subtree });

  test('a duplicate in sorted input is found', () => {
    expectError(() => encodeTree({ nodes: [mk('a'), mk('b'), mk('b', ID_B)] }), 'INTERNAL', /duplicate node name "b"/);
    expectError(() => encodeTree({ nodes: [mk('b'), mk('a'), mk('b', ID_B)] }), 'INTERNAL', /duplicate node name "b"/);
  });

  test('an invalid node is reported before a duplicate', () => {
    expectError(() => encodeTree({ nodes: [mk('b'), mk('b'), mk('c', 'x')] }), 'INTERNAL', /node "c": subtree/);
  });

  test('input in UTF-16 order but not UTF-8 order is sorted', () => {
    const sorted = str(encodeTree({ nodes: [mk('\uFFFD'), mk('\u{1F600}')] }));
    expect(str(encodeTree({ nodes: [mk('\u{1F600}'), mk('\uFFFD')] }))).toBe(sorted);
    expect(sorted.indexOf('\uFFFD')).toBeLessThan(sorted.indexOf('\u{1F600}'));
  });

  test('the input array is not modified', () => {
    const nodes = [mk('b'), mk('a')];
    encodeTree({ nodes });
    expect(nodes.map((n) => n.name)).toEqual(['b', 'a']);
  });

  test('a content array with a hole, or a node that is not an object, is INTERNAL', () => {
    const holey = new Array<string>(2);
    holey[1] = ID_A;
    expectError(() => encodeTree({ nodes: [{ name: 'f', type: 'file', mode: 0, mtimeNs: 0n, size: 0, content: holey }] }), 'INTERNAL', /content\[0\]/);
    expectError(() => encodeTree({ nodes: [null as unknown as TreeNode] }), 'INTERNAL', /node #0 is not an object/);
  });

  test('explicitly undefined optional fields are left out', () => {
    const n: TreeNode = { name: 'd', type: 'dir', mode: 0, mtimeNs: 0n, ctimeNs: undefined, inode: undefined, size: 0, subtree: ID_A };
    expect(str(encodeTree({ nodes: [n] }))).toBe(`{"nodes":[{"name":"d","type":"dir","mode":0,"mtime":"0","size":0,"subtree":"${ID_A}"}]}`);
    expect(sameNode(n, mk('d'))).toBe(true);
  });
});

// ---- the byte-level encoder against the plainest definition of the format ----

/**
 * The canonical encoding by definition: `JSON.stringify` of plain objects with the keys in
 * canonical order (64-bit values as decimal strings), nodes sorted by `Buffer.compare` of
 * their UTF-8 names, as UTF-8. No validation: for valid trees only.
 */
function referenceEncode(t: Tree): Uint8Array {
  const nodes = [...t.nodes]
    .sort((a, b) => Buffer.compare(Buffer.from(a.name, 'utf8'), Buffer.from(b.name, 'utf8')))
    .map((n) => {
      const o: Record<string, unknown> = { name: n.name, type: n.type, mode: n.mode, mtime: String(n.mtimeNs) };
      if (n.ctimeNs !== undefined) o['ctime'] = String(n.ctimeNs);
      if (n.inode !== undefined) o['inode'] = String(n.inode);
      o['size'] = n.size;
      if (n.content !== undefined) o['content'] = n.content;
      if (n.subtree !== undefined) o['subtree'] = n.subtree;
      if (n.target !== undefined) o['target'] = n.target;
      return o;
    });
  return Buffer.from(JSON.stringify({ nodes }), 'utf8');
}

/** Characters that take every path of the string writer: escapes, 1- to 4-byte UTF-8, U+2028/9. */
const encoderUnit = fc.constantFrom(
  'a', 'Z', '~', ' ', '"', '\\', '/', '\u0001', '\b', '\t', '\n', '\u000b', '\f', '\r', '\u000e', '\u001f', '\u007f',
  '\u0080', 'é', '\u07ff', '\u0800', 'ह', '\u2028', '\u2029', '\ud7ff', '\ue000', '\ufeff', '\ufffd', '\uffff',
  '\u{10000}', '\u{1F600}', '\u{10FFFF}',
);
const encoderText = fc.oneof(
  fc.string({ unit: encoderUnit, minLength: 1, maxLength: 16 }),
  fc.string({ unit: 'binary', minLength: 1, maxLength: 16 }),
  fc.string({ unit: 'binary-ascii', minLength: 1, maxLength: 16 }),
  fc.string({ unit: 'grapheme', minLength: 1, maxLength: 8 }),
  fc.string({ unit: 'grapheme-composite', minLength: 1, maxLength: 8 }),
  fc.constantFrom('a"b\\c', '\u2028\u2029', '\u{1F600}\u{10FFFF}', 'é'.repeat(127), 'x'.repeat(255), '\u{1F600}'.repeat(63), '\u001f'.repeat(255)),
);
const encoderName = encoderText.filter((n) => nameProblem(n) === undefined);
const encoderTarget = fc.oneof(encoderText, fc.constant('x'.repeat(4096))).filter((t) => !t.includes('\0') && isWellFormed(t));
const encoderInt64 = fc.oneof(
  int64,
  fc.constantFrom(-(2n ** 63n), 2n ** 63n - 1n, 0n, -1n, 1n, 9n, 10n, -10n, 2n ** 53n - 1n, 2n ** 53n, -(2n ** 53n) + 1n, -(2n ** 53n), 1700000000123456789n),
);
const encoderUint64 = fc.oneof(uint64, fc.constantFrom(0n, 1n, 9n, 10n, 2n ** 53n - 1n, 2n ** 53n, 2n ** 63n, 2n ** 64n - 1n));
const encoderMode = fc.oneof(mode, fc.constantFrom(0, 0o7777, 9, 10));
const encoderSize = fc.oneof(fc.maxSafeNat(), fc.constantFrom(0, 1, 9, 10, 99, 100, 2 ** 32, Number.MAX_SAFE_INTEGER));
const encoderCommon = fc.record(
  { name: encoderName, mode: encoderMode, mtimeNs: encoderInt64, ctimeNs: encoderInt64, inode: encoderUint64 },
  { requiredKeys: ['name', 'mode', 'mtimeNs'] },
);
const encoderNode: fc.Arbitrary<TreeNode> = fc
  .tuple(
    fc.oneof(
      fc
        .tuple(encoderCommon, fc.constantFrom('file' as const, 'sqlite' as const), encoderSize, fc.array(hexId, { maxLength: 4 }))
        .map(([c, type, size, content]): TreeNode => ({ ...c, type, size, content })),
      fc.tuple(encoderCommon, hexId).map(([c, subtree]): TreeNode => ({ ...c, type: 'dir', size: 0, subtree })),
      fc.tuple(encoderCommon, encoderTarget).map(([c, target]): TreeNode => ({ ...c, type: 'symlink', size: 0, target })),
    ),
    fc.boolean(),
  )
  // Half the nodes as the archiver builds them: every field present, absent ones undefined.
  .map(([n, full]) => (full ? makeNode(n.name, n.type, n.mode, n.mtimeNs, n.ctimeNs, n.inode, n.size, n.content, n.subtree, n.target) : n));
const encoderTree: fc.Arbitrary<Tree> = fc.uniqueArray(encoderNode, { selector: (n) => n.name, maxLength: 12 }).map((nodes) => ({ nodes }));

/** True when two byte arrays hold the same bytes. */
function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

describe('encodeTree writes exactly the bytes of the plain JSON.stringify encoding', () => {
  fcTest.prop([encoderTree], { numRuns: 500 })('on random valid trees with tricky names, targets and numbers', (t) => {
    const expected = referenceEncode(t);
    const b = encodeTree(t);
    expect(Buffer.from(b).toString('utf8')).toBe(Buffer.from(expected).toString('utf8'));
    expect(sameBytes(b, expected)).toBe(true);
    expect(sameBytes(encodeTree({ nodes: sortNodes(t.nodes) }), expected)).toBe(true); // the sorted-input path
    expect(decodeTree(b)).toEqual({ nodes: sortNodes(t.nodes) });
  });

  test('every BMP character in a name and a target, and every plane-boundary astral one', () => {
    const chars: string[] = [];
    for (let c = 1; c <= 0xffff; c++) if (c !== 0x2f && (c < 0xd800 || c > 0xdfff)) chars.push(String.fromCharCode(c));
    for (const cp of [0x10000, 0x1ffff, 0x20000, 0xeffff, 0xf0000, 0x10fffd, 0x10ffff]) chars.push(String.fromCodePoint(cp));
    const nodes = chars.map((ch): TreeNode => ({ name: `x${ch}`, type: 'symlink', mode: 0o777, mtimeNs: 0n, size: 0, target: `${ch}y` }));
    const t: Tree = { nodes };
    expect(sameBytes(encodeTree(t), referenceEncode(t))).toBe(true);
  });

  test('the extremes of every number', () => {
    const t: Tree = {
      nodes: [
        { name: 'max', type: 'file', mode: 0o7777, mtimeNs: 2n ** 63n - 1n, ctimeNs: 2n ** 63n - 1n, inode: 2n ** 64n - 1n, size: Number.MAX_SAFE_INTEGER, content: [ID_A] },
        { name: 'min', type: 'file', mode: 0, mtimeNs: -(2n ** 63n), ctimeNs: -(2n ** 63n), inode: 0n, size: 0, content: [] },
        { name: 'mid', type: 'sqlite', mode: 0o644, mtimeNs: -1n, ctimeNs: 2n ** 53n, inode: 2n ** 53n - 1n, size: 10, content: [ID_B, ID_C] },
      ],
    };
    const b = encodeTree(t);
    expect(sameBytes(b, referenceEncode(t))).toBe(true);
    expect(str(b)).toContain('"mode":4095,"mtime":"9223372036854775807","ctime":"9223372036854775807","inode":"18446744073709551615","size":9007199254740991,');
    expect(str(b)).toContain('"mode":0,"mtime":"-9223372036854775808","ctime":"-9223372036854775808","inode":"0","size":0,"content":[]}');
  });

  test('a result is the caller\'s: later calls, small or large, leave it alone', () => {
    const mk = (name: string, target: string): TreeNode => ({ name, type: 'symlink', mode: 0o777, mtimeNs: 1n, size: 0, target });
    const first = encodeTree({ nodes: [mk('a', 'first')] });
    const kept = Buffer.from(first); // a copy
    const second = encodeTree({ nodes: [mk('b', 'other')] });
    expect(sameBytes(first, kept)).toBe(true);
    expect(str(second)).toContain('"other"');
    // Each result has an ArrayBuffer of its own, exactly as long as the blob (safe to transfer).
    for (const b of [first, second]) {
      expect(b.byteOffset).toBe(0);
      expect(b.buffer.byteLength).toBe(b.byteLength);
    }
    expect(first.buffer).not.toBe(second.buffer);
    // Trees of several MB grow the scratch buffer (and let it go afterwards).
    const big: Tree = { nodes: Array.from({ length: 20000 }, (_, i): TreeNode => mk(`n${i}`, `${'t'.repeat(100)}é${i}`)) };
    const bigBytes = encodeTree(big);
    expect(bigBytes.byteLength).toBeGreaterThan(2 * 1024 * 1024);
    expect(sameBytes(bigBytes, referenceEncode(big))).toBe(true);
    const bigKept = Buffer.from(bigBytes);
    expect(sameBytes(first, kept)).toBe(true);
    const third = encodeTree({ nodes: [mk('c', 'third')] });
    expect(sameBytes(third, referenceEncode({ nodes: [mk('c', 'third')] }))).toBe(true);
    expect(sameBytes(bigBytes, bigKept)).toBe(true);
    expect(sameBytes(first, kept)).toBe(true);
  });

  test('a failed call leaves the next one unharmed', () => {
    const good: Tree = { nodes: [{ name: 'ok', type: 'dir', mode: 0, mtimeNs: 0n, size: 0, subtree: ID_A }] };
    expectError(() => encodeTree({ nodes: [{ name: 'bad', type: 'dir', mode: 0, mtimeNs: 0n, size: 0, subtree: 'x' }] }), 'INTERNAL');
    expect(sameBytes(encodeTree(good), referenceEncode(good))).toBe(true);
  });
});
