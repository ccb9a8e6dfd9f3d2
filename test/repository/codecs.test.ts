import { describe, expect, it } from 'vitest';
import { fc, test as fcTest } from '@fast-check/vitest';
import { decodePackHeader, encodePackHeader, type PackEntry } from '../../src/pack/format.js';
import { PackWriter } from '../../src/pack/writer.js';
import { PackBufferPool } from '../../src/pack/buffer-pool.js';
import { readPackHeaderFromBytes } from '../../src/pack/reader.js';
import { decodeIndex, encodeIndex, type IndexFile } from '../../src/index/format.js';
import { aesCipher, noneCipher, openEnvelope, sealEnvelope, frameContentSize } from '../../src/crypto/envelope.js';
import { createKeyFile, openKeyFile, parseKeyFile } from '../../src/repository/keys.js';
import { decodeConfig, encodeConfig, type RepoConfig } from '../../src/repository/config.js';
import { ClawbackError } from '../../src/errors.js';
import { zstdCompress } from '../../src/compress/zstd.js';

const hexId = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b).toString('hex'));
const u32 = fc.integer({ min: 0, max: 0xffffffff });

function entriesFrom(raw: { type: 'data' | 'tree'; id: string; length: number; rawLength: number }[]): PackEntry[] {
  let offset = 0;
  return raw.map((r) => {
    const e = { ...r, offset };
    offset += r.length;
    return e;
  });
}

const rawEntry = fc.record({ type: fc.constantFrom('data' as const, 'tree' as const), id: hexId, length: fc.integer({ min: 0, max: 1 << 20 }), rawLength: u32 });

/** Asserts `f` either returns or throws an INTEGRITY ClawbackError, nothing else. */
function onlyIntegrity(f: () => unknown): void {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(ClawbackError);
    expect((err as ClawbackError).code).toBe('INTEGRITY');
  }
}

describe('pack header', () => {
  fcTest.prop([fc.array(rawEntry, { maxLength: 50 })])('round-trips', (raw) => {
    const entries = entriesFrom(raw);
    const total = entries.reduce((s, e) => s + e.length, 0);
    expect(decodePackHeader(encodePackHeader(entries), total, 'p')).toEqual(entries);
  });

  fcTest.prop([fc.uint8Array({ maxLength: 300 }), fc.nat(1000)])('rejects garbage with INTEGRITY only', (bytes, n) => {
    onlyIntegrity(() => decodePackHeader(bytes, n, 'p'));
  });

  fcTest.prop([fc.array(fc.uint8Array({ maxLength: 2000 }), { maxLength: 8 }), fc.boolean(), fc.integer({ min: 1, max: 6000 })])('a whole pack reads back through its trailer, whatever the size of its pool\'s buffers', (blobs, encrypted, capacity) => {
    const cipher = encrypted ? aesCipher(Buffer.alloc(32, 9)) : noneCipher;
    const w = new PackWriter(new PackBufferPool(capacity, 1));
    blobs.forEach((b, i) => w.add(i % 2 ? 'tree' : 'data', Buffer.alloc(32, i).toString('hex'), sealEnvelope(cipher, b, 3), b.length));
    const pack = w.finish(cipher);
    const entries = readPackHeaderFromBytes(cipher, pack.id, pack.bytes);
    expect(entries).toEqual(pack.entries);
    entries.forEach((e, i) => {
      const stored = pack.bytes.subarray(e.offset, e.offset + e.length);
      expect(Buffer.from(openEnvelope(cipher, stored, 'b', e.rawLength, true))).toEqual(Buffer.from(blobs[i]!));
    });
  });

  fcTest.prop([fc.uint8Array({ maxLength: 400 })])('fuzz: random packs fail with INTEGRITY only', (bytes) => {
    onlyIntegrity(() => readPackHeaderFromBytes(aesCipher(Buffer.alloc(32, 1)), 'ab'.repeat(32), bytes));
    onlyIntegrity(() => readPackHeaderFromBytes(noneCipher, 'ab'.repeat(32), bytes));
  });
});

describe('index file', () => {
  const indexArb = fc.record({
    superseded: fc.array(hexId, { maxLength: 4 }),
    packs: fc.array(
      fc.record({ id: hexId, raw: fc.array(rawEntry, { maxLength: 10 }) }).map(({ id, raw }) => {
        const blobs = entriesFrom(raw);
        return { id, size: blobs.reduce((s, e) => s + e.length, 0) + 100, blobs };
      }),
      { maxLength: 6 },
    ),
  });

  fcTest.prop([indexArb])('round-trips', (idx: IndexFile) => {
    expect(decodeIndex(encodeIndex(idx), 'i')).toEqual(idx);
  });

  fcTest.prop([indexArb, fc.nat(), fc.integer({ min: 0, max: 255 })])('fuzz: mutated files fail with INTEGRITY or decode', (idx, pos, byte) => {
    const bytes = encodeIndex(idx);
    if (bytes.length > 0) bytes[pos % bytes.length] = byte;
    onlyIntegrity(() => decodeIndex(bytes, 'i'));
    onlyIntegrity(() => decodeIndex(bytes.subarray(0, pos % (bytes.length + 1)), 'i'));
  });
});

describe('envelope', () => {
  fcTest.prop([fc.uint8Array({ maxLength: 5000 }), fc.integer({ min: 0, max: 6 }), fc.boolean()])('round-trips, compressed only when smaller', (data, level, encrypted) => {
    const cipher = encrypted ? aesCipher(Buffer.alloc(32, 3)) : noneCipher;
    const sealed = sealEnvelope(cipher, data, level);
    expect(Buffer.from(openEnvelope(cipher, sealed, 'x', data.length, true))).toEqual(Buffer.from(data));
    expect(Buffer.from(openEnvelope(cipher, sealed, 'x', data.length + 10, false))).toEqual(Buffer.from(data));
    expect(sealed.length).toBeLessThanOrEqual(data.length + 1 + cipher.overhead);
  });

  fcTest.prop([fc.uint8Array({ minLength: 1, maxLength: 500 }), fc.nat()])('any flipped bit in an encrypted envelope is detected', (data, pos) => {
    const cipher = aesCipher(Buffer.alloc(32, 4));
    const sealed = sealEnvelope(cipher, data, 3);
    const bit = pos % (sealed.length * 8);
    sealed[bit >> 3] = sealed[bit >> 3]! ^ (1 << (bit & 7));
    expect(() => openEnvelope(cipher, sealed, 'blob x', data.length, true)).toThrow(/blob x/);
  });

  it('wrong key is an integrity error', () => {
    const sealed = sealEnvelope(aesCipher(Buffer.alloc(32, 1)), Buffer.from('secret'), 0);
    expect(() => openEnvelope(aesCipher(Buffer.alloc(32, 2)), sealed, 'cfg', 100, false)).toThrow(ClawbackError);
  });

  it('a zstd bomb is refused before allocation', () => {
    const big = Buffer.alloc(4 << 20);
    const frame = zstdCompress(big, 1)!;
    expect(frameContentSize(frame)).toBe(big.length);
    const stored = Buffer.concat([Buffer.of(1), frame]);
    expect(() => openEnvelope(noneCipher, stored, 'index file x', 1 << 16, false)).toThrow(/no valid size/);
  });
});

describe('key file', () => {
  const keys = { encrypt: Buffer.alloc(32, 5), hash: Buffer.alloc(32, 6) };
  const owner = { host: 'h', username: 'u', created: new Date('2026-01-02T03:04:05Z') };

  it('opens with the right password only', async () => {
    const bytes = await createKeyFile(keys, 'correct horse', owner, { N: 1024, r: 8, p: 1 });
    const file = parseKeyFile(bytes, 'k');
    expect(file).toMatchObject({ version: 1, kdf: 'scrypt', host: 'h', username: 'u', N: 1024, created: '2026-01-02T03:04:05.000Z' });
    expect(await openKeyFile(file, 'correct horse', 'k')).toEqual(keys);
    expect(await openKeyFile(file, 'wrong', 'k')).toBeUndefined();
    expect(bytes.toString()).not.toContain(keys.encrypt.toString('base64'));
  });

  it('unencrypted key files hold only the hash key', async () => {
    const bytes = await createKeyFile({ hash: keys.hash }, undefined, owner, { N: 0, r: 0, p: 0 });
    const file = parseKeyFile(bytes, 'k');
    expect(file.kdf).toBe('none');
    expect(await openKeyFile(file, undefined, 'k')).toEqual({ hash: keys.hash });
  });

  fcTest.prop([fc.uint8Array({ maxLength: 300 })])('fuzz: garbage key files fail with INTEGRITY', (bytes) => {
    onlyIntegrity(() => parseKeyFile(bytes, 'k'));
  });
});

describe('config', () => {
  const config: RepoConfig = {
    version: 1,
    id: 'a'.repeat(64),
    created: '2026-11-22T00:00:00.000Z',
    chunker: { algorithm: 'fastcdc-2020', minSize: 1024, avgSize: 4096, maxSize: 16384 },
    sqliteChunker: { algorithm: 'fixed', size: 4096 },
    chunkerSeed: 'b'.repeat(64),
    hash: 'blake3-keyed-256',
    compression: { algorithm: 'zstd', level: 3 },
    cipher: 'aes-256-gcm',
    packSize: 1 << 24,
  };
  it('round-trips', () => {
    expect(decodeConfig(encodeConfig(config), 'r')).toEqual(config);
  });
  it('round-trips compression.sqliteLevel, which is optional', () => {
    const withSqlite: RepoConfig = { ...config, compression: { algorithm: 'zstd', level: 3, sqliteLevel: 1 } };
    expect(decodeConfig(encodeConfig(withSqlite), 'r')).toEqual(withSqlite);
    for (const bad of [20, -1, 1.5, '1', null]) {
      const bytes = Buffer.from(JSON.stringify({ ...config, compression: { algorithm: 'zstd', level: 3, sqliteLevel: bad } }));
      expect(() => decodeConfig(bytes, 'r')).toThrow(/config of r is damaged/);
    }
  });
  it('refuses another format version with a clear message', () => {
    const bytes = Buffer.from(JSON.stringify({ ...config, version: 2 }));
    expect(() => decodeConfig(bytes, '/r')).toThrow(/format version 2.*upgrade clawback/);
  });
  fcTest.prop([fc.uint8Array({ maxLength: 200 })])('fuzz: garbage configs fail with INTEGRITY', (bytes) => {
    onlyIntegrity(() => decodeConfig(bytes, 'r'));
  });
});
