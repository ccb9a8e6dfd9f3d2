/**
 * Exit codes (docs/CLI.md): 0 ok · 1 failure (a damaged repository, a failed capture, a
 * backup job `status` finds unhealthy, among others) · 2 usage · 3 partial · 10 no
 * repository (or no such S3 bucket) · 11 locked · 12 wrong password, or S3 credentials
 * refused / permission denied · 13 storage unreachable · 130 interrupted.
 * Callers treat unknown codes as failure.
 */
import { isClawbackError } from '../errors.js';

export const EXIT = {
  OK: 0,
  FAILURE: 1,
  USAGE: 2,
  PARTIAL: 3,
  NO_REPOSITORY: 10,
  LOCKED: 11,
  WRONG_PASSWORD: 12,
  UNREACHABLE: 13,
  INTERRUPTED: 130,
} as const;

/** The exit code for an error that ended a command. */
export function exitCodeFor(err: unknown): number {
  if (!isClawbackError(err)) return EXIT.FAILURE;
  switch (err.code) {
    case 'USAGE':
      return EXIT.USAGE;
    case 'REPO_NOT_FOUND':
      return EXIT.NO_REPOSITORY;
    case 'LOCKED':
      return EXIT.LOCKED;
    case 'WRONG_PASSWORD':
    case 'BACKEND_AUTH':
      return EXIT.WRONG_PASSWORD;
    case 'BACKEND_UNREACHABLE':
      return EXIT.UNREACHABLE;
    case 'ABORTED':
      return EXIT.INTERRUPTED;
    default:
      return EXIT.FAILURE;
  }
}
