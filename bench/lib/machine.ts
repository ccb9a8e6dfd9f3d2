/**
 * Describes the machine and the tool versions of a benchmark run.
 */
import { availableParallelism, cpus, totalmem } from 'node:os';
import { run } from './measure.js';

/** The machine a run happened on. */
export interface MachineInfo {
  nproc: number;
  cpuModel: string;
  memGiB: number;
  kernel: string;
  node: string;
  /**
   * Whether NODE_EXTRA_CA_CERTS is set in the environment the tools inherit: Node parses
   * that certificate file at every process start, before any of clawback's code runs (on
   * the 2-core VM of docs/PERFORMANCE.md, `node -e 0` takes 78 ms with it and 28 ms
   * without); restic and borg ignore it.
   */
  extraCaCerts?: boolean;
}

/** Collects {@link MachineInfo}. */
export async function machineInfo(): Promise<MachineInfo> {
  let cpuModel = cpus()[0]?.model ?? 'unknown';
  try {
    const { stdout } = await run({ cmd: 'lscpu', args: [] });
    cpuModel = /^Model name:\s*(.+)$/m.exec(stdout)?.[1]?.trim() ?? cpuModel;
  } catch {
    /* lscpu missing */
  }
  const kernel = (await run({ cmd: 'uname', args: ['-r'] })).stdout.trim();
  const extraCaCerts = Boolean(process.env['NODE_EXTRA_CA_CERTS']);
  return { nproc: availableParallelism(), cpuModel, memGiB: Math.round(totalmem() / 2 ** 30), kernel, node: process.version, extraCaCerts };
}

/** One line describing the machine, for tables. */
export function describeMachine(m: MachineInfo): string {
  const certs = m.extraCaCerts ? ' (NODE_EXTRA_CA_CERTS set: every Node process parses it at start)' : '';
  return `${m.nproc} cores (${m.cpuModel}), ${m.memGiB} GiB RAM, Linux ${m.kernel}, node ${m.node}${certs}`;
}
