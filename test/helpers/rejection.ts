import { expect } from 'vitest';
import { ClawbackError } from '../../src/errors.js';

/** Awaits `p`, expects it to reject with a ClawbackError, and returns that error. */
export async function rejection(p: Promise<unknown>): Promise<ClawbackError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ClawbackError);
  return err as ClawbackError;
}
