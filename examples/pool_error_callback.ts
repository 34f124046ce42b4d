/**
 * Error handling with `errorCallback`: a task that throws reaches the main thread as the
 * same error class and message, given to `errorCallback` (Python's `error_callback`), while
 * the pool and the other tasks carry on.
 *
 * Ports seed 004 (错误处理):
 *
 * ```python
 * def error_handler(e):
 *     print(f"发生错误: {str(e)}")
 *
 * def risky_operation(x):
 *     if x == 3:
 *         raise ValueError("特殊值错误")
 *     return x * x
 *
 * if __name__ == '__main__':
 *     with Pool(2) as p:
 *         p.apply_async(risky_operation, (3,), error_callback=error_handler)
 *         p.close()
 *         p.join()
 * ```
 *
 * Python's `ValueError` becomes a `RangeError` (a value out of range). After the seed's one
 * task, the program submits x = 0..5 with both callbacks, and shows that `get()` rejects with
 * the error too, with the worker's stack kept as its `cause`.
 *
 * Run it with any of:
 *
 * ```sh
 * deno run -A examples/pool_error_callback.ts
 * bun examples/pool_error_callback.ts
 * node examples/pool_error_callback.ts
 * ```
 *
 * Expected output:
 *
 * ```
 * error: RangeError: special value 3
 * results: [0, 1, 4, 16, 25]
 * errors: [RangeError: special value 3]
 * ready: true, successful: false
 * get() rejected with RangeError: special value 3 (cause: RemoteTraceback)
 * ```
 *
 * @module
 */
import { Pool, RemoteTraceback } from "../mod.ts";

function errorHandler(e: unknown): void {
  console.log(`error: ${e}`);
}

function riskyOperation(x: number): number {
  if (x === 3) {
    throw new RangeError(`special value ${x}`);
  }
  return x * x;
}

if (import.meta.main) {
  // The seed: one failing task, its error handed to errorCallback.
  {
    await using p = new Pool(2);
    p.applyAsync(riskyOperation, [3], { errorCallback: errorHandler });
    p.close();
    await p.join();
  }

  // Several tasks: each outcome goes to exactly one of the two callbacks.
  const results: number[] = [];
  const errors: string[] = [];
  {
    await using p = new Pool(2);
    const submitted = [0, 1, 2, 3, 4, 5].map((x) =>
      p.applyAsync(riskyOperation, [x], {
        callback: (result) => results.push(result),
        errorCallback: (error) => errors.push(String(error)),
      })
    );
    p.close();
    await p.join();
    console.log(`results: [${results.sort((a, b) => a - b).join(", ")}]`);
    console.log(`errors: [${errors.join(", ")}]`);

    // The failed task's AsyncResult keeps its error for whoever asks.
    const failed = submitted[3];
    console.log(`ready: ${failed.ready()}, successful: ${failed.successful()}`);
    try {
      await failed.get();
    } catch (error) {
      const e = error as Error;
      const cause = e.cause instanceof RemoteTraceback ? "RemoteTraceback" : String(e.cause);
      console.log(`get() rejected with ${e.name}: ${e.message} (cause: ${cause})`);
    }
  }
}
