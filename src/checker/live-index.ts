/**
 * The {@link LiveIndex} of a repository, read from its index files (never the LMDB cache):
 * what `verify` checks and gc plans from.
 */
import { LiveIndex } from '../index/live.js';
import type { Repository } from '../repository/repository.js';

/**
 * Reads every index file of `repo` and builds its {@link LiveIndex}. Damaged index files
 * are reported in `damaged`, never thrown.
 * @throws backend errors other than a file vanishing meanwhile.
 */
export function loadLiveIndex(repo: Repository): Promise<LiveIndex> {
  return LiveIndex.load({ list: () => repo.listIndexFiles(), load: (id) => repo.scanIndexFile(id) });
}
