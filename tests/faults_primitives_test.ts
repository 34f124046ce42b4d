// Fault injection: workers stopped (Process.terminate(), Process.kill(), Pool.terminate()) at
// random moments inside the operations of every shared-memory primitive. Each scenario runs
// in a child program under a time limit, so a frozen main thread shows as a time-out, not as
// a hung test runner. The child prints fault × trials × survived, which the test logs.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { runChild } from "./_child.ts";

const program = new URL("./fixtures/faults_primitives_program.ts", import.meta.url);
// The trials of one fault run for this long (a round of all eleven primitives at least).
const BUDGET = 8_000;
const LIMIT = 90_000;
const slow = { timeout: LIMIT + 30_000 };
// The longest the main thread may go without running a timer (its calls block for at most
// 250 ms each, and a loaded machine adds its own delays).
const FROZEN = 5_000;

interface Row {
  fault: string;
  primitive: string;
  trials: number;
  survived: number;
  recovered: number;
}

async function run(args: string[]): Promise<Row[]> {
  const result = await runChild(program, args, LIMIT);
  assert.equal(
    result.timedOut,
    false,
    `the program froze or could not exit (${args.join(" ")}):\n${result.stdout}\n${result.stderr}`,
  );
  assert.equal(result.code, 0, `${result.stdout}\n${result.stderr}`);
  assert.match(result.stdout, /^done$/m);
  // A freeze, not a speed: a barrier call once blocked the main thread for 17 s on Bun.
  const frozen = Number(/^frozen for at most (\d+) ms$/m.exec(result.stdout)?.[1]);
  assert.ok(frozen < FROZEN, `the main thread was frozen for ${frozen} ms (${args.join(" ")})`);
  const rows = result.stdout.split("\n").filter((line) => line.startsWith("{")).map((line) =>
    JSON.parse(line) as Row
  );
  for (const row of rows) {
    console.log(
      `fault ${row.fault} × ${row.primitive}: ${row.trials} trials, ${row.survived} survived, ${row.recovered} recovered`,
    );
  }
  return rows;
}

describe("faults: workers stopped inside primitives", () => {
  for (const fault of ["terminate", "kill", "pool"]) {
    const how = fault === "pool" ? "Pool.terminate()" : `Process.${fault}()`;
    test(
      `Queue, JoinableQueue, SimpleQueue, Pipe, Lock, RLock, Semaphore, Condition, Event, Barrier and Value keep the main thread responsive and their timeouts firing after ${how} stops workers inside them`,
      slow,
      async () => {
        const rows = await run(["primitives", fault, String(BUDGET)]);
        assert.equal(rows.length, 11);
        for (const row of rows) {
          assert.ok(row.trials > 0, row.primitive);
          // SimpleQueue and Pipe have no timeouts: they survive only by recovering.
          assert.equal(row.survived, row.trials, `${row.primitive} after ${how}`);
        }
      },
    );
  }

  for (const side of ["consumer", "producer"]) {
    test(
      `Queue goes on after the ${side} of a large item is killed while the item is under way`,
      slow,
      async () => {
        const [row] = await run(["large", side, "4"]);
        assert.equal(row.survived, row.trials);
        assert.equal(row.recovered, row.trials);
      },
    );
  }
});
