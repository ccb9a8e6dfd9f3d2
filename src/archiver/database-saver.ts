/**
 * Saves a SQLite database up to `SQLITE_IMAGE_LIMIT` (fs/sqlite.ts) bytes where it is imaged: a blob
 * worker copies it with `sqlite3_serialize` within a read transaction it keeps open, cuts
 * and hashes the image there, seals only the chunks the repository lacks, and runs
 * `PRAGMA quick_check` in the same transaction, so the check sees exactly the image's
 * pages (Repository.imageDatabase). The image never crosses to the main thread: no copy
 * of it, and no plaintext sent back to the workers for sealing.
 *
 * A quiet database (imaged through an immutable connection under an unchanged quiet stamp,
 * see fs/sqlite-read-source.ts) is checked instead on a SQLite worker thread
 * (fs/sqlite-worker.ts), through another immutable connection, while its chunks are looked
 * up and sealed: the check counts only when it saw the image's stamp before and after, so
 * it read the same bytes; otherwise the database is imaged again. The check then no longer
 * waits for the sealing (on 2 cores, the last database's check was the snapshot's tail).
 *
 * The check is skipped when the image cuts into exactly the parent snapshot's chunks
 * (they passed it when they were captured). A quiet database read through an immutable
 * connection that is written to before its check ends is imaged again (the check saw other
 * pages than the image), up to {@link ATTEMPTS} times.
 */
import { ClawbackError } from '../errors.js';
import { sqliteCaptureError } from '../fs/sqlite.js';
import { checkQuietSqliteOffThread } from '../fs/sqlite-worker.js';
import type { Chunker } from '../chunker/index.js';
import type { BlobId } from '../ids.js';
import type { Repository } from '../repository/repository.js';
import type { DatabaseImage } from '../repository/seal-pool.js';
import { takeImageRoom } from './sqlite-capture.js';

/** Give up on a database locked (SQLITE_BUSY) this long, ms. */
const BUSY_MS = 60_000;
/** Images of one database taken at most, when each was written to before its check. */
const ATTEMPTS = 3;

/**
 * Images, checks and saves the database at `path` (`size` bytes as `lstat` saw it, for the
 * image memory budget of sqlite-capture.ts) with the repository's blob workers.
 * @param parent the parent snapshot's chunks of this path, when all of them exist: an image
 *   cut into exactly these is not checked again.
 * @returns the chunk ids and the image's size in bytes.
 * @throws ClawbackError 'CAPTURE' naming SQLite's reason, or the check's answer.
 */
export async function saveDatabase(repo: Repository, chunker: Chunker, path: string, size: number, parent: BlobId[] | null): Promise<{ content: BlobId[]; size: number }> {
  for (let attempt = 1; ; attempt++) {
    const saved = await saveImageOnce(repo, chunker, path, size, parent);
    if (saved !== 'changed') return saved;
    if (attempt === ATTEMPTS) {
      throw new ClawbackError('CAPTURE', `the database was written to while each of ${ATTEMPTS} copies was being checked; snapshot again when it is quieter`);
    }
  }
}

async function saveImageOnce(repo: Repository, chunker: Chunker, path: string, size: number, parent: BlobId[] | null): Promise<{ content: BlobId[]; size: number } | 'changed'> {
  const release = await takeImageRoom(size);
  let image: DatabaseImage | undefined;
  let ended = false;
  try {
    try {
      image = await repo.imageDatabase(path, chunker, parent, BUSY_MS);
    } catch (err) {
      if ((err as { code?: string }).code === 'NOIMAGE') throw new ClawbackError('CAPTURE', (err as Error).message);
      throw sqliteCaptureError(err, 'SQLite serialize failed');
    }
    if (image.kind === 'same') return { content: parent!, size: image.size };
    // Observed below (or dropped with the attempt, failing as it may).
    const quietCheck = image.quiet !== undefined ? checkQuietSqliteOffThread(path) : undefined;
    quietCheck?.catch(() => undefined);
    const { ids, lengths } = image;
    const present = await repo.hasBlobs(ids);
    const only: number[] = [];
    const wanted = new Set<BlobId>();
    ids.forEach((id, k) => {
      if (!present[k] && !wanted.has(id)) {
        wanted.add(id);
        only.push(k);
      }
    });
    const envelopes = await image.seal(only);
    release();
    for (let j = 0; j < only.length; j++) await repo.saveSealedBlob('data', ids[only[j]!]!, envelopes[j]!, lengths[only[j]!]!);
    ended = true;
    let answer: string | null;
    try {
      if (quietCheck) {
        await image.end(false);
        const checked = await quietCheck;
        answer = checked && checked.stamp === image.quiet ? checked.answer : 'changed';
      } else {
        answer = await image.end(true);
      }
    } catch (err) {
      throw new ClawbackError('CAPTURE', `the SQLite copy cannot be checked: ${(err as Error).message}`, { cause: err });
    }
    if (answer === 'changed') return 'changed';
    if (answer !== 'ok') throw new ClawbackError('CAPTURE', `the SQLite copy fails PRAGMA quick_check: ${answer}`);
    return { content: ids, size: image.size };
  } finally {
    release();
    if (image?.kind === 'hashed' && !ended) await image.end(false).catch(() => undefined);
  }
}
