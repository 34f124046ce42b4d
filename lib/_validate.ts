// The checks of arguments that several classes share, with one wording for their messages.
import { describe } from "./reduction.ts";

/**
 * Checks a `timeout` option in milliseconds and returns how long a call may wait:
 * `Infinity` when it is `undefined`, and `0` when it is negative (as Python's, a negative
 * timeout means "do not wait").
 *
 * @throws {TypeError} If it is neither a number nor `undefined`.
 * @throws {RangeError} If it is NaN.
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
  if (Number.isNaN(timeout)) {
    throw new RangeError(
      `Cannot ${what} as 'timeout' must be a number of milliseconds: received NaN`,
    );
  }
  return timeout < 0 ? 0 : timeout;
}

/**
 * How long a call with `{ block, timeout }` options may wait: `0` for a non-blocking call,
 * `Infinity` for ever. Used by every acquire, put and get.
 *
 * @throws {TypeError} If `options` is not an object, or `block` not a boolean.
 * @throws {RangeError} If `timeout` is NaN.
 */
export function waitBudget(
  options: { block?: boolean; timeout?: number } | undefined,
  what: string,
): number {
  if (options === undefined) return Infinity;
  if (typeof options !== "object" || options === null) {
    throw new TypeError(
      `Cannot ${what} as 'options' must be an object such as { block, timeout } or undefined: received ${
        describe(options)
      }`,
    );
  }
  const { block, timeout } = options;
  if (block !== undefined && typeof block !== "boolean") {
    throw new TypeError(
      `Cannot ${what} as 'block' must be a boolean or undefined: received ${describe(block)}`,
    );
  }
  const ms = checkTimeout(timeout, what);
  return block === false ? 0 : ms;
}
