import { isElacsymError } from '../../src/errors.js';

/** The ElacsymError code `fn` throws, "not an ElacsymError: ..." for anything else, "no error" if it returns. */
export function errorCodeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    return isElacsymError(e) ? e.code : `not an ElacsymError: ${String(e)}`;
  }
  return 'no error';
}
