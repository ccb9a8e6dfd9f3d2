import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli } from '../helpers/cli.js';
import { makeTmp } from '../helpers/tmp.js';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '..', '..');
const TSX = join(ROOT, 'node_modules', '.bin', 'tsx');
const MAIN = join(ROOT, 'src', 'cli', 'main.ts');

let tmp: { dir: string; cleanup: () => Promise<void> };
let env: Record<string, string>;
let repo: string;
let src: string;

beforeAll(async () => {
  tmp = await makeTmp('clawback-progress-');
  repo = join(tmp.dir, 'repo');
  src = join(tmp.dir, 'src');
  await mkdir(src);
  for (let i = 0; i < 20; i++) await writeFile(join(src, `f${i}.txt`), `file ${i}\n`.repeat(1000));
  env = { HOME: join(tmp.dir, 'home'), PATH: process.env['PATH'] ?? '/usr/bin:/bin', CLAWBACK_CACHE_DIR: join(tmp.dir, 'cache'), TERM: 'xterm' };
  expect((await cli(['--repo', repo, 'init', '--no-password'], env)).code).toBe(0);
});
afterAll(async () => {
  await tmp.cleanup();
});

const shq = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
const BAR = /snapshot \d+ files \| [\d.]+ (B|KiB|MiB) \|/;

/** Runs the CLI on a pseudo-terminal (util-linux `script`); returns everything the terminal showed. */
async function onTty(args: string[]): Promise<string> {
  const cmd = [TSX, MAIN, ...args].map(shq).join(' ');
  const { stdout } = await run('script', ['-q', '-e', '-c', cmd, '/dev/null'], { env, cwd: tmp.dir, maxBuffer: 16 << 20 });
  return stdout;
}

describe('progress bars', () => {
  it('script(1) is available (package bsdutils / util-linux)', async () => {
    const { stdout } = await run('script', ['--version']);
    expect(stdout).toMatch(/util-linux/);
  });

  it('draws a live bar on a terminal', async () => {
    const out = await onTty(['--repo', repo, 'snapshot', 'create', src, '--force']);
    expect(out).toMatch(BAR);
    expect(out).toMatch(/snapshot 20 files \|/); // the final state is drawn
    expect(out).toContain('\u001b[1G'); // redrawn in place
    expect(out).toMatch(/saved as v\d+/);
  });

  it('draws nothing on a terminal with --json or --quiet', async () => {
    for (const flag of ['--json', '--quiet']) {
      const out = await onTty(['--repo', repo, flag, 'snapshot', 'create', src, '--force']);
      expect(out, flag).not.toMatch(BAR);
      expect(out, flag).not.toContain('\u001b[1G');
    }
  });

  it('writes no progress bytes when stderr is a pipe', async () => {
    const { stdout, stderr } = await run(TSX, [MAIN, '--repo', repo, 'snapshot', 'create', src, '--force'], { env, cwd: tmp.dir });
    expect(stdout).toMatch(/saved as v\d+/);
    expect(stderr).toBe('');
  });
});
