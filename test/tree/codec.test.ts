import { describe, expect, test } from 'vitest';
import { fc, test as fcTest } from '@fast-check/vitest';
import { ClawbackError } from '../../src/errors.js';
import type { ErrorCode } from '../../src/errors.js';
import { toHex } from '../../src/ids.js';
import { decodeTree, encodeTree, sortNodes } from '../../src/tree/codec.js';
import { compareNames, nameProblem, validateName } from '../../src/tree/node.js';
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

// ---- tests ----

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
