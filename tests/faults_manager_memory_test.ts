// A manager's objects live as long as proxies refer to them, as in Python: counted over the
// proxies of every thread and program, freed at zero, and released when a client's
// connection ends. The scenarios that need garbage collected on demand run as child programs
// with it exposed (node --expose-gc, deno --v8-flags=--expose-gc, Bun.gc).
import assert from "node:assert/strict";
import process from "node:process";
import { describe, test } from "node:test";
import * as mp from "../mod.ts";
import { type ChildResult, runWithGc } from "./_child.ts";

const MEMORY = new URL("./fixtures/manager_memory.ts", import.meta.url);
const REFS = new URL("./fixtures/manager_refs.ts", import.meta.url);
// Objects made by the memory test: 100,000 in a manual run (MANAGER_MEMORY_COUNT=100000).
const COUNT = Number(process.env.MANAGER_MEMORY_COUNT ?? 20_000);
// Child programs that start managers and workers: above bun's default of 5 s per test.
const slow = { timeout: 90_000 };

/** The JSON line a fixture printed last, after asserting it ended well. */
function report(result: ChildResult): Record<string, unknown> {
  assert.equal(
    result.code,
    0,
    `the child program failed (timed out: ${result.timedOut}):\n${result.stdout}\n${result.stderr}`,
  );
  const line = result.stdout.trim().split("\n").at(-1)!;
  return JSON.parse(line);
}

const runtime = "Deno" in globalThis ? "deno" : "Bun" in globalThis ? "bun" : "node";

for (const entry of ["mod", "dummy"]) {
  describe(`Manager() (${entry}.ts): object lifetime`, () => {
    test(
      `SyncManager.numberOfObjects() returns to its start once ${COUNT} dicts' proxies are collected`,
      slow,
      async () => {
        const seen = report(await runWithGc(MEMORY, [entry, String(COUNT)])) as {
          objects: { start: number; full: number; freed: number };
          heapMB: { start: number; full: number; freed: number };
        };
        console.log(`manager memory (${runtime}, ${entry}.ts): ${JSON.stringify(seen)}`);
        assert.equal(seen.objects.full, seen.objects.start + COUNT);
        assert.equal(seen.objects.freed, seen.objects.start);
        // The heap the objects took is given back: less than half of it remains.
        const grew = seen.heapMB.full - seen.heapMB.start;
        assert.ok(seen.heapMB.freed - seen.heapMB.start < grew / 2, JSON.stringify(seen.heapMB));
      },
    );

    test(
      "a dict referenced by two proxies survives dropping one, and leaves with both",
      slow,
      async () => {
        const seen = report(await runWithGc(REFS, ["two", entry])) as {
          start: mp.ManagerDebugInfo;
          both: mp.ManagerDebugInfo;
          freed: mp.ManagerDebugInfo;
        };
        assert.equal(seen.both.objects, seen.start.objects + 2);
        assert.equal(seen.freed.objects, seen.start.objects);
        assert.equal(seen.freed.references, seen.start.references);
      },
    );

    test("ListProxy.get() of a list holding a dict proxy returns a proxy of the same dict", async () => {
      await using manager = await (entry === "mod" ? mp : await import("../dummy.ts")).Manager();
      const d = await manager.dict<string, number>({ a: 1 });
      const list = await manager.list<mp.DictProxy<string, number>>([]);
      await list.append(d);
      const again = await list.get(0);
      assert.ok(again instanceof mp.DictProxy);
      await again.set("b", 2);
      assert.deepEqual(await d.items(), [["a", 1], ["b", 2]]);
      assert.equal(await manager.numberOfObjects(), 2);
    });
  });
}

describe("Manager() (mod.ts): references across threads and programs", () => {
  test(
    "a dict sent to a Process stays while the Process holds it, and a killed Process's references are released",
    slow,
    async () => {
      const seen = report(await runWithGc(REFS, ["process"])) as {
        start: mp.ManagerDebugInfo;
        held: mp.ManagerDebugInfo;
        released: mp.ManagerDebugInfo;
      };
      // The dict, held by the Process alone, and its four proxies there.
      assert.equal(seen.held.objects, seen.start.objects + 1);
      assert.equal(seen.held.references, seen.start.references + 4);
      assert.equal(seen.released.objects, seen.start.objects);
      assert.equal(seen.released.clients, seen.start.clients);
    },
  );

  test(
    "a client program that ends with its proxies alive releases their objects",
    slow,
    async () => {
      const key = "manager memory test key";
      const server = new mp.SyncManager({ authkey: key });
      const [, port] = await server.getServer().listen();
      try {
        const start = await server.debugInfo();
        const result = await runWithGc(REFS, ["client", String(port), key], 60_000);
        assert.deepEqual(report(result), { kept: 100 });
        // The connection's end may reach the server a moment after the program's.
        let info = await server.debugInfo();
        for (let i = 0; i < 200 && info.objects !== start.objects; i++) {
          await new Promise((resolve) => setTimeout(resolve, 50));
          info = await server.debugInfo();
        }
        assert.equal(info.objects, start.objects);
        assert.equal(info.references, start.references);
      } finally {
        await server.shutdown();
      }
    },
  );
});
