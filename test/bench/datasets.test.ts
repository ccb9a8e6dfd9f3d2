/**
 * The bench harness refuses a data set holding SQLite sidecar files (bench/lib/datasets.ts
 * `refuseSidecars`): with them the tools would snapshot different trees.
 */
import { expect, it } from 'vitest';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadDataSet, refuseSidecars } from '../../bench/lib/datasets.js';
import { useTmp } from '../helpers/tmp.js';

const tmp = useTmp('clawback-bench-ds-');

function makeSet(root: string): void {
  for (const v of ['v1', 'v2']) mkdirSync(join(root, 'agent', v, 'state'), { recursive: true });
  writeFileSync(join(root, 'agent', '.done'), '');
  mkdirSync(join(root, 'manifests'));
  writeFileSync(join(root, 'manifests', 'agent.b3'), '');
  for (const v of ['v1', 'v2']) writeFileSync(join(root, 'agent', v, 'state', 'memory.sqlite'), 'SQLite format 3\0');
}

it('refuses a data set with sidecars beside a database, naming them, unless allowed', async () => {
  makeSet(tmp.dir);
  const clean = await loadDataSet('agent', tmp.dir);
  expect(() => refuseSidecars(clean, false)).not.toThrow();
  const wal = join(tmp.dir, 'agent', 'v1', 'state', 'memory.sqlite-wal');
  writeFileSync(wal, '');
  writeFileSync(join(tmp.dir, 'agent', 'v2', 'state', 'other.txt-wal'), 'not beside a database');
  const ds = await loadDataSet('agent', tmp.dir);
  expect(() => refuseSidecars(ds, false)).toThrow(`data set agent holds SQLite sidecar files that its build does not make:\n  ${wal}\n`);
  expect(() => refuseSidecars(ds, false)).toThrow(/BENCH_ALLOW_SIDECARS=1/);
  expect(() => refuseSidecars(ds, true)).not.toThrow();
  rmSync(wal);
  const again = await loadDataSet('agent', tmp.dir);
  expect(() => refuseSidecars(again, false)).not.toThrow();
});
