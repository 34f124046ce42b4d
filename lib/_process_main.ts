// The module every Process's Worker starts with: it runs the target or the subclass's run(),
// then ends the Worker with Python's exit code.
import process from "node:process";
import { errorText, importModule } from "./_bootstrap.ts";
import type { ProcessInit } from "./_protocol.ts";
import { Process, rebuildProcess } from "./process.ts";
import { decodeShared, explainFreeVariable, loadFunction, loadRevivers } from "./reduction.ts";
import { allSent } from "./connection.ts";
import { runtime } from "./runtime/mod.ts";
import "./_shareables.ts";

const init = runtime().workerData() as ProcessInit;

async function main(): Promise<number> {
  try {
    await loadRevivers([init.args, init.subclass?.fields]);
    const args = decodeShared(init.args) as unknown[];
    let result: unknown;
    if (init.subclass !== undefined) {
      const { module, name } = init.subclass;
      const cls = (await importModule(module, `the Process subclass '${name}'`))[name];
      if (typeof cls !== "function" || !(cls.prototype instanceof Process)) {
        throw new TypeError(
          `Cannot run ${init.name} as module ${module} exports no Process subclass named '${name}': export the class under its own name`,
        );
      }
      const fields = decodeShared(init.subclass.fields) as Record<string, unknown>;
      result = rebuildProcess(cls as typeof Process, init, fields).run();
    } else if (init.target !== undefined) {
      const target = await loadFunction(init.target);
      try {
        result = target(...args);
        result = await result;
      } catch (error) {
        throw explainFreeVariable(error, init.target) ?? error;
      }
    }
    await result;
    return 0;
  } catch (error) {
    console.error(`Process ${init.name}:\n${errorText(error)}`);
    return 1;
  }
}

// As Python's child calls os._exit() after run(): timers it left behind do not keep it alive.
// Like Python's child, which waits for its queues' feeder threads, it first lets the puts and
// sends still waiting for room go out.
const code = await main();
await allSent();
process.exit(code);
