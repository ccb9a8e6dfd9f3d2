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
  return { nproc: availableParallelism(), cpuModel, memGiB: Math.round(totalmem() / 2 ** 30), kernel, node: process.version };
}

/** One line describing the machine, for tables. */
export function describeMachine(m: MachineInfo): string {
  return `${m.nproc} cores (${m.cpuModel}), ${m.memGiB} GiB RAM, Linux ${m.kernel}, node ${m.node}`;
}
