/**
 * A stable source path for snapshots: every tool snapshots `<work>/src`, and the version
 * under test is moved there by rename (instant, same filesystem; file inodes, mtimes and
 * ctimes are untouched) and moved back afterwards. A stable path lets each tool find its
 * parent snapshot, so "no change" measures change detection, not a re-read.
 *
 * The origin of the mounted version is written to `<work>/MOUNTED` first, so an interrupted
 * run can be undone with {@link recoverStages}.
 */
import { existsSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Moves data set versions in and out of one stable path. */
export class Stage {
  readonly src: string;
  private readonly marker: string;
  private origin: string | undefined;

  constructor(work: string) {
    this.src = join(work, 'src');
    this.marker = join(work, 'MOUNTED');
  }

  /** Puts `versionDir` at {@link src} (putting back whatever was there). */
  mount(versionDir: string): void {
    if (this.origin === versionDir) return;
    this.unmount();
    writeFileSync(this.marker, versionDir);
    renameSync(versionDir, this.src);
    this.origin = versionDir;
  }

  /** Moves the mounted version back to its data set. */
  unmount(): void {
    if (this.origin === undefined) return;
    renameSync(this.src, this.origin);
    rmSync(this.marker, { force: true });
    this.origin = undefined;
  }
}

/** Moves back versions left mounted by an interrupted run under `benchWorkRoot`. */
export function recoverStages(benchWorkRoot: string): string[] {
  const fixed: string[] = [];
  if (!existsSync(benchWorkRoot)) return fixed;
  for (const d of readdirSync(benchWorkRoot)) {
    const marker = join(benchWorkRoot, d, 'MOUNTED');
    if (!existsSync(marker)) continue;
    const origin = readFileSync(marker, 'utf8');
    const src = join(benchWorkRoot, d, 'src');
    if (existsSync(src) && !existsSync(origin)) {
      renameSync(src, origin);
      fixed.push(origin);
    }
    rmSync(marker, { force: true });
  }
  return fixed;
}
