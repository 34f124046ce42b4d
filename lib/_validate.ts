// The checks of arguments that several classes share, with one wording for their messages.
import { describe } from "./reduction.ts";

/**
 * Checks a `timeout` option in milliseconds and returns how long a call may wait:
 * `Infinity` when it is `undefined`.
 *
 * @throws {TypeError} If it is neither a number nor `undefined`.
 * @throws {RangeError} If it is negative or NaN.
 */
export function checkTimeout(timeout: unknown, what: string): number {
  if (timeout === undefined) return Infinity;
  if (typeof timeout !== "number") {
    throw new TypeError(
      `Cannot ${what} as 'timeout' must be a number of milliseconds or undefined: received ${
        describe(timeout)
      }`,
    );
  }
  if (!(timeout >= 0)) {
    throw new RangeError(
      `Cannot ${what} as 'timeout' must be 0 or more milliseconds: received ${timeout}`,
    );
  }
  return timeout;
}
