/**
 * Progress reporting. The library calls these hooks; the CLI draws them (only on a TTY).
 * Every hook is optional and must be cheap; callers throttle drawing themselves.
 */

/** Counters of a long operation. Bytes are plaintext bytes. */
export interface ProgressState {
  /** What is running: `snapshot`, `restore`, `verify`, `gc`, `copy`, … */
  phase: string;
  filesDone: number;
  bytesDone: number;
  /** Totals when known (from a scan or the snapshot summary). */
  filesTotal?: number;
  bytesTotal?: number;
  /** The item being worked on (relative path), if any. */
  current?: string;
}

/** Receives progress updates. */
export interface Progress {
  update?(state: ProgressState): void;
  /** A non-fatal message (e.g. "skipped missing declared dir"). */
  warn?(message: string): void;
  done?(state: ProgressState): void;
}

/** A {@link Progress} that ignores everything. */
export const nullProgress: Progress = {};
