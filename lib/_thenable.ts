// Whether a task's return value must be awaited: checked on every task, so no `await` (and
// no microtask) is spent on the common synchronous result.

/** Whether `value` is a promise or another thenable. */
export function isThenable(value: unknown): value is PromiseLike<unknown> {
  return value !== null && (typeof value === "object" || typeof value === "function") &&
    typeof (value as PromiseLike<unknown>).then === "function";
}
