/**
 * TEST-ONLY scrypt parameters for new key files (`init`, the first `snapshot create` on the
 * default repository, `key add`, `key passwd`).
 *
 * `CLAWBACK_TEST_SCRYPT_N=1024` (a power of two, 1024..1048576) skips the ~0.5 s
 * calibration and derives keys with N = that value, r = 8, p = 1. It exists so the crash
 * and stress tests (test/stress/) can run hundreds of key changes in child processes; a
 * small N makes passwords much cheaper to guess, so never set it for a real repository.
 * Unset, empty or invalid: the normal calibration applies.
 */
import type { ScryptParams } from '../repository/kdf.js';

/** The env variable read by {@link testScryptParams}. */
export const TEST_SCRYPT_ENV = 'CLAWBACK_TEST_SCRYPT_N';

/** scrypt parameters from `CLAWBACK_TEST_SCRYPT_N`, or undefined (calibrate as usual). */
export function testScryptParams(env: Record<string, string | undefined>): ScryptParams | undefined {
  const raw = env[TEST_SCRYPT_ENV];
  if (raw === undefined || !/^\d+$/.test(raw)) return undefined;
  const N = Number(raw);
  if (N < 1024 || N > 1 << 20 || (N & (N - 1)) !== 0) return undefined;
  return { N, r: 8, p: 1 };
}
