/**
 * Memory stays bounded while packs upload: the blob saver never has more than
 * `limits.uploads` pack uploads in flight (4 for S3 repositories opened by the CLI, 2 by
 * default), whatever the number of packs waiting.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import type { Backend, FileInfo, FileType, Handle, LoadRange, TempFileInfo } from '../../src/backend/backend.js';
import { MemoryBackend } from '../../src/backend/mem.js';
import { Context, S3_UPLOADS } from '../../src/cli/context.js';
import { initRepository, type Repository } from '../../src/repository/repository.js';
import { useTmp } from '../helpers/tmp.js';

/** A backend whose pack saves wait until the test releases them, counting how many wait at once. */
class GatedBackend implements Backend {
  readonly inner = new MemoryBackend();
  readonly location = 'gated:';
  inFlight = 0;
  maxInFlight = 0;
  readonly waiting: (() => void)[] = [];
  create(): Promise<void> {
    return this.inner.create();
  }
  isRepository(): Promise<boolean> {
    return this.inner.isRepository();
  }
  async save(h: Handle, data: Uint8Array): Promise<void> {
    if (h.type === 'data') {
      this.inFlight++;
      this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
      await new Promise<void>((resolve) => this.waiting.push(resolve));
      this.inFlight--;
    }
    await this.inner.save(h, data);
  }
  load(h: Handle, range?: LoadRange): Promise<Uint8Array> {
    return this.inner.load(h, range);
  }
  stat(h: Handle): Promise<FileInfo> {
    return this.inner.stat(h);
  }
  list(type: FileType): AsyncIterable<FileInfo> {
    return this.inner.list(type);
  }
  remove(h: Handle): Promise<void> {
    return this.inner.remove(h);
  }
  listTempFiles(): AsyncIterable<TempFileInfo> {
    return this.inner.listTempFiles();
  }
  removeTempFile(path: string): Promise<void> {
    return this.inner.removeTempFile(path);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

const open: Repository[] = [];
const tmp = useTmp('clawback-test-', { close: open });

describe('pack uploads in flight', () => {
  for (const uploads of [undefined, 4]) {
    it(`never exceed limits.uploads (${uploads ?? 'default 2'}) while 24 packs wait`, async () => {
      const backend = new GatedBackend();
      const repo = await initRepository(
        backend,
        { password: 'pw', scrypt: { N: 1024, r: 8, p: 1 }, packSize: 32 * 1024, compressionLevel: 0 },
        { cacheDir: join(tmp.dir, 'cache'), sealThreads: 0, ...(uploads === undefined ? {} : { limits: { uploads } }) },
      );
      open.push(repo);
      const want = uploads ?? 2;
      const blobs = Array.from({ length: 24 }, () => randomBytes(40 * 1024));
      for (const b of blobs) await repo.saveBlob('data', b);
      const flushed = repo.flush();
      let released = 0;
      while (released < blobs.length) {
        // Wait until every upload that may start has started, then check the bound.
        await vi.waitFor(() => expect(backend.waiting.length).toBe(Math.min(want, blobs.length - released)), { timeout: 10_000, interval: 1 });
        expect(backend.inFlight).toBeLessThanOrEqual(want);
        backend.waiting.shift()!();
        released++;
      }
      await flushed;
      expect(backend.maxInFlight).toBe(want);
      for (const b of blobs) expect((await repo.loadBlob(repo.blobId(b))).equals(b)).toBe(true);
    });
  }

  it('the CLI opens S3 repositories with 4 uploads in flight and local ones with the default', () => {
    const io = { stdout: () => {}, stderr: () => {}, env: { HOME: tmp.dir }, cwd: tmp.dir, stderrIsTTY: false, signal: new AbortController().signal };
    expect(S3_UPLOADS).toBe(4);
    const s3 = new Context(io, { repo: 's3:http://127.0.0.1:9/bucket/prefix', cacheDir: tmp.dir });
    expect(s3.repoOptions()).toEqual({ cacheDir: tmp.dir, limits: { uploads: 4 } });
    const local = new Context(io, { repo: join(tmp.dir, 'repo'), cacheDir: tmp.dir });
    expect(local.repoOptions()).toEqual({ cacheDir: tmp.dir });
    expect(local.repoOptions('s3:bucket/prefix')).toEqual({ cacheDir: tmp.dir, limits: { uploads: 4 } });
  });
});
