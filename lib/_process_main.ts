// The module every Process's Worker starts with: it runs the target or the subclass's run(),
// then ends the Worker with Python's exit code.
//
// It imports only what every process needs (a few small modules): a target that travels as
// source text, with arguments that hold no shared object or registered class, compiles and runs
// without reduction.ts (lib/_compile.ts); reduction.ts and the revivers of shared objects load
// when the arguments hold one (ProcessInit.shared), lib/process.ts when a subclass is rebuilt,
// and pipes and queues register what they do at the end themselves (atProcessEnd). Each module
// more is start-up time of every Process (bench/exp_processes.ts: on Bun, a worker that loads
// the 47 KB of the full graph starts 11–13% slower than a bare one, one that loads 5 KB 1%); so
// are `node:` modules, which is why it uses the globals `process` and `setImmediate`.
import {
  closeAtProcessEnd,
  errorText,
  flushAtProcessEnd,
  importModule,
  isSpare,
} from "./_bootstrap.ts";
import { compileFunction, explainFreeVariable } from "./_compile.ts";
import type { ProcessInit } from "./_protocol.ts";
import type { FunctionDef } from "./reduction.ts";
import { runtime } from "./runtime/mod.ts";

const reduction = () => import("./reduction.ts");

// What the process runs: the worker's data, or for a spare (Process.prepare()), the
// ProcessInit it is handed once its process starts (at the end of this module).
let init: ProcessInit;
// True while a spare runs its process from the macrotask it was woken in: the target's call
// needs no macrotask of its own then (inMacrotask).
let inTask = false;

/**
 * Calls `fn` from a macrotask of its own where the runtime needs it (Deno): a worker that
 * passes its heap limit inside a promise job (code after an `await`) stops without being
 * reported as ended, and its process would never end; inside a macrotask it ends with exit
 * code 1, as on Node.
 */
function inMacrotask<T>(fn: () => T): Promise<Awaited<T>> {
  if (!runtime().heapLimitNeedsMacrotask || inTask) {
    try {
      return Promise.resolve(fn() as Awaited<T>);
    } catch (error) {
      return Promise.reject(error);
    }
  }
  return new Promise((resolve, reject) =>
    setImmediate(() => {
      try {
        resolve(fn() as Awaited<T>);
      } catch (error) {
        reject(error);
      }
    })
  );
}

/**
 * Runs a target that travels as source text with arguments that hold nothing to revive: the
 * common case, which needs no module beyond those this one imports. A spare runs it once while
 * it waits, as Bun compiles a function on its first call (`main()` whole took 1.7 ms there).
 */
function runSource(target: FunctionDef & { source: string }, args: unknown[]): Promise<void> {
  return callTarget(compileFunction(target), target, args);
}

/** Calls the target `def` loaded as `fn`, explaining a variable it used from outside itself. */
async function callTarget(
  // deno-lint-ignore no-explicit-any
  fn: (...args: any[]) => unknown,
  def: FunctionDef,
  args: unknown[],
): Promise<void> {
  try {
    await inMacrotask(() => fn(...args));
  } catch (error) {
    throw explainFreeVariable(error, def) ?? error;
  }
}

/** Runs a subclass's run(), or a target, whose arguments or module need reduction.ts. */
async function runRevived(init: ProcessInit): Promise<void> {
  const { subclass, target } = init;
  const { decodeShared, loadFunction, loadRevivers } = await reduction();
  await loadRevivers([init.args, subclass?.fields]);
  const args = decodeShared(init.args) as unknown[];
  if (subclass !== undefined) {
    const { module, name } = subclass;
    const [mod, { Process, rebuildProcess }] = await Promise.all([
      importModule(module, `the Process subclass '${name}'`),
      import("./process.ts"),
    ]);
    const cls = mod[name];
    if (typeof cls !== "function" || !(cls.prototype instanceof Process)) {
      throw new TypeError(
        `Cannot run ${init.name} as module ${module} exports no Process subclass named '${name}': export the class under its own name`,
      );
    }
    const fields = decodeShared(subclass.fields) as Record<string, unknown>;
    const me = rebuildProcess(cls as typeof Process, init, fields);
    await inMacrotask(() => me.run());
  } else if (target !== undefined) {
    await callTarget(await loadFunction(target), target, args);
  }
}

/**
 * Runs `job`'s target or subclass's run(), and returns the exit code: 1 after an error, which
 * it prints unless `rehearsal` (a spare's run of a process of its own, see below).
 */
async function main(job: ProcessInit, rehearsal: boolean): Promise<number> {
  try {
    const { subclass, target } = job;
    if (subclass === undefined && !job.shared && target?.source !== undefined) {
      await runSource(target, job.args);
    } else if (subclass !== undefined || target !== undefined) {
      await runRevived(job);
    }
    return 0;
  } catch (error) {
    if (!rehearsal) console.error(`Process ${job.name}:\n${errorText(error)}`);
    return 1;
  }
}

// A child ends as a program does: once the callbacks its target left (timers, promises) have
// run and nothing keeps it alive, with exit code 0, or 1 after an uncaught error or unhandled
// rejection among them, which the parent prints (Python's child, likewise, waits for its
// non-daemon threads). Daemon children it started do not keep it alive. After the target's
// own error it ends at once with 1, having let the puts and sends still waiting for room go
// out, as Python's child waits for its queues' feeder threads. A spare registers all this
// before it waits: after its process came, it took 0.15 ms on Node and 0.3-0.4 ms on Deno.
function uncaught(error: unknown): void {
  console.error(`Process ${init?.name ?? "(spare)"}:\n${errorText(error)}`);
  closeAtProcessEnd();
  process.exit(1);
}
process.on("uncaughtException", uncaught);
process.on("unhandledRejection", uncaught);
// Bun ends a worker whose last callback rejected a promise before it reports the rejection:
// one more turn of the loop, once it has run dry, lets the report come.
let lastTurn = false;
// Its pipes close as a process's do when it exits: the far ends see the end of the stream.
// (Deno's workers emit "exit" but not "beforeExit".)
process.on("exit", closeAtProcessEnd);
process.on("beforeExit", () => {
  closeAtProcessEnd();
  if (lastTurn) return;
  lastTurn = true;
  setTimeout(() => {}, 0);
});

/**
 * Runs the process, and ends the worker with its exit code when that is not 0 (a spare's
 * rehearsal neither prints its error nor ends the worker).
 */
async function run(job: ProcessInit = init, rehearsal = false): Promise<void> {
  const code = await main(job, rehearsal);
  await flushAtProcessEnd();
  if (code !== 0 && !rehearsal) {
    closeAtProcessEnd();
    process.exit(code);
  }
}

/**
 * Runs `job` as {@linkcode run} does, from the macrotask the caller is in: the target's call
 * takes no macrotask of its own then (inMacrotask).
 */
function runInTask(job: ProcessInit, rehearsal = false): Promise<void> {
  inTask = true;
  try {
    return run(job, rehearsal);
  } finally {
    inTask = false;
  }
}

/** Takes `data` as this worker's from now on (a spare's process has come). */
function adopt(data: unknown): void {
  runtime().adoptWorkerData(data);
  init = data as ProcessInit;
}

const started = runtime().workerData();
if (isSpare(started)) {
  // While it waits, the spare takes once the steps its process will take, so that they run
  // compiled when the process comes: reading a process like the one to come, taking it, and
  // running a target compiled from its source text, from the macrotask it waits in; and for
  // arguments that hold shared objects, reduction.ts and its walk. Each step's first run in a
  // Worker cost it 0.05-0.4 ms more (taking the process 0.2 ms on Bun, the first call of
  // run() 0.1-0.4 ms). With the spare woken last in start(), start() to the target of a
  // process on a spare went, median of 20, old and new interleaved: Node 1.29-1.44 ->
  // 1.14-1.25 ms, Bun 1.10-1.22 -> 0.94-1.04 ms, Deno 1.28-1.53 -> 1.03-1.16 ms.
  const rehearsal: ProcessInit = {
    name: "(spare)",
    pid: 0,
    parent: { name: "(spare)", pid: 0, daemon: false },
    pidCounter: new SharedArrayBuffer(8),
    identity: [],
    daemon: false,
    target: { id: 0, name: "spare", source: "(x) => x" },
    args: [new Float64Array(new SharedArrayBuffer(8))],
    shared: false,
    subclass: undefined,
  };
  const { decodeShared, loadRevivers } = await reduction();
  void loadRevivers([[0], {}]);
  decodeShared([[0], {}]);
  // Node loads the `performance` global on its first use in a Worker, which took 1.5–2 ms:
  // a target that times itself would wait for it.
  performance.now();
  // With code from strings switched off (--disallow-code-generation-from-strings) the
  // rehearsal fails, silently; the process reports it, if its function travels as source text.
  await new Promise<void>((resolve) =>
    setImmediate(() => {
      // Taking a process: the adopted data's first store (undefined leaves the spare's own).
      runtime().adoptWorkerData(undefined);
      // Whatever becomes of the rehearsal, the spare goes on to wait for its process.
      runInTask(rehearsal, true).then(() => resolve(), () => resolve());
    })
  );
  // It waits in a macrotask, and runs its process from there up to the target's first line:
  // the target needs no macrotask of its own then (inMacrotask), a hop that, with the turn of
  // a top-level await, cost a spare's process on Deno half a millisecond of its start.
  await new Promise<void>((resolve) =>
    setImmediate(() => {
      const taken = runtime().hostPort()!.handedOver(rehearsal);
      if (taken instanceof Promise) {
        resolve(taken.then((data) => {
          adopt(data);
          return run();
        }));
        return;
      }
      adopt(taken);
      resolve(runInTask(init));
    })
  );
} else {
  init = started as ProcessInit;
  await run();
}
