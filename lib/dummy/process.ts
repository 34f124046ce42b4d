/**
 * The same-thread process (CPython's `multiprocessing.dummy.DummyProcess`, a thread): the
 * worker `Process`'s logic with `run()` run on the calling thread's event loop.
 *
 * @module
 */
import { runAsProcess } from "../context.ts";
import { Connection } from "../connection.ts";
import { decodeShared, encodeShared, functionDef, loadFunction } from "../reduction.ts";
import { BaseProcess, type ProcessBackend, registerProcessBackend } from "../process.ts";

const threadBackend: ProcessBackend = {
  start(process, spec) {
    let listener: ((exitCode: number) => void) | undefined;
    let exitCode: number | undefined;
    // Starts after the caller's synchronous code, as a thread would start beside it, with
    // an identity of its own (currentProcess(), RLock ownership), as a thread has.
    const info = { name: spec.name, pid: spec.pid, daemon: spec.daemon };
    // The child gets its own copy of each connection among its arguments, as a worker's
    // child does, so that the parent closing its copy ("close your copy") leaves the child's
    // open; the child's copies close when it ends, as a process's ends do when it exits.
    const copies: Connection[] = [];
    for (let i = 0; i < spec.args.length; i++) {
      const arg = spec.args[i];
      if (arg instanceof Connection && !arg.closed) {
        copies.push(spec.args[i] = decodeShared(encodeShared(arg)) as Connection);
      }
    }
    const finish = (code: number) => {
      if (exitCode !== undefined) return;
      exitCode = code;
      for (const copy of copies) copy.close();
      listener?.(code);
    };
    const main = async () => {
      try {
        await process.run();
        finish(0);
      } catch (error) {
        if (exitCode !== undefined) return;
        const text = error instanceof Error
          ? (error.stack ?? `${error.name}: ${error.message}`)
          : String(error);
        console.error(`Process ${spec.name}:\n${text}`);
        finish(1);
      }
    };
    setTimeout(async () => {
      // A module target is imported first, outside the process's context: on Deno, an
      // import() inside an AsyncLocalStorage context leaks it into later unrelated callbacks.
      // run() imports it again, from the module cache, and reports any failure.
      const target = spec.target;
      if (target !== undefined && typeof target !== "function") {
        await loadFunction(functionDef(target)).catch(() => {});
      }
      runAsProcess(info, spec.identity, main, "process");
    }, 0);
    return {
      onExit: (l) => {
        listener = l;
        if (exitCode !== undefined) l(exitCode);
      },
      // Code on this thread cannot be stopped from outside: the process stops being waited
      // for, and whatever it still does is ignored.
      stop: () => finish(-15),
      ref: () => {},
      unref: () => {},
    };
  },
};

/**
 * The same-thread process (Python's `multiprocessing.dummy.Process`, a thread): the same
 * API as the worker `Process`, with `run()` run on the calling thread's event loop, so it
 * overlaps with other async work but does not run in parallel. Any function works as
 * `target`, closures included, and subclasses need no `static module`.
 *
 * Unlike a worker, code on this thread cannot be stopped: `terminate()` and `kill()` set
 * `exitcode` and stop `join()` waiting, but the target runs on; `process.exit()` in a target
 * ends the whole program; `daemon` does not change whether the program waits for it, but a
 * daemon process may not start children, as in `mod.ts`.
 *
 * @example Usage
 * ```ts
 * import { Process } from "@mp/multiprocessing/dummy";
 * import assert from "node:assert/strict";
 *
 * const seen: string[] = [];
 * const p = new Process({ target: (who: string) => void seen.push(who), args: ["bob"] });
 * p.start();
 * await p.join();
 * assert.deepEqual(seen, ["bob"]);
 * assert.equal(p.exitcode, 0);
 * ```
 */
export class Process extends BaseProcess {}

registerProcessBackend(Process, threadBackend);
