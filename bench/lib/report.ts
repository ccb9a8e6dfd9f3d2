/**
 * Medians and the markdown table of a benchmark run.
 */
import { STEP_LABELS, STEPS, type StepName, type StepSample, type ToolRun } from './suite.js';

/** Median of numbers (mean of the middle two for an even count); NaN for none. */
export function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Per-metric medians of one step of one tool. */
export interface StepMedian {
  wallS: number;
  cpuS: number;
  rssBytes: number;
  repoBytes: number;
  addedBytes: number;
  samples: number;
}

/** Medians per tool and step, over the successful passes. */
export function medians(runs: ToolRun[]): Record<string, Partial<Record<StepName, StepMedian>>> {
  const out: Record<string, Partial<Record<StepName, StepMedian>>> = {};
  for (const tool of [...new Set(runs.map((r) => r.tool))]) {
    const ok = runs.filter((r) => r.tool === tool && r.error === undefined);
    const per: Partial<Record<StepName, StepMedian>> = {};
    for (const step of STEPS) {
      const xs = ok.map((r) => r.steps[step]).filter((x): x is StepSample => x !== undefined);
      if (xs.length === 0) continue;
      per[step] = {
        wallS: median(xs.map((x) => x.wallS)),
        cpuS: median(xs.map((x) => x.cpuS)),
        rssBytes: median(xs.map((x) => x.rssBytes)),
        repoBytes: median(xs.map((x) => x.repoBytes)),
        addedBytes: median(xs.map((x) => x.addedBytes)),
        samples: xs.length,
      };
    }
    out[tool] = per;
  }
  return out;
}

const mb = (b: number): string => (b / 1e6).toFixed(b >= 100e6 ? 0 : 1);

/**
 * The markdown table of one data set: one row per step and tool with median wall s, CPU s,
 * peak RSS, repository size after the step (and what the step added), and the
 * clawback/restic wall-time ratio.
 */
export function markdownTable(set: string, runs: ToolRun[], nextNote = ''): string {
  const med = medians(runs);
  const tools = [...new Set(runs.map((r) => r.tool))];
  const lines = [
    `| ${set} step | tool | wall s | CPU s | peak RSS MB | repo MB (added) | wall vs restic |`,
    '|---|---|--:|--:|--:|--:|--:|',
  ];
  for (const step of STEPS) {
    const restic = med['restic']?.[step];
    for (const tool of tools) {
      const m = med[tool]?.[step];
      const label = `${STEP_LABELS[step]}${step === 'next' ? nextNote : ''}`;
      const failed = runs.filter((r) => r.tool === tool && r.error !== undefined).length;
      if (!m) {
        const why = runs.some((r) => r.tool === tool && r.unavailable.includes(step)) ? 'not available' : failed > 0 ? 'FAILED' : '–';
        lines.push(`| ${label} | ${tool} | ${why} | | | | |`);
        continue;
      }
      const ratio = restic && tool !== 'restic' ? (m.wallS / restic.wallS).toFixed(2) : '';
      const added = step === 'restore' ? '' : ` (${m.addedBytes >= 0 ? '+' : ''}${mb(m.addedBytes)})`;
      const n = m.samples < Math.max(...runs.filter((r) => r.tool === tool).map((r) => r.rep)) ? ` [n=${m.samples}]` : '';
      lines.push(`| ${label} | ${tool} | ${m.wallS.toFixed(2)}${n} | ${m.cpuS.toFixed(2)} | ${mb(m.rssBytes)} | ${mb(m.repoBytes)}${added} | ${ratio} |`);
    }
  }
  const failures = runs.filter((r) => r.error !== undefined);
  for (const f of failures) lines.push('', `**FAILED** ${f.tool} repetition ${f.rep}: \`${f.error!.split('\n')[0]}\``);
  return lines.join('\n');
}
