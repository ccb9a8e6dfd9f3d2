/**
 * Whether a `snapshot` subcommand works on an agent profile (`--profile`/`--manifest`),
 * decided before the agent code (`actions/snapshot-agent.ts`) is loaded.
 */

/** Options that pick an agent profile. */
export interface AgentSelectOptions {
  profile?: string;
  manifest?: string;
  root?: string;
}

/** True when the command works on an agent profile. */
export function wantsAgent(o: AgentSelectOptions): boolean {
  return o.profile !== undefined || o.manifest !== undefined;
}
