/**
 * verify: {@link verifyRepository}; findings in findings.ts, subsets in subset.ts.
 */
export { verifyRepository, type VerifyOptions, type VerifyReport, type VerifyStats } from './checker.js';
export { FindingSet, INFO_KINDS, MAX_AFFECTED, type Finding, type FindingKind, type Severity, type AffectedPath } from './findings.js';
export { parseSubset, selectPacks, MAX_BUCKETS, type Subset } from './subset.js';
export { checkPacks, type PackCheck, type DamagedCopy } from './read-data.js';
