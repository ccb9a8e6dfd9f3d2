import { expect } from 'vitest';
import { ClawbackError } from '../../src/errors.js';

/** Awaits `p` and returns the ClawbackError it rejects with (fails if it resolves or throws something else). */
export async function rejection(p: Promise<unknown>): Promise<ClawbackError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(ClawbackError);
    return err as ClawbackError;
  }
  return expect.fail('expected a rejection');
}
