/** What a call that must fail threw: the HaloError (anything else is rethrown), or a test failure when nothing was thrown. */
import { HaloError } from '../../src/core/errors.js';

export function thrown(fn: () => unknown): HaloError {
  try {
    fn();
  } catch (err) {
    if (err instanceof HaloError) return err;
    throw err;
  }
  throw new Error('expected a HaloError, nothing was thrown');
}
