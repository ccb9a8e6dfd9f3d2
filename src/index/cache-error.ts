/**
 * The error of a damaged local index cache, apart from `cache.ts` so that code checking for
 * it does not load LMDB.
 */
import { ClawbackError } from '../errors.js';

/** Thrown by lookups when the cache file is damaged; the repository rebuilds it. */
export class CacheDamagedError extends ClawbackError {
  constructor(path: string) {
    super('INTEGRITY', `the local index cache at ${path} is damaged; it will be rebuilt from the repository's index files`);
  }
}
