/**
 * Parsing of wall-clock durations given on the command line (`--retry-lock 5m`), in the
 * style of Go's `time.ParseDuration` that restic's `--retry-lock` takes: one or more
 * `<number><unit>` parts, units `ms`, `s`, `m`, `h`, `d` (`1h30m`, `90s`, `2.5m`). A bare
 * number means seconds.
 */
import { ClawbackError } from '../errors.js';

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * The duration `text` in milliseconds (rounded).
 * @throws ClawbackError `USAGE` for anything else, naming `flag`.
 */
export function parseDurationMs(text: string, flag = 'duration'): number {
  const s = text.trim();
  const bad = (): never => {
    throw new ClawbackError('USAGE', `invalid ${flag} ${JSON.stringify(text)}: write it like 30s, 5m, 1h30m or 500ms`);
  };
  if (s === '') bad();
  if (/^\d+(\.\d+)?$/.test(s)) return Math.round(Number(s) * 1000);
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/y;
  let pos = 0;
  let total = 0;
  while (pos < s.length) {
    re.lastIndex = pos;
    const m = re.exec(s);
    if (!m) bad();
    const [whole, num, unit] = m as RegExpExecArray;
    total += Number(num) * UNIT_MS[unit as string]!;
    pos += whole.length;
  }
  if (!Number.isFinite(total)) bad();
  return Math.round(total);
}
