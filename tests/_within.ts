// A bound on a test's wait: a listener never called, or a call never answered, fails the test
// with what it waited for instead of hanging it.
import { clearTimeout, setTimeout } from "node:timers";

/** Rejects after `ms` unless `promise` settles first; the timer never outlives the test. */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} did not finish in ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
