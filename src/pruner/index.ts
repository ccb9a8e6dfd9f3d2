/**
 * gc (alias prune): {@link planPrune} then {@link executePlan}; see plan.ts and execute.ts.
 */
export { planPrune, planTotals, parseMaxUnused, type PrunePlan, type PackPlan, type PackAction, type MissingBlob, type PlanOptions, type PlanTotals } from './plan.js';
export { executePlan, type ExecuteOptions, type PruneResult, type PruneStep } from './execute.js';
