/**
 * Progress display: a cli-progress bar on a TTY (at most 10 redraws a second), nothing on
 * a pipe, with --json or with --quiet. cli-progress is loaded only when a bar is drawn.
 */
import { createRequire } from 'node:module';
import type * as CliProgress from 'cli-progress';
import type { Progress, ProgressState } from '../progress.js';
import type { Context } from './context.js';
import { formatBytes } from './format.js';

/** A Progress for `phase`, drawing only when stderr is a TTY and output is for humans. */
export function makeProgress(ctx: Context, phase: string, totals: { filesTotal?: number; bytesTotal?: number } = {}): Progress {
  const warn = (m: string) => ctx.warn(m);
  if (!ctx.io.stderrIsTTY || ctx.json || ctx.opts.quiet) return { warn };
  const color = ctx.io.env['NO_COLOR'] === undefined;
  const cliProgress = createRequire(import.meta.url)('cli-progress') as typeof CliProgress;
  const bar = new cliProgress.SingleBar(
    {
      stream: { write: (s: string) => (ctx.io.stderr(s), true), isTTY: true, columns: 100, cursorTo: () => true, moveCursor: () => true, clearLine: () => true } as unknown as NodeJS.WriteStream,
      format: totals.bytesTotal
        ? `${phase} {bar} {percentage}% | {files} files | {done} of {total} | {speed}/s | ETA {eta_formatted}`
        : `${phase} {files} files | {done} | {speed}/s`,
      fps: 10,
      hideCursor: false,
      clearOnComplete: false,
      barCompleteChar: color ? '\u2588' : '#',
      barIncompleteChar: color ? '\u2591' : '-',
      etaBuffer: 50,
      noTTYOutput: false,
    },
    cliProgress.Presets.shades_classic,
  );
  const started = Date.now();
  let running = false;
  const payload = (s: ProgressState) => ({
    files: s.filesDone,
    done: formatBytes(s.bytesDone),
    total: formatBytes(totals.bytesTotal ?? 0),
    speed: formatBytes(Math.round(s.bytesDone / Math.max(0.001, (Date.now() - started) / 1000))),
  });
  return {
    warn,
    update(s) {
      if (!running) {
        bar.start(totals.bytesTotal ?? 1, 0, payload(s));
        running = true;
      }
      bar.update(Math.min(s.bytesDone, totals.bytesTotal ?? s.bytesDone), payload(s));
    },
    done(s) {
      if (running) {
        bar.update(totals.bytesTotal ?? s.bytesDone, payload(s));
        bar.stop();
      }
    },
  };
}
